/*
 * snapshot: see snapshot.h for what is kept and who may call what.
 *
 * The sequence lock (Boehm, "Can seqlocks get along with programming
 * language memory models?"): the writer makes seq odd, fences (release),
 * stores the words relaxed, then makes seq even with a release store; a
 * reader loads seq (acquire), the words (relaxed), fences (acquire) and
 * reloads seq: equal and even means the copy is one publish, whole.
 */
#include "snapshot.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "calc/calc.h"
#include "calc/emodel.h"
#include "ring/fsa_str.h"

#define READ_TRIES 64 /* a publish takes microseconds and comes every 250 ms: 64 tries never all collide */

static inline void bump(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

void fsa_snapshot_init(struct fsa_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < FSA_SNAP_MOS_BUCKETS; i++)
        atomic_init(&s->mos_hist[i], 0);
    atomic_init(&s->qos_without_mos, 0);
    atomic_init(&s->seq, 0);
    for (unsigned i = 0; i < FSA_SNAP_WORDS; i++)
        atomic_init(&s->words[i], 0);
    atomic_init(&s->gseq, 0);
    for (unsigned i = 0; i < FSA_SNAP_GAP_WORDS; i++)
        atomic_init(&s->gwords[i], 0);
}

int fsa_snapshot_mos_bucket(double mos)
{
    if (isnan(mos))
        return -1;
    double b = floor((mos - FSA_SNAP_MOS_MIN) / FSA_SNAP_MOS_STEP);
    if (b < 0)
        return 0;
    if (b >= FSA_SNAP_MOS_BUCKETS)
        return FSA_SNAP_MOS_BUCKETS - 1; /* 4.5 itself, and anything above */
    return (int)b;
}

void fsa_snapshot_note_qos(struct fsa_snapshot *s, const struct fsa_qos_record *q)
{
    int b = fsa_snapshot_mos_bucket(q->mos_emodel);
    bump(b < 0 ? &s->qos_without_mos : &s->mos_hist[b]);
}

/* ---- worst gaps (worker thread) --------------------------------------------------------------------------- */

/* Higher gap first; equal gaps newest first, then by instance and Unique-ID, so the page does not shuffle. */
static int gap_cmp(const struct fsa_snap_gap_leg *a, const struct fsa_snap_gap_leg *b)
{
    if (a->gap != b->gap)
        return a->gap > b->gap ? -1 : 1;
    if (a->ended_us != b->ended_us)
        return a->ended_us > b->ended_us ? -1 : 1;
    if (a->instance != b->instance)
        return a->instance < b->instance ? -1 : 1;
    return strcmp(a->uuid, b->uuid);
}

/* Puts x into the sorted list v[*n] (room for FSA_SNAP_WORST) if it is among the worst; false if not. */
static bool insert_gap(struct fsa_snap_gap_leg *v, uint32_t *n, const struct fsa_snap_gap_leg *x)
{
    uint32_t k = *n;
    if (k == FSA_SNAP_WORST && gap_cmp(x, &v[k - 1]) >= 0)
        return false;
    if (k < FSA_SNAP_WORST)
        k++;
    uint32_t j = k - 1;
    while (j > 0 && gap_cmp(x, &v[j - 1]) < 0) {
        v[j] = v[j - 1];
        j--;
    }
    v[j] = *x;
    *n = k;
    return true;
}

/* Starts a new window when the current one is FSA_SNAP_GAP_WINDOW_NS old; legs older than two windows go. */
static void gap_rotate(struct fsa_snapshot *s, uint64_t now_ns)
{
    if (s->gap_win_start_ns == 0) {
        s->gap_win_start_ns = now_ns ? now_ns : 1;
        return;
    }
    if (now_ns < s->gap_win_start_ns + FSA_SNAP_GAP_WINDOW_NS)
        return;
    if (now_ns < s->gap_win_start_ns + 2 * FSA_SNAP_GAP_WINDOW_NS) {
        memcpy(s->gap_win[1], s->gap_win[0], sizeof(s->gap_win[0]));
        s->gap_n[1] = s->gap_n[0];
        s->gap_seen[1] = s->gap_seen[0];
    } else {
        s->gap_n[1] = 0;
        s->gap_seen[1] = 0;
    }
    s->gap_n[0] = 0;
    s->gap_seen[0] = 0;
    s->gap_win_start_ns = now_ns;
}

void fsa_snapshot_note_gap(struct fsa_snapshot *s, const struct fsa_calc *c, const struct fsa_leg *l,
                           const struct fsa_qos_record *q, const char *cause, uint64_t ended_us, uint64_t now_ns)
{
    if (!isfinite(q->media_gap_ratio))
        return;
    gap_rotate(s, now_ns);
    s->gap_seen[0]++;
    if (s->gap_n[0] == FSA_SNAP_WORST && !(q->media_gap_ratio >= s->gap_win[0][FSA_SNAP_WORST - 1].gap))
        return; /* not among the worst: nothing to copy */
    struct fsa_snap_gap_leg x;
    memset(&x, 0, sizeof(x));
    fsa_str_copy(x.uuid, sizeof(x.uuid), fsa_str_make(l->uuid, strnlen(l->uuid, sizeof(l->uuid))));
    fsa_str_copy(x.call_id, sizeof(x.call_id), fsa_str_make(l->call_id, strnlen(l->call_id, sizeof(l->call_id))));
    const char *d = fsa_calc_label(c, l->domain_id), *k = fsa_calc_label(c, l->codec_id);
    fsa_str_copy(x.domain, sizeof(x.domain), fsa_str_make(d, strnlen(d, FSA_LABEL_MAX)));
    fsa_str_copy(x.codec, sizeof(x.codec), fsa_str_make(k, strnlen(k, FSA_LABEL_MAX)));
    fsa_str_copy(x.cause, sizeof(x.cause), fsa_str_make(cause, strnlen(cause, FSA_CAUSE_MAX)));
    x.instance = l->instance;
    x.direction = l->direction;
    x.gap = q->media_gap_ratio;
    x.hold_s = q->hold_seconds;
    x.mos_score = q->mos_score;
    x.mos_emodel = q->mos_emodel;
    x.ended_us = ended_us;
    insert_gap(s->gap_win[0], &s->gap_n[0], &x);
}

/* ---- the walk (worker thread) ------------------------------------------------------------------------------ */

static double live_mos(const struct fsa_calc *c, const struct fsa_leg *l)
{
    double jitter = l->jitter_sum_ms / l->jitter_count;
    return fsa_emodel_eval((enum fsa_codec_class)l->codec_class, fsa_calc_emodel_plc(c), l->last_rtt_ms, jitter,
                           (double)l->last_fraction / 256.0 * 100.0)
        .mos;
}

/* Keeps the K lowest: insertion into a sorted array of K (a later equal MOS does not displace). */
static void offer(struct fsa_snapshot *s, uint32_t idx, const struct fsa_leg *l, double mos)
{
    unsigned n = s->ncand;
    if (n == FSA_SNAP_WORST && !(mos < s->cand[n - 1].mos))
        return;
    if (n < FSA_SNAP_WORST)
        n++;
    unsigned i = n - 1;
    while (i > 0 && mos < s->cand[i - 1].mos) {
        s->cand[i] = s->cand[i - 1];
        i--;
    }
    s->cand[i] = (struct fsa_snap_cand){.idx = idx, .instance = l->instance, .created_us = l->created_us, .mos = mos};
    s->ncand = n;
}

static void fill_leg(struct fsa_snap_leg *o, const struct fsa_calc *c, const struct fsa_leg *l)
{
    memset(o, 0, sizeof(*o));
    fsa_str_copy(o->uuid, sizeof(o->uuid), fsa_str_make(l->uuid, strnlen(l->uuid, sizeof(l->uuid))));
    fsa_str_copy(o->call_id, sizeof(o->call_id), fsa_str_make(l->call_id, strnlen(l->call_id, sizeof(l->call_id))));
    const char *d = fsa_calc_label(c, l->domain_id), *k = fsa_calc_label(c, l->codec_id);
    fsa_str_copy(o->domain, sizeof(o->domain), fsa_str_make(d, strnlen(d, FSA_LABEL_MAX)));
    fsa_str_copy(o->codec, sizeof(o->codec), fsa_str_make(k, strnlen(k, FSA_LABEL_MAX)));
    o->instance = l->instance;
    o->direction = l->direction;
    o->reports = l->jitter_count;
    o->mos = live_mos(c, l);
    o->jitter_ms = l->jitter_sum_ms / l->jitter_count;
    o->loss_pct = (double)l->last_fraction / 256.0 * 100.0;
    o->rtt_ms = l->last_rtt_ms;
    o->created_us = l->created_us;
}

#define MAX_WORDS (FSA_SNAP_WORDS > FSA_SNAP_GAP_WORDS ? FSA_SNAP_WORDS : FSA_SNAP_GAP_WORDS)

/* Publishes n bytes of src as nwords words under seq (the writer's side of the sequence lock). */
static void words_store(atomic_uint *seqp, atomic_uint_fast64_t *words, unsigned nwords, const void *src, size_t n)
{
    uint64_t tmp[MAX_WORDS] = {0};
    memcpy(tmp, src, n);
    unsigned seq = atomic_load_explicit(seqp, memory_order_relaxed);
    atomic_store_explicit(seqp, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (unsigned i = 0; i < nwords; i++)
        atomic_store_explicit(&words[i], tmp[i], memory_order_relaxed);
    atomic_store_explicit(seqp, seq + 2, memory_order_release);
}

/* Worst first; equal MOS ordered by instance then Unique-ID, so the page does not shuffle. */
static int leg_cmp(const struct fsa_snap_leg *a, const struct fsa_snap_leg *b)
{
    if (a->mos != b->mos)
        return a->mos < b->mos ? -1 : 1;
    if (a->instance != b->instance)
        return a->instance < b->instance ? -1 : 1;
    return strcmp(a->uuid, b->uuid);
}

/* Puts x into m, sorted worst first, if it is among the K worst; false if it is not. */
static bool insert_worst(struct fsa_snap_worst *m, const struct fsa_snap_leg *x)
{
    unsigned n = m->n;
    if (n == FSA_SNAP_WORST && leg_cmp(x, &m->leg[n - 1]) >= 0)
        return false;
    if (n < FSA_SNAP_WORST)
        n++;
    unsigned j = n - 1;
    while (j > 0 && leg_cmp(x, &m->leg[j - 1]) < 0) {
        m->leg[j] = m->leg[j - 1];
        j--;
    }
    m->leg[j] = *x;
    m->n = n;
    return true;
}

/*
 * Ends a pass: the candidates that are still the legs they were (a record
 * may have been retired, or reused by a newer leg, since it was looked at)
 * are read afresh and published.
 */
static void publish(struct fsa_snapshot *s, const struct fsa_calc *c, uint64_t now_ns)
{
    const struct fsa_leg_table *t = fsa_calc_legs(c);
    struct fsa_snap_worst *w = &s->out;
    w->n = 0;
    gap_rotate(s, now_ns); /* a quiet worker's old gaps age out too */
    struct fsa_snap_gaps *g = &s->gout;
    g->n = 0;
    for (int win = 0; win < 2; win++)
        for (uint32_t i = 0; i < s->gap_n[win]; i++)
            if (!insert_gap(g->leg, &g->n, &s->gap_win[win][i]))
                break; /* sorted: the rest of this window does not get in either */
    g->legs = s->gap_seen[0] + s->gap_seen[1];
    words_store(&s->gseq, s->gwords, FSA_SNAP_GAP_WORDS, g, sizeof(*g));
    for (unsigned i = 0; i < s->ncand; i++) {
        const struct fsa_snap_cand *k = &s->cand[i];
        if (k->idx >= t->high)
            continue;
        const struct fsa_leg *l = &t->legs[k->idx];
        if (!l->uuid[0] || l->instance != k->instance || l->created_us != k->created_us || !l->jitter_count)
            continue;
        struct fsa_snap_leg x;
        fill_leg(&x, c, l);
        insert_worst(w, &x); /* read afresh: the order may have changed, and ties go the merge's way */
    }
    w->ranked = s->ranked;
    w->live = s->live;
    w->passes = ++s->passes;
    words_store(&s->seq, s->words, FSA_SNAP_WORDS, w, sizeof(*w));
    s->ncand = s->ranked = s->live = 0;
}

void fsa_snapshot_scan(struct fsa_snapshot *s, const struct fsa_calc *c, uint64_t now_ns, unsigned budget)
{
    const struct fsa_leg_table *t = fsa_calc_legs(c);
    if (s->cursor == 0) {
        if (now_ns < s->rest_until_ns)
            return;
        s->rest_until_ns = now_ns + FSA_SNAP_PASS_MIN_NS;
    }
    for (; budget; budget--) {
        if (s->cursor >= t->high) {
            publish(s, c, now_ns);
            s->cursor = 0;
            return;
        }
        uint32_t idx = s->cursor++;
        const struct fsa_leg *l = &t->legs[idx];
        if (!l->uuid[0])
            continue; /* a free record */
        s->live++;
        if (!l->jitter_count)
            continue; /* no RTCP yet: nothing to rank it by */
        s->ranked++;
        offer(s, idx, l, live_mos(c, l));
    }
}

/* ---- readers (any thread) ---------------------------------------------------------------------------------- */

void fsa_snapshot_view_init(struct fsa_snapshot_view *v)
{
    memset(v, 0, sizeof(*v));
}

/* A consistent copy (n bytes into dst) of the last publish; false if the writer kept getting in the way. */
static bool words_load(const atomic_uint *seqp, const atomic_uint_fast64_t *words, unsigned nwords, void *dst, size_t n)
{
    uint64_t tmp[MAX_WORDS];
    for (int t = 0; t < READ_TRIES; t++) {
        unsigned s1 = atomic_load_explicit(seqp, memory_order_acquire);
        if (s1 & 1)
            continue;
        for (unsigned i = 0; i < nwords; i++)
            tmp[i] = atomic_load_explicit(&words[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seqp, memory_order_relaxed) == s1) {
            memcpy(dst, tmp, n);
            return true;
        }
    }
    return false;
}

void fsa_snapshot_merge(struct fsa_snapshot_view *v, const struct fsa_snapshot *s)
{
    for (unsigned i = 0; i < FSA_SNAP_MOS_BUCKETS; i++)
        v->mos_hist[i] += atomic_load_explicit(&s->mos_hist[i], memory_order_relaxed);
    v->qos_without_mos += atomic_load_explicit(&s->qos_without_mos, memory_order_relaxed);
    v->workers++;
    static _Thread_local struct fsa_snap_worst w; /* ~3 KB each: off the (admin) thread's stack */
    static _Thread_local struct fsa_snap_gaps g;
    bool have_w = words_load(&s->seq, s->words, FSA_SNAP_WORDS, &w, sizeof(w));
    bool have_g = words_load(&s->gseq, s->gwords, FSA_SNAP_GAP_WORDS, &g, sizeof(g));
    if (!have_w || !have_g)
        v->workers_missing++;
    if (have_w) {
        v->worst.ranked += w.ranked;
        v->worst.live += w.live;
        v->worst.passes += w.passes;
        /* w is sorted the same way: once one of its legs does not get in, none after it does. */
        for (unsigned i = 0; i < w.n && i < FSA_SNAP_WORST; i++)
            if (!insert_worst(&v->worst, &w.leg[i]))
                break;
    }
    if (have_g) {
        v->gaps.legs += g.legs;
        for (unsigned i = 0; i < g.n && i < FSA_SNAP_WORST; i++)
            if (!insert_gap(v->gaps.leg, &v->gaps.n, &g.leg[i]))
                break;
    }
}
