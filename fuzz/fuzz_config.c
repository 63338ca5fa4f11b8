/*
 * fuzz_config: arbitrary bytes as a config file (fsa_config_parse_yaml, then
 * fsa_config_validate when it parsed), and the same bytes, cut at the first
 * NUL, as the OTLP endpoint and headers variables. Everything is freed, so
 * LeakSanitizer checks the error paths too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsa_config cfg;
    struct fsa_config_error err;
    fsa_config_defaults(&cfg);
    if (fsa_config_parse_yaml(&cfg, (const char *)data, size, &err) == 0)
        (void)fsa_config_validate(&cfg, &err);
    fsa_config_free(&cfg);

    /* Environment values are C strings: the input up to its first NUL. */
    size_t n = strnlen((const char *)data, size);
    if (n > 8192)
        n = 8192;
    static const char *const vars[] = {
        "OTEL_EXPORTER_OTLP_HEADERS=", "OTEL_EXPORTER_OTLP_ENDPOINT=", "FSAGENT_FREESWITCH_INSTANCES="};
    for (size_t v = 0; v < sizeof(vars) / sizeof(vars[0]); v++) {
        size_t vn = strlen(vars[v]);
        char *entry = malloc(vn + n + 1);
        if (!entry)
            return 0;
        memcpy(entry, vars[v], vn);
        memcpy(entry + vn, data, n);
        entry[vn + n] = '\0';
        char *envp[] = {entry, NULL};
        fsa_config_defaults(&cfg);
        if (fsa_config_apply_env(&cfg, envp, &err) == 0)
            (void)fsa_config_validate(&cfg, &err);
        fsa_config_free(&cfg);
        free(entry);
    }
    return 0;
}
