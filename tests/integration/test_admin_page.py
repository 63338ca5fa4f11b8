"""The status page in a real browser: headless Chromium loads it from a running
agent, the test reads the rendered DOM (--dump-dom) and takes a screenshot.

Setup: fs1 replays the real capture (52 legs, all ended: 50 QoS records, so the
MOS chart's bars must count 50 in all); fs2 runs 3 synthetic calls (6 legs)
that last 10 minutes, PCMU, jitter 5 ms, RTT 100 ms, no loss, RTCP every 300 ms
in both directions, so the worst-legs table shows those 6 live legs. Their
live MOS by the contract's E-model (emodel_g107_simplified), once a leg has had
two RECV reports (fssim sends Rtt0-Avg from the second one on):
  jitter: Jitter = 5 x 8000/1000 = 40 RTP units -> 40 x 1000 / 8000 = 5 ms (both directions)
  d = 100/2 + 2 x 5 + 10 = 70 ms, Id = 70/40 = 1.75; loss 0: Ie,eff = 0 (PCMU Ie 0)
  R = 93.2 - 1.75 - 0 = 91.45
  MOS = 1 + 0.035 x 91.45 + 7e-6 x 91.45 x (91.45 - 60) x (100 - 91.45) = 4.3729 -> "4.37"
The worst ended legs by media gap are the replay's ten highest skip / (packets + skip), read
from the capture's hangup headers (fs2's calls are still up). Every browser run is bounded by a
timeout."""
import html.parser
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import capture
from admintest import admin_config, answers, parse_prom, report, request, sample
from fsatest import FIXTURES, SLOW, Checks, free_ports, start_agent, start_fssim, wait_for

BROWSER_TIMEOUT = 90 * SLOW


def emodel_mos(rtt_ms, jitter_ms, loss_pct, ie=0.0, bpl=4.3):
    d = rtt_ms / 2 + 2 * jitter_ms + 10
    i_d = d / 40 if d < 160 else (d - 120) / 10
    ie_eff = ie + (95 - ie) * loss_pct / (loss_pct + bpl)
    r = 93.2 - i_d - ie_eff
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)


class Dom(html.parser.HTMLParser):
    """Collects what the test asserts on: instance rows, chart bars, worst-leg rows, the status badge."""

    def __init__(self):
        super().__init__()
        self.instances = []
        self.bars = []
        self.worst = []  # list of cell texts per row
        self.gaps = []  # the same for the worst ended legs by media gap
        self.status = None
        self._rows = None
        self._row = None
        self._cell = None
        self._in_status = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "tr" and "instance" in cls:
            self.instances.append(a.get("data-instance"))
        elif tag == "rect" and "bar" in cls:
            self.bars.append(a)
        elif tag == "tr" and ("worst-leg" in cls or "gap-leg" in cls):
            self._row = []
            self._rows = self.worst if "worst-leg" in cls else self.gaps
        elif tag == "td" and self._row is not None:
            self._cell = ""
        elif a.get("id") == "status":
            self._in_status = True

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._rows.append(self._row)
            self._row = None
        elif self._in_status and tag == "span":
            self._in_status = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_status:
            self.status = (self.status or "") + data.strip()


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(exe, profile, *args):
    argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", "--user-data-dir=" + profile] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)


def png_info(path):
    """(width, height, distinct byte values of the decompressed image data) of a PNG, by its chunks."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, idat, width, height = 8, b"", 0, 0
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif ctype == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def main():
    c = Checks()
    exe = chromium()
    c.check(exe is not None, "chromium installed (Debian package chromium, scripts/deps.sh --test)")
    if not exe:
        c.finish()
    base = free_ports(3)
    p1, p2, http_port = base, base + 1, base + 2
    replay = start_fssim(p1, "--replay", os.path.join(FIXTURES, "fs-plain-all.raw"), "--heartbeat", "0")
    calls = start_fssim(p2, "--calls", "3", "--call-duration", "600", "--rtcp-interval-ms", "300", "--fire-rtcp",
                        "--codec", "PCMU", "--jitter-ms", "5", "--rtt-ms", "100", "--loss-pct", "0",
                        "--heartbeat", "1")
    agent = start_agent(admin_config([p1, p2], http_port))
    url = "http://127.0.0.1:%d/" % http_port
    want_mos = "%.2f" % emodel_mos(100, 5, 0)
    profile = tempfile.mkdtemp(prefix="fsa-chromium-")
    try:
        c.check(wait_for(lambda: answers(http_port), 15), "admin server answers")

        def settled():
            try:
                s = parse_prom(request(http_port, "/metrics")[2])
            except (OSError, ValueError):
                return False
            recv = sample(s, "fsagent_events_processed_total", fs_instance="fs2", event="RECV_RTCP_MESSAGE") or 0
            # replay done (50 QoS), fs2's 6 legs up and each with >= 2 RECV reports
            return (sample(s, "fsagent_qos_messages_generated_total") == 50 and
                    sample(s, "fsagent_legs_active") == 6 and recv >= 12)
        c.check(wait_for(settled, 30), "replay done and fs2's calls have RTCP")

        # The worst-legs walk publishes every 250 ms: the page may need a moment to show all six.
        dom = None

        def loaded():
            nonlocal dom
            p = browser(exe, profile, "--dump-dom", url)
            if p.returncode != 0:
                return False
            dom = Dom()
            dom.feed(p.stdout)
            return len(dom.worst) == 6 and all(row and row[0] == want_mos for row in dom.worst)
        c.check(wait_for(loaded, 20, step=0.5), "page shows the six live legs at MOS %s" % want_mos)
        if dom is None:
            dom = Dom()
        c.eq(dom.instances, ["fs1", "fs2"], "instance rows")
        c.eq(dom.status, "healthy", "status badge")
        c.eq(len(dom.bars), 14, "chart bars (MOS 1.0-4.5 in 0.25 steps)")
        counts = [int(b.get("data-count", -1)) for b in dom.bars]
        c.eq(sum(counts), 50, "bars count the 50 QoS records of the replay")
        c.check(any(int(b.get("data-count")) > 0 and float(b.get("height")) > 0 for b in dom.bars),
                "at least one bar with height > 0")
        c.check(all((int(b.get("data-count")) > 0) == (float(b.get("height")) > 0) for b in dom.bars),
                "a bar has height exactly when it counts legs")
        c.eq(len(dom.worst), 6, "worst-legs rows")
        for row in dom.worst:
            # MOS, Instance, Domain, Unique-ID, Call-ID, Codec, Jitter ms, Loss %, RTT ms, Reports
            c.eq(len(row), 10, "worst-leg cells")
            if len(row) == 10:
                c.eq((row[0], row[1], row[5], row[6], row[7], row[8]), (want_mos, "fs2", "PCMU", "5.0", "0.0", "100"),
                     "worst-leg row %s" % row[3])
                c.check(len(row[3]) == 36 and row[4] != "", "leg has its Unique-ID and Call-ID")

        # Worst ended legs by media gap: the replay's ten highest skip / (packets + skip), from its hangup headers.
        gaps = []
        for u, h in capture.hangups().items():
            if "variable_rtp_audio_in_skip_packet_count" in h:
                g = capture.qos_from_headers(h)["freeswitch.qos.media_gap_ratio"]
                gaps.append((-g, u, h))
        gaps.sort()
        c.eq(len(dom.gaps), 10, "worst-gap rows")
        for row, (g, u, h) in zip(dom.gaps, gaps[:10]):
            # Gap %, Instance, Domain, Unique-ID, Call-ID, Codec, Direction, Hangup cause, Hold s, MOS x2, Ended
            c.eq(len(row), 12, "worst-gap cells")
            if len(row) == 12:
                c.eq((row[0], row[1], row[3], row[6], row[7], row[8], row[9]),
                     ("%.1f" % (-g * 100), "fs1", u, h["Call-Direction"], h["Hangup-Cause"],
                      h["variable_hold_accum_seconds"], h["variable_rtp_audio_in_mos"]), "worst-gap row %s" % u[:8])

        shot = os.path.join(profile, "status.png")
        p = browser(exe, profile, "--screenshot=" + shot, "--window-size=1280,900", "--hide-scrollbars", url)
        c.eq(p.returncode, 0, "chromium --screenshot exit code")
        info = png_info(shot) if os.path.exists(shot) else None
        c.check(info is not None, "screenshot is a PNG")
        if info:
            w, h, distinct = info
            c.eq((w, h), (1280, 900), "screenshot size")
            c.check(os.path.getsize(shot) > 20000 and distinct > 50,
                    "screenshot is not blank (%d bytes, %d distinct byte values)" % (os.path.getsize(shot), distinct))
        keep = os.environ.get("FSA_SCREENSHOT")
        if keep and os.path.exists(shot):
            shutil.copy(shot, keep)
    finally:
        rc = agent.stop()
        replay.stop()
        calls.stop()
        shutil.rmtree(profile, ignore_errors=True)
    report(c, agent, rc)


if __name__ == "__main__":
    main()
