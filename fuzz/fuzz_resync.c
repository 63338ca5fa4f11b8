/*
 * fuzz_resync: arbitrary bytes as the resync's answers from FreeSWITCH
 * (engine/resync.c): a BACKGROUND_JOB event body (envelope, then its output
 * as a channel list and as a uuid_dump body through esl_event_scan), the
 * bytes as a list on their own, and as a Job-UUID.
 * Oracles: every Unique-ID handed out is 1..FSA_UUID_MAX-1 bytes of letters,
 * digits and '-', NUL-terminated; the scan always moves forward and ends;
 * an output slice lies inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/esl.h"
#include "engine/resync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
    if (!ok)
        abort();
}

static void scan_list(struct fsa_str json)
{
    char uuid[FSA_UUID_MAX];
    size_t pos = 0, n, last = 0;
    unsigned skipped = 0;
    while ((n = fsa_resync_next_uuid(json, &pos, uuid, &skipped)) > 0) {
        require(n < FSA_UUID_MAX && strlen(uuid) == n);
        for (size_t i = 0; i < n; i++)
            require((uuid[i] >= '0' && uuid[i] <= '9') || (uuid[i] >= 'a' && uuid[i] <= 'z') ||
                    (uuid[i] >= 'A' && uuid[i] <= 'Z') || uuid[i] == '-');
        require(pos > last && pos <= json.n);
        last = pos;
    }
    require(pos <= json.n);
    (void)fsa_resync_row_count(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsa_str in = fsa_str_make((const char *)data, size);
    struct fsa_bgjob j;
    if (fsa_resync_bgjob(in, &j)) {
        require(j.output.p >= in.p && j.output.p + j.output.n <= in.p + in.n);
        scan_list(j.output);
        struct esl_event_scan sc;
        const char *err = NULL;
        if (esl_event_scan(j.output, &sc, NULL, &err) == ESL_DECODE_EVENT) {
            struct fsa_event_msg m;
            esl_event_fill(&sc, &m);
            require(m.uuid_len > 0 && m.uuid_len < FSA_UUID_MAX);
        }
        uint16_t inst;
        (void)fsa_resync_job_parse(j.job_uuid, 0x01020304u, &inst);
    }
    scan_list(in);
    uint16_t inst;
    (void)fsa_resync_job_parse(in, 0x30303030u, &inst);
    return 0;
}
