"""
test_package.py: the Debian package, built, installed and run (issue 16, item 1).

1. A Release build of the three programs (CMAKE_BUILD_TYPE=Release, the build
   type that ships; it failed on Debian 12's gcc 12 before) in
   <build>/package-release, then `cpack -G DEB` there makes
   casus_<version>_<arch>.deb; its Depends
   name run-time libraries only (no -dev package, no compiler, no tmux), and it
   holds the binaries, units, sysusers/tmpfiles files, config, policy and docs.
2. It is installed on this machine with `apt-get install ./casus_*.deb` (as
   root; a lock serialises concurrent runs; a casus package already installed
   is not touched: the test fails instead). The package's postinst creates the
   casus user and /etc/casus, /var/lib/casus, /var/backups/casus.
3. casusd is started with the installed unit's ExecStart binary, as the unit's
   User=, on loopback with TLS, and the installed `casus` and `casus-admin` run
   a smoke test: root key, signed policy, two certified devices, hello/auth, a
   new casus, a post, history seen by the other member. The installed backup
   script makes a backup as the casus user.
4. Everything is removed afterwards: the package purged, the folders and the
   user removed if this test created them.
"""
import fcntl
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("CASUS_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("CASUS_SRC", os.path.join(os.path.dirname(__file__), "../.."))
LOCK = "/run/lock/casus-package-test.lock"
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=900", "-y", "-q"]


def run(args, check=True, timeout=900, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def installed(pkg):
    p = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return p.returncode == 0 and "install ok installed" in p.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Package(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("the package test installs a .deb: run it as root (CI and the README test command do)")
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self.lockf = open(LOCK, "w")
        fcntl.flock(self.lockf, fcntl.LOCK_EX)  # one package test on this machine at a time
        self.tmp = tempfile.mkdtemp(prefix="casus-pkg-")
        os.chmod(self.tmp, 0o755)
        self.had = {p: os.path.exists(p) for p in ("/var/lib/casus", "/var/backups/casus", "/etc/casus")}
        self.had_user = self.user_exists("casus")
        self.we_installed = False
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.we_installed:
            run(APT + ["purge", "casus"], check=False)
            for p, had in self.had.items():
                if not had:
                    shutil.rmtree(p, ignore_errors=True)
            if not self.had_user and self.user_exists("casus"):
                run(["userdel", "casus"], check=False)
                run(["groupdel", "casus"], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.lockf.close()

    @staticmethod
    def user_exists(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    def build_deb(self):
        rel = os.path.join(BUILD, "package-release")
        # No web client in the package build (the package carries the three programs),
        # and cpack's preinstall must not build "all" (tests, wasm): only what it installs.
        run(["cmake", "-S", SRC, "-B", rel, "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_INSTALL_PREFIX=/usr",
             "-DCASUS_WEB=OFF", "-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON"], timeout=600)
        run(["cmake", "--build", rel, "-j2", "--target", "casusd", "casus", "casus-admin"], timeout=1500)
        out = os.path.join(self.tmp, "pkg")
        run(["cpack", "-G", "DEB", "--config", os.path.join(rel, "CPackConfig.cmake"), "-B", out])
        debs = glob.glob(os.path.join(out, "casus_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(out))
        return debs[0]

    def check_contents(self, deb):
        info = run(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"]).stdout
        deps = re.search(r"Depends: (.*)", info).group(1)
        print("package Depends:", deps)
        names = [d.strip().split()[0] for alt in deps.split(",") for d in alt.split("|")]
        for n in names:
            self.assertFalse(n.endswith("-dev"), n)
            self.assertNotIn(n, ("gcc", "clang", "cmake", "tmux", "build-essential", "make"))
        for lib in ("libsodium23", "liblmdb0", "libjansson4", "libwebsockets17", "libsystemd0"):
            self.assertIn(lib, names)
        files = run(["dpkg-deb", "-c", deb]).stdout
        for f in ("./usr/sbin/casusd", "./usr/bin/casus", "./usr/bin/casus-admin",
                  "./usr/lib/systemd/system/casusd.service", "./usr/lib/systemd/system/casus-backup.timer",
                  "./usr/lib/systemd/system/casus-backup.service", "./usr/lib/sysusers.d/casus.conf",
                  "./usr/lib/tmpfiles.d/casus.conf", "./usr/lib/casus/backup.sh", "./usr/lib/casus/restore.sh",
                  "./etc/casus/casusd.json", "./usr/share/casus/policy/default.json",
                  "./usr/share/doc/casus/OPERATIONS.md"):
            self.assertIn(f + "\n", files + "\n", f)
        self.assertIn("/etc/casus/casusd.json", run(["dpkg-deb", "-I", deb, "conffiles"]).stdout)

    def unit_exec(self):
        unit = open("/usr/lib/systemd/system/casusd.service").read()
        user = re.search(r"(?m)^User=(\S+)", unit).group(1)
        binary = re.search(r"(?m)^ExecStart=(\S+)", unit).group(1)
        return user, binary

    def test_build_install_run(self):
        if installed("casus"):
            self.fail("a casus package is already installed on this machine; the test will not replace it")
        deb = self.build_deb()
        self.check_contents(deb)
        self.we_installed = True
        run(APT + ["install", "--no-install-recommends", deb])
        self.assertTrue(installed("casus"))
        # the postinst's user and folders
        self.assertTrue(self.user_exists("casus"))
        casus = pwd.getpwnam("casus")
        st = os.stat("/etc/casus")
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (0, casus.pw_gid, 0o750))
        self.assertEqual(os.stat("/var/lib/casus").st_uid, casus.pw_uid)
        self.assertEqual(os.stat("/etc/casus/casusd.json").st_mode & 0o777, 0o640)
        p = run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                 "/usr/lib/systemd/system/casusd.service"])
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout).group(1))
        print("installed casusd.service exposure (systemd-analyze security --offline): %.1f" % exposure)
        self.assertLessEqual(exposure, 2.0)
        for prog in ("/usr/sbin/casusd", "/usr/bin/casus", "/usr/bin/casus-admin"):
            self.assertEqual(run([prog, "--version"]).returncode, 0)

        user, binary = self.unit_exec()
        self.assertEqual(binary, "/usr/sbin/casusd")
        as_user = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"]
        # a deployment made with the installed tools
        d = self.tmp
        env = dict(os.environ, CASUS_ADMIN_FAST_KDF="1", CASUS_PASSPHRASE_FILE=os.path.join(d, "pass"))
        with open(os.path.join(d, "pass"), "w") as f:
            f.write("package-test\n")
        adm = "/usr/bin/casus-admin"
        run([adm, "root-init", "--keystore", d + "/root.casusks", "--pub", d + "/root.pub"], env=env)
        run([adm, "sign-policy", "--keystore", d + "/root.casusks", "--policy",
             "/usr/share/casus/policy/default.json", "--out", d + "/policy.bin"], env=env)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days",
             "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", d + "/tls.key", "-out", d + "/tls.crt"])
        os.makedirs(d + "/certs")
        os.makedirs(d + "/users")
        port = free_port()
        root_hex = open(d + "/root.pub").read().strip()
        profiles = {}
        for uid, role in (("anna", "casemanager"), ("esther", "ervaringsdeskundige")):
            prof = os.path.join(d, "users", uid)
            run(["/usr/bin/casus", "--profile", prof, "init", "--server", "wss://localhost:%d" % port, "--root",
                 root_hex, "--ca", d + "/tls.crt", "--user", uid, "--role", role, "--name", uid, "--org", "Test"],
                env=env)
            run([adm, "certify", "--keystore", d + "/root.casusks", "--request", prof + "/request.casusreq",
                 "--out", prof + "/device.cert", "--yes"], env=env)
            run(["/usr/bin/casus", "--profile", prof, "install-cert", prof + "/device.cert"], env=env)
            shutil.copy(prof + "/device.cert", d + "/certs/%s.cert" % uid)
            profiles[uid] = prof
        # the server side's files belong to the service user, as /etc/casus would
        srvdir = os.path.join(d, "srv")
        os.makedirs(srvdir)
        run([adm, "revlist-init", "--keystore", d + "/root.casusks", "--out", d + "/revocations.bin"], env=env)
        for f in ("root.pub", "policy.bin", "tls.crt", "tls.key", "revocations.bin"):
            shutil.copy(os.path.join(d, f), srvdir)
        shutil.copytree(d + "/certs", srvdir + "/certs")
        cfg = json.load(open("/etc/casus/casusd.json"))  # the packaged default, pointed at this test's files
        cfg.update({"listen": "127.0.0.1", "port": port, "tls_cert": srvdir + "/tls.crt",
                    "tls_key": srvdir + "/tls.key", "data_dir": srvdir + "/data", "root_pub": srvdir + "/root.pub",
                    "policy": srvdir + "/policy.bin", "certs_dir": srvdir + "/certs"})
        cfg["revocations"] = srvdir + "/revocations.bin"
        with open(srvdir + "/casusd.json", "w") as f:
            json.dump(cfg, f)
        run(["chown", "-R", "%s:%s" % (user, user), srvdir])
        run(["chmod", "-R", "go-rwx", srvdir])
        run(as_user + [binary, "--config", srvdir + "/casusd.json", "--check-config"])
        logp = os.path.join(d, "casusd.log")
        with open(logp, "wb") as lf:
            self.proc = subprocess.Popen(as_user + [binary, "--config", srvdir + "/casusd.json"], stdout=lf,
                                         stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while "casusd listening" not in open(logp).read():
            self.assertIsNone(self.proc.poll(), open(logp).read())
            self.assertLess(time.time(), deadline, open(logp).read())
            time.sleep(0.1)
        owner = run(["ps", "-o", "user=", "-p", str(self.proc.pid)]).stdout.strip()
        self.assertEqual(owner, user)

        def cli(uid, *args):
            p = run(["/usr/bin/casus", "--profile", profiles[uid], *args, "--json"], env=env, timeout=120)
            return json.loads(p.stdout.splitlines()[-1])
        cid = cli("anna", "new", "--title", "Pakkettest", "--purpose", "Rooktest", "--basis", "Wmo 2015",
                  "--member", "esther")["casus"]
        cli("anna", "post", cid, "hallo uit het pakket")
        hist = cli("esther", "history", cid)
        self.assertIn("hallo uit het pakket", [m.get("text") for m in hist["messages"] if m.get("verified")])
        # a backup by the installed script, as the service user
        bk = os.path.join(srvdir, "backups")
        run(as_user + ["env", "CASUSD=" + binary, "/usr/lib/casus/backup.sh", srvdir + "/data", bk])
        made = [x for x in os.listdir(bk) if x.startswith("casus-")]
        self.assertEqual(len(made), 1, made)
        self.assertTrue(os.path.exists(os.path.join(bk, made[0], "audit.key")))
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=60), 0, open(logp).read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
