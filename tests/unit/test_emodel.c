/*
 * The contract's simplified ITU-T G.107 E-model (calc/emodel.c) against
 * vectors worked out by hand. Every step is written out; the CHECKs use the
 * exact decimal results (1e-9), so any change to a constant or a branch shows.
 *
 *   d = RTT/2 + 2 x jitter + 10;  Id = d/40 (d < 160) else (d - 120)/10
 *   Ie,eff = Ie + (95 - Ie) x Ppl / (Ppl + Bpl);  R = 93.2 - Id - Ie,eff
 *   MOS = 1 (R < 0), 4.5 (R > 100), else 1 + 0.035 R + 7e-6 R (R - 60)(100 - R)
 *
 * Codec table (ITU-T G.113 App. I, contract.md), Bpl with emodel.plc true / false:
 *   PCMU, PCMA, unknown  Ie 0   Bpl 25.1 / 4.3
 *   G722                 Ie 13  Bpl 25.1 / 4.3
 *   OPUS                 Ie 11  Bpl 25.1 / 25.1
 *   G729                 Ie 11  Bpl 19   / 19
 */
#include "calc/emodel.h"
#include "fsa_test.h"

#define EPS 1e-9
#define PLC true
#define NO_PLC false

static struct fsa_emodel_result eval(const char *codec, bool plc, double rtt, double jitter, double loss)
{
    return fsa_emodel_eval(fsa_codec_classify(codec, strlen(codec)), plc, rtt, jitter, loss);
}

/*
 * PCMU (Ie 0, Bpl 4.3), RTT 40 ms, jitter 20 ms, loss 0 %:
 *   d      = 40/2 + 2 x 20 + 10 = 20 + 40 + 10 = 70 ms   (< 160)
 *   Id     = 70 / 40 = 1.75
 *   Ie,eff = 0 + 95 x 0 / (0 + 4.3) = 0
 *   R      = 93.2 - 1.75 - 0 = 91.45
 *   MOS    = 1 + 0.035 x 91.45 + 7e-6 x 91.45 x (91.45 - 60) x (100 - 91.45)
 *          = 1 + 3.20075 + 7e-6 x 91.45 x 31.45 x 8.55
 *            91.45 x 31.45 = 2876.1025; x 8.55 = 24590.676375; x 7e-6 = 0.172134734625
 *          = 4.372884734625
 */
static void emodel_g107_simplified_pcmu_no_loss(void)
{
    for (int plc = 0; plc < 2; plc++) { /* without loss Bpl does not matter */
        struct fsa_emodel_result e = eval("PCMU", plc, 40, 20, 0);
        CHECK_NEAR(e.d_ms, 70.0, EPS);
        CHECK_NEAR(e.id, 1.75, EPS);
        CHECK_NEAR(e.ie_eff, 0.0, EPS);
        CHECK_NEAR(e.r, 91.45, EPS);
        CHECK_NEAR(e.mos, 4.372884734625, EPS);
    }
}

/*
 * PCMU, RTT 40 ms, jitter 20 ms, loss 1 %, emodel.plc true (Bpl 25.1):
 *   d = 70, Id = 1.75 (as above)
 *   Ie,eff = 95 x 1 / (1 + 25.1) = 95 / 26.1 = 3.639846743295
 *   R      = 93.2 - 1.75 - 3.639846743295 = 87.810153256705
 *   MOS    = 1 + 0.035 x 87.810153256705                      = 1 + 3.073355363985
 *          + 7e-6 x 87.810153256705 x 27.810153256705 x 12.189846743295
 *            87.810153256705 x 27.810153256705 = 2442.013819564
 *            x 12.189846743295 = 29767.774205490; x 7e-6 = 0.208374419438
 *          = 4.281729783423
 * The same with emodel.plc false (Bpl 4.3):
 *   Ie,eff = 95 x 1 / (1 + 4.3) = 95 / 5.3 = 17.924528301887
 *   R      = 93.2 - 1.75 - 17.924528301887 = 73.525471698113
 *   MOS    = 1 + 0.035 x 73.525471698113                      = 1 + 2.573391509434
 *          + 7e-6 x 73.525471698113 x 13.525471698113 x 26.474528301887
 *            73.525471698113 x 13.525471698113 = 994.466686...
 *            x 26.474528301887 = 26328.0364...; x 7e-6 = 0.184296255...
 *          = 3.757687764501
 */
static void emodel_g107_simplified_pcmu_loss_1pct(void)
{
    struct fsa_emodel_result e = eval("PCMU", PLC, 40, 20, 1);
    CHECK_NEAR(e.id, 1.75, EPS);
    CHECK_NEAR(e.ie_eff, 95.0 / 26.1, EPS);
    CHECK_NEAR(e.r, 87.810153256705, EPS);
    CHECK_NEAR(e.mos, 4.281729783423, EPS);

    e = eval("PCMU", NO_PLC, 40, 20, 1);
    CHECK_NEAR(e.id, 1.75, EPS);
    CHECK_NEAR(e.ie_eff, 95.0 / 5.3, EPS);
    CHECK_NEAR(e.r, 73.525471698113, EPS);
    CHECK_NEAR(e.mos, 3.757687764501, EPS);
}

/*
 * PCMU, RTT 40 ms, jitter 20 ms, loss 5 %, emodel.plc true:
 *   Ie,eff = 95 x 5 / (5 + 25.1) = 475 / 30.1 = 15.780730897010
 *   R      = 93.2 - 1.75 - 15.780730897010 = 75.669269102990
 *   MOS    = 1 + 2.648424418605 + 7e-6 x 75.669269102990 x 15.669269102990 x 24.330730897010
 *            75.669269102990 x 15.669269102990 = 1185.682140401; x 24.330730897010 = 28848.513087495
 *            x 7e-6 = 0.201939591612
 *          = 3.850364010217
 * emodel.plc false:
 *   Ie,eff = 95 x 5 / (5 + 4.3) = 475 / 9.3 = 51.075268817204
 *   R      = 93.2 - 1.75 - 51.075268817204 = 40.374731182796
 *   MOS    = 1 + 0.035 x 40.374731182796                       = 1 + 1.413115591398
 *          + 7e-6 x 40.374731182796 x (-19.625268817204) x 59.625268817204
 *            40.374731182796 x 19.625268817204 = 792.36495...
 *            x 59.625268817204 = 47244.973...; x 7e-6 = 0.330714813... (negative: R < 60)
 *          = 2.082400778178
 */
static void emodel_g107_simplified_pcmu_loss_5pct(void)
{
    struct fsa_emodel_result e = eval("PCMU", PLC, 40, 20, 5);
    CHECK_NEAR(e.ie_eff, 475.0 / 30.1, EPS);
    CHECK_NEAR(e.r, 75.669269102990, EPS);
    CHECK_NEAR(e.mos, 3.850364010217, EPS);

    e = eval("PCMU", NO_PLC, 40, 20, 5);
    CHECK_NEAR(e.ie_eff, 475.0 / 9.3, EPS);
    CHECK_NEAR(e.r, 40.374731182796, EPS);
    CHECK_NEAR(e.mos, 2.082400778178, EPS);
}

/*
 * The live case behind the default (contract.md): 10 % network loss on PCMU,
 * where FreeSWITCH's own MOS read 3.40-3.73. RTT 0, jitter 0 (loopback):
 *   d = 10, Id = 0.25
 * plc true:  Ie,eff = 95 x 10 / (10 + 25.1) = 950 / 35.1 = 27.065527065527
 *            R = 93.2 - 0.25 - 27.065527065527 = 65.884472934473
 *            MOS = 1 + 2.305956552707 + 7e-6 x 65.884472934473 x 5.884472934473 x 34.115527065527
 *                  65.884472934473 x 5.884472934473 = 387.695397785; x 34.115527065527 = 13226.432836312
 *                  x 7e-6 = 0.092585029854
 *                = 3.398541582561   (about 3.4, as FreeSWITCH)
 * plc false: Ie,eff = 950 / 14.3 = 66.433566433566
 *            R = 93.2 - 0.25 - 66.433566433566 = 26.516433566434
 *            MOS = 1 + 0.928075174825 + 7e-6 x 26.516433566434 x (-33.483566433566) x 73.483566433566
 *                  26.516433566434 x -33.483566433566 = -887.864764903; x 73.483566433566 = -65243.469435767
 *                  x 7e-6 = -0.456704286050
 *                = 1.471370888775   (the 1.44-1.50 that was read before the default changed)
 */
static void emodel_g107_simplified_pcmu_10pct_live(void)
{
    struct fsa_emodel_result e = eval("PCMU", PLC, 0, 0, 10);
    CHECK_NEAR(e.id, 0.25, EPS);
    CHECK_NEAR(e.ie_eff, 950.0 / 35.1, EPS);
    CHECK_NEAR(e.r, 65.884472934473, EPS);
    CHECK_NEAR(e.mos, 3.398541582561, EPS);
    e = eval("PCMA", PLC, 0, 0, 10); /* PCMA: the same row */
    CHECK_NEAR(e.mos, 3.398541582561, EPS);

    e = eval("PCMU", NO_PLC, 0, 0, 10);
    CHECK_NEAR(e.ie_eff, 950.0 / 14.3, EPS);
    CHECK_NEAR(e.r, 26.516433566434, EPS);
    CHECK_NEAR(e.mos, 1.471370888775, EPS);
}

/*
 * The d >= 160 branch. PCMU, RTT 300 ms, jitter 20 ms, loss 0:
 *   d  = 150 + 40 + 10 = 200;  Id = (200 - 120) / 10 = 8
 *   R  = 93.2 - 8 - 0 = 85.2
 *   MOS = 1 + 0.035 x 85.2 + 7e-6 x 85.2 x 25.2 x 14.8
 *       = 1 + 2.982 + 7e-6 x 31776.192 = 1 + 2.982 + 0.222433344 = 4.204433344
 * The boundary: RTT 220 -> d = 110 + 40 + 10 = 160 -> the second branch,
 *   Id = (160 - 120) / 10 = 4 (= 160/40: the two branches meet), R = 89.2,
 *   MOS = 1 + 3.122 + 7e-6 x 89.2 x 29.2 x 10.8 = 1 + 3.122 + 0.196910784 = 4.318910784.
 * Just below: RTT 219.8 -> d = 159.9 -> Id = 159.9 / 40 = 3.9975, R = 89.2025.
 */
static void emodel_g107_simplified_long_delay_branch(void)
{
    struct fsa_emodel_result e = eval("PCMU", PLC, 300, 20, 0);
    CHECK_NEAR(e.d_ms, 200.0, EPS);
    CHECK_NEAR(e.id, 8.0, EPS);
    CHECK_NEAR(e.r, 85.2, EPS);
    CHECK_NEAR(e.mos, 4.204433344, EPS);

    e = eval("PCMU", NO_PLC, 220, 20, 0);
    CHECK_NEAR(e.d_ms, 160.0, EPS);
    CHECK_NEAR(e.id, 4.0, EPS);
    CHECK_NEAR(e.r, 89.2, EPS);
    CHECK_NEAR(e.mos, 4.318910784, EPS);

    e = eval("PCMU", PLC, 219.8, 20, 0);
    CHECK_NEAR(e.id, 3.9975, EPS);
    CHECK_NEAR(e.r, 89.2025, EPS);
}

/*
 * R < 0 clamps to MOS 1. G729 (Ie 11, Bpl 19 with or without plc), RTT 2000 ms, jitter 0, loss 50 %:
 *   d = 1000 + 0 + 10 = 1010;  Id = (1010 - 120) / 10 = 89
 *   Ie,eff = 11 + 84 x 50 / (50 + 19) = 11 + 4200 / 69 = 11 + 60.869565217391 = 71.869565217391
 *   R = 93.2 - 89 - 71.869565217391 = -67.669565217391  ->  MOS = 1
 * R > 100 cannot come out of eval (R <= 93.2 - 0.25), so the mapping is
 * checked alone: R 100.5 -> 4.5; at R = 100 the formula gives
 * 1 + 3.5 + 7e-6 x 100 x 40 x 0 = 4.5 (continuous); R = 0 -> 1 + 0 + 0 = 1;
 * R = -0.1 -> 1; NaN -> 1 (never trusted).
 */
static void emodel_g107_simplified_clamps(void)
{
    for (int plc = 0; plc < 2; plc++) {
        struct fsa_emodel_result e = eval("G729", plc, 2000, 0, 50);
        CHECK_NEAR(e.id, 89.0, EPS);
        CHECK_NEAR(e.ie_eff, 11.0 + 4200.0 / 69.0, EPS);
        CHECK_NEAR(e.r, -67.669565217391, EPS);
        CHECK_NEAR(e.mos, 1.0, EPS);
    }

    CHECK_NEAR(fsa_emodel_mos_from_r(100.5), 4.5, EPS);
    CHECK_NEAR(fsa_emodel_mos_from_r(1e9), 4.5, EPS);
    CHECK_NEAR(fsa_emodel_mos_from_r(100.0), 4.5, EPS);
    CHECK_NEAR(fsa_emodel_mos_from_r(0.0), 1.0, EPS);
    CHECK_NEAR(fsa_emodel_mos_from_r(-0.1), 1.0, EPS);
    CHECK_NEAR(fsa_emodel_mos_from_r(NAN), 1.0, EPS);
}

/*
 * G722 (Ie 13 on the narrowband scale, Bpl 25.1 / 4.3), RTT 40, jitter 20:
 *   loss 0:  R = 93.2 - 1.75 - 13 = 78.45
 *            MOS = 1 + 2.74575 + 7e-6 x 78.45 x 18.45 x 21.55
 *                = 1 + 2.74575 + 7e-6 x 31191.523875 = 1 + 2.74575 + 0.218340667125 = 3.964090667125
 *   loss 2 %, plc true: Ie,eff = 13 + 82 x 2 / 27.1 = 13 + 6.051660516605 = 19.051660516605
 *            R = 93.2 - 1.75 - 19.051660516605 = 72.398339483395
 *            MOS = 1 + 2.533941881919 + 7e-6 x 72.398339483395 x 12.398339483395 x 27.601660516605
 *                  72.398339483395 x 12.398339483395 = 897.619190949; x 27.601660516605 = 24775.780181770
 *                  x 7e-6 = 0.173430461272
 *                = 3.707372343191
 *   loss 2 %, plc false: Ie,eff = 13 + 82 x 2 / 6.3 = 13 + 26.031746031746 = 39.031746031746
 *            R = 93.2 - 1.75 - 39.031746031746 = 52.418253968254
 *            MOS = 1 + 1.834638888889 + 7e-6 x 52.418253968254 x (-7.581746031746) x 47.581746031746
 *                = 1 + 1.834638888889 - 0.132370191734 = 2.702268697155
 */
static void emodel_g107_simplified_g722(void)
{
    struct fsa_emodel_result e = eval("G722", PLC, 40, 20, 0);
    CHECK_NEAR(e.ie_eff, 13.0, EPS);
    CHECK_NEAR(e.r, 78.45, EPS);
    CHECK_NEAR(e.mos, 3.964090667125, EPS);

    e = eval("G722", PLC, 40, 20, 2);
    CHECK_NEAR(e.ie_eff, 19.051660516605, EPS);
    CHECK_NEAR(e.r, 72.398339483395, EPS);
    CHECK_NEAR(e.mos, 3.707372343191, EPS);

    e = eval("G722", NO_PLC, 40, 20, 2);
    CHECK_NEAR(e.ie_eff, 39.031746031746, EPS);
    CHECK_NEAR(e.r, 52.418253968254, EPS);
    CHECK_NEAR(e.mos, 2.702268697155, EPS);
}

/*
 * OPUS: Ie 11, Bpl 25.1 whatever emodel.plc says (Opus always conceals). RTT 40, jitter 20:
 *   loss 0:  R = 93.2 - 1.75 - 11 = 80.45
 *            MOS = 1 + 2.81575 + 7e-6 x 80.45 x 20.45 x 19.55
 *                = 1 + 2.81575 + 7e-6 x 32163.708875 = 1 + 2.81575 + 0.225145962125 = 4.040895962125
 *   loss 5 %: Ie,eff = 11 + 84 x 5 / (5 + 25.1) = 11 + 420 / 30.1 = 11 + 13.953488372093 = 24.953488372093
 *            R = 93.2 - 1.75 - 24.953488372093 = 66.496511627907
 *            MOS = 1 + 2.327377906977 + 7e-6 x 66.496511627907 x 6.496511627907 x 33.503488372093
 *                  66.496511627907 x 6.496511627907 = 431.995361006; x 33.503488372093 = 14473.351554261
 *                  x 7e-6 = 0.101313460880
 *                = 3.428691367857
 * G729: Ie 11, Bpl 19 under both settings; loss 5 %:
 *            Ie,eff = 11 + 84 x 5 / (5 + 19) = 11 + 420 / 24 = 11 + 17.5 = 28.5
 *            R = 93.2 - 1.75 - 28.5 = 62.95
 *            MOS = 1 + 2.20325 + 7e-6 x 62.95 x 2.95 x 37.05
 *                = 1 + 2.20325 + 7e-6 x 6880.277625 = 1 + 2.20325 + 0.048161943375 = 3.251411943375
 * FreeSWITCH spells it "opus": names match case-insensitively.
 */
static void emodel_g107_simplified_opus_g729(void)
{
    CHECK(fsa_codec_classify("opus", 4) == FSA_CODEC_OPUS);
    CHECK_EQ_U64(fsa_emodel_codec(FSA_CODEC_OPUS)->rtp_clock, 48000);
    struct fsa_emodel_result e = eval("opus", PLC, 40, 20, 0);
    CHECK_NEAR(e.r, 80.45, EPS);
    CHECK_NEAR(e.mos, 4.040895962125, EPS);

    for (int plc = 0; plc < 2; plc++) {
        e = eval("OPUS", plc, 40, 20, 5);
        CHECK_NEAR(e.ie_eff, 24.953488372093, EPS);
        CHECK_NEAR(e.r, 66.496511627907, EPS);
        CHECK_NEAR(e.mos, 3.428691367857, EPS);

        e = eval("G729", plc, 40, 20, 5);
        CHECK_NEAR(e.ie_eff, 28.5, EPS);
        CHECK_NEAR(e.r, 62.95, EPS);
        CHECK_NEAR(e.mos, 3.251411943375, EPS);
    }
}

/* The table as the contract states it (G.113 App. I), both settings. */
static void emodel_g113_codec_table(void)
{
    static const struct {
        enum fsa_codec_class cls;
        double ie, bpl_plc, bpl_no_plc;
    } t[] = {
        {FSA_CODEC_PCMU, 0, 25.1, 4.3},   {FSA_CODEC_PCMA, 0, 25.1, 4.3},   {FSA_CODEC_G722, 13, 25.1, 4.3},
        {FSA_CODEC_OPUS, 11, 25.1, 25.1}, {FSA_CODEC_G729, 11, 19.0, 19.0}, {FSA_CODEC_UNKNOWN, 0, 25.1, 4.3},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        CHECK_NEAR(fsa_emodel_codec(t[i].cls)->ie, t[i].ie, 0);
        CHECK_NEAR(fsa_emodel_bpl(t[i].cls, true), t[i].bpl_plc, 0);
        CHECK_NEAR(fsa_emodel_bpl(t[i].cls, false), t[i].bpl_no_plc, 0);
    }
    CHECK_NEAR(fsa_emodel_bpl((enum fsa_codec_class)99, false), 4.3, 0); /* out of range: the unknown row */
}

/* An unknown codec rates as PCMU (Ie 0, Bpl 25.1 / 4.3): the PCMU vectors again. */
static void emodel_g107_simplified_unknown_codec_as_pcmu(void)
{
    CHECK(fsa_codec_classify("AMR-WB", 6) == FSA_CODEC_UNKNOWN);
    CHECK(fsa_codec_classify("", 0) == FSA_CODEC_UNKNOWN);
    CHECK(fsa_codec_classify(NULL, 4) == FSA_CODEC_UNKNOWN);
    CHECK(fsa_codec_classify("pcma", 4) == FSA_CODEC_PCMA);
    CHECK(fsa_codec_classify("G729", 4) == FSA_CODEC_G729);
    CHECK(fsa_emodel_codec((enum fsa_codec_class)99) == fsa_emodel_codec(FSA_CODEC_UNKNOWN));
    struct fsa_emodel_result e = eval("AMR-WB", PLC, 40, 20, 0);
    CHECK_NEAR(e.r, 91.45, EPS);
    CHECK_NEAR(e.mos, 4.372884734625, EPS);
    e = eval("AMR-WB", PLC, 40, 20, 1);
    CHECK_NEAR(e.mos, 4.281729783423, EPS);
    e = eval("AMR-WB", NO_PLC, 40, 20, 1);
    CHECK_NEAR(e.mos, 3.757687764501, EPS);
    e = eval("PCMA", NO_PLC, 40, 20, 1);
    CHECK_NEAR(e.mos, 3.757687764501, EPS);
}

/*
 * Inputs from the wire are never trusted: NaN RTT and negative jitter count
 * as 0, loss 150 % is clamped to 100 %. PCMU, plc true:
 *   d = 10, Id = 0.25; Ie,eff = 95 x 100 / 125.1 = 75.939248601119
 *   R = 93.2 - 0.25 - 75.939248601119 = 17.010751398881
 *   MOS = 1 + 0.595376298961 + 7e-6 x 17.010751398881 x (-42.989248601119) x 82.989248601119
 *         17.010751398881 x -42.989248601119 = -731.279420778; x 82.989248601119 = -60688.329647855
 *         x 7e-6 = -0.424818307535
 *       = 1.170557991426
 * plc false:
 *   d = 0 + 0 + 10 = 10; Id = 0.25
 *   Ie,eff = 95 x 100 / 104.3 = 91.083413231064
 *   R = 93.2 - 0.25 - 91.083413231064 = 1.866586768936
 *   MOS = 1 + 0.065330536913 + 7e-6 x 1.866586768936 x (-58.133413231064) x 98.133413231064
 *       = 1 + 0.065330536913 - 0.074539924818 = 0.990790612095
 * Note: the contract's formula dips just below 1 for 0 < R < 6.5 (the G.107
 * polynomial does); we implement the contract as written.
 * Infinite delays count as unknown (0) like NaN: d = 10, R = 92.95. Huge
 * finite ones are capped at 10^6 ms, so d, Id and R stay finite and MOS is 1.
 */
static void emodel_g107_simplified_untrusted_inputs(void)
{
    struct fsa_emodel_result e = eval("PCMU", PLC, NAN, -5, 150);
    CHECK_NEAR(e.ie_eff, 9500.0 / 125.1, EPS);
    CHECK_NEAR(e.r, 17.010751398881, EPS);
    CHECK_NEAR(e.mos, 1.170557991426, EPS);

    e = eval("PCMU", NO_PLC, NAN, -5, 150);
    CHECK_NEAR(e.d_ms, 10.0, EPS);
    CHECK_NEAR(e.id, 0.25, EPS);
    CHECK_NEAR(e.ie_eff, 9500.0 / 104.3, EPS);
    CHECK_NEAR(e.r, 1.866586768936, EPS);
    CHECK_NEAR(e.mos, 0.990790612095, EPS);

    e = eval("PCMU", PLC, INFINITY, INFINITY, NAN);
    CHECK_NEAR(e.d_ms, 10.0, EPS);
    CHECK_NEAR(e.ie_eff, 0.0, EPS);
    CHECK_NEAR(e.r, 92.95, EPS);
    e = eval("PCMU", PLC, 1e300, 1e300, 0);
    CHECK_NEAR(e.d_ms, 1e6 / 2 + 2e6 + 10, EPS); /* both capped at 10^6 ms */
    CHECK(isfinite(e.id) && isfinite(e.r) && e.r < 0);
    CHECK_NEAR(e.mos, 1.0, EPS);
    e = eval("PCMU", NO_PLC, -INFINITY, 0, -3);
    CHECK_NEAR(e.r, 92.95, EPS); /* d = 10, Id = 0.25, no loss */
}

int main(void)
{
    emodel_g107_simplified_pcmu_no_loss();
    emodel_g107_simplified_pcmu_loss_1pct();
    emodel_g107_simplified_pcmu_loss_5pct();
    emodel_g107_simplified_pcmu_10pct_live();
    emodel_g107_simplified_long_delay_branch();
    emodel_g107_simplified_clamps();
    emodel_g107_simplified_g722();
    emodel_g107_simplified_opus_g729();
    emodel_g113_codec_table();
    emodel_g107_simplified_unknown_codec_as_pcmu();
    emodel_g107_simplified_untrusted_inputs();
    return fsa_test_finish();
}
