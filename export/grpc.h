/*
 * grpc: the protocol rules of gRPC over HTTP/2 that need no socket.
 *
 * Status codes and what each one means to the exporter (retry or not), the
 * HTTP :status and RST_STREAM mappings for answers that carry no
 * grpc-status, the percent-encoding of grpc-message, the grpc-timeout
 * header, base64 for `-bin` headers, google.rpc.Status / RetryInfo from
 * grpc-status-details-bin, the 5-byte message framing, and the
 * ExportMetricsServiceResponse (with partial_success) in a response body.
 *
 * Error convention: parsers return NULL on success or a static string naming
 * the problem; tests compare those strings exactly. Pure functions, callable
 * from any thread, except struct fsa_gzip, which its owner thread uses.
 */
#ifndef FSA_EXPORT_GRPC_H
#define FSA_EXPORT_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fsa_grpc_code {
    FSA_GRPC_OK = 0,
    FSA_GRPC_CANCELLED = 1,
    FSA_GRPC_UNKNOWN = 2,
    FSA_GRPC_INVALID_ARGUMENT = 3,
    FSA_GRPC_DEADLINE_EXCEEDED = 4,
    FSA_GRPC_NOT_FOUND = 5,
    FSA_GRPC_ALREADY_EXISTS = 6,
    FSA_GRPC_PERMISSION_DENIED = 7,
    FSA_GRPC_RESOURCE_EXHAUSTED = 8,
    FSA_GRPC_FAILED_PRECONDITION = 9,
    FSA_GRPC_ABORTED = 10,
    FSA_GRPC_OUT_OF_RANGE = 11,
    FSA_GRPC_UNIMPLEMENTED = 12,
    FSA_GRPC_INTERNAL = 13,
    FSA_GRPC_UNAVAILABLE = 14,
    FSA_GRPC_DATA_LOSS = 15,
    FSA_GRPC_UNAUTHENTICATED = 16,
    FSA_GRPC_CODE_COUNT = 17
};

#define FSA_GRPC_PATH "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
#define FSA_GRPC_FRAME_HEADER 5 /* compressed flag + 4-byte big-endian length */

/* "OK", "UNAVAILABLE", ...; anything out of range is "UNKNOWN" (as gRPC maps it). */
const char *fsa_grpc_code_name(int code);

/*
 * The OTLP exporter rule: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, DATA_LOSS and CANCELLED are retried; RESOURCE_EXHAUSTED only
 * when the server said when (RetryInfo); nothing else.
 */
bool fsa_grpc_retryable(int code, bool has_retry_info);

/* A non-200 HTTP :status without grpc-status (gRPC's http-grpc-status-mapping). */
int fsa_grpc_code_from_http(int status);
/* A stream reset (RST_STREAM / GOAWAY error code) without grpc-status. */
int fsa_grpc_code_from_h2_error(uint32_t h2_error);

/* Strict "0".."99" decimal grpc-status; NULL or a reason. Codes above 16 become UNKNOWN. */
const char *fsa_grpc_parse_status(const uint8_t *s, size_t n, int *code);

/*
 * Percent-decodes a grpc-message into out[cap] (always NUL-terminated, cut
 * to fit). Malformed escapes are kept as they came; control bytes become '?'
 * so the text is safe in a log line. Returns the length written.
 */
size_t fsa_grpc_percent_decode(const uint8_t *in, size_t n, char *out, size_t cap);

/* grpc-timeout value for ms ("10000m"; at most 8 digits, so large values go to "S"/"M"). */
void fsa_grpc_format_timeout(unsigned ms, char out[16]);

/* Base64 (standard alphabet, padding optional, as gRPC -bin headers): bytes written or -1. */
long fsa_base64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/*
 * grpc-status-details-bin (base64 google.rpc.Status): whether it carries a
 * google.rpc.RetryInfo, and its retry_delay in ms. NULL when parsed (found
 * or not: *has says), else a reason.
 */
const char *fsa_grpc_status_details_retry(const uint8_t *b64, size_t n, bool *has, uint64_t *delay_ms);

/* Writes the 5-byte prefix of a message of len bytes. */
void fsa_grpc_frame_header(uint8_t out[FSA_GRPC_FRAME_HEADER], bool compressed, uint32_t len);

struct fsa_grpc_export_response {
    bool has_partial_success;     /* field 1 was present */
    int64_t rejected_data_points; /* partial_success.rejected_data_points */
    char error_message[256];      /* partial_success.error_message, cut to fit, control bytes as '?' */
};

/*
 * The body of an Export answer: zero or one length-prefixed message
 * (ExportMetricsServiceResponse). A compressed message is accepted only when
 * the response said grpc-encoding: gzip. NULL or a reason.
 */
const char *fsa_grpc_parse_export_response(const uint8_t *body, size_t n, bool gzip_ok,
                                           struct fsa_grpc_export_response *out);

/*
 * gzip for gRPC messages (grpc-encoding: gzip is the gzip format, RFC 1952).
 * One reusable deflate stream: no allocation per message after the first.
 */
struct fsa_gzip;
struct fsa_gzip *fsa_gzip_create(int level);
void fsa_gzip_destroy(struct fsa_gzip *z);
/* Upper bound of the compressed size of n bytes. */
size_t fsa_gzip_bound(struct fsa_gzip *z, size_t n);
/* Compresses in[n] into out[cap]: compressed length, or 0 on failure. */
size_t fsa_gzip_compress(struct fsa_gzip *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap);
/* One-shot gunzip into out[cap]: length, or -1 (bad data or larger than cap). */
long fsa_gunzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

#endif
