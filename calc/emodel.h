/*
 * emodel: the contract's simplified ITU-T G.107 E-model (contract.md).
 *
 *   d      = RTT/2 + 2 x jitter + 10 ms            (effective one-way latency)
 *   Id     = d/40               for d < 160 ms
 *          = (d - 120)/10       for d >= 160 ms    (both give 4 at d = 160)
 *   Ie,eff = Ie + (95 - Ie) x Ppl / (Ppl + Bpl)    (Ppl = packet loss in %)
 *   R      = 93.2 - Id - Ie,eff
 *   MOS    = 1 for R < 0, 4.5 for R > 100, else 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)
 *
 * Codec constants (Ie, Bpl) on the narrowband scale, from ITU-T G.113
 * Appendix I (the contract's table): Bpl depends on whether the endpoints
 * conceal lost packets (emodel.plc, default true); see emodel.c for each
 * row. The table also gives each codec's RTP clock, which the RTCP
 * calculator needs to turn jitter into ms.
 *
 * Pure functions of their arguments: callable from any thread.
 */
#ifndef FSA_EMODEL_H
#define FSA_EMODEL_H

#include <stdbool.h>
#include <stddef.h>

enum fsa_codec_class {
    FSA_CODEC_UNKNOWN = 0, /* E-model as PCMU; jitter clock from the leg's codec rate, else 8000 */
    FSA_CODEC_PCMU,
    FSA_CODEC_PCMA,
    FSA_CODEC_G722,
    FSA_CODEC_G729,
    FSA_CODEC_OPUS,
    FSA_CODEC_CLASS_COUNT
};

struct fsa_emodel_codec {
    const char *name;   /* as FreeSWITCH spells it (matched case-insensitively) */
    double ie;          /* equipment impairment factor */
    double bpl_plc;     /* packet-loss robustness factor with loss concealment (emodel.plc: true) */
    double bpl_no_plc;  /* and without (emodel.plc: false) */
    unsigned rtp_clock; /* RTP timestamp clock in Hz; 0 = not fixed by the codec */
};

/* Codec name (not NUL-terminated) -> class; anything not in the table is FSA_CODEC_UNKNOWN. */
enum fsa_codec_class fsa_codec_classify(const char *name, size_t n);
/* Constants of a class; an out-of-range class gets the UNKNOWN row (PCMU's Ie and Bpl values). */
const struct fsa_emodel_codec *fsa_emodel_codec(enum fsa_codec_class cls);

struct fsa_emodel_result {
    double d_ms;   /* effective latency */
    double id;     /* delay impairment */
    double ie_eff; /* effective equipment impairment */
    double r;      /* rating factor */
    double mos;
};

/*
 * R and MOS for one set of conditions. Inputs are sanitised, never trusted:
 * a negative or non-finite RTT or jitter counts as 0 (and each is capped at
 * 10^6 ms), loss is clamped to [0, 100] % (NaN counts as 0). So every field
 * of the result is finite.
 */
struct fsa_emodel_result fsa_emodel_eval(enum fsa_codec_class cls, bool plc, double rtt_ms, double jitter_ms,
                                         double loss_pct);
/* The Bpl eval uses for a class and concealment setting. */
double fsa_emodel_bpl(enum fsa_codec_class cls, bool plc);
/* The R -> MOS mapping alone, with its clamps (NaN R gives 1). */
double fsa_emodel_mos_from_r(double r);

#endif
