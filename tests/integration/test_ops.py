"""
test_ops.py: running casusd as an operator would (issue 16).

Startup is honest (numbers range-checked, the listen address bound or a
non-zero exit with the reason, IPv6, localhost, plain ws:// off loopback only
with a second flag, one casusd per data folder), the command-line conventions
(--help exits 0, --version, --opt=value, global options anywhere,
--check-config), journald priorities and the client address in the log,
systemd readiness and watchdog notifications, the store format named in the
wrong-version error, and TLS (minimum version, NCSC cipher list) checked with
`openssl s_client` against an RSA certificate.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import ADMIN, CASUS, CASUSD  # noqa: E402
from test_audit import dump_store, load_store, section  # noqa: E402


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def project_version():
    with open(os.path.join(harness.SRC, "CMakeLists.txt")) as f:
        m = re.search(r"project\(casus VERSION ([0-9.]+)", f.read())
    return m.group(1)


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def write_cfg(dep, cfg):
    path = os.path.join(dep.dir, "ops-%d.json" % time.time_ns())
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


class Proc:
    """A casusd started with a given config and flags; output in a file."""

    def __init__(self, dep, cfg, extra=(), env=None):
        self.path = write_cfg(dep, cfg)
        self.log_path = self.path + ".log"
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([CASUSD, "--config", self.path, *extra], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_listening(self, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("casusd exited (%s):\n%s" % (self.proc.returncode, self.log()))
            return "casusd listening on" in self.log()
        wait_for(ready, timeout, "casusd to listen")
        return self

    def exit_code(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.logf.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(timeout=30)
            assert rc == 0, "casusd exited %d on SIGTERM:\n%s" % (rc, self.log())
        self.logf.close()
        for mark in harness.SANITIZER_MARKS:
            assert mark not in self.log(), self.log()


class Ops(unittest.TestCase):
    users = [("anna", "casemanager", "Anna Jansen", "Leger des Heils"),
             ("esther", "ervaringsdeskundige", "Esther de Vries", "Leger des Heils")]

    @classmethod
    def setUpClass(cls):
        cls.dep = harness.Deployment(cls.users)

    @classmethod
    def tearDownClass(cls):
        cls.dep.cleanup()

    def cfg(self, **over):
        c = {"listen": "127.0.0.1", "port": harness.free_port(), "tls": False,
             "data_dir": tempfile.mkdtemp(prefix="data-", dir=self.dep.dir), "root_pub": self.dep.root_pub,
             "policy": self.dep.policy, "certs_dir": self.dep.certs, "log_level": "info",
             "revocations": self.dep.revlist}
        c.update(over)
        return c

    def start(self, cfg, extra=(), env=None):
        """Start casusd; a port taken by a parallel test is retried with another."""
        for attempt in range(3):
            p = Proc(self.dep, cfg, extra, env)
            try:
                return p.wait_listening()
            except AssertionError:
                if attempt == 2 or "Address already in use" not in p.log():
                    raise
                cfg["port"] = harness.free_port()

    def refused(self, cfg, extra=(), expect_rc=None):
        p = Proc(self.dep, cfg, extra)
        rc = p.exit_code()
        self.assertNotEqual(rc, 0, p.log())
        if expect_rc is not None:
            self.assertEqual(rc, expect_rc, p.log())
        return p.log()

    # ---- command-line conventions --------------------------------------------

    def test_help_and_version_everywhere(self):
        ver = project_version()
        for prog in (CASUSD, CASUS, ADMIN):
            p = run([prog, "--help"])
            self.assertEqual(p.returncode, 0, (prog, p.stderr))
            self.assertIn("usage", p.stdout.lower(), prog)
            p = run([prog, "--version"])
            self.assertEqual(p.returncode, 0, (prog, p.stderr))
            self.assertIn(ver, p.stdout, prog)
        p = run([CASUSD, "--version"])
        self.assertRegex(p.stdout, r"store format \d+")
        p = run([CASUSD, "backup", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_ports_and_numbers_are_range_checked(self):
        for bad in ("abc", "99999", "0", "-1", "8443x", ""):
            for form in (["--port", bad], ["--port=" + bad]):
                p = run([CASUSD, "--no-tls", "--root", self.dep.root_pub, "--check-config", *form])
                self.assertEqual(p.returncode, 2, (form, p.stdout, p.stderr))
                self.assertIn("between 1 and 65535", p.stderr, form)
        p = run([CASUSD, "--no-tls", "--check-config", "--listen", "1" * 100])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--listen: value longer than", p.stderr)
        for over, word in (({"port": 70000}, "port"), ({"port": 0}, "port"),
                           ({"limits": {"ping_s": 0}}, "ping_s"),
                           ({"limits": {"max_frame": 10}}, "max_frame"),
                           ({"limits": {"turn_requests": 0}}, '"turn_requests" must be an integer between 1 and 4096'),
                           ({"limits": {"turn_bytes": 100}}, '"turn_bytes" must be an integer between 4096 and'),
                           ({"limits": {"drain_bytes": 100}}, '"drain_bytes" must be an integer between 4096 and'),
                           # a drain mark that leaves no room below the slow-reader bound
                           ({"limits": {"drain_bytes": 7 << 20}}, "must not exceed limits.max_queue_bytes"),
                           # one history message may be a whole max_frame: it must fit too
                           ({"limits": {"max_frame": 8 << 20}}, "must not exceed limits.max_queue_bytes"),
                           # a misspelt limit is refused, not ignored
                           ({"limits": {"turn_request": 4}}, 'unknown key "limits.turn_request"'),
                           ({"limits": {"ping_s": 30, "hangup_s": 20}}, "hangup_s"),
                           ({"audit": {"checkpoint_secs": 0}}, "checkpoint_secs"),
                           ({"map_size": 4096}, "map_size"),
                           ({"tls_min_version": "1.1"}, "tls_min_version")):
            cfg = self.cfg(**over)
            p = run([CASUSD, "--config", write_cfg(self.dep, cfg), "--check-config"])
            self.assertEqual(p.returncode, 2, (over, p.stdout, p.stderr))
            self.assertIn(word, p.stderr, over)

    def test_check_config(self):
        cfg = self.cfg()
        path = write_cfg(self.dep, cfg)
        p = run([CASUSD, "--config=" + path, "--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)
        # it did not start a server: nothing listens on the port
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", cfg["port"])), 0)
        bad = dict(cfg, policy=os.path.join(self.dep.dir, "no-such-policy.bin"))
        p = run([CASUSD, "--config", write_cfg(self.dep, bad), "--check-config"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("policy", p.stderr)
        p = run([CASUSD, "--config", path, "--check-config", "--bogus"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--bogus", p.stderr)

    def test_global_options_anywhere_and_opt_equals(self):
        srv = self.start(self.cfg())
        try:
            port = int(re.search(r"listening on [^:]+:(\d+)", srv.log()).group(1))
            self.dep.port = port
            self.dep.set_server_url()
            prof = self.dep.users["anna"]
            env = self.dep.env
            p = run([CASUS, "--profile", prof, "list", "--json"], env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIsInstance(json.loads(p.stdout.splitlines()[-1]), dict)
            p = run([CASUS, "list", "--json", "--profile=" + prof], env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIsInstance(json.loads(p.stdout.splitlines()[-1]), dict)
            p = run([CASUS, "--profile=" + prof, "--json", "new", "--title=Mevrouw B.", "--purpose=Zorg",
                     "--basis=Wmo 2015", "--member=esther"], env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            cid = json.loads(p.stdout.splitlines()[-1])["casus"]
            p = run([CASUS, "post", cid, "hallo", "--profile", prof, "--json"], env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            p = run([CASUS, "history", cid, "--limit=10", "--json", "--profile", prof], env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            texts = [m.get("text") for m in json.loads(p.stdout.splitlines()[-1])["messages"]]
            self.assertIn("hallo", texts)
            # the client's address is on the connection lines
            self.assertRegex(srv.log(), r"event=session\.open sid=\d+ peer=127\.0\.0\.1")
        finally:
            srv.stop()

    # ---- honest listening ------------------------------------------------------

    def test_ipv6_listen(self):
        cfg = self.cfg(listen="::1")
        srv = self.start(cfg)
        try:
            port = cfg["port"]
            with socket.socket(socket.AF_INET6) as s:
                s.settimeout(10)
                s.connect(("::1", port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertIn(b"200", s.recv(100))
            # and not on IPv4 (it used to bind 0.0.0.0 while saying ::1)
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0)
        finally:
            srv.stop()

    def test_localhost_resolves(self):
        cfg = self.cfg(listen="localhost")
        srv = self.start(cfg)
        try:
            self.assertIn("event=server.listen_resolved name=localhost addr=127.0.0.1", srv.log())
            with socket.socket() as s:
                s.settimeout(10)
                self.assertEqual(s.connect_ex(("127.0.0.1", cfg["port"])), 0)
        finally:
            srv.stop()

    def test_unusable_listen_addresses_exit_nonzero(self):
        # an address that is not on this host (TEST-NET-1): no silent "listening"
        log = self.refused(self.cfg(listen="192.0.2.1"))
        self.assertIn("192.0.2.1", log)
        self.assertNotIn("casusd listening", log)
        log = self.refused(self.cfg(listen="no-such-host.invalid"), expect_rc=2)
        self.assertIn("does not resolve", log)
        log = self.refused(self.cfg(listen=""), expect_rc=2)
        self.assertIn("listen", log)
        # a port held by another socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            log = self.refused(self.cfg(port=s.getsockname()[1]))
            self.assertIn("Address already in use", log)

    def test_plaintext_off_loopback_needs_second_flag(self):
        base = self.cfg(listen="0.0.0.0")
        p = run([CASUSD, "--config", write_cfg(self.dep, base), "--no-tls", "--check-config"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a loopback address", p.stderr)
        p = run([CASUSD, "--config", write_cfg(self.dep, base), "--no-tls", "--no-tls-public", "--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run([CASUSD, "--config", write_cfg(self.dep, dict(base, no_tls_public=True)), "--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        # loopback needs no second flag
        p = run([CASUSD, "--config", write_cfg(self.dep, self.cfg()), "--no-tls", "--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_one_server_per_data_folder(self):
        cfg = self.cfg()
        first = self.start(cfg)
        try:
            second = Proc(self.dep, dict(cfg, port=harness.free_port()))
            rc = second.exit_code()
            self.assertNotEqual(rc, 0)
            self.assertIn("in use by another casusd (pid %d)" % first.proc.pid, second.log())
            self.assertIsNone(first.proc.poll(), "the first casusd must keep running")
        finally:
            first.stop()
        # after a clean stop the folder is free again
        again = self.start(dict(cfg, port=harness.free_port()))
        again.stop()

    # ---- logs and systemd ---------------------------------------------------------

    def test_journald_priorities(self):
        cfg = self.cfg()
        logp = os.path.join(self.dep.dir, "journal-%d.log" % time.time_ns())
        with open(logp, "wb") as lf:
            st = os.fstat(lf.fileno())
            env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            proc = subprocess.Popen([CASUSD, "--config", write_cfg(self.dep, cfg)], stdout=subprocess.DEVNULL,
                                    stderr=lf, env=env)
            try:
                wait_for(lambda: "event=server.listening" in open(logp).read(), what="listening line")
            finally:
                proc.terminate()
                self.assertEqual(proc.wait(timeout=30), 0)
        lines = [x for x in open(logp).read().splitlines() if "event=" in x]
        self.assertTrue(lines)
        for x in lines:
            m = re.match(r"<(\d)>ts=\S+ level=(\w+) ", x)
            self.assertTrue(m, x)
            self.assertEqual(m.group(1), {"debug": "7", "info": "6", "warn": "4", "error": "3"}[m.group(2)], x)
        # a startup refusal is an error too, for `journalctl -p err`
        with open(logp, "wb") as lf:
            st = os.fstat(lf.fileno())
            env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            rc = subprocess.run([CASUSD, "--port", "abc"], stderr=lf, env=env, timeout=60).returncode
        self.assertEqual(rc, 2)
        self.assertTrue(open(logp).read().startswith("<3>casusd: --port abc"), open(logp).read())
        # not the journal: no prefixes
        srv = self.start(self.cfg())
        srv.stop()
        self.assertNotRegex(srv.log(), r"(?m)^<\d>")

    def test_wrong_store_format_is_named(self):
        cfg = self.cfg()
        srv = self.start(cfg)
        srv.stop()
        secs = dump_store(cfg["data_dir"])
        meta = section(secs, "meta")
        meta["pairs"] = [(k, (99).to_bytes(8, "big") if k == b"schema" else v) for k, v in meta["pairs"]]
        newdata = cfg["data_dir"] + "-v99"
        load_store(secs, newdata)
        env = dict(os.environ, CASUSD_LOG_PRIORITY="1")
        p = Proc(self.dep, dict(cfg, data_dir=newdata, port=harness.free_port()), env=env)
        self.assertNotEqual(p.exit_code(), 0)
        log = p.log()
        self.assertIn("found 99, expected %s" % run([CASUSD, "--version"]).stdout.split("store format ")[1].strip(),
                      log)
        self.assertRegex(log, r"(?m)^<3>.*event=store\.schema")

    def test_sd_notify_ready_and_watchdog(self):
        sockp = os.path.join(tempfile.mkdtemp(prefix="n", dir="/tmp"), "notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sockp)
        s.settimeout(30)
        try:
            env = dict(os.environ, NOTIFY_SOCKET=sockp, WATCHDOG_USEC="2000000")
            cfg = self.cfg()
            p = Proc(self.dep, cfg, env=env)
            got = []
            try:
                while not any("WATCHDOG=1" in g for g in got):
                    got.append(s.recv(4096).decode())
                    if any("READY=1" in g for g in got):
                        # READY comes only once the socket is up
                        with socket.socket() as c:
                            self.assertEqual(c.connect_ex(("127.0.0.1", cfg["port"])), 0)
            finally:
                p.stop()
            ready = [g for g in got if "READY=1" in g]
            self.assertEqual(len(ready), 1, got)
            self.assertIn("STATUS=listening on 127.0.0.1 port %d" % cfg["port"], ready[0])
            self.assertLess(got.index(ready[0]), [i for i, g in enumerate(got) if "WATCHDOG=1" in g][0])
        finally:
            s.close()
            os.unlink(sockp)


class OpsTls(unittest.TestCase):
    """TLS with an RSA certificate (usual under PKIoverheid), tried with openssl s_client."""

    @classmethod
    def setUpClass(cls):
        cls.dep = harness.Deployment([("anna", "casemanager", "Anna Jansen", "Leger des Heils")])
        cls.crt = os.path.join(cls.dep.dir, "rsa.crt")
        cls.key = os.path.join(cls.dep.dir, "rsa.key")
        p = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                 "-keyout", cls.key, "-out", cls.crt])
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.dep.cleanup()

    def server(self, **over):
        cfg = {"listen": "127.0.0.1", "port": harness.free_port(), "tls": True, "tls_cert": self.crt,
               "tls_key": self.key, "data_dir": tempfile.mkdtemp(prefix="data-", dir=self.dep.dir),
               "root_pub": self.dep.root_pub, "policy": self.dep.policy, "log_level": "info",
               "revocations": self.dep.revlist}
        cfg.update(over)
        for attempt in range(3):
            p = Proc(self.dep, cfg)
            try:
                return p.wait_listening(), cfg["port"]
            except AssertionError:
                if attempt == 2 or "Address already in use" not in p.log():
                    raise
                cfg["port"] = harness.free_port()

    def handshake(self, port, *args):
        """True if openssl s_client completes a handshake with these options."""
        # @SECLEVEL=0 on the client so that only the server's settings decide
        p = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost", *args],
                input="", timeout=60)
        out = p.stdout + p.stderr
        return p.returncode == 0 and re.search(r"Cipher is (?!\(NONE\))", out) is not None, out

    def test_default_is_tls13_only(self):
        srv, port = self.server()
        try:
            ok, out = self.handshake(port, "-tls1_3")
            self.assertTrue(ok, out)
            ok, out = self.handshake(port, "-tls1_2", "-cipher", "ALL:@SECLEVEL=0")
            self.assertFalse(ok, out)
        finally:
            srv.stop()

    def test_tls12_allows_only_ncsc_good_suites(self):
        srv, port = self.server(tls_min_version="1.2")
        try:
            ok, out = self.handshake(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
            self.assertTrue(ok, out)
            # CBC with SHA-1, and RSA key exchange (no forward secrecy): "phase out"
            for weak in ("ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256", "AES256-SHA",
                         "AES128-SHA"):
                ok, out = self.handshake(port, "-tls1_2", "-cipher", weak + ":@SECLEVEL=0")
                self.assertFalse(ok, (weak, out))
            ok, out = self.handshake(port, "-tls1_1", "-cipher", "ALL:@SECLEVEL=0")
            self.assertFalse(ok, out)
            ok, out = self.handshake(port, "-tls1_3")
            self.assertTrue(ok, out)
        finally:
            srv.stop()

    def test_cipher_list_is_configurable(self):
        srv, port = self.server(tls_min_version="1.2", tls_ciphers="ECDHE-RSA-AES256-GCM-SHA384")
        try:
            ok, out = self.handshake(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
            self.assertFalse(ok, out)
            ok, out = self.handshake(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
            self.assertTrue(ok, out)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
