"""
harness.py: the integration-test harness every test under tests/integration uses.

It builds a small deployment in a temporary folder with the real tools
(casus-admin creates a root key, signs the policy and an empty revocation
list (casusd does not start without one), each test user gets a
device with `casus init`, a certificate from `casus-admin certify` and
`casus install-cert`), starts the real casusd on a free loopback port with
its own LMDB data folder, and talks to it with the real `casus` command and,
for bad-input tests, with raw WebSocket frames.

Server.stop() fails the test if casusd crashed, did not exit cleanly on
SIGTERM, or wrote a sanitizer report to its log.

Environment (set by ctest): CASUS_BUILD = the build folder, CASUS_SRC = the
source tree.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

BUILD = os.environ.get("CASUS_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("CASUS_SRC", os.path.join(os.path.dirname(__file__), "../.."))
CASUSD = os.path.join(BUILD, "server", "casusd")
CASUS = os.path.join(BUILD, "client", "casus")
ADMIN = os.path.join(BUILD, "client", "casus-admin")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")

# (user id, role, display name, organisation)
DEFAULT_USERS = [
    ("anna", "casemanager", "Anna Jansen", "Leger des Heils"),
    ("esther", "ervaringsdeskundige", "Esther de Vries", "Leger des Heils"),
    ("gijs", "ggd", "Gijs Bakker", "GGD"),
    ("karel", "ketenpartner", "Karel Mulder", "Beschermd Wonen"),
    ("paula", "procesregisseur", "Paula Visser", "Zorg- en Veiligheidshuis"),
    ("peter", "politie", "Peter Smit", "Politie"),
    ("bert", "bestuur", "Bert de Boer", "Gemeente"),
    ("bea", "beleid", "Bea Kok", "Gemeente"),
    ("fenna", "fg", "Fenna Dekker", "Gemeente"),
]


def free_port(other_than=()):
    """A loopback port free now, not one of other_than (the kernel may hand out
    the same free port twice in a row: casusd refuses a /metrics port that is
    its service port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in other_than:
            return port


class Deployment:
    """A root key, a signed policy, TLS material and certified test users."""

    def __init__(self, users=DEFAULT_USERS, policy=None, tls=False):
        self.dir = tempfile.mkdtemp(prefix="casus-it-")
        self.passfile = os.path.join(self.dir, "passphrase")
        with open(self.passfile, "w") as f:
            f.write("integration-test\n")
        self.env = dict(os.environ, CASUS_PASSPHRASE_FILE=self.passfile, CASUS_ADMIN_FAST_KDF="1")
        self.port = free_port()
        self.tls = tls
        self.certs = os.path.join(self.dir, "certs")
        os.makedirs(self.certs)
        self.root_ks = os.path.join(self.dir, "root.casusks")
        self.root_pub = os.path.join(self.dir, "root.pub")
        self.admin("root-init", "--keystore", self.root_ks, "--pub", self.root_pub)
        self.root_hex = open(self.root_pub).read().strip()
        self.policy = os.path.join(self.dir, "policy.bin")
        self.admin("sign-policy", "--keystore", self.root_ks, "--policy",
                   policy or os.path.join(SRC, "deploy", "policy", "default.json"), "--out", self.policy)
        # casusd does not start without a revocation list: an empty, signed one
        self.revlist = os.path.join(self.dir, "revocations.bin")
        self.admin("revlist-init", "--keystore", self.root_ks, "--out", self.revlist)
        # every certificate is recorded here (casus-admin's default: beside the keystore)
        self.issuance_log = os.path.join(self.dir, "issuance.log")
        if tls:
            self.tls_crt = os.path.join(self.dir, "tls.crt")
            self.tls_key = os.path.join(self.dir, "tls.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-days", "30", "-subj", "/CN=localhost", "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", self.tls_key,
                            "-out", self.tls_crt], check=True, capture_output=True)
        self.users = {}
        os.makedirs(os.path.join(self.dir, "users"))
        for u in users:
            self.add_user(*u)

    @property
    def url(self):
        return ("wss://localhost:%d" if self.tls else "ws://127.0.0.1:%d") % self.port

    def set_server_url(self):
        """Point every profile at the current port (each test has its own server)."""
        for prof in self.users.values():
            pj = os.path.join(prof, "profile.json")
            with open(pj) as f:
                data = json.load(f)
            data["server"] = self.url
            with open(pj, "w") as f:
                json.dump(data, f)

    def admin(self, *args, check=True):
        p = subprocess.run([ADMIN, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("casus-admin %s failed: %s" % (args[0], p.stderr))
        return p

    def add_user(self, uid, role, name, org, device="d1"):
        prof = os.path.join(self.dir, "users", uid + "-" + device)
        args = [CASUS, "--profile", prof, "init", "--server", self.url, "--root", self.root_hex,
                "--user", uid, "--role", role, "--name", name, "--org", org]
        if self.tls:
            args += ["--ca", self.tls_crt]
        p = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        cert = os.path.join(prof, "device.cert")
        self.admin("certify", "--keystore", self.root_ks, "--request", os.path.join(prof, "request.casusreq"),
                   "--out", cert, "--yes")
        p = subprocess.run([CASUS, "--profile", prof, "install-cert", cert], env=self.env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        shutil.copy(cert, os.path.join(self.certs, "%s-%s.cert" % (uid, device)))
        key = uid if device == "d1" else uid + "-" + device
        self.users[key] = prof
        return prof

    def cli(self, user, *args, input=None, timeout=120):
        """Run `casus --json` as user; returns (exit code, parsed JSON or None, stderr)."""
        p = subprocess.run([CASUS, "--profile", self.users[user], "--json", *args], env=self.env,
                           capture_output=True, text=True, input=input, timeout=timeout)
        out = None
        lines = [line for line in p.stdout.splitlines() if line.strip()]
        if lines:
            try:
                out = json.loads(lines[-1])
            except ValueError:
                out = None
        return p.returncode, out, p.stderr

    def ok(self, user, *args, **kw):
        rc, out, err = self.cli(user, *args, **kw)
        if rc != 0:
            raise AssertionError("casus %s as %s failed (%d): %s %s" % (args, user, rc, out, err))
        return out

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """A real casusd on loopback with a temporary LMDB folder."""

    def __init__(self, dep, extra_config=None, data_dir=None):
        self.dep = dep
        self.data = data_dir or os.path.join(dep.dir, "data")
        self.log_path = os.path.join(dep.dir, "casusd-%d.log" % int(time.time() * 1000))
        cfg = {
            "listen": "127.0.0.1", "port": dep.port, "tls": dep.tls, "data_dir": self.data,
            "root_pub": dep.root_pub, "policy": dep.policy, "certs_dir": dep.certs, "log_level": "info",
            "revocations": dep.revlist,
            # /metrics has a listener of its own (loopback); the service port answers /healthz only
            "metrics_port": free_port(other_than=(dep.port,)),
        }
        if dep.tls:
            cfg["tls_cert"] = dep.tls_crt
            cfg["tls_key"] = dep.tls_key
        for k, v in (extra_config or {}).items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k].update(v)
            else:
                cfg[k] = v
        self.metrics_port = cfg.get("metrics_port")
        self.config = os.path.join(dep.dir, "casusd.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc = None
        self.logs = []

    def start(self, timeout=20):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CASUSD, "--config", self.config], stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        scheme = "https" if self.dep.tls else "http"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("casusd exited at start (%s):\n%s" % (self.proc.returncode, self.log()))
            try:
                if self.dep.tls:
                    import ssl
                    ctx = ssl.create_default_context(cafile=self.dep.tls_crt)
                    r = urllib.request.urlopen("%s://localhost:%d/healthz" % (scheme, self.dep.port), timeout=1,
                                               context=ctx)
                else:
                    r = urllib.request.urlopen("%s://127.0.0.1:%d/healthz" % (scheme, self.dep.port), timeout=1)
                if r.status == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("casusd did not become ready:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def metrics(self):
        r = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=2)
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def check_log(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError("sanitizer report in casusd log:\n" + text[-6000:])

    def kill(self):
        """SIGKILL: the crash-safety tests."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.logf.close()
        self.check_log()

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            if self.proc and self.proc.returncode not in (0, -9):
                raise AssertionError("casusd had died (%s):\n%s" % (self.proc.returncode, self.log()[-6000:]))
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("casusd ignored SIGTERM:\n" + self.log()[-6000:])
        self.logf.close()
        self.check_log()
        if rc != 0:
            raise AssertionError("casusd exited with %d:\n%s" % (rc, self.log()[-6000:]))


class CasusTest(unittest.TestCase):
    """Base class: one deployment (root, policy, users) per test class, and a
    fresh casusd with an empty store per test method."""
    users = DEFAULT_USERS
    tls = False
    config = None
    policy = None

    @classmethod
    def setUpClass(cls):
        cls.dep = Deployment(cls.users, policy=cls.policy, tls=cls.tls)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("CASUS_KEEP_TMP"):
            print("kept", cls.dep.dir)
        else:
            cls.dep.cleanup()

    def setUp(self):
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        for attempt in range(3):
            # a free port can be taken by a test running in parallel before
            # casusd binds it: then casusd exits at start and we pick another
            self.dep.port = free_port()
            self.dep.set_server_url()
            try:
                self.srv = Server(self.dep, self.config, data_dir=data).start()
                return
            except AssertionError as e:
                if attempt == 2 or "listen_failed" not in str(e):
                    raise

    def tearDown(self):
        self.srv.stop()

    def new_casus(self, owner="anna", members=("esther", "gijs"), title="Mevrouw A.", **kw):
        args = ["new", "--title", title, "--purpose", kw.get("purpose", "Zorgcoordinatie"),
                "--basis", kw.get("basis", "Wmo 2015")]
        for m in members:
            args += ["--member", m]
        return self.dep.ok(owner, *args)["casus"]

    def texts(self, user, cid):
        out = self.dep.ok(user, "history", cid)
        return [m.get("text") for m in out["messages"] if m.get("verified")]


def main():
    unittest.main(verbosity=2)
