#!/usr/bin/env python3
"""A fresh clone tests itself: no tracked file refers to a folder beside the
repository (the workspace's shared folder that once held the captures), and
the captures the tests read are tracked here, whole.

  1. every tracked file (git ls-files; a plain walk without git) is free of
     the parent's shared folder, written as a path or as os.path.join pieces;
  2. tests/fixtures/ holds the two capture sets with their READMEs, and the
     sizes and frame counts their READMEs give.
Prints "N passed, N failed".
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsatest import API_FIXTURES, FIXTURES_ROOT, SRC, Checks  # noqa: E402

c = Checks()

# Built from pieces, so this file does not match itself.
SH = "sha" + "red"
PARENT_SHARED = re.compile(r"\.\./" + SH + r"\b|['\"]\.\.['\"]\s*,\s*['\"]\.\.['\"]\s*,\s*['\"]" + SH)
JOINED_SHARED = re.compile(r"['\"]" + SH + r"['\"]\s*,\s*['\"]fixtures['\"]|(^|[\s(`'\"])" + SH + "/fixtures")


def tracked_files():
    r = subprocess.run(["git", "-C", SRC, "ls-files", "-z"], capture_output=True)
    if r.returncode == 0 and r.stdout:
        return [p for p in r.stdout.decode().split("\0") if p]
    out = []  # a source tarball: walk it, leaving out build folders
    for root, dirs, files in os.walk(SRC):
        dirs[:] = [d for d in dirs if not d.startswith(("build", ".git", "node_modules"))]
        out += [os.path.relpath(os.path.join(root, f), SRC) for f in files]
    return out


files = tracked_files()
c.check(len(files) > 100, "the repository's files are listed (%d)" % len(files))
offenders = []
for rel in files:
    path = os.path.join(SRC, rel)
    if not os.path.isfile(path) or rel.endswith(".raw"):
        continue  # captured bytes are data, not references
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    for n, line in enumerate(text.splitlines(), 1):
        if PARENT_SHARED.search(line) or JOINED_SHARED.search(line):
            offenders.append("%s:%d: %s" % (rel, n, line.strip()[:120]))
c.eq(offenders, [], "tracked files that refer to the shared folder beside the repository")

# The patterns do catch what they are for (a guard that matches nothing guards nothing).
for sample in ["../%s/fixtures/x.raw" % SH, "os.path.join(SRC, '..', '%s', 'fixtures')" % SH,
               'HERE.parent.parent, "%s", "fixtures"' % SH]:
    c.check(PARENT_SHARED.search(sample) or JOINED_SHARED.search(sample), "the guard matches %r" % sample)

# ---- 2. the captures themselves ----
tracked = set(files)
cap = os.path.join(FIXTURES_ROOT, "freeswitch-1.11.2")
for name, size in [("fs-plain-all.raw", 7052536), ("fs-json-all.raw", 7278566),
                   ("esl-handshake-server-bytes.raw", 1636)]:
    path = os.path.join(cap, name)
    c.eq(os.path.getsize(path) if os.path.exists(path) else None, size, "size of freeswitch-1.11.2/" + name)
for d in ("freeswitch-1.11.2", "freeswitch-1.11.1-api"):
    c.check(os.path.exists(os.path.join(FIXTURES_ROOT, d, "README.txt")), d + "/README.txt is there")
api = sorted(f for f in os.listdir(API_FIXTURES) if f.endswith(".raw")) if os.path.isdir(API_FIXTURES) else []
c.eq(len(api), 16, "api reply files in freeswitch-1.11.1-api")
if any(f.startswith("tests/fixtures/") for f in tracked):  # a git checkout: the files are tracked, not left by hand
    for d, names in (("freeswitch-1.11.2", ["fs-plain-all.raw", "fs-json-all.raw"]), ("freeswitch-1.11.1-api", api)):
        missing = [n for n in names if "tests/fixtures/%s/%s" % (d, n) not in tracked]
        c.eq(missing, [], "untracked fixture files in " + d)
# Every file is one whole frame: its body is Content-Length bytes (a command/reply has none).
for name in api:
    data = open(os.path.join(API_FIXTURES, name), "rb").read()
    head, _, body = data.partition(b"\n\n")
    m = re.search(rb"^Content-Length: (\d+)$", head, re.M)
    c.eq(len(body), int(m.group(1)) if m else 0, "%s is one whole frame: body length" % name)
c.finish()
