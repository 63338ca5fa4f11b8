/*
 * engine/admin_render.c: the admin server's bodies from a hand-built model.
 * Escaping (HTML, JSON, Prometheus label values) and timestamps with exact
 * text; /health and /ready bodies and codes exactly; /metrics exactly for its
 * first families and structurally for all (every sample under its own HELP
 * and TYPE, each family once); the status page's escaping of network
 * strings, its chart's bars and its refresh.
 */
#include "engine/admin_render.h"
#include "fsa_test.h"

static char buf[256 * 1024];

static struct fsa_admin_out out(void)
{
    return (struct fsa_admin_out){.p = buf, .cap = sizeof(buf) - 1};
}

/* The output as a C string (buf has room for the NUL). */
static const char *str(struct fsa_admin_out *o)
{
    buf[o->n] = '\0';
    return buf;
}

static void admin_escape_exact(void)
{
    struct fsa_admin_out o = out();
    fsa_admin_put_html(&o, "<a href=\"x\">Tom & 'Jerry'</a>");
    CHECK_STR(str(&o), "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    o = out();
    fsa_admin_put_html(&o, "plain");
    CHECK_STR(str(&o), "plain");
    o = out();
    fsa_admin_put_json_string(&o, "a\"b\\c\nd\x01"
                                  "e");
    CHECK_STR(str(&o), "\"a\\\"b\\\\c\\nd\\u0001e\"");
    o = out();
    fsa_admin_put_prom_label(&o, "a\"b\\c\nd");
    CHECK_STR(str(&o), "a\\\"b\\\\c\\nd");

    char ts[32];
    fsa_admin_rfc3339(0, ts);
    CHECK_STR(ts, "");
    fsa_admin_rfc3339(1, ts);
    CHECK_STR(ts, "1970-01-01T00:00:00.000Z");
    /* 2000-02-29T00:00:00Z is 951782400 s (leap day of a leap century); + 123456 us shows .123 */
    fsa_admin_rfc3339(951782400123456ull, ts);
    CHECK_STR(ts, "2000-02-29T00:00:00.123Z");

    /* A render that does not fit says so instead of ending mid-document. */
    char small[16];
    struct fsa_admin_out s = {.p = small, .cap = sizeof(small)};
    fsa_admin_put_html(&s, "0123456789");
    CHECK(!s.overflow);
    fsa_admin_put_html(&s, "<<<");
    CHECK(s.overflow);
    CHECK_EQ_U64(s.n, 14); /* "0123456789&lt;" fit, the next "&lt;" did not: never past the end */
}

static struct fsa_admin_instance inst[2];
static struct fsa_admin_model model;

static void build_model(void)
{
    memset(inst, 0, sizeof(inst));
    memset(&model, 0, sizeof(model));
    inst[0] = (struct fsa_admin_instance){.name = "fs1",
                                          .state = FSA_CONN_STREAMING,
                                          .last_fault = FSA_FAULT_NONE,
                                          .last_event_unix_us = 951782400123456ull,
                                          .connects = 1,
                                          .events_received = 521,
                                          .heartbeats = 17,
                                          .bytes_received = 1000};
    inst[0].processed[FSA_EV_CHANNEL_CREATE] = 52;
    inst[0].processed[FSA_EV_RECV_RTCP] = 249;
    /* Configured names cannot hold these characters; the renderer must not rely on that. */
    inst[1] = (struct fsa_admin_instance){
        .name = "f\"s\\2", .state = FSA_CONN_BACKOFF, .last_fault = FSA_FAULT_CONNECT_REFUSED, .reconnects = 7};
    inst[1].faults[FSA_FAULT_CONNECT_REFUSED] = 7;
    model.version = "0.1.0-test";
    model.now_unix_us = 951782410123456ull; /* 10 s after fs1's last event */
    model.refresh_s = 5;
    model.ninstances = 2;
    model.inst = inst;
    model.calc.rtcp_processed = 337;
    model.calc.qos_generated = 50;
    model.calc.legs_active = 6;
    model.snap.mos_hist[1] = 3;
    model.snap.mos_hist[13] = 38;
    model.snap.mos_hist[12] = 9;
    model.snap.worst.n = 1;
    model.snap.worst.live = 6;
    model.snap.worst.ranked = 6;
    struct fsa_snap_leg *l = &model.snap.worst.leg[0];
    snprintf(l->uuid, sizeof(l->uuid), "<script>alert(1)</script>");
    snprintf(l->call_id, sizeof(l->call_id), "\"><img src=x>");
    snprintf(l->domain, sizeof(l->domain), "a&b.example");
    snprintf(l->codec, sizeof(l->codec), "PCMU");
    l->instance = 0;
    l->mos = 2.5;
    l->jitter_ms = 10;
    l->loss_pct = 3.125;
    l->reports = 4;
    model.snap.gaps.n = 2;
    model.snap.gaps.legs = 40;
    struct fsa_snap_gap_leg *g = &model.snap.gaps.leg[0];
    snprintf(g->uuid, sizeof(g->uuid), "gap-leg-1");
    snprintf(g->call_id, sizeof(g->call_id), "<i>cid</i>");
    snprintf(g->domain, sizeof(g->domain), "tenant.example");
    snprintf(g->codec, sizeof(g->codec), "PCMA");
    snprintf(g->cause, sizeof(g->cause), "MEDIA_TIMEOUT");
    g->instance = 1;
    g->direction = FSA_DIR_INBOUND;
    g->gap = 0.2;
    g->hold_s = 0;
    g->mos_score = 4.5;
    g->mos_emodel = 4.38905683488;
    g->ended_us = 951782290123456ull; /* 2 min before now */
    g = &model.snap.gaps.leg[1];
    snprintf(g->uuid, sizeof(g->uuid), "gap-leg-2");
    g->direction = 9; /* not a direction: an empty cell */
    g->gap = 0.0125;
    g->hold_s = NAN;
    g->mos_score = NAN;
    g->mos_emodel = 4.2;
    model.has_exporter = true;
    model.export_endpoint = "collector:4317";
    model.exp.conn_state = -1;
    snprintf(model.exp.conn_state_name, sizeof(model.exp.conn_state_name), "backoff");
    snprintf(model.exp.last_error, sizeof(model.exp.last_error), "UNAVAILABLE: <b>down</b>");
    /* 10 event ages: 3 at <= 250 µs, 2 more <= 2 ms, 4 more <= 5 s, 1 above; sum 12.5 s */
    for (unsigned j = 0; j < FSA_EXPORT_AGE_BOUNDS; j++)
        model.exp.event_age_le[j] = j < 5 ? 3 : j < 15 ? 5 : 9;
    model.exp.event_age_total = 10;
    model.exp.event_age_sum_us = 12500000;
}

static void admin_health_ready_exact(void)
{
    build_model();
    struct fsa_admin_out o = out();
    CHECK_EQ_I64(fsa_admin_render_health(&model, &o), 200);
    CHECK_STR(str(&o), "{\"status\":\"degraded\",\"connections\":{"
                       "\"fs1\":{\"connected\":true,\"last_event\":\"2000-02-29T00:00:00.123Z\"},"
                       "\"f\\\"s\\\\2\":{\"connected\":false,\"last_error\":\"connection refused\"}}}\n");
    o = out();
    CHECK_EQ_I64(fsa_admin_render_ready(&model, &o), 200);
    CHECK_STR(str(&o), "{\"ready\":true,\"connected\":1,\"instances\":2}\n");

    inst[1].state = FSA_CONN_STREAMING;
    inst[1].last_fault = FSA_FAULT_NONE;
    o = out();
    CHECK_EQ_I64(fsa_admin_render_health(&model, &o), 200);
    CHECK(strncmp(str(&o), "{\"status\":\"healthy\",", 20) == 0);

    inst[0].state = FSA_CONN_CONNECTING;
    inst[1].state = FSA_CONN_BACKOFF;
    o = out();
    CHECK_EQ_I64(fsa_admin_render_ready(&model, &o), 503);
    CHECK_STR(str(&o), "{\"ready\":false,\"connected\":0,\"instances\":2}\n");
}

/* Checks the exposition's shape line by line; returns the number of families. */
static unsigned prom_structure(const char *text, unsigned *bad)
{
    char fam[128] = "", names[128][128];
    unsigned nfam = 0;
    *bad = 0;
    int expect = 0; /* 0: HELP or sample, 1: TYPE next */
    bool histogram = false;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            (*bad)++; /* the exposition ends with a newline */
            break;
        }
        char line[512];
        size_t n = (size_t)(nl - p) < sizeof(line) - 1 ? (size_t)(nl - p) : sizeof(line) - 1;
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            sscanf(line + 7, "%127s", fam);
            for (unsigned i = 0; i < nfam && i < 128; i++)
                if (strcmp(names[i], fam) == 0)
                    (*bad)++; /* a family twice */
            if (nfam < 128)
                snprintf(names[nfam], sizeof(names[nfam]), "%s", fam);
            nfam++;
            expect = 1;
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128], type[32];
            if (expect != 1 || sscanf(line + 7, "%127s %31s", name, type) != 2 || strcmp(name, fam) != 0)
                (*bad)++;
            bool counter = strcmp(type, "counter") == 0;
            histogram = strcmp(type, "histogram") == 0;
            size_t ln = strlen(name);
            if (counter != (ln > 6 && strcmp(name + ln - 6, "_total") == 0))
                (*bad)++; /* counters, and only counters, end in _total */
            expect = 0;
        } else {
            size_t fl = strlen(fam);
            const char *rest = line + fl;
            /* a histogram's samples: _bucket{le=...}, _sum, _count */
            if (histogram && strncmp(rest, "_bucket{le=\"", 12) == 0)
                rest += 7;
            else if (histogram && (strncmp(rest, "_sum ", 5) == 0 || strncmp(rest, "_count ", 7) == 0))
                rest = strchr(rest, ' ');
            if (expect != 0 || !fl || strncmp(line, fam, fl) != 0 || (rest[0] != '{' && rest[0] != ' '))
                (*bad)++;
        }
    }
    return nfam;
}

static void admin_metrics_exact(void)
{
    build_model();
    struct fsa_admin_out o = out();
    CHECK_EQ_I64(fsa_admin_render_metrics(&model, &o), 200);
    const char *m = str(&o);
    static const char head[] =
        "# HELP fsagent_build_info fsagent version (always 1).\n"
        "# TYPE fsagent_build_info gauge\n"
        "fsagent_build_info{version=\"0.1.0-test\"} 1\n"
        "# HELP fsagent_fs_connections FreeSWITCH Event Socket connection streaming events (1) or not (0).\n"
        "# TYPE fsagent_fs_connections gauge\n"
        "fsagent_fs_connections{fs_instance=\"fs1\"} 1\n"
        "fsagent_fs_connections{fs_instance=\"f\\\"s\\\\2\"} 0\n"
        "# HELP fsagent_fs_last_event_timestamp_seconds Wall-clock time of the last event received from the "
        "instance (0: none yet).\n"
        "# TYPE fsagent_fs_last_event_timestamp_seconds gauge\n"
        "fsagent_fs_last_event_timestamp_seconds{fs_instance=\"fs1\"} 951782400.123456\n"
        "fsagent_fs_last_event_timestamp_seconds{fs_instance=\"f\\\"s\\\\2\"} 0.000000\n"
        "# HELP fsagent_fs_connects_total ESL sessions that reached event streaming.\n"
        "# TYPE fsagent_fs_connects_total counter\n"
        "fsagent_fs_connects_total{fs_instance=\"fs1\"} 1\n"
        "fsagent_fs_connects_total{fs_instance=\"f\\\"s\\\\2\"} 0\n"
        "# HELP fsagent_fs_reconnects_total ESL connection attempts after the first.\n"
        "# TYPE fsagent_fs_reconnects_total counter\n"
        "fsagent_fs_reconnects_total{fs_instance=\"fs1\"} 0\n"
        "fsagent_fs_reconnects_total{fs_instance=\"f\\\"s\\\\2\"} 7\n";
    CHECK(strncmp(m, head, sizeof(head) - 1) == 0);
    if (strncmp(m, head, sizeof(head) - 1) != 0)
        fprintf(stderr, "---- got:\n%.*s\n", (int)(sizeof(head) + 200), m);
    static const char *const lines[] = {
        "\nfsagent_fs_faults_total{fs_instance=\"f\\\"s\\\\2\",cause=\"connect_refused\"} 7\n",
        "\nfsagent_events_received_total{fs_instance=\"fs1\"} 521\n",
        "\nfsagent_heartbeats_received_total{fs_instance=\"fs1\"} 17\n",
        "\nfsagent_events_processed_total{fs_instance=\"fs1\",event=\"CHANNEL_CREATE\"} 52\n",
        "\nfsagent_events_processed_total{fs_instance=\"fs1\",event=\"RECV_RTCP_MESSAGE\"} 249\n",
        "\nfsagent_events_processed_total{fs_instance=\"fs1\",event=\"SEND_RTCP_MESSAGE\"} 0\n",
        "\nfsagent_events_dropped_total{fs_instance=\"fs1\",cause=\"ring_full\"} 0\n",
        "\n# TYPE fsagent_rtcp_messages_processed_total counter\nfsagent_rtcp_messages_processed_total 337\n",
        "\n# TYPE fsagent_qos_messages_generated_total counter\nfsagent_qos_messages_generated_total 50\n",
        "\n# TYPE fsagent_legs_active gauge\nfsagent_legs_active 6\n",
        "\nfsagent_storage_operations_total{operation=\"save\"} 0\n",
        "\nfsagent_records_dropped_total{kind=\"qos\"} 0\n",
        "\nfsagent_export_points_dropped_total{cause=\"queue_full\"} 0\n",
        "\nfsagent_export_batch_retries_total{code=\"UNAVAILABLE\"} 0\n",
        "\nfsagent_export_connected 0\n",
        "\nfsagent_export_last_success_timestamp_seconds 0.000000000\n",
        "\n# TYPE fsagent_export_event_age_seconds histogram\n"
        "fsagent_export_event_age_seconds_bucket{le=\"0.000250\"} 3\n"
        "fsagent_export_event_age_seconds_bucket{le=\"0.000500\"} 3\n",
        "\nfsagent_export_event_age_seconds_bucket{le=\"0.001500\"} 3\n"
        "fsagent_export_event_age_seconds_bucket{le=\"0.002000\"} 5\n",
        "\nfsagent_export_event_age_seconds_bucket{le=\"1.000000\"} 5\n"
        "fsagent_export_event_age_seconds_bucket{le=\"5.000000\"} 9\n"
        "fsagent_export_event_age_seconds_bucket{le=\"+Inf\"} 10\n"
        "fsagent_export_event_age_seconds_sum 12.500000\n"
        "fsagent_export_event_age_seconds_count 10\n",
        "\n# TYPE fsagent_export_pipeline_age_seconds histogram\n"
        "fsagent_export_pipeline_age_seconds_bucket{le=\"0.000250\"} 0\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        bool found = strstr(m, lines[i]) != NULL;
        CHECK(found);
        if (!found)
            fprintf(stderr, "missing: %s", lines[i]);
    }
    CHECK(strstr(m, "code=\"OK\"") == NULL); /* OK is not a failure code */
    unsigned bad;
    unsigned fams = prom_structure(m, &bad);
    CHECK_EQ_U64(bad, 0);
    /*
     * build_info + 13 instance families (3 of the resync) + 23 calculator families (6 of the resume, 4 of the
     * write-behind store) + 19 export families (admin_render.c's list)
     */
    CHECK_EQ_U64(fams, 56);

    model.has_exporter = false;
    o = out();
    fsa_admin_render_metrics(&model, &o);
    CHECK(strstr(str(&o), "fsagent_export_") == NULL);
    CHECK_EQ_U64(prom_structure(str(&o), &bad), 56 - 19);
    CHECK_EQ_U64(bad, 0);
}

static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void admin_page_exact(void)
{
    build_model();
    struct fsa_admin_out o = out();
    CHECK_EQ_I64(fsa_admin_render_page(&model, &o), 200);
    const char *p = str(&o);
    CHECK(strncmp(p, "<!DOCTYPE html>\n", 16) == 0);
    CHECK(strstr(p, "<meta http-equiv=\"refresh\" content=\"5\">") != NULL);
    CHECK(strstr(p, "</html>\n") != NULL);
    /* Nothing from the network lands unescaped: no script, no injected element. */
    CHECK(strstr(p, "<script") == NULL);
    CHECK(strstr(p, "<img") == NULL);
    CHECK(strstr(p, "<b>down") == NULL);
    CHECK(strstr(p, "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>") != NULL);
    CHECK(strstr(p, "<code>&quot;&gt;&lt;img src=x&gt;</code>") != NULL);
    CHECK(strstr(p, "<td>a&amp;b.example</td>") != NULL);
    CHECK(strstr(p, "UNAVAILABLE: &lt;b&gt;down&lt;/b&gt;") != NULL);
    CHECK(strstr(p, "<tr class=\"instance\" data-instance=\"fs1\"><td><b>fs1</b></td>") != NULL);
    CHECK(strstr(p, "<tr class=\"instance\" data-instance=\"f&quot;s\\2\">") != NULL);
    CHECK(strstr(p, "(10 s ago)") != NULL);
    CHECK_EQ_U64(count(p, "<tr class=\"worst-leg\">"), 1);
    CHECK(strstr(p, "<span class=\"badge bad\">2.50</span>") != NULL); /* MOS < 3.1 */
    /*
     * Chart: 14 bars. The tallest (bucket 13, 38 legs) is 130 px: x = 40 + 29 x 13 + (29 - 23) / 2 = 420,
     * y = 150 - 130 = 20. Bucket 1 (3 legs): h = (3 x 130 + 19) / 38 = 10 (integer), x = 40 + 29 + 3 = 72.
     */
    CHECK_EQ_U64(count(p, "<rect class=\"bar\""), FSA_SNAP_MOS_BUCKETS);
    CHECK(strstr(p, "<rect class=\"bar\" data-lo=\"4.25\" data-hi=\"4.50\" data-count=\"38\" x=\"420\" y=\"20\" "
                    "width=\"23\" height=\"130\" fill=\"#3fa45b\"><title>MOS 4.25 to 4.50: 38 legs</title></rect>") !=
          NULL);
    CHECK(strstr(p, "<rect class=\"bar\" data-lo=\"1.25\" data-hi=\"1.50\" data-count=\"3\" x=\"72\" y=\"140\" "
                    "width=\"23\" height=\"10\" fill=\"#d64545\">") != NULL);
    CHECK(strstr(p, "data-lo=\"2.00\" data-hi=\"2.25\" data-count=\"0\" x=\"159\" y=\"150\" width=\"23\" "
                    "height=\"0\"") != NULL);
    CHECK(strstr(p, "<p class=\"muted\" id=\"mos-total\">50 legs ended with media since start.</p>") != NULL);
    /* Worst ended legs by media gap: 0.2 -> "20.0" % (bad: >= 0.05), 0.0125 -> "1.2" (ok: < 0.02), NaN -> "-". */
    CHECK_EQ_U64(count(p, "<tr class=\"gap-leg\">"), 2);
    CHECK(strstr(p, "of 40 legs that ended in the last 10-20 min") != NULL);
    CHECK(strstr(p, "<tr class=\"gap-leg\"><td><span class=\"badge bad\">20.0</span></td><td>f&quot;s\\2</td>"
                    "<td>tenant.example</td><td><code>gap-leg-1</code></td><td><code>&lt;i&gt;cid&lt;/i&gt;</code></td>"
                    "<td>PCMA</td><td>inbound</td><td>MEDIA_TIMEOUT</td><td class=\"num\">0</td>"
                    "<td class=\"num\">4.50</td><td class=\"num\">4.39</td><td><time datetime=") != NULL);
    CHECK(strstr(p, "(2 min ago)") != NULL);
    CHECK(strstr(p, "<tr class=\"gap-leg\"><td><span class=\"badge ok\">1.2</span></td><td>fs1</td><td></td>"
                    "<td><code>gap-leg-2</code></td><td><code></code></td><td></td><td></td><td></td>"
                    "<td class=\"num muted\">-</td><td class=\"num muted\">-</td><td class=\"num\">4.20</td>") != NULL);
    /* The gap table follows the live worst legs. */
    CHECK(strstr(p, "id=\"worst\"") && strstr(p, "id=\"gaps\"") &&
          strstr(p, "id=\"worst\"") < strstr(p, "id=\"gaps\""));

    /* One leg among a thousand still shows: at least 2 px. */
    model.snap.mos_hist[13] = 1000;
    model.snap.mos_hist[0] = 1;
    o = out();
    fsa_admin_render_page(&model, &o);
    CHECK(strstr(str(&o), "data-count=\"1\" x=\"43\" y=\"148\" width=\"23\" height=\"2\"") != NULL);

    /* A buffer too small is reported, not cut silently. */
    struct fsa_admin_out s = {.p = buf, .cap = 1000};
    fsa_admin_render_page(&model, &s);
    CHECK(s.overflow);
}

int main(void)
{
    admin_escape_exact();
    admin_health_ready_exact();
    admin_metrics_exact();
    admin_page_exact();
    return fsa_test_finish();
}
