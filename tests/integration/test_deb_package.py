#!/usr/bin/env python3
"""Debian package: built from this build folder by CPack, read, then installed,
removed and purged on this machine (root, apt-get and dpkg).

  1. cpack -G DEB with FSA_BUILD_DIR's CPackConfig.cmake into a temporary folder
     makes exactly fsagent_<version>_<arch>.deb;
  2. dpkg-deb -f/-I/-c: Package, Version (CMakeLists.txt's project()), Architecture;
     Depends names the package of every library the binary needs, found here on
     its own (readelf NEEDED -> ldd path -> dpkg -S), not from the build's list;
     conffiles is /etc/fsagent/config.yaml; the exact file list, modes and owners;
     the maintainer scripts are deploy/debian's; the unit's directives are the
     source unit's with /usr and /etc paths; the man page is gzipped -n and is
     docs/fsagent.8; the binary is stripped and has no RPATH;
  3. apt-get install ./fsagent_*.deb: fsagent --version; --check-config of
     /etc/fsagent/config.yaml run as the fsagent user (and refused to nobody: 0640);
     the user from sysusers.d; root:fsagent 0640; systemd-analyze verify of the
     installed unit; man finds fsagent(8); systemctl enable makes its link;
  4. an edited conffile survives a reinstall;
  5. dpkg -r removes the files but keeps /etc/fsagent/config.yaml; dpkg -P removes
     /etc/fsagent (an operator's fsagent.env too) and the enable link;
  6. postinst's adduser fallback, where no systemd-sysusers is installed.
The maintainer scripts run without systemd as PID 1 (as here); starting and
stopping the service under systemd is not tested here.

Refuses to run over an fsagent already on the machine (package, /usr/bin/fsagent
or /etc/fsagent). Always purges what it installed, deletes the fsagent user if it
created it, and removes its temporary folder. Prints "N passed, N failed".
"""
import glob
import grp
import gzip
import os
import pwd
import re
import shutil
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploytest as D  # noqa: E402
from fsatest import BUILD, Checks  # noqa: E402

c = Checks()
SRC = D.SRC
VERSION = re.search(r"project\(fsagent VERSION ([\d.]+)", D.read("CMakeLists.txt")).group(1)
CLEAN_ENV, run = D.CLEAN_ENV, D.run
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-q"]
APT_ENV = dict(CLEAN_ENV, DEBIAN_FRONTEND="noninteractive")
CONFIG = "/etc/fsagent/config.yaml"
UNIT = "/usr/lib/systemd/system/fsagent.service"
ENABLE_LINK = "/etc/systemd/system/multi-user.target.wants/fsagent.service"
# path in the package -> mode; every file root:root.
PKG_FILES = {
    "/usr/bin/fsagent": "-rwxr-xr-x",
    CONFIG: "-rw-r-----",
    "/usr/share/doc/fsagent/examples/config.example.yaml": "-rw-r--r--",
    UNIT: "-rw-r--r--",
    "/usr/lib/sysusers.d/fsagent.conf": "-rw-r--r--",
    "/usr/share/man/man8/fsagent.8.gz": "-rw-r--r--",
    "/usr/share/fsagent/grafana/fsagent.json": "-rw-r--r--",
}


def status():
    """dpkg's status of fsagent ("install ok installed", "deinstall ok config-files"), or "" if unknown."""
    r = run(["dpkg-query", "-W", "-f=${Status}", "fsagent"])
    return r.stdout.strip() if r.returncode == 0 and "not-installed" not in r.stdout else ""


def dpkg(*args):
    """dpkg, waiting (like apt-get's DPkg::Lock::Timeout) while another apt or dpkg holds the lock."""
    end = time.time() + 600
    while True:
        r = run(["dpkg"] + list(args), env=APT_ENV)
        if r.returncode == 0 or "lock" not in r.stderr or time.time() > end:
            return r
        time.sleep(2)


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def delete_user():
    if user_exists("fsagent"):
        run(["userdel", "fsagent"])
    if group_exists("fsagent"):
        run(["groupdel", "fsagent"])


def owner_package(path):
    """The package that ships a library, by its path or the merged-/usr twin of it."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        cands.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    for p in cands:
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def directives(text):
    """(section, key, value) of a unit's non-comment lines."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        k, _, v = line.partition("=")
        out.append((section, k.strip(), v.strip()))
    return out


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


if os.geteuid() != 0:
    c.check(False, "runs as root (it installs the package with apt-get and dpkg)")
    c.finish()
already = [what for what, there in (("package fsagent (%s)" % status(), status()),
                                    ("/usr/bin/fsagent", os.path.lexists("/usr/bin/fsagent")),
                                    ("/etc/fsagent", os.path.lexists("/etc/fsagent"))) if there]
if already:
    c.check(False, "fsagent is already on this machine (%s): this test installs and purges the package, "
            "so it will not touch that one; remove it first (dpkg -P fsagent)" % ", ".join(already))
    c.finish()
if not os.path.exists(os.path.join(BUILD, "CPackConfig.cmake")):
    c.check(False, "%s has no CPackConfig.cmake (a sanitizer or fuzzing build is not packaged)" % BUILD)
    c.finish()

user_existed = user_exists("fsagent")
tmp = tempfile.mkdtemp(prefix="fsa-deb-")
os.chmod(tmp, 0o755)  # apt's _apt user reads the .deb from here
state = {"linked": False}


def checks():
    # ---- 1. build ----
    r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", tmp], timeout=600)
    c.eq(r.returncode, 0, "cpack -G DEB exit code (%s)" % (r.stdout + r.stderr)[-800:])
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    name = "fsagent_%s_%s.deb" % (VERSION, arch)
    c.eq([os.path.basename(p) for p in glob.glob(os.path.join(tmp, "*.deb"))], [name], "one package, named")
    DEB = os.path.join(tmp, name)
    if not os.path.exists(DEB):
        return

    # ---- 2. what is in it ----
    fields = {}
    for f in ("Package", "Version", "Architecture", "Depends", "Maintainer", "Description", "Section"):
        fields[f] = run(["dpkg-deb", "-f", DEB, f]).stdout.strip()
    c.eq(fields["Package"], "fsagent", "Package")
    c.eq(fields["Version"], VERSION, "Version is project()'s")
    c.eq(fields["Architecture"], arch, "Architecture")
    c.eq(arch, "amd64", "built on amd64 (fsagent_<version>_amd64.deb)")
    for f in ("Maintainer", "Description", "Section"):
        c.check(fields[f], "%s is set" % f)
    print("Depends:", fields["Depends"])

    root = os.path.join(tmp, "root")
    c.eq(run(["dpkg-deb", "-x", DEB, root]).returncode, 0, "dpkg-deb -x")
    binary = os.path.join(root, "usr/bin/fsagent")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run(["readelf", "-d", binary]).stdout)
    c.check(len(needed) >= 10, "the binary needs its libraries (NEEDED: %s)" % needed)
    where = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", binary]).stdout, re.M))
    depends = {re.match(r"\s*([a-z0-9][a-z0-9+.-]*)", alt).group(1)
               for group in fields["Depends"].split(",") for alt in group.split("|")}
    for lib in needed:
        pkg = owner_package(where[lib]) if lib in where else None
        c.check(pkg, "%s resolves to an installed package (ldd: %s)" % (lib, where.get(lib)))
        if pkg:
            c.check(pkg in depends, "Depends names %s (for %s)" % (pkg, lib))
    c.check(not [d for d in depends if d.endswith("-dev")], "Depends has no -dev package: %s" % sorted(depends))
    c.check("adduser" in depends, "Depends names adduser (postinst's fallback)")

    c.eq(run(["dpkg-deb", "-I", DEB, "conffiles"]).stdout.split(), [CONFIG], "conffiles")
    control = os.path.join(tmp, "control")
    c.eq(run(["dpkg-deb", "-e", DEB, control]).returncode, 0, "dpkg-deb -e")
    for script in ("postinst", "prerm", "postrm"):
        p = os.path.join(control, script)
        c.check(os.path.exists(p) and os.stat(p).st_mode & 0o777 == 0o755, "%s is there, mode 0755" % script)
        if os.path.exists(p):
            c.check(file_bytes(p) == file_bytes(os.path.join(SRC, "deploy/debian", script)),
                    "%s is deploy/debian/%s" % (script, script))
            c.eq(run(["sh", "-n", p]).returncode, 0, "sh -n %s" % script)

    listing = {}
    for line in run(["dpkg-deb", "-c", DEB]).stdout.splitlines():
        mode, owner, _size, _day, _time, path = line.split(None, 5)
        if not mode.startswith("d"):
            listing[path[1:]] = (mode, owner)
    c.eq({p: m for p, (m, o) in listing.items()}, PKG_FILES, "file list and modes")
    c.check(all(o == "root/root" for m, o in listing.values()), "every file root/root")

    def pkg_file(path):
        return file_bytes(os.path.join(root, path.lstrip("/")))

    example = file_bytes(os.path.join(SRC, "config.example.yaml"))
    c.check(pkg_file("/usr/share/doc/fsagent/examples/config.example.yaml") == example,
            "config.example.yaml shipped unchanged")
    conf = pkg_file(CONFIG)
    c.check(conf.endswith(example) and conf.startswith(b"# /etc/fsagent/config.yaml"),
            "config.yaml is the example under a header")
    for src, dst in (("deploy/systemd/fsagent.sysusers", "/usr/lib/sysusers.d/fsagent.conf"),
                     ("deploy/grafana/fsagent.json", "/usr/share/fsagent/grafana/fsagent.json")):
        c.check(pkg_file(dst) == file_bytes(os.path.join(SRC, src)), "%s shipped unchanged as %s" % (src, dst))
    man = pkg_file("/usr/share/man/man8/fsagent.8.gz")
    c.check(gzip.decompress(man) == file_bytes(os.path.join(SRC, "docs/fsagent.8")), "fsagent.8.gz is docs/fsagent.8")
    c.check(man[3] & 0x08 == 0 and man[4:8] == b"\0\0\0\0", "man page gzipped -n (no name, no time)")
    unit = pkg_file(UNIT).decode()
    src_unit = D.read("deploy/systemd/fsagent.service")
    want = src_unit.replace("/usr/local/bin/", "/usr/bin/").replace("/usr/local/etc/", "/etc/")
    c.eq(directives(unit), directives(want), "unit: the source's directives with /usr/bin and /etc paths")
    c.check("ExecStart=/usr/bin/fsagent --config /etc/fsagent/config.yaml\n" in unit, "unit ExecStart")
    c.check("EnvironmentFile=-/etc/fsagent/fsagent.env\n" in unit, "unit EnvironmentFile")
    c.check(not re.search(r"/usr/local|/usr/etc|cmake --install", unit), "unit names no /usr/local, /usr/etc, cmake")
    sections = run(["readelf", "-S", "-d", binary]).stdout
    c.check(".symtab" not in sections, "fsagent is stripped")
    c.check("RPATH" not in sections and "RUNPATH" not in sections, "fsagent has no RPATH")

    # ---- 3. install ----
    r = run(APT + ["install", "--no-install-recommends", "./" + name], env=APT_ENV, cwd=tmp, timeout=900)
    c.eq(r.returncode, 0, "apt-get install ./%s (%s)" % (name, (r.stdout + r.stderr)[-800:]))
    c.eq(status(), "install ok installed", "dpkg status after install")
    r = run(["/usr/bin/fsagent", "--version"], env=CLEAN_ENV)
    c.eq((r.returncode, r.stdout), (0, "fsagent %s\n" % VERSION), "fsagent --version")
    c.check(user_exists("fsagent") and group_exists("fsagent"), "postinst created user and group fsagent")
    if user_exists("fsagent"):
        pw = pwd.getpwnam("fsagent")
        c.eq((pw.pw_dir, pw.pw_shell), ("/", "/usr/sbin/nologin"), "fsagent: no home, no shell")
        c.check(pw.pw_uid < 1000, "fsagent is a system user (uid %d)" % pw.pw_uid)
        st = os.stat(CONFIG)
        c.eq((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, grp.getgrnam("fsagent").gr_gid, 0o640),
             "config.yaml root:fsagent 0640")
    check_config = ["/usr/bin/fsagent", "--check-config", "--config", CONFIG]
    r = run(["runuser", "-u", "fsagent", "--"] + check_config, env=CLEAN_ENV, cwd="/")
    c.eq((r.returncode, r.stdout), (0, "configuration OK: 1 FreeSWITCH instance(s)\n"),
         "fsagent --check-config --config %s as user fsagent (stderr: %s)" % (CONFIG, r.stderr[-300:]))
    r = run(["runuser", "-u", "nobody", "--"] + check_config, env=CLEAN_ENV, cwd="/")
    c.check(r.returncode != 0, "... and another user cannot read it (exit %d)" % r.returncode)
    for path in PKG_FILES:
        c.check(os.path.exists(path), "installed %s" % path)
    r = run(["systemd-analyze", "verify", UNIT], env=CLEAN_ENV)
    c.eq((r.returncode, r.stdout + r.stderr), (0, ""), "systemd-analyze verify %s" % UNIT)
    r = run(["man", "-w", "-a", "fsagent"], env=CLEAN_ENV)
    c.check("/usr/share/man/man8/fsagent.8.gz" in r.stdout.split(), "man finds fsagent(8): %r" % r.stdout)
    r = run(["systemctl", "enable", "fsagent"], env=CLEAN_ENV)
    state["linked"] = os.path.islink(ENABLE_LINK)
    c.check(r.returncode == 0 and state["linked"], "systemctl enable fsagent links the unit (%s)" % r.stderr[-300:])

    # ---- 4. the conffile is the operator's ----
    with open(CONFIG, "a") as f:
        f.write("# changed by test_deb_package\n")
    r = run(APT + ["install", "--reinstall", "./" + name], env=APT_ENV, cwd=tmp, timeout=900)
    c.eq(r.returncode, 0, "apt-get install --reinstall (%s)" % (r.stdout + r.stderr)[-500:])
    c.check(file_bytes(CONFIG).endswith(b"# changed by test_deb_package\n"), "reinstall keeps the edited config.yaml")
    c.check(not glob.glob(CONFIG + ".dpkg-*"), "... with no .dpkg-dist/.dpkg-old beside it")

    # ---- 5. remove, purge ----
    with open("/etc/fsagent/fsagent.env", "w") as f:
        f.write("FSAGENT_REDIS_PASSWORD=x\n")
    r = dpkg("-r", "fsagent")
    c.eq(r.returncode, 0, "dpkg -r fsagent (%s)" % r.stderr[-300:])
    c.eq(status(), "deinstall ok config-files", "dpkg status after -r")
    for path in sorted(set(PKG_FILES) - {CONFIG}):
        c.check(not os.path.exists(path), "dpkg -r removes %s" % path)
    c.check(file_bytes(CONFIG).endswith(b"# changed by test_deb_package\n"), "dpkg -r keeps the edited config.yaml")
    r = dpkg("-P", "fsagent")
    c.eq(r.returncode, 0, "dpkg -P fsagent (%s)" % r.stderr[-300:])
    c.eq(status(), "", "dpkg forgets fsagent after -P")
    c.check(not os.path.lexists("/etc/fsagent"), "dpkg -P removes /etc/fsagent, fsagent.env included")
    c.check(not os.path.lexists(ENABLE_LINK), "dpkg -P removes the systemctl enable link")

    # ---- 6. postinst without systemd-sysusers: adduser ----
    if user_existed:
        print("adduser fallback not checked: the fsagent user existed before this test")
    else:
        delete_user()
        bindir = os.path.join(tmp, "bin")  # PATH without systemd-sysusers
        os.makedirs(bindir)
        for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"):
            for f in os.listdir(d):
                if f != "systemd-sysusers" and not os.path.lexists(os.path.join(bindir, f)):
                    os.symlink(os.path.join(d, f), os.path.join(bindir, f))
        r = run(["/bin/sh", os.path.join(control, "postinst"), "configure"], env={"PATH": bindir}, cwd="/")
        c.eq(r.returncode, 0, "postinst configure without systemd-sysusers (%s)" % (r.stdout + r.stderr)[-300:])
        c.check(user_exists("fsagent") and group_exists("fsagent"), "... adduser made user and group fsagent")
        if user_exists("fsagent"):
            pw = pwd.getpwnam("fsagent")
            c.eq((pw.pw_dir, pw.pw_shell, pw.pw_uid < 1000), ("/", "/usr/sbin/nologin", True),
                 "... a system user with no home, no shell")


try:
    checks()
finally:
    if status():
        r = dpkg("-P", "fsagent")
        if r.returncode != 0:
            print("cleanup: dpkg -P fsagent failed: %s" % r.stderr, file=sys.stderr)
    if state["linked"] and os.path.islink(ENABLE_LINK):
        os.unlink(ENABLE_LINK)
    if not user_existed:
        delete_user()
    shutil.rmtree(tmp, ignore_errors=True)
c.finish()
