/*
 * fssim.h: what the fssim source files share. fssim is single-threaded: every
 * structure here is owned by the one event-loop thread, no locking anywhere.
 * See fssim_main.c for the overall design.
 */
#ifndef FSSIM_H
#define FSSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- byte buffers */

/* A growable byte buffer. Allocation failure aborts: a simulator has no better plan. */
struct fssim_buf {
    char *p;
    size_t n, cap;
};

void fssim_buf_reserve(struct fssim_buf *b, size_t add);
void fssim_buf_put(struct fssim_buf *b, const void *p, size_t n);
void fssim_buf_puts(struct fssim_buf *b, const char *s);
void fssim_buf_putc(struct fssim_buf *b, char c);
void fssim_buf_printf(struct fssim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fssim_buf_u64(struct fssim_buf *b, uint64_t v);
void fssim_buf_free(struct fssim_buf *b);

/* ---------------------------------------------------------------- event names */

/* FreeSWITCH's EVENT_NAMES[] (libs/esl), in its order. Index = "kind" below. */
extern const char *const fssim_event_names[];
extern const int fssim_event_count;               /* number of names, ALL included */
int fssim_event_kind(const char *name, size_t n); /* case-insensitive, "SWITCH_EVENT_" prefix ok; -1 */
enum {
    FSSIM_KIND_CUSTOM = 0,
    FSSIM_KIND_MAX = 128 /* bound for per-kind counters */
};

/* ---------------------------------------------------------------- PRNG */

/* xoshiro256**: fast, good enough, and reproducible from --seed. */
struct fssim_rng {
    uint64_t s[4];
};
void fssim_rng_seed(struct fssim_rng *r, uint64_t seed, uint64_t stream);
uint64_t fssim_rng_next(struct fssim_rng *r);
double fssim_rng_unit(struct fssim_rng *r);             /* [0, 1) */
void fssim_rng_uuid(struct fssim_rng *r, char out[37]); /* random v4 UUID, lowercase */

/* ---------------------------------------------------------------- templates */

enum fssim_cond {
    FSSIM_COND_DOMAIN = 1,  /* only when the call has variable_domain_name */
    FSSIM_COND_FIRE = 2,    /* only with --fire-rtcp (fire_rtcp_events=true) */
    FSSIM_COND_ARG = 3,     /* only when the API / job command has an argument */
    FSSIM_COND_MEDIA = 4,   /* only when the leg had media: the rtp_audio_* statistics at hangup */
    FSSIM_COND_ANSWERED = 5 /* only for an answered call: answer/bridge stamps */
};

struct fssim_tpl_hdr {
    const char *name;
    const char *value; /* raw value; {{TOKEN}} = per-event value */
    int cond;
};

struct fssim_tpl {
    const char *event_name;
    const struct fssim_tpl_hdr *hdrs;
    size_t n;
    int has_body; /* BACKGROUND_JOB: Content-Length + body follow the headers */
};

enum fssim_tpl_id {
    FSSIM_TPL_A_STATE,
    FSSIM_TPL_A_CREATE,
    FSSIM_TPL_B_STATE,
    FSSIM_TPL_B_CREATE,
    FSSIM_TPL_B_ANSWER,
    FSSIM_TPL_B_CALLSTATE,
    FSSIM_TPL_A_ANSWER,
    FSSIM_TPL_A_CALLSTATE,
    FSSIM_TPL_A_BRIDGE,
    FSSIM_TPL_B_HANGUP,
    FSSIM_TPL_B_HANGUP_COMPLETE,
    FSSIM_TPL_A_HANGUP,
    FSSIM_TPL_B_DESTROY,
    FSSIM_TPL_A_HANGUP_COMPLETE,
    FSSIM_TPL_A_DESTROY,
    FSSIM_TPL_RECV_RTCP,
    FSSIM_TPL_SEND_RTCP,
    FSSIM_TPL_HEARTBEAT,
    FSSIM_TPL_API,
    FSSIM_TPL_BACKGROUND_JOB,
    FSSIM_TPL_COUNT
};
extern const struct fssim_tpl fssim_templates[FSSIM_TPL_COUNT];

/* Every {{TOKEN}} the templates may use. X(name). */
/* clang-format off */
#define FSSIM_TOKENS(X)                                                                               \
    X(EV_LOCAL) X(EV_GMT) X(EV_TS) X(SEQ) X(CORE_UUID) X(HOSTNAME) X(SWITCHNAME)                      \
    X(A_UUID) X(B_UUID) X(L_UUID) X(A_CALL_ID) X(B_CALL_ID) X(A_NUM) X(DEST) X(DOMAIN)                \
    X(L_SESSION_ID) X(L_SSRC_DEC) X(LOCAL_MEDIA_IP) X(A_REMOTE_IP) X(B_REMOTE_IP)                     \
    X(A_LOCAL_PORT) X(A_REMOTE_PORT) X(B_LOCAL_PORT) X(B_REMOTE_PORT)                                 \
    X(CODEC_NAME) X(CODEC_RATE) X(CODEC_BITRATE) X(CODEC_PT) X(CODEC_STR) X(CODEC_LAST_STR)           \
    X(CODEC_EP) X(CODEC_EP_OFFER) X(CODEC_OFFER_NAMES) X(SDP_OFFER_PTS) X(SDP_OFFER_RTPMAPS)          \
    X(SDP_RTPMAP) X(RTCP_INTERVAL_MS)                                                                 \
    X(CREATED_US) X(ANSWERED_US) X(HANGUP_US) X(CREATED_EPOCH) X(ANSWERED_EPOCH) X(HANGUP_EPOCH)      \
    X(CREATED_STAMP) X(ANSWERED_STAMP) X(HANGUP_STAMP)                                                \
    X(DUR_S) X(DUR_MS) X(DUR_US) X(BILL_S) X(BILL_MS) X(BILL_US) X(ANS_S) X(ANS_MS) X(ANS_US)         \
    X(RTP_IN_RAW_BYTES) X(RTP_IN_MEDIA_BYTES) X(RTP_IN_PACKET_COUNT) X(RTP_IN_MEDIA_PACKET_COUNT)     \
    X(RTP_IN_SKIP_PACKET_COUNT) X(RTP_IN_JITTER_PACKET_COUNT) X(RTP_IN_DTMF_PACKET_COUNT)             \
    X(RTP_IN_CNG_PACKET_COUNT) X(RTP_IN_FLUSH_PACKET_COUNT) X(RTP_IN_LARGEST_JB_SIZE)                 \
    X(RTP_IN_JITTER_MIN_VARIANCE) X(RTP_IN_JITTER_MAX_VARIANCE) X(RTP_IN_JITTER_LOSS_RATE)            \
    X(RTP_IN_JITTER_BURST_RATE) X(RTP_IN_MEAN_INTERVAL) X(RTP_IN_FLAW_TOTAL)                          \
    X(RTP_IN_QUALITY_PERCENTAGE) X(RTP_IN_MOS) X(RTP_OUT_RAW_BYTES) X(RTP_OUT_MEDIA_BYTES)            \
    X(RTP_OUT_PACKET_COUNT) X(RTP_OUT_MEDIA_PACKET_COUNT) X(RTP_OUT_SKIP_PACKET_COUNT)                \
    X(RTP_OUT_DTMF_PACKET_COUNT) X(RTP_OUT_CNG_PACKET_COUNT) X(RTP_RTCP_PACKET_COUNT)                 \
    X(RTP_RTCP_OCTET_COUNT)                                                                           \
    X(RTCP_SSRC) X(RTCP_NTP_MSW) X(RTCP_NTP_LSW) X(RTCP_RTP_TS) X(RTCP_PKTS) X(RTCP_OCTETS)           \
    X(RTCP_LAST_TS) X(RTCP_RATE) X(CAPTURE_TIME) X(RTCP_SRC_SSRC) X(RTCP_FRACTION) X(RTCP_LOST)       \
    X(RTCP_LOSS_AVG) X(RTCP_HSEQ) X(RTCP_JITTER) X(RTCP_LSR) X(RTCP_DLSR) X(RTCP_RTT)                 \
    X(HB_UPTIME) X(HB_UPTIME_MS) X(HB_SESSIONS) X(HB_MAX_SESSIONS) X(HB_SPS_LAST) X(HB_SPS_MAX)       \
    X(HB_SPS_5MIN) X(HB_SINCE_STARTUP) X(HB_PEAK) X(HB_PEAK_5MIN) X(HB_IDLE_CPU)                      \
    X(JOB_UUID) X(JOB_CMD) X(JOB_ARG)                                                                 \
    X(CAUSE) X(CAUSE_Q850) X(SIP_REASON) X(SIP_STATUS) X(SIP_PROTO) X(HOLD_S) X(HOLD_MS) X(HOLD_US)     \
    X(FROM_HOST) X(TO_HOST) X(TO_HOST_5090)
/* clang-format on */

#define FSSIM_TOK_ENUM(n) FSSIM_TOK_##n,
enum fssim_tok { FSSIM_TOKENS(FSSIM_TOK_ENUM) FSSIM_TOK_COUNT };
#undef FSSIM_TOK_ENUM

/* ---------------------------------------------------------------- rendering */

enum fssim_fmt { FSSIM_FMT_PLAIN = 0, FSSIM_FMT_JSON = 1, FSSIM_FMT_XML = 2 };

/* Writes one token's raw (unencoded) value. ctx is the caller's. */
typedef void fssim_tok_fn(struct fssim_buf *raw, enum fssim_tok tok, const void *ctx);

/* Parses the templates once; returns a static error string or NULL. */
const char *fssim_tpl_compile(void);

/*
 * Appends one complete ESL event frame (outer "Content-Length/Content-Type" header
 * and body) for template tpl to out. cond_mask: bit (1 << cond) set = emit headers
 * with that condition. body (may be NULL) is the event body (BACKGROUND_JOB).
 * Returns the byte offset, inside out, of the frame start.
 */
size_t fssim_render_frame(struct fssim_buf *out, enum fssim_fmt fmt, int tpl, unsigned cond_mask, fssim_tok_fn *tok,
                          const void *ctx, const char *body, size_t body_len);

/* FreeSWITCH's encoders (switch_url_encode, cJSON string printing). */
void fssim_url_encode(struct fssim_buf *out, const char *p, size_t n);
void fssim_json_string(struct fssim_buf *out, const char *p, size_t n);

/* Event-Date-Local ("2026-11-24 00:54:12") and Event-Date-GMT from real-time µs. */
void fssim_fmt_local(struct fssim_buf *out, uint64_t us);
void fssim_fmt_gmt(struct fssim_buf *out, uint64_t us);

/* Clocks. */
uint64_t fssim_mono_ns(void);
uint64_t fssim_real_us(void);

/* ---------------------------------------------------------------- capture replay */

struct fssim_replay_frame {
    size_t off, len;      /* whole frame (outer header + body) inside the file image */
    int kind;             /* index into fssim_event_names, -1 if unknown */
    const char *subclass; /* Event-Subclass for CUSTOM (points into a private copy) or NULL */
    uint64_t ts_us;       /* Event-Date-Timestamp, 0 if absent */
};

struct fssim_replay {
    char *data;
    size_t size;
    enum fssim_fmt fmt; /* format of the event frames */
    struct fssim_replay_frame *frames;
    size_t nframes;
};

/* Loads a raw capture; returns NULL or a static error string (details on stderr). */
const char *fssim_replay_load(struct fssim_replay *r, const char *path);
void fssim_replay_free(struct fssim_replay *r);

/* ---------------------------------------------------------------- configuration */

enum fssim_fault {
    FSSIM_FAULT_NONE,
    FSSIM_FAULT_WRONG_PASSWORD,
    FSSIM_FAULT_REJECT,
    FSSIM_FAULT_DISCONNECT_MID_FRAME,
    FSSIM_FAULT_GARBAGE,
    FSSIM_FAULT_OVERSIZED,
    FSSIM_FAULT_STALL
};

#define FSSIM_MAX_INSTANCES 1024

/* Command-line options; set once in main(), read-only afterwards. */
struct fssim_cfg {
    const char *bind;
    uint16_t port;
    int instances;
    const char *password;
    double heartbeat_s;
    uint32_t calls;
    double call_duration_s;
    double duration_jitter;
    double cps;
    int64_t total_calls; /* -1 = unlimited */
    uint32_t rtcp_interval_ms;
    bool fire_rtcp;
    double loss_pct;
    double drop_pct;       /* --drop-pct: far side's packets that never leave it (sendto() fails) */
    double vad_pct;        /* --vad-pct: ticks the far side is silent (VAD/DTX) */
    unsigned hold_pct;     /* --hold-pct: calls whose A leg is held half the call */
    unsigned ip_from_pct;  /* --ip-from-pct: calls from an IP-literal gateway, tenant in the To host */
    unsigned cause_pct[8]; /* --hangup-causes: share of calls per cause (fssim_calls.c's table) */
    double jitter_ms;
    double rtt_ms;
    int codec; /* -1 = mix, else index into the codec table */
    uint64_t seed;
    const char *replay_path;
    double replay_speed;
    uint64_t flood;
    uint32_t flood_legs;
    bool stamp;
    enum fssim_fault fault;
    uint64_t fault_after;
    bool fault_inst[FSSIM_MAX_INSTANCES];
    size_t oversize_bytes;
    uint32_t max_conns;
    double duration_s;
    const char *stats_file;
    const char *ready_file;
    size_t queue_bytes;
    uint32_t queue_events;
    uint32_t max_missed;
    double auth_timeout_s;
};
extern struct fssim_cfg fssim_cfg;

/* ---------------------------------------------------------------- instances */

struct fssim_call;
struct fssim_conn;

/* --flood's prebuilt stream: frames back to back, written over and over. */
struct fssim_flood {
    struct fssim_buf buf;
    size_t nframes;
    size_t *frame_end; /* end offset of frame i in buf */
    size_t *ts_off;    /* offset of the Event-Date-Timestamp digits (16) of frame i */
    size_t *cap_off;   /* offset of the Capture-Time digits of frame i */
    size_t cap_width;  /* digits reserved for Capture-Time */
};

/* One simulated FreeSWITCH: a listening port, its event stream and its counters. */
struct fssim_inst {
    int idx;
    char name[16];
    uint16_t port;
    int lfd;
    bool fault;

    /* generator (fssim_calls.c) */
    char core_uuid[37];
    struct fssim_rng rng;      /* calls: the deterministic part of the stream */
    struct fssim_rng rng_misc; /* job UUIDs, garbage: things clients trigger */
    uint64_t seq;              /* last Event-Sequence */
    uint64_t start_ns;         /* CLOCK_MONOTONIC at start (uptime) */
    bool gen_started;
    uint64_t calls_started, calls_ended;
    uint32_t calls_active;
    uint64_t legs_total;
    uint32_t legs_active, legs_peak;
    uint32_t session_id;
    uint64_t sps_window_ns;
    uint32_t sps_count, sps_last, sps_peak;
    struct fssim_call *calls; /* active calls, doubly linked */
    struct fssim_flood *flood[2];

    /* connections (fssim_main.c) */
    struct fssim_conn *conns;
    uint32_t nconns;

    /* counters for the summary */
    uint64_t st_conns, st_auth_ok, st_auth_failed, st_bytes, st_dropped, st_killed, st_refused;
    uint64_t st_resync_lists, st_resync_dumps; /* `show channels as json` and `uuid_dump` answered (api or bgapi) */
    uint64_t st_sent[FSSIM_KIND_MAX];
};

/* One fired event, rendered lazily per format by the fan-out. */
struct fssim_event {
    int kind;
    int tpl;
    unsigned cond_mask;
    fssim_tok_fn *tok;
    const void *ctx;
    const char *body;
    size_t body_len;
    const char *subclass;
};

/*
 * fssim_calls.c: parses --hangup-causes "CAUSE:PCT[,CAUSE:PCT...]" (integer percents, 100 at most in all) into
 * fssim_cfg.cause_pct, indexed like fssim_calls.c's cause table (0 = NORMAL_CLEARING takes what is left).
 */
bool fssim_parse_causes(const char *arg);

/* fssim_main.c */
void fssim_fire(struct fssim_inst *in, const struct fssim_event *ev);
enum fssim_timer_kind { FSSIM_T_CALL, FSSIM_T_SPAWN, FSSIM_T_HEARTBEAT, FSSIM_T_CONN, FSSIM_T_END };
void fssim_timer_add(uint64_t due_ns, enum fssim_timer_kind kind, void *ptr, uint64_t aux);

/* fssim_calls.c */
extern const char *const fssim_codec_names[]; /* for --codec */
extern const int fssim_codec_count;
void fssim_gen_init(struct fssim_inst *in);
void fssim_gen_start(struct fssim_inst *in, uint64_t now_ns);
void fssim_gen_timer(enum fssim_timer_kind kind, void *ptr, uint64_t now_ns);
void fssim_gen_free(struct fssim_inst *in);
bool fssim_api(struct fssim_inst *in, const char *cmd, const char *arg, struct fssim_buf *out);
void fssim_fire_api(struct fssim_inst *in, const char *cmd, const char *arg);
void fssim_fire_bgjob(struct fssim_inst *in, const char *uuid, const char *cmd, const char *arg, const char *body,
                      size_t body_len);
const struct fssim_flood *fssim_flood_get(struct fssim_inst *in, enum fssim_fmt fmt);
void fssim_flood_stamp(const struct fssim_flood *fl, size_t frame);
void fssim_build_oversized(struct fssim_inst *in, enum fssim_fmt fmt, size_t body_bytes, struct fssim_buf *out);

#endif
