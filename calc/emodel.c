/*
 * emodel: the simplified G.107 E-model of contract.md, and the codec table.
 *
 * The codec rows (narrowband scale: the contract rates every codec on the
 * same 0..100 R scale, wideband G.722 included); Bpl with concealment
 * (emodel.plc: true, the default) / without:
 *   PCMU, PCMA  Ie 0,  Bpl 25.1 / 4.3   G.113 App. I: G.711 with packet-loss
 *                                concealment (random loss) / without. The
 *                                default is concealment because FreeSWITCH
 *                                and practically every endpoint conceal: with
 *                                4.3, 10 % network loss on PCMU read MOS 1.44-
 *                                1.50 on live legs where FreeSWITCH itself read
 *                                3.40-3.73; with 25.1 it reads about 3.4.
 *                                plc: false is the worst case, for operators
 *                                who want it.
 *   G722        Ie 13, Bpl 25.1 / 4.3   contract (G.113's G.711 robustness,
 *                                Ie treated on the narrowband scale).
 *   G729        Ie 11, Bpl 19 / 19      G.113 App. I: G.729A + VAD, random
 *                                loss; the codec conceals on its own.
 *   OPUS        Ie 11, Bpl 25.1 / 25.1  contract: Opus always conceals, so
 *                                the setting does not apply. G.113 has no
 *                                Opus row; Ie 11 credits it no more than
 *                                G.729A (we do not know the bitrate or audio
 *                                bandwidth FreeSWITCH negotiated).
 *   unknown     Ie 0, as PCMU (25.1 / 4.3): no coder is better than G.711's
 *                                Ie 0, and an unknown codec gets G.711's loss
 *                                robustness under either setting.
 * RTP clocks (RFC 3551, RFC 7587): 8000 for PCMU, PCMA, G.729 and G.722 (whose
 * RTP clock is 8000 although it samples at 16 kHz: an RFC 3551 erratum kept
 * for compatibility), 48000 for Opus whatever its bandwidth.
 */
#include "emodel.h"

#include <math.h>
#include <strings.h>

static const struct fsa_emodel_codec codecs[FSA_CODEC_CLASS_COUNT] = {
    [FSA_CODEC_UNKNOWN] = {"unknown", 0.0, 25.1, 4.3, 0}, [FSA_CODEC_PCMU] = {"PCMU", 0.0, 25.1, 4.3, 8000},
    [FSA_CODEC_PCMA] = {"PCMA", 0.0, 25.1, 4.3, 8000},    [FSA_CODEC_G722] = {"G722", 13.0, 25.1, 4.3, 8000},
    [FSA_CODEC_G729] = {"G729", 11.0, 19.0, 19.0, 8000},  [FSA_CODEC_OPUS] = {"OPUS", 11.0, 25.1, 25.1, 48000},
};

enum fsa_codec_class fsa_codec_classify(const char *name, size_t n)
{
    if (n != 4 || !name) /* every name in the table has four letters */
        return FSA_CODEC_UNKNOWN;
    for (int c = FSA_CODEC_PCMU; c < FSA_CODEC_CLASS_COUNT; c++)
        if (strncasecmp(name, codecs[c].name, 4) == 0)
            return (enum fsa_codec_class)c;
    return FSA_CODEC_UNKNOWN;
}

const struct fsa_emodel_codec *fsa_emodel_codec(enum fsa_codec_class cls)
{
    if ((unsigned)cls >= FSA_CODEC_CLASS_COUNT)
        cls = FSA_CODEC_UNKNOWN;
    return &codecs[cls];
}

double fsa_emodel_mos_from_r(double r)
{
    if (!(r >= 0.0)) /* R < 0, and NaN */
        return 1.0;
    if (r > 100.0)
        return 4.5;
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r);
}

/*
 * A delay that came from the wire: negative or not finite counts as unknown,
 * i.e. 0; above 10^6 ms (17 minutes, R far below 0 already) it is capped so
 * that d, Id and R stay finite.
 */
#define DELAY_CAP_MS 1e6
static double sane_ms(double v)
{
    if (!(v > 0.0) || !isfinite(v))
        return 0.0;
    return v < DELAY_CAP_MS ? v : DELAY_CAP_MS;
}

double fsa_emodel_bpl(enum fsa_codec_class cls, bool plc)
{
    const struct fsa_emodel_codec *c = fsa_emodel_codec(cls);
    return plc ? c->bpl_plc : c->bpl_no_plc;
}

struct fsa_emodel_result fsa_emodel_eval(enum fsa_codec_class cls, bool plc, double rtt_ms, double jitter_ms,
                                         double loss_pct)
{
    const struct fsa_emodel_codec *c = fsa_emodel_codec(cls);
    double bpl = plc ? c->bpl_plc : c->bpl_no_plc;
    struct fsa_emodel_result res;
    double ppl = loss_pct > 0.0 ? (loss_pct < 100.0 ? loss_pct : 100.0) : 0.0; /* NaN -> 0 */

    res.d_ms = sane_ms(rtt_ms) / 2.0 + 2.0 * sane_ms(jitter_ms) + 10.0;
    res.id = res.d_ms < 160.0 ? res.d_ms / 40.0 : (res.d_ms - 120.0) / 10.0;
    /* Ppl + Bpl > 0: every Bpl in the table is > 0. */
    res.ie_eff = c->ie + (95.0 - c->ie) * ppl / (ppl + bpl);
    res.r = 93.2 - res.id - res.ie_eff;
    res.mos = fsa_emodel_mos_from_r(res.r);
    return res;
}
