/*
 * admin: the admin HTTP server (h2o 2.2, its own event loop) on its own
 * thread, fsa-admin. Endpoints and their bodies: admin_render.h.
 *
 * Bounds: at most FSA_ADMIN_MAX_CONNS connections at once (the listener
 * stops accepting at the cap and resumes when one closes; the kernel's
 * backlog holds the rest); one request per connection (responses close it),
 * a request that does not arrive within FSA_ADMIN_REQ_TIMEOUT_MS is dropped
 * by h2o; request bodies are refused; every response is rendered into one
 * buffer sized at start from the instance count, and a response that would
 * not fit gets 500 and a log line, never a cut document.
 *
 * What it reads, all written by other threads: instance counters (relaxed
 * atomics), the workers' counters and snapshots (relaxed atomics, seqlock),
 * the exporter's stats (its own read function). It writes nothing they read.
 *
 * Life cycle (main thread): fsa_admin_start() after the agent started, binds
 * and listens before returning, so a port in use is an error right there;
 * fsa_admin_stop() before the agent stops: stops accepting, lets requests in
 * flight finish (bounded by the request timeout), joins, frees.
 */
#ifndef FSA_ADMIN_H
#define FSA_ADMIN_H

#include "agent.h"
#include "config.h"

#define FSA_ADMIN_MAX_CONNS 64
#define FSA_ADMIN_REQ_TIMEOUT_MS 5000
#define FSA_ADMIN_REFRESH_S 5

struct fsa_admin;

/*
 * 0 with *out set, or 0 with *out NULL when cfg->http_port is 0 (admin off);
 * -errno with *why naming the step ("bind", "listen", ...) otherwise.
 */
int fsa_admin_start(const struct fsa_agent *agent, const struct fsa_config *cfg, struct fsa_admin **out,
                    const char **why);
/* Stops, joins and frees; NULL is fine. */
void fsa_admin_stop(struct fsa_admin *a);

#endif
