/*
 * engine/resync.c on the real FreeSWITCH 1.11.1 replies (tests/fixtures/
 * freeswitch-1.11.1-api): the channel list's Unique-IDs, the empty list, the
 * BACKGROUND_JOB envelope of bgapi answers, our Job-UUIDs, and hostile
 * variants. Expected values were read off the fixture files by hand (and by
 * grep), not from the code.
 */
#include "engine/esl.h"
#include "engine/resync.h"
#include "fsa_test.h"

/* The body of a fixture file that is one whole frame (after its blank line). */
static struct fsa_str frame_body(const char *name, char **buf)
{
    size_t len;
    *buf = fsa_test_read_file(fsa_test_api_fixture(name), &len);
    const char *b = strstr(*buf, "\n\n");
    if (!b)
        return FSA_STR_NULL;
    b += 2;
    return fsa_str_make(b, len - (size_t)(b - *buf));
}

/*
 * show-channels-json.raw: 8 rows; `grep -o '"uuid":"[^"]*"'` gives these, in
 * order (the "call_uuid" keys, which repeat some of them, are not row keys).
 */
static void list_of_eight(void)
{
    static const char *const want[8] = {
        "8b57e13c-f5c0-400b-a67a-62420d652fa7", "e7acea52-185c-451b-8c79-ace99d40139b",
        "313f88cf-1ac5-4ed2-aa57-0e72676f5d12", "2ea0fbc6-7d8d-4dbc-872d-cfd98f80838f",
        "da51e2d0-c655-4cca-ab35-a67b95b98de2", "8ae91d79-925a-4238-9b53-ebea32a82a17",
        "06f8a85e-8bf4-4282-962a-99c379236f26", "f75a714a-c7c8-45c2-8551-fa80749ff1ad",
    };
    char *buf;
    struct fsa_str json = frame_body("show-channels-json.raw", &buf);
    CHECK_EQ_I64(fsa_resync_row_count(json), 8);
    char uuid[FSA_UUID_MAX];
    size_t pos = 0, n;
    unsigned skipped = 0, got = 0;
    while ((n = fsa_resync_next_uuid(json, &pos, uuid, &skipped)) > 0) {
        CHECK_EQ_U64(n, 36);
        if (got < 8)
            CHECK_STR(uuid, want[got]);
        got++;
    }
    CHECK_EQ_U64(got, 8);
    CHECK_EQ_U64(skipped, 0);
    CHECK_EQ_U64(pos, json.n);
    free(buf);
}

/* The empty list: {"row_count": 0} with a space and no "rows". */
static void empty_list(void)
{
    char *buf;
    struct fsa_str json = frame_body("show-channels-json-empty.raw", &buf);
    CHECK_EQ_I64(fsa_resync_row_count(json), 0);
    char uuid[FSA_UUID_MAX];
    size_t pos = 0;
    unsigned skipped = 0;
    CHECK_EQ_U64(fsa_resync_next_uuid(json, &pos, uuid, &skipped), 0);
    free(buf);
}

/* Hostile lists: cut values, long values, bytes no Unique-ID has, keys that only end in uuid. */
static void hostile_lists(void)
{
    struct {
        const char *json;
        unsigned want_ids, want_skipped;
        const char *first;
    } cases[] = {
        {"{\"rows\":[{\"uuid\":\"ab-1\"},{\"call_uuid\":\"zz\"},{\"uuid\":\"cd-2\"}]}", 2, 0, "ab-1"},
        {"{\"rows\":[{\"uuid\":\"\"}]}", 0, 1, NULL},
        {"{\"rows\":[{\"uuid\":\"abc", 0, 1, NULL},                      /* cut inside the value */
         {"{\"rows\":[{\"uuid\":\"a\\\"b\"},{\"uuid\":\"ok\"}]}", 1, 1, "ok"}, /* an escape: not an id */
        {"{\"rows\":[{\"uuid\":\"a b\"}]}", 0, 1, NULL},
        {"\"uuid\":\"", 0, 1, NULL},
        {"", 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fsa_str json = fsa_str_cstr(cases[i].json);
        char uuid[FSA_UUID_MAX], first[FSA_UUID_MAX] = "";
        size_t pos = 0;
        unsigned skipped = 0, got = 0;
        while (fsa_resync_next_uuid(json, &pos, uuid, &skipped) > 0)
            if (got++ == 0)
                snprintf(first, sizeof(first), "%s", uuid);
        CHECK_EQ_U64(got, cases[i].want_ids);
        CHECK_EQ_U64(skipped, cases[i].want_skipped);
        if (cases[i].first)
            CHECK_STR(first, cases[i].first);
    }
    /* 47 characters fit FSA_UUID_MAX (48 with the NUL); 48 do not. */
    char json[160], uuid[FSA_UUID_MAX];
    snprintf(json, sizeof(json), "{\"uuid\":\"%047d\"}", 0);
    size_t pos = 0;
    unsigned skipped = 0;
    CHECK_EQ_U64(fsa_resync_next_uuid(fsa_str_cstr(json), &pos, uuid, &skipped), 47);
    snprintf(json, sizeof(json), "{\"uuid\":\"%048d\"}", 0);
    pos = 0;
    CHECK_EQ_U64(fsa_resync_next_uuid(fsa_str_cstr(json), &pos, uuid, &skipped), 0);
    CHECK_EQ_U64(skipped, 1);
    CHECK_EQ_I64(fsa_resync_row_count(fsa_str_cstr("{\"row_count\":x}")), -1);
    CHECK_EQ_I64(fsa_resync_row_count(fsa_str_cstr("{}")), -1);
}

/*
 * bgapi-uuid-dump-plain-event.raw (read off the file): a BACKGROUND_JOB with
 * Job-Command uuid_dump, Job-Command-Arg 505e43d6-909a-4cc9-8749-f2938d9ad6b0
 * and an inner Content-Length of 7216, the rest of the frame: a CHANNEL_DATA
 * body for that Unique-ID with variable_sip_call_id
 * 9d3fd28a-6d02-1240-da89-f28d36f5fb40.
 */
static void bgjob_dump(void)
{
    char *buf;
    struct fsa_str body = frame_body("bgapi-uuid-dump-plain-event.raw", &buf);
    struct fsa_bgjob j;
    CHECK(fsa_resync_bgjob(body, &j));
    CHECK(FSA_STR_IS(j.command, "uuid_dump"));
    CHECK(FSA_STR_IS(j.arg, "505e43d6-909a-4cc9-8749-f2938d9ad6b0"));
    CHECK_EQ_U64(j.job_uuid.n, 36);
    CHECK_EQ_U64(j.output.n, 7216);
    /* The output is exactly the tail of the frame (the inner Content-Length covers it all). */
    CHECK(j.output.p + j.output.n == body.p + body.n);
    struct esl_event_scan sc;
    const char *err = NULL;
    struct fsa_event_msg m;
    CHECK(esl_event_scan(j.output, &sc, NULL, &err) == ESL_DECODE_EVENT);
    CHECK_EQ_U64(sc.kind, FSA_EV_CHANNEL_DATA);
    memset(&m, 0, sizeof(m));
    esl_event_fill(&sc, &m);
    CHECK_EQ_U64(m.uuid_len, 36);
    char arg[FSA_UUID_MAX];
    esl_url_decode(j.arg, arg, sizeof(arg), NULL);
    CHECK_STR(m.uuid, arg); /* the dump is of the leg it was asked about */
    CHECK_STR(m.u.chan.call_id, "9d3fd28a-6d02-1240-da89-f28d36f5fb40");
    CHECK_STR(m.u.chan.codec, "PCMU");
    free(buf);

    /* The unknown channel: the output is the error line, Content-Length 22. */
    body = frame_body("bgapi-uuid-dump-unknown-event.raw", &buf);
    CHECK(fsa_resync_bgjob(body, &j));
    CHECK_EQ_U64(j.output.n, 22);
    CHECK(j.output.n == 22 && memcmp(j.output.p, "-ERR No such channel!\n", 22) == 0);
    CHECK(FSA_STR_IS(j.arg, "00000000-0000-0000-0000-000000000000"));
    free(buf);

    /* The list through bgapi: its output parses like the api reply (8 rows). */
    body = frame_body("bgapi-show-channels-json-event.raw", &buf);
    CHECK(fsa_resync_bgjob(body, &j));
    CHECK(FSA_STR_IS(j.command, "show"));
    CHECK_EQ_I64(fsa_resync_row_count(j.output), 8);
    free(buf);
}

/* Envelopes that must be refused: no blank line, no or bad Content-Length, one longer than what follows. */
static void bgjob_hostile(void)
{
    struct fsa_bgjob j;
    const char *bad[] = {
        "Event-Name: BACKGROUND_JOB\nJob-UUID: x\nContent-Length: 3\n",        /* no blank line */
        "Event-Name: BACKGROUND_JOB\nJob-UUID: x\n\nabc",                      /* no Content-Length */
        "Event-Name: BACKGROUND_JOB\nContent-Length: 4\n\nabc",                /* longer than what follows */
        "Event-Name: BACKGROUND_JOB\nContent-Length: -1\n\nabc",
        "Event-Name: BACKGROUND_JOB\nContent-Length: 18446744073709551616\n\nabc", /* overflows u64 */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!fsa_resync_bgjob(fsa_str_cstr(bad[i]), &j));
    CHECK(fsa_resync_bgjob(fsa_str_cstr("Job-UUID: u\nContent-Length: 2\n\nokEXTRA"), &j));
    CHECK_EQ_U64(j.output.n, 2); /* bytes past the Content-Length are not the output */
    CHECK(FSA_STR_IS(j.job_uuid, "u"));
}

/* Our Job-UUIDs: 36 characters in 8-4-4-4-12 form; only ours (nonce) with a known kind parse. */
static void job_uuids(void)
{
    char u[FSA_JOB_UUID_LEN + 1];
    fsa_resync_job_uuid(u, 0xdeadbeef, FSA_JOB_DUMP, 7, 0x123456789abcull);
    CHECK_STR(u, "deadbeef-0002-0007-0000-123456789abc");
    uint16_t inst = 0;
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr(u), 0xdeadbeef, &inst), FSA_JOB_DUMP);
    CHECK_EQ_U64(inst, 7);
    fsa_resync_job_uuid(u, 1, FSA_JOB_LIST, 65535, 1);
    CHECK_STR(u, "00000001-0001-ffff-0000-000000000001");
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr(u), 1, &inst), FSA_JOB_LIST);
    CHECK_EQ_U64(inst, 65535);
    /* Another process's (nonce), a real FreeSWITCH Job-UUID, a wrong kind, a wrong form: not ours. */
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr(u), 2, &inst), FSA_JOB_NONE);
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr("a8d59204-6668-4951-bb90-16d80654a154"), 0xa8d59204, &inst),
                 FSA_JOB_NONE);
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr("00000001-0003-0000-0000-000000000001"), 1, &inst), FSA_JOB_NONE);
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr("00000001-0001-0000-0000-00000000001"), 1, &inst), FSA_JOB_NONE);
    CHECK_EQ_U64(fsa_resync_job_parse(fsa_str_cstr("00000001-0001-0000-0000-00000000000g"), 1, &inst), FSA_JOB_NONE);
    /* The sequence wraps at 48 bits, never longer than 36 characters (FreeSWITCH keeps 36). */
    fsa_resync_job_uuid(u, 1, FSA_JOB_DUMP, 0, UINT64_MAX);
    CHECK_EQ_U64(strlen(u), 36);
}

int main(void)
{
    list_of_eight();
    empty_list();
    hostile_lists();
    bgjob_dump();
    bgjob_hostile();
    job_uuids();
    return fsa_test_finish();
}
