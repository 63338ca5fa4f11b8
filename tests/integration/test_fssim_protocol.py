#!/usr/bin/env python3
"""fssim against the real FreeSWITCH 1.11.2 captures.

Drives the fssim binary ($FSA_BUILD_DIR/fssim) over loopback TCP and checks:
  1. the ESL handshake, byte for byte against esl-handshake-server-bytes.raw
     (only the api status text and the Job-UUIDs may differ), plus command
     framing (split reads, pipelining, CRLF), heartbeats and instances;
  2. a wrong password: the exact -ERR invalid + disconnect notice, then EOF;
  3. --replay: the 1785 text/event-plain (and -json) frames of the captures,
     byte-identical and in order, and the subscription filter (52 + 249);
  4. synthetic calls: exact event arithmetic, the summary JSON, framing,
     real header sets and URL encoding, RTCP/QoS values, plain == json;
     the quality simulations (--drop-pct, --vad-pct, --hold-pct,
     --ip-from-pct, --hangup-causes) per call as docs/fssim.md plans them;
  5. every --fault mode, slow consumers (drop and kill);
  6. --flood 20000.
Python 3 standard library only. Prints "N passed, N failed"; exit 1 on failure.
"""
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from fsatest import FIXTURES as FIX, free_ports  # the 1.11.2 captures; n consecutive free loopback ports
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get('FSA_SOURCE_DIR') or os.path.normpath(os.path.join(HERE, '..', '..'))
BUILD = os.environ.get('FSA_BUILD_DIR') or os.path.join(SRC, 'build')
FSSIM = os.path.join(BUILD, 'fssim')
SLOW = 3.0 if os.environ.get('FSA_SANITIZE') else 1.0  # sanitizer builds are slower

DISCONNECT = (b'Content-Type: text/disconnect-notice\nContent-Length: 67\n\n'
              b'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n')
AUTH_REQUEST = b'Content-Type: auth/request\n\n'

passed = 0
failed = 0


def check(name, cond, detail=''):
    global passed, failed
    if cond:
        passed += 1
        print('ok   %s' % name)
    else:
        failed += 1
        print('FAIL %s %s' % (name, detail))
    return cond


# ---------------------------------------------------------------- helpers

ALL_SIMS = []


class Sim:
    """One fssim process; stop() sends SIGTERM and returns the summary JSON."""

    def __init__(self, *args, instances=1):
        ALL_SIMS.append(self)
        self.tmp = tempfile.mkdtemp(prefix='fssim-test-')
        self.ready = os.path.join(self.tmp, 'ready')
        self.stats = os.path.join(self.tmp, 'stats.json')
        self.port = free_ports(instances)
        self.args = [str(a) for a in args]
        cmd = [FSSIM, '--port', str(self.port), '--instances', str(instances),
               '--ready-file', self.ready, '--stats-file', self.stats] + [str(a) for a in args]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 10 * SLOW
        while not os.path.exists(self.ready):
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError('fssim did not start: %s' % self.p.stderr.read().decode())
            time.sleep(0.01)
        self.summary = None
        self.rc = None
        self.stderr = b''

    def connect(self, instance=0):
        s = socket.create_connection(('127.0.0.1', self.port + instance))
        s.settimeout(5 * SLOW)
        return s

    def stop(self):
        if self.summary is not None:
            return self.summary
        self.p.send_signal(signal.SIGTERM)
        out, err = self.p.communicate(timeout=20 * SLOW)
        self.rc = self.p.returncode
        self.stderr = err
        check('fssim %s: exit 0 on SIGTERM, no sanitizer report' % ' '.join(self.args[:4]),
              self.rc == 0 and b'Sanitizer' not in err and b'runtime error' not in err,
              (self.rc, err[-800:]))
        lines = [l for l in out.decode().splitlines() if l.strip()]
        self.summary = json.loads(lines[-1]) if lines else None
        with open(self.stats) as f:
            self.stats_json = json.loads(f.read())
        return self.summary


def recv_for(s, seconds):
    """Everything that arrives within `seconds`; b'' plus eof flag."""
    s.settimeout(0.05)
    out = b''
    eof = False
    end = time.time() + seconds
    while time.time() < end:
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            eof = True
            break
        if not d:
            eof = True
            break
        out += d
    s.settimeout(5 * SLOW)
    return out, eof


def recv_exact(s, n, timeout=10):
    out = b''
    s.settimeout(timeout * SLOW)
    while len(out) < n:
        d = s.recv(min(1 << 20, n - len(out)))
        if not d:
            break
        out += d
    return out


def recv_until_eof(s, timeout=20):
    out = b''
    s.settimeout(timeout * SLOW)
    while True:
        d = s.recv(1 << 20)
        if not d:
            return out
        out += d


def split_frames(buf):
    """ESL framing: header block, then Content-Length bytes. Returns (frames, rest)."""
    frames = []
    i = 0
    while True:
        j = buf.find(b'\n\n', i)
        if j < 0:
            break
        head = buf[i:j]
        cl = 0
        for line in head.split(b'\n'):
            if line.startswith(b'Content-Length: '):
                cl = int(line[16:])
        if len(buf) < j + 2 + cl:
            break
        frames.append(buf[i:j + 2 + cl])
        i = j + 2 + cl
    return frames, buf[i:]


def frame_head_body(fr):
    j = fr.index(b'\n\n')
    head = dict(l.split(b': ', 1) for l in fr[:j].split(b'\n'))
    return {k.decode(): v.decode() for k, v in head.items()}, fr[j + 2:]


def read_frames(s, n, timeout=10):
    """Exactly n complete frames (and whatever else arrived)."""
    buf = b''
    s.settimeout(timeout * SLOW)
    while True:
        frames, rest = split_frames(buf)
        if len(frames) >= n:
            return frames, rest
        d = s.recv(1 << 20)
        if not d:
            return frames, rest
        buf += d


def plain_headers(body):
    head = body.split(b'\n\n', 1)[0].decode('latin-1')
    return [tuple(l.split(': ', 1)) for l in head.split('\n')]


HEXU = b'0123456789ABCDEF'
UNSAFE = b'\r\n #%&+:;<=>?@[\\]^`{|}"'


def url_encode(raw):
    """switch_url_encode(), as in scripts/gen_fssim_templates.py."""
    out = bytearray()
    for i, c in enumerate(raw):
        if c == 0x25 and i + 2 < len(raw) and raw[i + 1] in HEXU and raw[i + 2] in HEXU:
            out.append(c)
        elif c < 0x20 or c > 0x7e or c in UNSAFE:
            out += b'%' + bytes([HEXU[c >> 4], HEXU[c & 15]])
        else:
            out.append(c)
    return bytes(out)


def capture_event_frames(name):
    data = open(os.path.join(FIX, name), 'rb').read()
    frames, rest = split_frames(data)
    assert rest == b''
    return [f for f in frames if b'Content-Type: text/event-' in f[:80]]


def reply(text):
    return b'Content-Type: command/reply\nReply-Text: ' + text + b'\n\n'


# ---------------------------------------------------------------- 1. handshake

def handshake_sessions():
    raw = open(os.path.join(FIX, 'esl-handshake-server-bytes.raw'), 'rb').read()
    parts = re.split(rb'\n?#### SESSION (.*?) ####\n', raw)
    sessions = []
    for k in range(1, len(parts), 2):
        sessions.append((parts[k].decode(), parts[k + 1]))
    return sessions


UUID_RE = re.compile(rb'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
STATUS_RE = re.compile(
    rb'UP \d+ years?, \d+ days?, \d+ hours?, \d+ minutes?, \d+ seconds?, \d+ milliseconds?, '
    rb'\d+ microseconds?\n'
    rb'FreeSWITCH \(Version 1\.11\.2-release  64bit\) is ready\n'
    rb'\d+ session\(s\) since startup\n'
    rb'\d+ session\(s\) - peak \d+, last 5min \d+ \n'
    rb'\d+ session\(s\) per Sec out of max \d+, peak \d+, last 5min \d+ \n'
    rb'\d+ session\(s\) max\n'
    rb'min idle cpu \d+\.\d\d/\d+\.\d\d\n'
    rb'Current Stack Size/Max 240K/8192K\n$')


def normalise(frames):
    """The two allowed differences: api status text and Job-UUIDs."""
    out = []
    for f in frames:
        head, body = frame_head_body(f)
        if head.get('Content-Type') == 'api/response' and body.startswith(b'UP '):
            out.append(b'<api status>')
        else:
            out.append(UUID_RE.sub(b'<uuid>', f))
    return out


def test_handshake():
    sessions = handshake_sessions()
    check('handshake: capture has 3 sessions', len(sessions) == 3, [t for t, _ in sessions])
    cap1 = split_frames(sessions[0][1])
    cap_frames = cap1[0]
    check('handshake: capture session 1 parses', cap1[1] == b'' and len(cap_frames) == 11, len(cap_frames))

    sim = Sim('--heartbeat', 0)
    s = sim.connect()
    got = []
    f, _ = read_frames(s, 1)
    got += f
    script = [b'auth ClueCon', b'foobar_unknown_command', b'api status', b'api version',
              b'api no_such_api_command', b'bgapi status', b'event plain HEARTBEAT CHANNEL_HANGUP_COMPLETE',
              b'noevents']
    for cmd in script:
        s.sendall(cmd + b'\n\n')
        f, rest = read_frames(s, 1)
        check('handshake: one reply to %s' % cmd.decode(), len(f) == 1 and rest == b'', (f, rest))
        got += f
    s.sendall(b'exit\n\n')
    tail = recv_until_eof(s)
    f, rest = split_frames(tail)
    got += f
    check('handshake: exit then EOF, nothing else', rest == b'' and len(f) == 2, (f, rest))
    s.close()

    check('handshake: same frame count as FreeSWITCH', len(got) == len(cap_frames), (len(got), len(cap_frames)))
    for i, (a, b) in enumerate(zip(normalise(got), normalise(cap_frames))):
        check('handshake: frame %d byte-exact' % i, a == b, (a, b))
    # exceptions, checked for form
    st = [g for g in got if b'\n\nUP ' in g][0]
    head, body = frame_head_body(st)
    check('handshake: api status framing', st.startswith(b'Content-Type: api/response\nContent-Length: ')
          and int(head['Content-Length']) == len(body), st[:80])
    check('handshake: api status text has FreeSWITCH\'s form', STATUS_RE.match(body) is not None, body)
    bg = [g for g in got if b'Job-UUID' in g][0]
    u = UUID_RE.findall(bg)
    check('handshake: bgapi Job-UUID twice, identical', len(u) == 2 and u[0] == u[1], bg)
    check('handshake: whole stream equal modulo status/uuid',
          b''.join(normalise(got)) == b''.join(normalise(cap_frames)))

    # 3rd capture session: a command before auth, connection stays open
    s = sim.connect()
    first, _ = read_frames(s, 1)
    s.sendall(b'api status\n\n')
    f, _ = read_frames(s, 1)
    check('pre-auth: exact bytes of capture session 3', first + f == split_frames(sessions[2][1])[0],
          (first, f))
    data, eof = recv_for(s, 0.5 * SLOW)
    check('pre-auth: connection stays open', not eof and data == b'', (data, eof))
    s.close()

    # exit works before auth too
    s = sim.connect()
    read_frames(s, 1)
    s.sendall(b'exit\n\n')
    check('pre-auth: exit -> +OK bye, notice, EOF', recv_until_eof(s) == reply(b'+OK bye') + DISCONNECT)
    s.close()

    # framing: a command split into single bytes, several commands in one write, CRLF, blank lines
    s = sim.connect()
    read_frames(s, 1)
    for b in b'auth ClueCon\n\n':
        s.sendall(bytes([b]))
        time.sleep(0.002)
    f, _ = read_frames(s, 1)
    check('framing: command split byte by byte', f == [reply(b'+OK accepted')], f)
    s.sendall(b'\n\napi version\r\n\r\napi echo hello\n\nnoevents\n\n')
    f, _ = read_frames(s, 3)
    check('framing: pipelined commands, CRLF and leading newlines',
          f == [b'Content-Type: api/response\nContent-Length: 49\n\nFreeSWITCH Version 1.11.2-release~64bit ( 64bit)\n',
                b'Content-Type: api/response\nContent-Length: 5\n\nhello',
                reply(b'-ERR not listening for events')], f)
    s.sendall(b'event plain NO_SUCH_EVENT\n\n')
    f, _ = read_frames(s, 1)
    check('framing: unknown event names only', f == [reply(b'-ERR no keywords supplied')], f)
    s.sendall(b'event json CUSTOM sofia::register\n\n')
    f, _ = read_frames(s, 1)
    check('framing: json + CUSTOM subclass', f == [reply(b'+OK event listener enabled json')], f)
    s.sendall(b'nixevent CUSTOM sofia::register\n\n')
    f, _ = read_frames(s, 1)
    check('framing: nixevent', f == [reply(b'+OK events nixed')], f)
    s.sendall(b'x' * 70000)
    data, eof = recv_for(s, 2 * SLOW)
    check('framing: oversize command closes the connection', eof, data[:100])
    s.close()
    sim.stop()
    check('handshake: exit code 0 on SIGTERM', sim.rc == 0, sim.rc)
    sm = sim.summary['instances'][0]
    check('handshake: summary counts connections/auth', sm['connections'] == 4 and sm['auth_ok'] == 2
          and sm['auth_failed'] == 0, sm)
    check('handshake: --stats-file equals stdout summary', sim.stats_json == sim.summary)

    # auth timeout (FreeSWITCH: 25 s; shortened here)
    sim = Sim('--auth-timeout', 0.5)
    s = sim.connect()
    data = recv_until_eof(s, 5)
    check('auth timeout: auth/request, disconnect notice, EOF', data == AUTH_REQUEST + DISCONNECT, data)
    sim.stop()


def test_wrong_password():
    sessions = handshake_sessions()
    sim = Sim()
    s = sim.connect()
    got = recv_exact(s, len(AUTH_REQUEST))
    s.sendall(b'auth WrongPassword\n\n')
    got += recv_until_eof(s)
    check('wrong password: exact bytes of the capture, then EOF', got == sessions[1][1], got)
    sim.stop()
    sm = sim.summary['instances'][0]
    check('wrong password: counted', sm['auth_failed'] == 1 and sm['auth_ok'] == 0, sm)


def test_heartbeat_instances():
    sim = Sim('--heartbeat', 1, instances=2)
    cap_hb = [f for f in capture_event_frames('fs-plain-all.raw') if b'Event-Name: HEARTBEAT' in f][0]
    cap_names = [k for k, _ in plain_headers(frame_head_body(cap_hb)[1])]
    hosts = []
    cores = []
    socks = []
    for i in range(2):
        s = sim.connect(i)
        read_frames(s, 1)
        s.sendall(b'auth ClueCon\n\nevent plain HEARTBEAT\n\n')
        socks.append(s)
    for i, s in enumerate(socks):
        f, _ = read_frames(s, 3, timeout=5)
        hb = f[2] if len(f) > 2 else b''
        head, body = frame_head_body(hb) if hb else ({}, b'')
        check('heartbeat fs%d: frame' % (i + 1), head.get('Content-Type') == 'text/event-plain'
              and int(head.get('Content-Length', -1)) == len(body), hb[:200])
        h = plain_headers(body) if body else []
        check('heartbeat fs%d: FreeSWITCH header set' % (i + 1), [k for k, _ in h] == cap_names,
              [k for k, _ in h])
        d = dict(h)
        hosts.append((d.get('FreeSWITCH-Hostname'), d.get('FreeSWITCH-Switchname')))
        cores.append(d.get('Core-UUID'))
        check('heartbeat fs%d: version/info' % (i + 1), d.get('FreeSWITCH-Version') == '1.11.2-release~64bit'
              and d.get('Event-Info') == 'System%20Ready', d)
        s.close()
    check('instances: named fs1, fs2', hosts == [('fs1', 'fs1'), ('fs2', 'fs2')], hosts)
    check('instances: distinct Core-UUIDs', len(set(cores)) == 2, cores)
    sm = sim.stop()
    check('instances: summary per instance', [i['name'] for i in sm['instances']] == ['fs1', 'fs2']
          and [i['port'] for i in sm['instances']] == [sim.port, sim.port + 1], sm)


def test_api_events():
    """api/bgapi fire API and BACKGROUND_JOB events with the capture's header sets and body framing."""
    cap = {}
    for f in capture_event_frames('fs-plain-all.raw'):
        h = plain_headers(frame_head_body(f)[1])
        d = dict(h)
        key = (d['Event-Name'], 'API-Command-Argument' in d or 'Job-Command-Arg' in d)
        cap.setdefault(key, [k for k, _ in h])
    sim = Sim('--heartbeat', 0)
    p = sim.connect()
    j = sim.connect()
    read_frames(p, 1)
    read_frames(j, 1)
    p.sendall(b'auth ClueCon\n\nevent plain API BACKGROUND_JOB\n\n')
    j.sendall(b'auth ClueCon\n\nevent json BACKGROUND_JOB\n\n')
    read_frames(p, 2)
    read_frames(j, 2)
    uid = b'11111111-2222-4333-8444-555555555555'
    p.sendall(b'bgapi version\nJob-UUID: ' + uid + b'\n\nbgapi echo hi there\n\n')
    f, _ = read_frames(p, 6)
    check('bgapi: reply carries the given Job-UUID',
          f and f[0] == b'Content-Type: command/reply\nReply-Text: +OK Job-UUID: ' + uid + b'\nJob-UUID: ' + uid + b'\n\n',
          f[:1])
    evs = [frame_head_body(x)[1] for x in f if x.startswith(b'Content-Length')]
    check('bgapi: API + BACKGROUND_JOB events, twice', len(evs) == 4, len(evs))
    if len(evs) == 4:
        api1, job1, api2, job2 = [plain_headers(e) for e in evs]
        check('API event: capture header set (no argument)', [k for k, _ in api1] == cap[('API', False)], api1)
        check('API event: capture header set (argument)', [k for k, _ in api2] == cap[('API', True)]
              and dict(api2)['API-Command-Argument'] == 'hi%20there', api2)
        want = [k for k in cap[('BACKGROUND_JOB', True)] if k != 'Job-Command-Arg']
        check('BACKGROUND_JOB: capture header set', [k for k, _ in job1] == want, job1)
        body = b'FreeSWITCH Version 1.11.2-release~64bit ( 64bit)\n'
        check('BACKGROUND_JOB: inner Content-Length and body, as FreeSWITCH frames it',
              evs[1].endswith(b'\nContent-Length: %d\n\n' % len(body) + body)
              and dict(job1)['Job-UUID'] == uid.decode(), evs[1][-120:])
        check('BACKGROUND_JOB: argument header', dict(job2).get('Job-Command-Arg') == 'hi%20there'
              and evs[3].endswith(b'\n\nhi there'), evs[3][-80:])
    f, _ = read_frames(j, 2)
    objs = [json.loads(frame_head_body(x)[1], object_pairs_hook=lambda q: q) for x in f]
    check('BACKGROUND_JOB json: Content-Length and _body last',
          len(objs) == 2 and objs[1][-2:] == [('Content-Length', '8'), ('_body', 'hi there')], objs[-1:])
    p.close()
    j.close()
    sim.stop()


# ---------------------------------------------------------------- 3. replay

def test_replay():
    for capname, fmt in (('fs-plain-all.raw', b'plain'), ('fs-json-all.raw', b'json')):
        cap = capture_event_frames(capname)
        check('replay %s: capture has 1785 event frames' % fmt.decode(), len(cap) == 1785, len(cap))
        sim = Sim('--replay', os.path.join(FIX, capname), '--heartbeat', 0)
        s = sim.connect()
        read_frames(s, 1)
        s.sendall(b'auth ClueCon\n\nevent ' + fmt + b' ALL\n\n')
        expect = reply(b'+OK accepted') + reply(b'+OK event listener enabled ' + fmt) + b''.join(cap)
        got = recv_exact(s, len(expect))
        check('replay %s ALL: 1785 frames byte-identical, in order' % fmt.decode(), got == expect,
              (len(got), len(expect)))
        # fssim keeps the connection open after the replay; exit proves nothing else was queued
        s.sendall(b'exit\n\n')
        tail = recv_until_eof(s)
        check('replay %s: nothing after the last frame' % fmt.decode(), tail == reply(b'+OK bye') + DISCONNECT,
              tail[:200])
        s.close()

        if fmt == b'plain':
            s = sim.connect()
            read_frames(s, 1)
            s.sendall(b'auth ClueCon\n\nevent plain CHANNEL_HANGUP_COMPLETE RECV_RTCP_MESSAGE\n\n')
            f, _ = read_frames(s, 2 + 301)
            extra, _ = recv_for(s, 0.3 * SLOW)
            evs = f[2:]
            hc = [x for x in evs if b'Event-Name: CHANNEL_HANGUP_COMPLETE\n' in x]
            rtcp = [x for x in evs if b'Event-Name: RECV_RTCP_MESSAGE\n' in x]
            check('replay filter: 52 HANGUP_COMPLETE + 249 RECV_RTCP_MESSAGE',
                  len(hc) == 52 and len(rtcp) == 249 and len(evs) == 301 and extra == b'',
                  (len(hc), len(rtcp), len(evs), len(extra)))
            want = [x for x in cap if b'Event-Name: CHANNEL_HANGUP_COMPLETE\n' in x
                    or b'Event-Name: RECV_RTCP_MESSAGE\n' in x]
            check('replay filter: the capture\'s frames, in order', evs == want)
            s.close()
            s = sim.connect()
            read_frames(s, 1)
            s.sendall(b'auth ClueCon\n\nevent json ALL\n\n')
            f, _ = read_frames(s, 2)
            extra, _ = recv_for(s, 0.5 * SLOW)
            check('replay format mismatch: nothing served', len(f) == 2 and extra == b'', extra[:100])
            s.close()
        sm = sim.stop()
        check('replay %s: stderr explains a mismatch' % fmt.decode(),
              fmt == b'json' or b'serving nothing' in sim.stderr, sim.stderr)
        inst = sm['instances'][0]
        total = sum(inst['events_sent'].values())
        check('replay %s: summary counts' % fmt.decode(),
              total == 1785 + (301 if fmt == b'plain' else 0) and inst['events_sent']['HEARTBEAT'] == 17,
              inst['events_sent'])


# ---------------------------------------------------------------- 4. synthetic calls

TIME_HDR = re.compile(r'(Date|Time|time|epoch|stamp|NTP|LSR|DLSR|duration|sec$|Uptime)')

CALL_ARGS = ['--calls', 5, '--call-duration', 2, '--rtcp-interval-ms', 500, '--total-calls', 5,
             '--fire-rtcp', '--heartbeat', 0, '--seed', 7, '--loss-pct', 5, '--jitter-ms', 2]
# Per leg: 1 STATE, 1 CREATE, 1 ANSWER, 1 CALLSTATE, 1 HANGUP, 1 HANGUP_COMPLETE, 1 DESTROY,
# floor(2000 ms / 500 ms) = 4 RECV and 4 SEND; one BRIDGE per call (A leg). 5 calls = 10 legs.
EXPECT = {'CHANNEL_STATE': 10, 'CHANNEL_CREATE': 10, 'CHANNEL_ANSWER': 10, 'CHANNEL_CALLSTATE': 10,
          'CHANNEL_BRIDGE': 5, 'RECV_RTCP_MESSAGE': 40, 'SEND_RTCP_MESSAGE': 40, 'CHANNEL_HANGUP': 10,
          'CHANNEL_HANGUP_COMPLETE': 10, 'CHANNEL_DESTROY': 10}


def run_calls(fmt):
    sim = Sim(*CALL_ARGS)
    s = sim.connect()
    read_frames(s, 1)
    s.sendall(b'auth ClueCon\n\nevent ' + fmt + b' ALL\n\n')
    n = 2 + sum(EXPECT.values())
    frames, rest = read_frames(s, n, timeout=15)
    extra, _ = recv_for(s, 0.3 * SLOW)
    s.close()
    sm = sim.stop()
    return frames[2:], rest + extra, sm


def capture_names(ev, uid=None, seq=None):
    for f in capture_event_frames('fs-plain-all.raw'):
        h = plain_headers(frame_head_body(f)[1])
        d = dict(h)
        if d['Event-Name'] == ev and (uid is None or d.get('Unique-ID', '').startswith(uid)) \
                and (seq is None or d['Event-Sequence'] == seq):
            return [k for k, _ in h]
    return None


def test_synthetic():
    frames, rest, sm = run_calls(b'plain')
    check('calls: no trailing bytes', rest == b'', rest[:100])
    events = []
    cl_ok = True
    for f in frames:
        head, body = frame_head_body(f)
        cl_ok &= head.get('Content-Type') == 'text/event-plain' and int(head['Content-Length']) == len(body) \
            and f.startswith(b'Content-Length: ') and body.endswith(b'\n\n')
        events.append(plain_headers(body))
    check('calls: every Content-Length equals the body bytes', cl_ok)
    kinds = collections.Counter(dict(e)['Event-Name'] for e in events)
    check('calls: event arithmetic (10 legs, 4 RTCP each way per leg)', dict(kinds) == EXPECT, kinds)
    inst = sm['instances'][0]
    check('calls: summary events_sent == received', inst['events_sent'] == dict(kinds), inst['events_sent'])
    check('calls: summary calls and drops', inst['calls_started'] == 5 and inst['calls_completed'] == 5
          and inst['events_dropped'] == 0 and inst['bytes_sent'] > sum(len(f) for f in frames), inst)
    seqs = [int(dict(e)['Event-Sequence']) for e in events]
    check('calls: Event-Sequence strictly increasing', all(a < b for a, b in zip(seqs, seqs[1:])), seqs[:10])

    # life cycle per leg, RTCP only for created legs
    created, seen_order, bad = set(), collections.defaultdict(list), []
    for e in events:
        d = dict(e)
        name, uid = d['Event-Name'], d['Unique-ID']
        if name == 'CHANNEL_CREATE':
            created.add(uid)
        elif name in ('RECV_RTCP_MESSAGE', 'SEND_RTCP_MESSAGE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP_COMPLETE') \
                and uid not in created:
            bad.append((name, uid))
        seen_order[uid].append(name)
    check('calls: every RTCP/ANSWER/HANGUP Unique-ID was CREATEd earlier', not bad, bad)
    check('calls: 10 distinct legs', len(created) == 10, len(created))
    order_ok = all(o[0] == 'CHANNEL_STATE' and o[1] == 'CHANNEL_CREATE' and o[-1] == 'CHANNEL_DESTROY'
                   and o.index('CHANNEL_ANSWER') < o.index('RECV_RTCP_MESSAGE')
                   < o.index('CHANNEL_HANGUP_COMPLETE') for o in seen_order.values())
    check('calls: per-leg order STATE, CREATE, ANSWER, RTCP..., HANGUP_COMPLETE, DESTROY', order_ok)

    # real header sets, in the capture's order
    A, B = 'e59b9ba8', '138dcd88'
    want = {('CHANNEL_CREATE', 'inbound'): capture_names('CHANNEL_CREATE', A),
            ('CHANNEL_CREATE', 'outbound'): capture_names('CHANNEL_CREATE', B),
            ('CHANNEL_ANSWER', 'inbound'): capture_names('CHANNEL_ANSWER', A),
            ('CHANNEL_BRIDGE', 'inbound'): capture_names('CHANNEL_BRIDGE', A),
            ('CHANNEL_HANGUP_COMPLETE', 'inbound'): capture_names('CHANNEL_HANGUP_COMPLETE', A),
            ('CHANNEL_HANGUP_COMPLETE', 'outbound'): capture_names('CHANNEL_HANGUP_COMPLETE', B),
            ('RECV_RTCP_MESSAGE', None): capture_names('RECV_RTCP_MESSAGE'),
            ('SEND_RTCP_MESSAGE', None): capture_names('SEND_RTCP_MESSAGE')}
    hs_ok = True
    for e in events:
        d = dict(e)
        key = (d['Event-Name'], d.get('Call-Direction'))
        if key not in want:
            continue
        names = [k for k, _ in e]
        exp = [n for n in want[key] if n in names or n not in ('variable_domain_name',)]
        if names != exp:
            hs_ok = False
            print('   header set differs for', key, set(names) ^ set(exp))
    check('calls: header names/order as in the capture', hs_ok)

    enc_ok = True
    for e in events:
        for k, v in e:
            if url_encode(urllib.parse.unquote_to_bytes(v)) != v.encode('latin-1'):
                enc_ok = False
                print('   encoding:', k, v[:80])
    check('calls: values URL-encoded exactly as FreeSWITCH does', enc_ok)

    hc = [dict(e) for e in events if dict(e)['Event-Name'] == 'CHANNEL_HANGUP_COMPLETE']
    sizes = [sum(len(k) + len(v) + 3 for k, v in e) for e in events if dict(e)['Event-Name'] == 'CHANNEL_HANGUP_COMPLETE']
    check('calls: HANGUP_COMPLETE is ~10-12 KB like the capture', all(9000 < x < 14000 for x in sizes), sizes)
    nodomain = [d for d in hc if 'variable_domain_name' not in d]
    check('calls: one call in ten (here 1 of 5, both legs) lacks variable_domain_name',
          len(nodomain) == 2 and all(d.get('variable_sip_from_host') for d in nodomain), len(nodomain))
    doms = sorted({d['variable_domain_name'] for d in hc if 'variable_domain_name' in d})
    check('calls: domains cycle', doms == ['carrier-a.net', 'example.com', 'tenant-b.org'], doms)
    stats_ok = True
    for d in hc:
        inp = int(d['variable_rtp_audio_in_packet_count'])
        skip = int(d['variable_rtp_audio_in_skip_packet_count'])
        # 2000 ms / 20 ms = 100 packets; 5% loss -> 5 skipped
        stats_ok &= inp + skip == 100 and skip == 5 and int(d['variable_rtp_audio_out_packet_count']) == 100
        stats_ok &= re.fullmatch(r'\d\.\d\d', d['variable_rtp_audio_in_mos']) is not None
        stats_ok &= d['Channel-Read-Codec-Name'] == d['variable_rtp_use_codec_name'] \
            and d['Channel-Read-Codec-Name'] in ('PCMU', 'PCMA', 'G722', 'opus')
        stats_ok &= d['Hangup-Cause'] == 'NORMAL_CLEARING'
    check('calls: hangup QoS consistent with 2 s, 5% loss', stats_ok)
    legs = {d['Unique-ID']: d for d in hc}
    a_legs = [d for d in hc if d['Call-Direction'] == 'inbound']
    link_ok = all(legs.get(d['Other-Leg-Unique-ID'], {}).get('Channel-Call-UUID') == d['Unique-ID']
                  and legs[d['Other-Leg-Unique-ID']]['Other-Leg-Unique-ID'] == d['Unique-ID'] for d in a_legs)
    check('calls: B legs link to their A leg (Channel-Call-UUID, Other-Leg-Unique-ID)', link_ok and len(a_legs) == 5)
    check('calls: B leg has its own sip_call_id',
          all(legs[d['Other-Leg-Unique-ID']]['variable_sip_call_id'] != d['variable_sip_call_id'] for d in a_legs))

    rtcp_ok = True
    last = {}
    for e in events:
        d = dict(e)
        if d['Event-Name'] != 'RECV_RTCP_MESSAGE':
            continue
        codec = legs[d['Unique-ID']]['Channel-Read-Codec-Name']
        rate = 48000 if codec == 'opus' else 8000
        rtcp_ok &= int(d['RTP-Rate']) == rate and int(d['Source0-Jitter']) == 2 * rate // 1000
        k = int(d['Sender-Packet-Count']) // 25  # 25 packets per 500 ms report
        rtcp_ok &= int(d['Source0-Lost']) == (k * 25 * 5) // 100
        rtcp_ok &= int(d['Source0-Lost']) >= last.get(d['Unique-ID'], 0)
        last[d['Unique-ID']] = int(d['Source0-Lost'])
        rtcp_ok &= re.fullmatch(r'[0-9a-f]{8}', d['SSRC']) is not None and re.fullmatch(r'\d+\.\d{6}', d['Rtt0-Avg']) is not None
    check('calls: RTCP Lost cumulative, Jitter = 2 ms in clock units, RTP-Rate per codec', rtcp_ok)

    # same seed, json: the same events (every non-time value), JSON framing
    jframes, jrest, jsm = run_calls(b'json')
    jev = []
    jcl_ok = True
    for f in jframes:
        head, body = frame_head_body(f)
        jcl_ok &= head.get('Content-Type') == 'text/event-json' and int(head['Content-Length']) == len(body)
        jev.append(json.loads(body, object_pairs_hook=lambda p: p))
    check('calls json: framing and counts', jcl_ok and jrest == b'' and len(jev) == len(events)
          and jsm['instances'][0]['events_sent'] == dict(kinds), jsm['instances'][0]['events_sent'])
    same = True
    for pe, je in zip(events, jev):
        pd = [(k, urllib.parse.unquote(v)) for k, v in pe if not TIME_HDR.search(k)]
        jd = [(k, v if isinstance(v, str) else 'ARRAY::' + '|:'.join(v)) for k, v in je if not TIME_HDR.search(k)]
        if pd != jd:
            same = False
            print('   plain/json differ:', [x for x in zip(pd, jd) if x[0] != x[1]][:2])
            break
    check('calls json: same seed -> same events as plain (time fields aside)', same)


# ---------------------------------------------------------------- 4b. quality simulations

QUALITY_ARGS = ['--calls', 20, '--call-duration', 2, '--rtcp-interval-ms', 1000, '--total-calls', 20,
                '--heartbeat', 0, '--seed', 3, '--fire-rtcp', '--drop-pct', 8, '--vad-pct', 4, '--hold-pct', 20,
                '--ip-from-pct', 25, '--hangup-causes', 'USER_BUSY:10,NO_ANSWER:10,MEDIA_TIMEOUT:10']
GATEWAYS = ['198.51.100.7', '198.51.100.7:5060', '[2001:db8::7]', '[2001:db8::7]:5080']


def quality_plan(ncalls=20):
    """docs/fssim.md's rule, restated: call i is one of P % when (37 i + salt) mod 100 < P; the causes take
    consecutive ranges of (37 i + 11) mod 100 in the order USER_BUSY, NO_ANSWER, MEDIA_TIMEOUT here."""
    plan = []
    for i in range(ncalls):
        u = (37 * i + 11) % 100
        cause = 'USER_BUSY' if u < 10 else 'NO_ANSWER' if u < 20 else 'MEDIA_TIMEOUT' if u < 30 else 'NORMAL_CLEARING'
        plan.append({'cause': cause, 'ip_from': (37 * i + 23) % 100 < 25, 'held': (37 * i + 61) % 100 < 20,
                     'gateway': GATEWAYS[i % 4]})
    return plan


def test_quality_options():
    plan = quality_plan()
    answered = [p for p in plan if p['cause'] in ('NORMAL_CLEARING', 'MEDIA_TIMEOUT')]
    # per answered call: A 8 channel events (STATE CREATE ANSWER CALLSTATE BRIDGE HANGUP HANGUP_COMPLETE
    # DESTROY) + 2 RECV + 2 SEND, B 7 + 2 + 2; per unanswered call 5 per leg (STATE CREATE HANGUP
    # HANGUP_COMPLETE DESTROY)
    n = len(answered) * (12 + 11) + (len(plan) - len(answered)) * 10
    sim = Sim(*QUALITY_ARGS)
    s = sim.connect()
    read_frames(s, 1)
    s.sendall(b'auth ClueCon\n\nevent plain ALL\n\n')
    frames, rest = read_frames(s, 2 + n, timeout=15)
    extra, _ = recv_for(s, 0.3 * SLOW)
    s.close()
    sm = sim.stop()['instances'][0]
    events = [[(k, urllib.parse.unquote(v)) for k, v in plain_headers(frame_head_body(f)[1])] for f in frames[2:]]
    check('quality: event count from the plan (%d calls answered of 20)' % len(answered),
          len(events) == n and rest + extra == b'' and sm['calls_completed'] == 20, (len(events), n, sm))
    # calls in creation order: the A leg's CHANNEL_CREATE starts each
    order, legs = [], {}
    for e in events:
        d = dict(e)
        if d['Event-Name'] == 'CHANNEL_CREATE' and d['Call-Direction'] == 'inbound':
            order.append(d['Unique-ID'])
        legs.setdefault(d['Unique-ID'], []).append(d)
    check('quality: 20 calls, 40 legs', len(order) == 20 and len(legs) == 40, (len(order), len(legs)))
    hc = {u: next(d for d in evs if d['Event-Name'] == 'CHANNEL_HANGUP_COMPLETE') for u, evs in legs.items()}
    b_of = {d['Other-Leg-Unique-ID']: u for u, d in hc.items() if d['Call-Direction'] == 'outbound'}
    bad = []
    for i, a in enumerate(order):
        p, ha, hb = plan[i], hc[a], hc.get(b_of.get(a))
        if hb is None:
            bad.append((i, 'no B leg'))
            continue
        names_a = [d['Event-Name'] for d in legs[a]]
        for h in (ha, hb):
            if h['Hangup-Cause'] != p['cause'] or h['variable_hangup_cause'] != p['cause']:
                bad.append((i, 'cause', h['Hangup-Cause'], p['cause']))
            q850 = {'NORMAL_CLEARING': '16', 'USER_BUSY': '17', 'NO_ANSWER': '19', 'MEDIA_TIMEOUT': '604'}[p['cause']]
            if h['variable_hangup_cause_q850'] != q850:
                bad.append((i, 'q850', h['variable_hangup_cause_q850']))
            # the gateway's literal in the From host, the tenant only in the To host; else the capture's shape
            if p['ip_from']:
                if h['variable_sip_from_host'] != p['gateway'] or 'variable_domain_name' in h \
                        or h['variable_sip_to_host'] not in ('example.com', 'carrier-a.net', 'tenant-b.org'):
                    bad.append((i, 'ip-from', h['variable_sip_from_host'], h['variable_sip_to_host']))
            elif h['variable_sip_from_host'] not in ('example.com', 'carrier-a.net', 'tenant-b.org') \
                    or not h['variable_sip_to_host'].startswith('127.0.0.1'):
                bad.append((i, 'hosts', h['variable_sip_from_host'], h['variable_sip_to_host']))
        if p['cause'] in ('USER_BUSY', 'NO_ANSWER'):
            # rings and fails: no answer, no bridge, no RTCP, no media statistics (like the capture's NO_ROUTE legs)
            if names_a != ['CHANNEL_STATE', 'CHANNEL_CREATE', 'CHANNEL_HANGUP', 'CHANNEL_HANGUP_COMPLETE',
                           'CHANNEL_DESTROY'] or any(k.startswith('variable_rtp_audio_') for k in ha) \
                    or ha['variable_billsec'] != '0' or 'variable_answer_stamp' in ha:
                bad.append((i, 'unanswered shape', names_a))
            continue
        # answered: n = 2000 / 20 = 100 ticks; A leg: dropped floor(8) + silent floor(4) + held 50 or dead 50
        n_ticks = 100
        gap_a = 8 + 4 + (50 if p['held'] or p['cause'] == 'MEDIA_TIMEOUT' else 0)
        if p['held'] and p['cause'] == 'MEDIA_TIMEOUT':
            gap_a = 8 + 4 + 50 + 50
        for h, gap in ((ha, gap_a), (hb, 12)):
            skip = int(h['variable_rtp_audio_in_skip_packet_count'])
            inp = int(h['variable_rtp_audio_in_packet_count'])
            if (skip, inp) != (gap, n_ticks - gap) or h['variable_rtp_audio_in_mos'] != '4.50' \
                    or h['variable_rtp_audio_in_flaw_total'] != '0' \
                    or h['variable_rtp_audio_in_cng_packet_count'] != '1':  # ceil(4 silent ticks / 50)
                bad.append((i, 'stats', skip, inp, gap, h['variable_rtp_audio_in_mos']))
        hold = ('1', '1000', '1000000') if p['held'] else ('0', '0', '0')  # floor(2000 ms / 2) on the A leg
        if (ha['variable_hold_accum_seconds'], ha['variable_hold_accum_ms'], ha['variable_hold_accum_usec']) != hold \
                or hb['variable_hold_accum_seconds'] != '0':
            bad.append((i, 'hold', ha['variable_hold_accum_seconds'], hold))
    check('quality: causes, hosts, media statistics and hold per call as planned', not bad, bad[:4])
    # drops and VAD leave RTCP's loss alone (the far side's sequence rewinds; silence is no loss)
    lost = [int(dict(e)['Source0-Lost']) for e in events if dict(e)['Event-Name'] == 'RECV_RTCP_MESSAGE']
    frac = [int(dict(e)['Source0-Fraction']) for e in events if dict(e)['Event-Name'] == 'RECV_RTCP_MESSAGE']
    check('quality: RTCP Lost and Fraction stay 0 under drops and VAD', lost and set(lost) == {0} and set(frac) == {0},
          (set(lost), set(frac)))
    causes = collections.Counter(p['cause'] for p in plan)
    check('quality: the plan itself has every cause, IP-literal From hosts and held calls',
          len(causes) == 4 and any(p['ip_from'] for p in plan) and any(p['held'] and p['cause'] == 'NORMAL_CLEARING'
                                                                         for p in plan), causes)
    for bad_arg in (['--hangup-causes', 'USER_BUSY:60,NO_ANSWER:50'], ['--hangup-causes', 'BOGUS:10'],
                    ['--hangup-causes', 'USER_BUSY:1.5'], ['--hold-pct', '101'], ['--drop-pct', '-1']):
        r = subprocess.run([FSSIM] + bad_arg, capture_output=True, timeout=10)
        check('quality: %s refused' % ' '.join(bad_arg), r.returncode != 0 and b'bad value' in r.stderr,
              (r.returncode, r.stderr[-200:]))


# ---------------------------------------------------------------- 5. faults, slow consumers

def fault_sim(mode, *extra):
    return Sim('--replay', os.path.join(FIX, 'fs-plain-all.raw'), '--heartbeat', 0, '--fault', mode,
               '--fault-after', 10, '--fault-instances', 1, *extra, instances=2)


def subscribe(s):
    head = recv_exact(s, len(AUTH_REQUEST))
    s.sendall(b'auth ClueCon\n\nevent plain ALL\n\n')
    want = reply(b'+OK accepted') + reply(b'+OK event listener enabled plain')
    return head + recv_exact(s, len(want)) == AUTH_REQUEST + want


def test_faults():
    cap = capture_event_frames('fs-plain-all.raw')
    first10 = b''.join(cap[:10])

    sim = fault_sim('wrong-password')
    s = sim.connect(1)
    got = recv_exact(s, len(AUTH_REQUEST))
    s.sendall(b'auth ClueCon\n\n')
    got += recv_until_eof(s)
    check('fault wrong-password: -ERR invalid + notice + EOF for the right password',
          got == AUTH_REQUEST + reply(b'-ERR invalid') + DISCONNECT, got)
    s = sim.connect(0)
    check('fault wrong-password: other instances unaffected', subscribe(s))
    s.close()
    sm = sim.stop()
    check('fault wrong-password: counted', sm['instances'][1]['auth_failed'] == 1
          and sm['instances'][0]['auth_ok'] == 1, sm)

    sim = fault_sim('reject')
    s = sim.connect(1)
    got = recv_until_eof(s)
    check('fault reject: text/rude-rejection (no auth/request), notice, EOF',
          got == b'Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n' + DISCONNECT,
          got)
    sim.stop()

    sim = fault_sim('disconnect-mid-frame')
    s = sim.connect(1)
    ok = subscribe(s)
    got = recv_until_eof(s)
    check('fault disconnect-mid-frame: 10 frames, half of the 11th, EOF',
          ok and got == first10 + cap[10][:len(cap[10]) // 2], (len(got), len(first10)))
    sm = sim.stop()
    check('fault disconnect-mid-frame: summary counts 10 complete frames',
          sum(sm['instances'][1]['events_sent'].values()) == 10, sm['instances'][1]['events_sent'])

    sim = fault_sim('garbage')
    s = sim.connect(1)
    ok = subscribe(s)
    got = recv_exact(s, len(first10) + 4096)
    more, eof = recv_for(s, 1.0 * SLOW)
    check('fault garbage: 10 frames then 4096 binary bytes with NULs',
          ok and got[:len(first10)] == first10 and b'\0' in got[len(first10):]
          and len(got) == len(first10) + 4096, len(got))
    check('fault garbage: connection kept open, nothing more', not eof and more == b'', (eof, more[:50]))
    s.close()
    sim.stop()

    sim = fault_sim('oversized')
    s = sim.connect(1)
    ok = subscribe(s)
    got = recv_exact(s, len(first10))
    frames, rest = read_frames(s, 2, timeout=20)
    big = frames[0] if frames else b''
    head, body = frame_head_body(big) if big else ({}, b'')
    check('fault oversized: 10 frames, then a frame with Content-Length 2097152, all bytes sent',
          ok and got == first10 and head.get('Content-Length') == '2097152' and len(body) == 2097152
          and head.get('Content-Type') == 'text/event-plain', (head, len(body)))
    check('fault oversized: a real-looking BACKGROUND_JOB with its own body',
          body.startswith(b'Event-Name: BACKGROUND_JOB\n') and b'\nContent-Length: ' in body)
    check('fault oversized: the stream goes on after it', len(frames) > 1 and frames[1] == cap[10])
    s.close()
    sim.stop()

    sim = fault_sim('stall')
    s = sim.connect(1)
    ok = subscribe(s)
    got = recv_exact(s, len(first10))
    s.sendall(b'api version\n\n')
    more, eof = recv_for(s, 1.5 * SLOW)
    check('fault stall: 10 frames, then silence (no reply either), socket open',
          ok and got == first10 and more == b'' and not eof, (len(got), more[:80], eof))
    s.close()
    sim.stop()

    # slow consumers: a client that does not read loses events (counted), a reading one loses none.
    # 200 calls x 2 legs x 50 reports of ~1 KB = ~20 MB: far more than the kernel buffers hold.
    # Spread over 5 s (4000 events/s) so that a Python reader keeps up even under sanitizers:
    # only the client that stops reading may lose anything.
    sim = Sim('--calls', 200, '--call-duration', 5, '--rtcp-interval-ms', 100, '--heartbeat', 0,
              '--queue-events', 2000, '--max-missed', 0, '--total-calls', 200)
    slow = sim.connect()
    fast = sim.connect()
    for s in (slow, fast):
        read_frames(s, 1)
        s.sendall(b'auth ClueCon\n\nevent plain RECV_RTCP_MESSAGE\n\n')
    read_frames(fast, 2)
    expected = 400 * (5000 // 100)   # 400 legs x 50 reports
    marker = b'\nEvent-Name: RECV_RTCP_MESSAGE\n'
    buf = b''
    deadline = time.time() + 20 * SLOW
    fast.settimeout(1)
    nfast = 0
    while nfast < expected and time.time() < deadline:
        try:
            d = fast.recv(1 << 20)
        except socket.timeout:
            continue
        if not d:
            break
        buf += d
        frames, buf = split_frames(buf)
        nfast += sum(1 for f in frames if marker in f)
    # now drain the slow one until fssim has nothing left for it
    slow_buf = b''
    nslow = 0
    while True:
        d, _ = recv_for(slow, 0.5 * SLOW)
        if not d:
            break
        slow_buf += d
        frames, slow_buf = split_frames(slow_buf)
        nslow += sum(1 for f in frames if marker in f)
    sm = sim.stop()['instances'][0]
    check('slow consumer: the reading client gets every event', nfast == expected, (nfast, expected))
    check('slow consumer: the stalled client lost events, counted',
          sm['events_dropped'] > 0 and nslow + sm['events_dropped'] == expected
          and sm['events_sent'].get('RECV_RTCP_MESSAGE') == nfast + nslow, (nslow, sm))

    sim = Sim('--calls', 50, '--call-duration', 1, '--rtcp-interval-ms', 20, '--heartbeat', 0,
              '--queue-events', 100, '--max-missed', 50, '--total-calls', 50)
    slow = sim.connect()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    read_frames(slow, 1)
    slow.sendall(b'auth ClueCon\n\nevent plain ALL\n\n')
    time.sleep(1.5 * SLOW)
    data = b''
    eof = False
    slow.settimeout(5)
    try:
        while True:
            d = slow.recv(1 << 20)
            if not d:
                eof = True
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        eof = True
    sm = sim.stop()['instances'][0]
    check('slow consumer: killed after --max-missed consecutive drops', eof and sm['connections_killed'] == 1, sm)

    # a client vanishing mid-stream does not hurt the server
    sim = Sim('--replay', os.path.join(FIX, 'fs-plain-all.raw'), '--heartbeat', 0)
    for _ in range(3):
        s = sim.connect()
        read_frames(s, 1)
        s.sendall(b'auth ClueCon\n\nevent plain ALL\n\n')
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
        s.close()  # RST
    s = sim.connect()
    check('robustness: serves again after clients vanished mid-stream', subscribe(s))
    s.close()
    sim.stop()
    check('robustness: clean exit', sim.rc == 0, sim.stderr[-300:])


# ---------------------------------------------------------------- 6. flood

def test_flood():
    sim = Sim('--flood', 20000, '--heartbeat', 0, '--max-conns', 4)
    s = sim.connect()
    ok = subscribe_rtcp(s)
    data = recv_until_eof(s, 30)
    frames, rest = split_frames(data)
    check('flood: ends with the disconnect notice, no partial frame', ok and rest == b''
          and frames and frames[-1] == DISCONNECT, rest[:100])
    ev = frames[:-1]
    n = sum(1 for f in ev if b'\n\nEvent-Name: RECV_RTCP_MESSAGE\n' in f)
    check('flood: exactly 20000 RECV_RTCP_MESSAGE frames', n == 20000 and len(ev) == 20000, (n, len(ev)))
    avg = sum(len(f) for f in ev) / max(1, len(ev))
    check('flood: average frame 900..1300 bytes', 900 <= avg <= 1300, avg)
    cl_ok = all(int(frame_head_body(f)[0]['Content-Length']) == len(frame_head_body(f)[1]) for f in ev[:2000])
    check('flood: Content-Length right', cl_ok)
    uids = {re.search(rb'\nUnique-ID: ([0-9a-f-]{36})\n', f).group(1) for f in ev}
    check('flood: Unique-IDs cycle over 10000 legs', len(uids) == 10000, len(uids))
    names = [k for k, _ in plain_headers(frame_head_body(ev[0])[1])]
    check('flood: real RECV_RTCP_MESSAGE header set', names == capture_names('RECV_RTCP_MESSAGE'), names)
    sim.stop()
    # exit in the middle of a long flood: the current frame is finished, then +OK bye and the notice.
    # A flood far longer than what is read first, so a slow (sanitized) fssim cannot finish it
    # before the exit arrives (it then closes with the notice alone, as it should).
    sim = Sim('--flood', 1000000, '--heartbeat', 0, '--max-conns', 4)
    s = sim.connect()
    subscribe_rtcp(s)
    recv_exact(s, 3000000)
    s.sendall(b'exit\n\n')
    data = recv_until_eof(s, 30)
    frames, rest = split_frames(data[data.find(b'Content-Length: '):])
    check('flood: exit mid-stream ends on a frame boundary with +OK bye + notice',
          rest == b'' and frames[-2:] == [reply(b'+OK bye'), DISCONNECT]
          and all(b'\n\nEvent-Name: RECV_RTCP_MESSAGE\n' in f for f in frames[:-2]), (rest[:80], frames[-2:]))
    s.close()
    sm = sim.stop()['instances'][0]
    check('flood: summary counts every complete frame', sm['events_sent']['RECV_RTCP_MESSAGE'] >= 3000)


def subscribe_rtcp(s):
    head = recv_exact(s, len(AUTH_REQUEST))
    s.sendall(b'auth ClueCon\n\nevent plain RECV_RTCP_MESSAGE\n\n')
    want = reply(b'+OK accepted') + reply(b'+OK event listener enabled plain')
    return head + recv_exact(s, len(want)) == AUTH_REQUEST + want


def main():
    if not os.access(FSSIM, os.X_OK):
        print('fssim binary not found at %s' % FSSIM)
        print('0 passed, 1 failed')
        return 1
    t0 = time.time()
    for t in (test_handshake, test_wrong_password, test_heartbeat_instances, test_api_events, test_replay, test_synthetic,
              test_quality_options, test_faults, test_flood):
        t1 = time.time()
        try:
            t()
            print('   (%s: %.1f s)' % (t.__name__, time.time() - t1))
        except Exception as e:  # one broken section must not hide the others
            import traceback
            traceback.print_exc()
            check('%s raised' % t.__name__, False, repr(e))
    for sim in ALL_SIMS:  # a section that raised may have left its fssim running
        if sim.p.poll() is None:
            sim.p.kill()
            sim.p.wait()
    print('(%.1f s)' % (time.time() - t0))
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
