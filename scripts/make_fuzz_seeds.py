#!/usr/bin/env python3
"""Cut the ESL fuzz seed corpora from the real FreeSWITCH captures.

    scripts/make_fuzz_seeds.py [--fixtures DIR] [--out fuzz/corpus] [--only esl_frame,esl_event,resync]

Writes fuzz/corpus/esl_frame/, fuzz/corpus/esl_event/ and fuzz/corpus/resync/
(old seeds there are removed first: --only keeps the others, and what long
runs merged into them). Deterministic: the same captures give the same files.

resync seeds are the bodies of the FreeSWITCH 1.11.1 `api`/`bgapi` replies
(freeswitch-1.11.1-api beside the captures): BACKGROUND_JOB events with a
channel list or a uuid_dump, the lists and dumps themselves, the errors.

esl_frame seeds are the input layout of fuzz/fuzz_esl_frame.c: 2 bytes of
max_frame - 16 (little-endian), 8 read sizes, then server bytes. Most are
real frames or short real sequences cut from fs-plain-all.raw,
fs-json-all.raw and esl-handshake-server-bytes.raw; the three content types
the captures lack (text/event-xml, log/data, text/rude-rejection) are built
in FreeSWITCH's framing, and a few are damaged on purpose (cut, NUL, bad or
oversized Content-Length, CRLF, garbage).

esl_event seeds are text/event-plain bodies: one real event of every kind
the decoder uses plus others it must skip, and edited copies of real ones
(escapes, Lost 4294967295, SSRC 0 blocks, extra blocks, missing fields,
truncation).
"""
import argparse
import os
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_FIXTURES = HERE.parent / "tests" / "fixtures" / "freeswitch-1.11.2"
DEFAULT_OUT = HERE.parent / "fuzz" / "corpus"
DEFAULT_API = HERE.parent / "tests" / "fixtures" / "freeswitch-1.11.1-api"


def frames(data):
    """(header_block, body, raw_frame) for each frame, split by Content-Length bytes."""
    out, pos = [], 0
    while pos < len(data):
        end = data.index(b"\n\n", pos)
        head = data[pos:end]
        clen = 0
        for line in head.split(b"\n"):
            if line.startswith(b"Content-Length: "):
                clen = int(line[16:])
        body = data[end + 2:end + 2 + clen]
        out.append((head, body, data[pos:end + 2 + clen]))
        pos = end + 2 + clen
    return out


def header(block, name):
    for line in block.split(b"\n"):
        if line.startswith(name + b": "):
            return line[len(name) + 2:]
    return None


def frame_seed(stream, max_frame=0xFFFF, reads=(255, 255, 255, 255, 255, 255, 255, 255)):
    """fuzz_esl_frame input: max_frame = 16 + u16, eight read sizes, then the bytes."""
    return struct.pack("<H", max_frame) + bytes(reads) + stream


def pick_event(events, name, pred=lambda body: True):
    for body in events:
        if header(body, b"Event-Name") == name and pred(body):
            return body
    raise SystemExit("no %s event matching in the capture" % name.decode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=str(DEFAULT_FIXTURES))
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--api", default=str(DEFAULT_API))
    ap.add_argument("--only", default="esl_frame,esl_event,resync")
    args = ap.parse_args()
    only = set(args.only.split(","))
    fx = pathlib.Path(args.fixtures)
    plain = frames((fx / "fs-plain-all.raw").read_bytes())
    jsn = frames((fx / "fs-json-all.raw").read_bytes())
    hs_raw = (fx / "esl-handshake-server-bytes.raw").read_bytes()
    # the handshake file marks sessions with "\n#### SESSION ... ####\n" lines added by the capture script
    sessions = [s.split(b"\n", 1)[1] for s in hs_raw.split(b"\n#### SESSION ")[1:]]

    events = [body for head, body, raw in plain if header(head, b"Content-Type") == b"text/event-plain"]
    raw_of = {body: raw for head, body, raw in plain}

    ev = {}
    ev["recv_rtcp_rtt.txt"] = pick_event(events, b"RECV_RTCP_MESSAGE", lambda b: header(b, b"Rtt0-Avg") != b"0.000000")
    ev["recv_rtcp_first.txt"] = pick_event(events, b"RECV_RTCP_MESSAGE")
    ev["send_rtcp.txt"] = pick_event(events, b"SEND_RTCP_MESSAGE", lambda b: header(b, b"Source-SSRC") != b"00000000")
    ev["send_rtcp_ssrc0.txt"] = pick_event(events, b"SEND_RTCP_MESSAGE",
                                           lambda b: header(b, b"Source-SSRC") == b"00000000")
    ev["hangup_complete_mos441.txt"] = pick_event(events, b"CHANNEL_HANGUP_COMPLETE",
                                                  lambda b: header(b, b"Unique-ID").startswith(b"77408067"))
    ev["hangup_complete_no_route.txt"] = pick_event(events, b"CHANNEL_HANGUP_COMPLETE",
                                                    lambda b: header(b, b"Hangup-Cause") == b"NO_ROUTE_DESTINATION")
    ev["channel_create.txt"] = pick_event(events, b"CHANNEL_CREATE")
    ev["channel_answer.txt"] = pick_event(events, b"CHANNEL_ANSWER")
    ev["channel_bridge.txt"] = pick_event(events, b"CHANNEL_BRIDGE")
    ev["heartbeat.txt"] = pick_event(events, b"HEARTBEAT")
    ev["background_job_inner_body.txt"] = pick_event(events, b"BACKGROUND_JOB")
    ev["channel_state_other.txt"] = pick_event(events, b"CHANNEL_STATE")
    ev["recv_info_other.txt"] = pick_event(events, b"RECV_INFO")

    recv = ev["recv_rtcp_rtt.txt"]
    send = ev["send_rtcp.txt"]
    hc = ev["hangup_complete_mos441.txt"]
    create = ev["channel_create.txt"]
    more_blocks = b"".join(
        b"Source%d-SSRC: %s\nSource%d-Lost: %s\nSource%d-Jitter: 3\nRtt%d-Avg: 0.5\n" % (n, ssrc, n, lost, n, n)
        for n, ssrc, lost in ((1, b"00000000", b"7"), (2, b"0000beef", b"4294967295"), (3, b"1", b"-1"),
                              (4, b"00000004", b"1"), (9, b"00000009", b"1")))
    ev["edit_recv_blocks.txt"] = recv.rstrip(b"\n") + b"\n" + more_blocks + b"\n"
    ev["edit_recv_lost_max.txt"] = recv.replace(b"Source0-Lost: 1\n", b"Source0-Lost: 4294967295\n")
    ev["edit_recv_bad_numbers.txt"] = (recv.replace(b"Source0-Lost: 1\n", b"Source0-Lost: 4294967296\n")
                                       .replace(b"RTP-Rate: 8000", b"RTP-Rate: 99999999999999999999")
                                       .replace(b"Rtt0-Avg: 0.020004", b"Rtt0-Avg: nan"))
    ev["edit_recv_event_name_last.txt"] = recv.replace(b"Event-Name: RECV_RTCP_MESSAGE\n", b"").rstrip(b"\n") + \
        b"\nEvent-Name: RECV_RTCP_MESSAGE\n\n"
    ev["edit_recv_crlf.txt"] = recv.replace(b"\n", b"\r\n")
    ev["edit_send_no_unique_id.txt"] = b"\n".join(l for l in send.split(b"\n") if not l.startswith(b"Unique-ID: "))
    ev["edit_no_event_name.txt"] = b"\n".join(l for l in create.split(b"\n") if not l.startswith(b"Event-Name: "))
    ev["edit_hangup_escapes.txt"] = (hc.replace(b"\nUnique-ID: 77408067", b"\nUnique-ID: 77%34%308067%ZZ%4")
                                     .replace(b"variable_rtp_audio_in_mos: 4.41", b"variable_rtp_audio_in_mos: 4%2E41")
                                     .replace(b"variable_domain_name: example.com",
                                              b"variable_domain_name: _undef_"))
    ev["edit_hangup_truncated.txt"] = hc[: len(hc) * 2 // 3]
    ev["edit_recv_truncated_mid_line.txt"] = recv[: recv.index(b"Source0-Jitter") + 9]
    ev["edit_bad_line.txt"] = recv.replace(b"\nSSRC: ", b"\nSSRC ", 1)
    ev["edit_nul_bytes.txt"] = recv.replace(b"\nUnique-ID: ", b"\nUnique-ID: \x00", 1)
    ev["edit_long_values.txt"] = (create.replace(b"\nUnique-ID: ", b"\nUnique-ID: " + b"u" * 80, 1)
                                  .replace(b"\nCall-Direction: ", b"\nCall-Direction: " + b"%41" * 60, 1)
                                  .replace(b"\nvariable_sip_from_host: ", b"\nvariable_sip_from_host: " + b"h" * 120, 1))
    ev["empty.txt"] = b""

    fr = {}
    fr["auth_request.bin"] = frame_seed(plain[0][2])
    fr["handshake_sequence.bin"] = frame_seed(b"".join(raw for _, _, raw in plain[:4]), reads=(0, 3, 16, 64, 1, 7, 200, 30))
    fr["api_response_status.bin"] = frame_seed(plain[3][2])
    fr["disconnect_notice_tail.bin"] = frame_seed(b"".join(raw for _, _, raw in plain[-2:]))
    for i, s in enumerate(sessions):
        fr["handshake_session%d.bin" % (i + 1)] = frame_seed(s, reads=(5, 0, 27, 99, 2, 1, 1, 250))
    for name, body in (("recv_rtcp", recv), ("send_rtcp", send), ("send_rtcp_ssrc0", ev["send_rtcp_ssrc0.txt"]),
                       ("heartbeat", ev["heartbeat.txt"]), ("channel_create", create),
                       ("background_job", ev["background_job_inner_body.txt"])):
        fr["event_plain_%s.bin" % name] = frame_seed(raw_of[body], reads=(7, 0, 255, 31, 1, 2, 3, 4))
    fr["event_plain_hangup_complete.bin"] = frame_seed(raw_of[hc], reads=(210, 199, 0, 5, 201, 100, 1, 255))
    # a few events back to back, cut into odd reads
    i = next(k for k, (_, body, _) in enumerate(plain) if body == recv)
    fr["event_plain_sequence.bin"] = frame_seed(b"".join(raw for _, _, raw in plain[i - 3:i + 3]),
                                                reads=(0, 0, 1, 63, 127, 199, 11, 13))
    json_events = [raw for head, body, raw in jsn if header(head, b"Content-Type") == b"text/event-json"]
    fr["event_json_first.bin"] = frame_seed(json_events[0])
    fr["event_json_rtcp.bin"] = frame_seed(next(r for r in json_events if b'"RECV_RTCP_MESSAGE"' in r))
    fr["json_subscribe_reply.bin"] = frame_seed(jsn[2][2])
    # content types the captures lack, in FreeSWITCH's framing
    xml = b"<event>\n  <headers>\n    <Event-Name>HEARTBEAT</Event-Name>\n  </headers>\n</event>"
    fr["synthetic_event_xml.bin"] = frame_seed(b"Content-Length: %d\nContent-Type: text/event-xml\n\n%s" % (len(xml), xml))
    log = b"2026-11-24 00:53:31.086368 [NOTICE] switch_core.c:95 test\n"
    fr["synthetic_log_data.bin"] = frame_seed(
        b"Content-Type: log/data\nContent-Length: %d\nLog-Level: 5\nText-Channel: 3\nLog-File: switch_core.c\n"
        b"Log-Func: send_heartbeat\nLog-Line: 95\nUser-Data: \n\n%s" % (len(log), log))
    rude = b"Access Denied, go away.\n"
    fr["synthetic_rude_rejection.bin"] = frame_seed(
        b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n%s" % (len(rude), rude))
    # damaged on purpose
    auth = plain[0][2]
    reply = plain[1][2]
    ev_raw = raw_of[recv]
    fr["cut_mid_body.bin"] = frame_seed(ev_raw[: len(ev_raw) - 100])
    fr["cut_mid_header.bin"] = frame_seed(reply[:30])
    fr["nul_in_header.bin"] = frame_seed(reply.replace(b"+OK", b"+\x00K"))
    fr["bad_content_length.bin"] = frame_seed(ev_raw.replace(b"Content-Length: ", b"Content-Length: +", 1))
    fr["double_content_length.bin"] = frame_seed(b"Content-Length: 5\n" + ev_raw)
    fr["oversize_content_length.bin"] = frame_seed(ev_raw, max_frame=200)
    fr["oversize_header_block.bin"] = frame_seed(b"X-Pad: " + b"y" * 300 + b"\n\n", max_frame=100)
    fr["exact_max_frame.bin"] = frame_seed(auth, max_frame=len(auth) - 16)
    fr["crlf_frames.bin"] = frame_seed((auth + reply).replace(b"\n", b"\r\n"), reads=(0,) * 8)
    fr["stray_blank_lines.bin"] = frame_seed(b"\n\r\n\n" + auth + b"\n" + reply)
    fr["bad_header_line.bin"] = frame_seed(b"Content-Type command/reply\n\n")
    fr["garbage.bin"] = frame_seed(bytes((i * 37 + 11) % 256 for i in range(300)), max_frame=64,
                                   reads=(1, 2, 3, 4, 5, 6, 7, 8))

    rs = {}
    for f in sorted(pathlib.Path(args.api).glob("*.raw")):
        head, _, body = f.read_bytes().partition(b"\n\n")
        rs[f.stem + ".txt"] = body
    out = pathlib.Path(args.out)
    for sub, files in (("esl_event", ev), ("esl_frame", fr), ("resync", rs)):
        if sub not in only:
            continue
        d = out / sub
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for name, content in sorted(files.items()):
            (d / name).write_bytes(content)
        print("%s: %d seeds, %d bytes" % (d, len(files), sum(len(c) for c in files.values())))


if __name__ == "__main__":
    main()
