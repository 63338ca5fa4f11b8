#include "resync.h"

#include <stdio.h>
#include <string.h>

#include "esl.h"

void fsa_resync_job_uuid(char *out, uint32_t nonce, enum fsa_resync_job kind, uint16_t instance, uint64_t seq)
{
    snprintf(out, FSA_JOB_UUID_LEN + 1, "%08x-%04x-%04x-0000-%012llx", (unsigned)nonce, (unsigned)kind,
             (unsigned)instance, (unsigned long long)(seq & 0xffffffffffffull));
}

/* n hex digits at p as a number; false on anything else. */
static bool hex_field(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = fsa_hex_digit((unsigned char)p[i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return true;
}

enum fsa_resync_job fsa_resync_job_parse(struct fsa_str u, uint32_t nonce, uint16_t *instance)
{
    uint64_t n, kind, inst, zero, seq;
    if (u.n != FSA_JOB_UUID_LEN || u.p[8] != '-' || u.p[13] != '-' || u.p[18] != '-' || u.p[23] != '-')
        return FSA_JOB_NONE;
    if (!hex_field(u.p, 8, &n) || !hex_field(u.p + 9, 4, &kind) || !hex_field(u.p + 14, 4, &inst) ||
        !hex_field(u.p + 19, 4, &zero) || !hex_field(u.p + 24, 12, &seq))
        return FSA_JOB_NONE;
    if (n != nonce || zero != 0 || (kind != FSA_JOB_LIST && kind != FSA_JOB_DUMP))
        return FSA_JOB_NONE;
    *instance = (uint16_t)inst;
    return (enum fsa_resync_job)kind;
}

static bool uuid_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-';
}

size_t fsa_resync_next_uuid(struct fsa_str json, size_t *pos, char out[FSA_UUID_MAX], unsigned *skipped)
{
    static const char key[] = "\"uuid\":\"";
    const size_t klen = sizeof(key) - 1;
    while (*pos < json.n) {
        const char *hit = memmem(json.p + *pos, json.n - *pos, key, klen);
        if (!hit) {
            *pos = json.n;
            return 0;
        }
        size_t v = (size_t)(hit - json.p) + klen, e = v;
        while (e < json.n && e - v < FSA_UUID_MAX && json.p[e] != '"' && uuid_char((unsigned char)json.p[e]))
            e++;
        *pos = e;
        if (e >= json.n || json.p[e] != '"' || e == v || e - v >= FSA_UUID_MAX) {
            (*skipped)++; /* empty, too long, cut, or with bytes no Unique-ID has */
            continue;
        }
        memcpy(out, json.p + v, e - v);
        out[e - v] = '\0';
        return e - v;
    }
    return 0;
}

long fsa_resync_row_count(struct fsa_str json)
{
    static const char key[] = "\"row_count\":";
    const char *hit = memmem(json.p, json.n, key, sizeof(key) - 1);
    if (!hit)
        return -1;
    size_t i = (size_t)(hit - json.p) + sizeof(key) - 1;
    while (i < json.n && json.p[i] == ' ')
        i++; /* the empty list is written {"row_count": 0} */
    size_t d = i;
    while (i < json.n && i - d < 10 && json.p[i] >= '0' && json.p[i] <= '9')
        i++;
    int64_t v;
    if (i == d || !fsa_str_to_i64(fsa_str_make(json.p + d, i - d), &v))
        return -1;
    return (long)v;
}

bool fsa_resync_bgjob(struct fsa_str body, struct fsa_bgjob *out)
{
    memset(out, 0, sizeof(*out));
    struct fsa_str rest = body, name, value, cl = FSA_STR_NULL;
    for (;;) {
        if (rest.n == 0)
            return false; /* the headers ran to the end: no blank line, no output */
        if (!esl_header_next(&rest, &name, &value))
            break; /* the blank line: rest is what follows it */
        if (!value.p)
            return false;
        if (FSA_STR_IS(name, "Job-UUID") && !out->job_uuid.p)
            out->job_uuid = value;
        else if (FSA_STR_IS(name, "Job-Command") && !out->command.p)
            out->command = value;
        else if (FSA_STR_IS(name, "Job-Command-Arg") && !out->arg.p)
            out->arg = value;
        else if (FSA_STR_IS(name, "Content-Length") && !cl.p)
            cl = value;
    }
    if (!cl.p)
        return false;
    uint64_t len;
    if (!fsa_str_to_u64(cl, &len) || len > rest.n)
        return false;
    out->output = fsa_str_make(rest.p, (size_t)len);
    return true;
}
