/*
 * gRPC protocol helpers (export/grpc.c): status codes and the retry rule,
 * HTTP and HTTP/2 error mappings, grpc-message decoding, grpc-timeout,
 * base64, RetryInfo in grpc-status-details-bin, response bodies with
 * partial_success, gzip.
 */
#include "export/grpc.h"
#include "fsa/grpc_status.pb-c.h"
#include "fsa_test.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void test_codes(void)
{
    CHECK_STR(fsa_grpc_code_name(0), "OK");
    CHECK_STR(fsa_grpc_code_name(14), "UNAVAILABLE");
    CHECK_STR(fsa_grpc_code_name(16), "UNAUTHENTICATED");
    CHECK_STR(fsa_grpc_code_name(17), "UNKNOWN");
    CHECK_STR(fsa_grpc_code_name(-1), "UNKNOWN");
    /* The retry rule, code by code. */
    static const int retry[] = {FSA_GRPC_CANCELLED,    FSA_GRPC_DEADLINE_EXCEEDED, FSA_GRPC_ABORTED,
                                FSA_GRPC_OUT_OF_RANGE, FSA_GRPC_UNAVAILABLE,       FSA_GRPC_DATA_LOSS};
    for (int c = 0; c < FSA_GRPC_CODE_COUNT; c++) {
        bool want = false;
        for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
            want |= retry[i] == c;
        if (c == FSA_GRPC_RESOURCE_EXHAUSTED) {
            CHECK(!fsa_grpc_retryable(c, false));
            CHECK(fsa_grpc_retryable(c, true));
        } else {
            CHECK(fsa_grpc_retryable(c, false) == want);
            CHECK(fsa_grpc_retryable(c, true) == want);
        }
    }
    CHECK(!fsa_grpc_retryable(FSA_GRPC_INVALID_ARGUMENT, true));
    CHECK(!fsa_grpc_retryable(FSA_GRPC_UNAUTHENTICATED, false));
    CHECK(!fsa_grpc_retryable(FSA_GRPC_PERMISSION_DENIED, false));

    CHECK_EQ_I64(fsa_grpc_code_from_http(400), FSA_GRPC_INTERNAL);
    CHECK_EQ_I64(fsa_grpc_code_from_http(401), FSA_GRPC_UNAUTHENTICATED);
    CHECK_EQ_I64(fsa_grpc_code_from_http(403), FSA_GRPC_PERMISSION_DENIED);
    CHECK_EQ_I64(fsa_grpc_code_from_http(404), FSA_GRPC_UNIMPLEMENTED);
    CHECK_EQ_I64(fsa_grpc_code_from_http(429), FSA_GRPC_UNAVAILABLE);
    CHECK_EQ_I64(fsa_grpc_code_from_http(502), FSA_GRPC_UNAVAILABLE);
    CHECK_EQ_I64(fsa_grpc_code_from_http(503), FSA_GRPC_UNAVAILABLE);
    CHECK_EQ_I64(fsa_grpc_code_from_http(504), FSA_GRPC_UNAVAILABLE);
    CHECK_EQ_I64(fsa_grpc_code_from_http(500), FSA_GRPC_UNKNOWN);
    CHECK_EQ_I64(fsa_grpc_code_from_h2_error(0x7), FSA_GRPC_UNAVAILABLE);
    CHECK_EQ_I64(fsa_grpc_code_from_h2_error(0x8), FSA_GRPC_CANCELLED);
    CHECK_EQ_I64(fsa_grpc_code_from_h2_error(0xb), FSA_GRPC_RESOURCE_EXHAUSTED);
    CHECK_EQ_I64(fsa_grpc_code_from_h2_error(0xc), FSA_GRPC_PERMISSION_DENIED);
    CHECK_EQ_I64(fsa_grpc_code_from_h2_error(0x1), FSA_GRPC_INTERNAL);
    CHECK_EQ_I64(fsa_grpc_code_from_h2_error(0x0), FSA_GRPC_INTERNAL);

    int code = -1;
    CHECK(fsa_grpc_parse_status(S("0"), &code) == NULL && code == 0);
    CHECK(fsa_grpc_parse_status(S("14"), &code) == NULL && code == 14);
    CHECK(fsa_grpc_parse_status(S("42"), &code) == NULL && code == FSA_GRPC_UNKNOWN);
    CHECK_STR(fsa_grpc_parse_status(S(""), &code), "empty grpc-status");
    CHECK_STR(fsa_grpc_parse_status(S("1a"), &code), "grpc-status is not a number");
    CHECK_STR(fsa_grpc_parse_status(S("-1"), &code), "grpc-status is not a number");
    CHECK_STR(fsa_grpc_parse_status(S("100"), &code), "grpc-status out of range");
}

static void test_percent_and_timeout(void)
{
    char out[64];
    CHECK_EQ_U64(fsa_grpc_percent_decode(S("plain text"), out, sizeof(out)), 10);
    CHECK_STR(out, "plain text");
    fsa_grpc_percent_decode(S("100%25 busy %E2%9C%93"), out, sizeof(out));
    CHECK_STR(out, "100% busy \xE2\x9C\x93");
    fsa_grpc_percent_decode(S("bad %zz and %4"), out, sizeof(out));
    CHECK_STR(out, "bad %zz and %4");
    fsa_grpc_percent_decode(S("line%0Abreak%00"), out, sizeof(out));
    CHECK_STR(out, "line?break?");
    CHECK_EQ_U64(fsa_grpc_percent_decode(S("abcdef"), out, 4), 3);
    CHECK_STR(out, "abc");

    char t[16];
    fsa_grpc_format_timeout(10000, t);
    CHECK_STR(t, "10000m");
    fsa_grpc_format_timeout(99999999, t);
    CHECK_STR(t, "99999999m");
    fsa_grpc_format_timeout(100000000, t);
    CHECK_STR(t, "100000S");
    fsa_grpc_format_timeout(0xffffffffu, t);
    CHECK_STR(t, "4294967S");
}

static void test_base64(void)
{
    uint8_t out[16];
    CHECK_EQ_I64(fsa_base64_decode(S("aGVsbG8="), out, sizeof(out)), 5);
    CHECK(memcmp(out, "hello", 5) == 0);
    CHECK_EQ_I64(fsa_base64_decode(S("aGVsbG8"), out, sizeof(out)), 5); /* gRPC may drop padding */
    CHECK_EQ_I64(fsa_base64_decode(S("-_8"), out, sizeof(out)), 2);     /* URL-safe alphabet too */
    CHECK(out[0] == 0xfb && out[1] == 0xff);
    CHECK_EQ_I64(fsa_base64_decode(S("a"), out, sizeof(out)), -1);
    CHECK_EQ_I64(fsa_base64_decode(S("a*b="), out, sizeof(out)), -1);
    CHECK_EQ_I64(fsa_base64_decode(S("aGVsbG8="), out, 4), -1);
}

static size_t b64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* google.rpc.Status{code, details: [Any{other}, Any{RetryInfo{retry_delay}}]} as a server sends it. */
static size_t status_details(int64_t secs, int32_t nanos, bool with_retry, char *out)
{
    Fsa__Grpc__Duration d = FSA__GRPC__DURATION__INIT;
    d.seconds = secs;
    d.nanos = nanos;
    Fsa__Grpc__RetryInfo ri = FSA__GRPC__RETRY_INFO__INIT;
    ri.retry_delay = &d;
    uint8_t ri_buf[64];
    size_t ri_len = fsa__grpc__retry_info__pack(&ri, ri_buf);
    Fsa__Grpc__Any other = FSA__GRPC__ANY__INIT, retry = FSA__GRPC__ANY__INIT;
    other.type_url = (char *)"type.googleapis.com/google.rpc.DebugInfo";
    other.value.data = (uint8_t *)"xx";
    other.value.len = 2;
    retry.type_url = (char *)"type.googleapis.com/google.rpc.RetryInfo";
    retry.value.data = ri_buf;
    retry.value.len = ri_len;
    Fsa__Grpc__Any *details[2] = {&other, &retry};
    Fsa__Grpc__Status st = FSA__GRPC__STATUS__INIT;
    st.code = 8;
    st.message = (char *)"slow down";
    st.n_details = with_retry ? 2 : 1;
    st.details = details;
    uint8_t buf[256];
    size_t n = fsa__grpc__status__pack(&st, buf);
    return b64(buf, n, out);
}

static void test_retry_info(void)
{
    char b[512];
    bool has;
    uint64_t ms;
    size_t n = status_details(2, 500000000, true, b);
    CHECK(fsa_grpc_status_details_retry((const uint8_t *)b, n, &has, &ms) == NULL);
    CHECK(has);
    CHECK_EQ_U64(ms, 2500);
    n = status_details(0, 0, false, b);
    CHECK(fsa_grpc_status_details_retry((const uint8_t *)b, n, &has, &ms) == NULL);
    CHECK(!has);
    n = status_details(-5, 0, true, b);
    CHECK(fsa_grpc_status_details_retry((const uint8_t *)b, n, &has, &ms) == NULL);
    CHECK(has && ms == 0);
    n = status_details(10000000, 0, true, b);
    CHECK(fsa_grpc_status_details_retry((const uint8_t *)b, n, &has, &ms) == NULL);
    CHECK_EQ_U64(ms, 86400000); /* capped at a day */
    CHECK_STR(fsa_grpc_status_details_retry(S("!!!"), &has, &ms),
              "grpc-status-details-bin is not base64 (or too long)");
    CHECK_STR(fsa_grpc_status_details_retry(S("//8"), &has, &ms), "grpc-status-details-bin is not a google.rpc.Status");
}

static size_t frame(uint8_t *out, bool compressed, const uint8_t *msg, size_t n)
{
    fsa_grpc_frame_header(out, compressed, (uint32_t)n);
    if (n)
        memcpy(out + 5, msg, n);
    return n + 5;
}

static void test_response(void)
{
    struct fsa_grpc_export_response r;
    CHECK(fsa_grpc_parse_export_response(NULL, 0, false, &r) == NULL && !r.has_partial_success);
    uint8_t body[512];
    size_t n = frame(body, false, NULL, 0);
    CHECK(fsa_grpc_parse_export_response(body, n, false, &r) == NULL && !r.has_partial_success);

    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
    ps.rejected_data_points = 7;
    ps.error_message = (char *)"7 points had\nbad names";
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
    resp.partial_success = &ps;
    uint8_t msg[256];
    size_t ml = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__pack(&resp, msg);
    n = frame(body, false, msg, ml);
    CHECK(fsa_grpc_parse_export_response(body, n, false, &r) == NULL);
    CHECK(r.has_partial_success);
    CHECK_EQ_I64(r.rejected_data_points, 7);
    CHECK_STR(r.error_message, "7 points had?bad names");

    /* Compressed: only with grpc-encoding: gzip. */
    struct fsa_gzip *z = fsa_gzip_create(6);
    uint8_t gz[256];
    size_t gl = fsa_gzip_compress(z, msg, ml, gz, sizeof(gz));
    CHECK(gl > 0);
    n = frame(body, true, gz, gl);
    CHECK(fsa_grpc_parse_export_response(body, n, true, &r) == NULL && r.rejected_data_points == 7);
    CHECK_STR(fsa_grpc_parse_export_response(body, n, false, &r),
              "response message is compressed without grpc-encoding");
    body[n - 6] ^= 0xff; /* the CRC-32 in the trailer */
    CHECK_STR(fsa_grpc_parse_export_response(body, n, true, &r), "response message does not gunzip");

    n = frame(body, false, msg, ml);
    CHECK_STR(fsa_grpc_parse_export_response(body, 3, false, &r), "response message is truncated");
    CHECK_STR(fsa_grpc_parse_export_response(body, n - 1, false, &r), "response message is truncated");
    size_t two = frame(body + n, false, msg, ml) + n;
    CHECK_STR(fsa_grpc_parse_export_response(body, two, false, &r), "response has more than one message");
    body[0] = 2;
    CHECK_STR(fsa_grpc_parse_export_response(body, n, false, &r), "response message has a bad compressed flag");
    uint8_t junk[] = {0, 0, 0, 0, 2, 0x0a, 0x05};
    CHECK_STR(fsa_grpc_parse_export_response(junk, sizeof(junk), false, &r),
              "response is not an ExportMetricsServiceResponse");
    fsa_gzip_destroy(z);
}

static void test_gzip_roundtrip(void)
{
    struct fsa_gzip *z = fsa_gzip_create(1);
    uint8_t in[10000], out[20000], back[10000];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i % 7 == 0 ? i : 'a');
    for (int round = 0; round < 3; round++) { /* the stream is reused */
        size_t n = fsa_gzip_compress(z, in, sizeof(in), out, fsa_gzip_bound(z, sizeof(in)));
        CHECK(n > 18 && n < sizeof(in));
        CHECK(out[0] == 0x1f && out[1] == 0x8b); /* gzip magic, not zlib */
        CHECK_EQ_I64(fsa_gunzip(out, n, back, sizeof(back)), (long)sizeof(in));
        CHECK(memcmp(in, back, sizeof(in)) == 0);
        CHECK_EQ_I64(fsa_gunzip(out, n, back, 100), -1);
    }
    CHECK_EQ_U64(fsa_gzip_compress(z, in, sizeof(in), out, 10), 0);
    fsa_gzip_destroy(z);
}

int main(void)
{
    test_codes();
    test_percent_and_timeout();
    test_base64();
    test_retry_info();
    test_response();
    test_gzip_roundtrip();
    return fsa_test_finish();
}
