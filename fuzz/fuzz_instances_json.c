/*
 * fuzz_instances_json: arbitrary bytes as FSAGENT_FREESWITCH_INSTANCES
 * (fsa_config_parse_instances_json, then fsa_config_validate when it parsed).
 * Everything is freed, so LeakSanitizer checks the error paths too.
 */
#include <stdint.h>
#include <stdlib.h>

#include "engine/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsa_config cfg;
    struct fsa_config_error err;
    fsa_config_defaults(&cfg);
    if (fsa_config_parse_instances_json(&cfg, (const char *)data, size, &err) == 0)
        (void)fsa_config_validate(&cfg, &err);
    fsa_config_free(&cfg);
    return 0;
}
