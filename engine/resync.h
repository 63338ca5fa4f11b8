/*
 * resync: the pure parts of resuming legs learnt mid-call (contract "Resume").
 *
 * On every (re)connect a reactor asks FreeSWITCH which channels are up
 * (`bgapi show channels as json`) and, for each leg a worker does not know,
 * what it is (`bgapi uuid_dump <uuid>`). Both answers come later, on the same
 * connection, as BACKGROUND_JOB events whose own body (after the event's
 * headers, under its own Content-Length) is the command's output (the real
 * bytes are in tests/fixtures/freeswitch-1.11.1-api). Every listener
 * subscribed to BACKGROUND_JOB sees every job, so ours carry a Job-UUID of
 * our own: an 8-hex-digit nonce of this process, the job's kind and a
 * sequence number, in the 8-4-4-4-12 form FreeSWITCH copies (it keeps at
 * most 36 characters).
 *
 * Everything here parses bytes from the network: bounded, no allocation,
 * never reads outside the slice it was given (fuzz/fuzz_resync.c).
 */
#ifndef FSA_RESYNC_H
#define FSA_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ring/fsa_msg.h"
#include "../ring/fsa_str.h"

enum fsa_resync_job { FSA_JOB_NONE = 0, FSA_JOB_LIST = 1, FSA_JOB_DUMP = 2 };

#define FSA_JOB_UUID_LEN 36

/* Writes "<nonce:8>-<kind:4>-<instance:4>-0000-<seq:12>" and its NUL into out[FSA_JOB_UUID_LEN + 1]. */
void fsa_resync_job_uuid(char *out, uint32_t nonce, enum fsa_resync_job kind, uint16_t instance, uint64_t seq);

/* The kind of one of our jobs (nonce matches, form exact), else FSA_JOB_NONE; *instance as written. */
enum fsa_resync_job fsa_resync_job_parse(struct fsa_str job_uuid, uint32_t nonce, uint16_t *instance);

/*
 * The next channel's Unique-ID in a `show channels as json` reply, from
 * *pos on: the value of each "uuid" key, which only rows have (the keys
 * "call_uuid" and the like end in uuid but do not start a key there; in
 * valid JSON a quote inside a string is escaped, so the bytes "uuid":" can
 * only be a key). A value that is empty, too long for FSA_UUID_MAX or not
 * made of letters, digits and '-' is skipped and counted in *skipped.
 * Returns the length copied into out (NUL-terminated), 0 at the end.
 * The empty list FreeSWITCH sends is {"row_count": 0} with no "rows".
 */
size_t fsa_resync_next_uuid(struct fsa_str json, size_t *pos, char out[FSA_UUID_MAX], unsigned *skipped);

/* The row_count a reply announces, or -1 when it has none that parses. */
long fsa_resync_row_count(struct fsa_str json);

/*
 * A BACKGROUND_JOB event body's parts: Job-UUID, Job-Command, Job-Command-Arg
 * (raw, URL-encoded as sent) and the job's output (the bytes after the
 * event's blank line, Content-Length of them). false when the event has no
 * blank line or its Content-Length is missing, bad, or longer than what
 * follows (a cut frame).
 */
struct fsa_bgjob {
    struct fsa_str job_uuid, command, arg, output;
};
bool fsa_resync_bgjob(struct fsa_str event_body, struct fsa_bgjob *out);

#endif
