/*
 * grpc: protocol helpers (see grpc.h). Nothing here touches a socket; the
 * client (grpc_client.c) feeds these with header values and body bytes.
 *
 * Messages from the wire are unpacked with protobuf-c's default allocator:
 * this is the answer path (one small message per request), not the per-record
 * hot path.
 */
#include "grpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fsa/grpc_status.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "ring/fsa_str.h"

static const char *const code_names[FSA_GRPC_CODE_COUNT] = {
    "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED",
};

const char *fsa_grpc_code_name(int code)
{
    if (code < 0 || code >= FSA_GRPC_CODE_COUNT)
        return code_names[FSA_GRPC_UNKNOWN];
    return code_names[code];
}

bool fsa_grpc_retryable(int code, bool has_retry_info)
{
    switch (code) {
    case FSA_GRPC_CANCELLED:
    case FSA_GRPC_DEADLINE_EXCEEDED:
    case FSA_GRPC_ABORTED:
    case FSA_GRPC_OUT_OF_RANGE:
    case FSA_GRPC_UNAVAILABLE:
    case FSA_GRPC_DATA_LOSS: return true;
    case FSA_GRPC_RESOURCE_EXHAUSTED: return has_retry_info;
    default: return false;
    }
}

int fsa_grpc_code_from_http(int status)
{
    switch (status) {
    case 400: return FSA_GRPC_INTERNAL;
    case 401: return FSA_GRPC_UNAUTHENTICATED;
    case 403: return FSA_GRPC_PERMISSION_DENIED;
    case 404: return FSA_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return FSA_GRPC_UNAVAILABLE;
    default: return FSA_GRPC_UNKNOWN;
    }
}

int fsa_grpc_code_from_h2_error(uint32_t h2_error)
{
    switch (h2_error) {
    case 0x7: return FSA_GRPC_UNAVAILABLE;        /* REFUSED_STREAM: not processed, safe to retry */
    case 0x8: return FSA_GRPC_CANCELLED;          /* CANCEL */
    case 0xb: return FSA_GRPC_RESOURCE_EXHAUSTED; /* ENHANCE_YOUR_CALM */
    case 0xc: return FSA_GRPC_PERMISSION_DENIED;  /* INADEQUATE_SECURITY */
    default: return FSA_GRPC_INTERNAL;            /* NO_ERROR, PROTOCOL_ERROR, ... */
    }
}

const char *fsa_grpc_parse_status(const uint8_t *s, size_t n, int *code)
{
    if (n == 0)
        return "empty grpc-status";
    if (n > 2)
        return "grpc-status out of range";
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "grpc-status is not a number";
        v = v * 10 + (s[i] - '0');
    }
    *code = v < FSA_GRPC_CODE_COUNT ? v : FSA_GRPC_UNKNOWN;
    return NULL;
}

size_t fsa_grpc_percent_decode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        uint8_t c = in[i];
        if (c == '%' && i + 2 < n && fsa_hex_digit(in[i + 1]) >= 0 && fsa_hex_digit(in[i + 2]) >= 0) {
            c = (uint8_t)(fsa_hex_digit(in[i + 1]) << 4 | fsa_hex_digit(in[i + 2]));
            i += 2;
        }
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[o] = '\0';
    return o;
}

void fsa_grpc_format_timeout(unsigned ms, char out[16])
{
    /* The spec allows at most 8 digits per unit. */
    if (ms <= 99999999u)
        snprintf(out, 16, "%um", ms);
    else if (ms / 1000 <= 99999999u)
        snprintf(out, 16, "%uS", ms / 1000);
    else
        snprintf(out, 16, "%uM", ms / 60000);
}

static int b64val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

long fsa_base64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

#define RETRY_INFO_TYPE "type.googleapis.com/google.rpc.RetryInfo"

const char *fsa_grpc_status_details_retry(const uint8_t *b64, size_t n, bool *has, uint64_t *delay_ms)
{
    uint8_t raw[4096];
    *has = false;
    *delay_ms = 0;
    long len = fsa_base64_decode(b64, n, raw, sizeof(raw));
    if (len < 0)
        return "grpc-status-details-bin is not base64 (or too long)";
    Fsa__Grpc__Status *st = fsa__grpc__status__unpack(NULL, (size_t)len, raw);
    if (!st)
        return "grpc-status-details-bin is not a google.rpc.Status";
    const char *why = NULL;
    for (size_t i = 0; i < st->n_details && !*has; i++) {
        const Fsa__Grpc__Any *any = st->details[i];
        if (!any->type_url || strcmp(any->type_url, RETRY_INFO_TYPE) != 0)
            continue;
        Fsa__Grpc__RetryInfo *ri = fsa__grpc__retry_info__unpack(NULL, any->value.len, any->value.data);
        if (!ri) {
            why = "RetryInfo does not parse";
            break;
        }
        *has = true;
        if (ri->retry_delay) {
            int64_t s = ri->retry_delay->seconds, ns = ri->retry_delay->nanos;
            if (s < 0 || ns < 0)
                s = ns = 0;
            if (s > 86400)
                s = 86400; /* a day: anything longer is a bug on the other side */
            *delay_ms = (uint64_t)s * 1000 + (uint64_t)ns / 1000000;
        }
        fsa__grpc__retry_info__free_unpacked(ri, NULL);
    }
    fsa__grpc__status__free_unpacked(st, NULL);
    return why;
}

void fsa_grpc_frame_header(uint8_t out[FSA_GRPC_FRAME_HEADER], bool compressed, uint32_t len)
{
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

#define RESPONSE_MAX (1u << 20)

const char *fsa_grpc_parse_export_response(const uint8_t *body, size_t n, bool gzip_ok,
                                           struct fsa_grpc_export_response *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return NULL; /* no message at all: as empty */
    if (n < FSA_GRPC_FRAME_HEADER)
        return "response message is truncated";
    uint32_t len = (uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 | (uint32_t)body[3] << 8 | body[4];
    if (body[0] > 1)
        return "response message has a bad compressed flag";
    if (len != n - FSA_GRPC_FRAME_HEADER)
        return len > n - FSA_GRPC_FRAME_HEADER ? "response message is truncated" : "response has more than one message";
    const uint8_t *msg = body + FSA_GRPC_FRAME_HEADER;
    uint8_t *plain = NULL;
    if (body[0] == 1) {
        if (!gzip_ok)
            return "response message is compressed without grpc-encoding";
        plain = malloc(RESPONSE_MAX);
        if (!plain)
            return "out of memory";
        long pl = fsa_gunzip(msg, len, plain, RESPONSE_MAX);
        if (pl < 0) {
            free(plain);
            return "response message does not gunzip";
        }
        msg = plain;
        len = (uint32_t)pl;
    }
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *r =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(NULL, len, msg);
    free(plain);
    if (!r)
        return "response is not an ExportMetricsServiceResponse";
    if (r->partial_success) {
        out->has_partial_success = true;
        out->rejected_data_points = r->partial_success->rejected_data_points;
        const char *m = r->partial_success->error_message ? r->partial_success->error_message : "";
        size_t i = 0;
        for (; m[i] && i + 1 < sizeof(out->error_message); i++) {
            unsigned char c = (unsigned char)m[i];
            out->error_message[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        out->error_message[i] = '\0';
    }
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(r, NULL);
    return NULL;
}

struct fsa_gzip {
    z_stream zs;
};

struct fsa_gzip *fsa_gzip_create(int level)
{
    struct fsa_gzip *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    /* windowBits 15 + 16: gzip wrapper, as grpc-encoding: gzip means. */
    if (deflateInit2(&z->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void fsa_gzip_destroy(struct fsa_gzip *z)
{
    if (!z)
        return;
    deflateEnd(&z->zs);
    free(z);
}

size_t fsa_gzip_bound(struct fsa_gzip *z, size_t n)
{
    return (size_t)deflateBound(&z->zs, (uLong)n) + 32;
}

size_t fsa_gzip_compress(struct fsa_gzip *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    if (deflateReset(&z->zs) != Z_OK)
        return 0;
    z->zs.next_in = (Bytef *)(uintptr_t)in;
    z->zs.avail_in = (uInt)n;
    z->zs.next_out = out;
    z->zs.avail_out = (uInt)cap;
    int rc = deflate(&z->zs, Z_FINISH);
    if (rc != Z_STREAM_END)
        return 0;
    return cap - z->zs.avail_out;
}

long fsa_gunzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return -1;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = inflate(&zs, Z_FINISH);
    long len = (long)(cap - zs.avail_out);
    inflateEnd(&zs);
    return rc == Z_STREAM_END ? len : -1;
}
