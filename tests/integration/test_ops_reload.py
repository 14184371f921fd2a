"""
test_ops_reload.py: a casusd that reloads and reports honestly (issue 16).

- SIGHUP re-reads the TLS certificate, the revocation list and the policy:
  an open WebSocket connection survives the reload, a device revoked by the
  new list is refused (and its open session closed), a new certificate is
  served to new handshakes, a broken certificate file or an older policy is
  refused and logged while the old one keeps serving.
- /healthz answers 503 with the reason when the data folder's file system is
  below the free-space threshold, and when the store cannot write on a real
  full file system (a small tmpfs); it recovers when space returns.
- Upgrades: a format-1 store, made by hand from a current one, is migrated at
  start and keeps its data; a restore (deploy/restore.sh) gives the store a
  new epoch, which clients see in the hello answer.
- /metrics is on its own loopback listener (404 on the service port), every
  family has HELP and TYPE lines, histograms are cumulative, errors are
  counted by code, post-to-ack latency (casusd_post_ack_seconds) has one
  observation per acknowledged post, and the service port offers no HTTP/2
  in TLS ALPN.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import websockets

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from casus_util import Watch, raw  # noqa: E402
from harness import CASUSD  # noqa: E402


def wait_for(cond, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def reload(srv, n_before):
    """SIGHUP casusd and wait until the reload has finished (its reload.done line)."""
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: srv.log().count("event=reload.done") > n_before, what="reload.done")
    if srv.proc.poll() is not None:
        raise AssertionError("casusd exited on SIGHUP (%s):\n%s" % (srv.proc.returncode, srv.log()))
    return srv.log().count("event=reload.done")


def http_get(url, context=None):
    """(status, body) of a GET; HTTP errors are answers too."""
    try:
        r = urllib.request.urlopen(url, timeout=10, context=context)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def make_cert(dirpath, name, days=30):
    crt, key = os.path.join(dirpath, name + ".crt"), os.path.join(dirpath, name + ".key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", str(days), "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", crt],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return crt, key


def served_cert(port):
    """The certificate (DER) a new TLS handshake with casusd gets."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def der(crt):
    with open(crt) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Reload(unittest.TestCase):
    users = [("anna", "casemanager", "Anna Jansen", "Leger des Heils"),
             ("esther", "ervaringsdeskundige", "Esther de Vries", "Leger des Heils")]

    @classmethod
    def setUpClass(cls):
        cls.dep = harness.Deployment(cls.users, tls=True)

    @classmethod
    def tearDownClass(cls):
        cls.dep.cleanup()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="reload-", dir=self.dep.dir)
        # the certificate casusd serves: copies, so that replacing them leaves the deployment's alone
        self.crt, self.key = os.path.join(self.tmp, "tls.crt"), os.path.join(self.tmp, "tls.key")
        shutil.copy(self.dep.tls_crt, self.crt)
        shutil.copy(self.dep.tls_key, self.key)
        self.revs = os.path.join(self.tmp, "revocations.bin")
        shutil.copy(self.dep.revlist, self.revs)  # casusd does not start without a list
        self.policy = os.path.join(self.tmp, "policy.bin")
        shutil.copy(self.dep.policy, self.policy)
        cfg = {"tls_cert": self.crt, "tls_key": self.key, "revocations": self.revs, "policy": self.policy,
               "limits": {"auth_timeout_s": 600}}
        for attempt in range(3):
            self.dep.port = harness.free_port()
            self.dep.set_server_url()
            try:
                self.srv = harness.Server(self.dep, cfg, data_dir=os.path.join(self.tmp, "data")).start()
                break
            except AssertionError as e:
                if attempt == 2 or "listen_failed" not in str(e):
                    raise
        self.ctx = ssl.create_default_context(cafile=self.dep.tls_crt)

    def tearDown(self):
        self.srv.stop()

    def test_connection_survives_and_revoked_device_is_refused(self):
        self.assertEqual(self.dep.cli("esther", "list")[0], 0)
        watch = Watch(self.dep, "esther", None, seconds=120)
        try:
            async def scenario():
                async with websockets.connect(self.dep.url, subprotocols=["casus.v1"], ssl=self.ctx,
                                              open_timeout=30, ping_interval=None) as ws:
                    # revoke esther's device and reload while this connection is open
                    self.dep.admin("revoke", "--keystore", self.dep.root_ks, "--cert",
                                   os.path.join(self.dep.certs, "esther-d1.cert"), "--list", self.revs,
                                   "--out", self.revs)
                    # the deployment's list from now on (clients keep the newest they saw)
                    shutil.copy(self.revs, self.dep.revlist)
                    await asyncio.to_thread(reload, self.srv, 0)
                    await ws.send(json.dumps({"id": 1, "type": "hello", "version": 1}))
                    return json.loads(await asyncio.wait_for(ws.recv(), 30))
            hello = asyncio.run(scenario())
            self.assertTrue(hello.get("ok"), hello)      # the connection opened before the reload still works
            self.assertIn("event=reload.revocations number=", self.srv.log())
            # esther's open session is closed, and she cannot log in again
            wait_for(lambda: "event=session.revoked" in self.srv.log(), what="session.revoked")
            rc, out, err = self.dep.cli("esther", "list")
            self.assertNotEqual(rc, 0, (out, err))
            self.assertEqual(self.dep.cli("anna", "list")[0], 0)
            self.assertGreaterEqual(self.srv.metrics()["casusd_revocation_list_number"], 1)
        finally:
            watch.stop()

    def test_new_certificate_served_broken_one_refused(self):
        self.assertEqual(served_cert(self.dep.port), der(self.dep.tls_crt))
        new_crt, new_key = make_cert(self.tmp, "new")
        shutil.copy(new_crt, self.crt)
        shutil.copy(new_key, self.key)
        n = reload(self.srv, 0)
        self.assertEqual(served_cert(self.dep.port), der(new_crt))
        self.assertIn("event=reload.tls", self.srv.log())
        # a broken certificate file: refused, logged, the new-but-good one stays
        with open(self.crt, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        n = reload(self.srv, n)
        self.assertRegex(self.srv.log(), r"level=error event=reload\.refused what=tls")
        self.assertEqual(served_cert(self.dep.port), der(new_crt))
        # a certificate with another certificate's key: refused as well
        shutil.copy(self.dep.tls_crt, self.crt)
        n = reload(self.srv, n)
        self.assertEqual(self.srv.log().count("event=reload.refused what=tls"), 2, self.srv.log())
        self.assertEqual(served_cert(self.dep.port), der(new_crt))
        ctx = ssl.create_default_context(cafile=new_crt)
        self.assertEqual(http_get("https://localhost:%d/healthz" % self.dep.port, ctx), (200, "ok\n"))
        self.assertEqual(self.srv.metrics()["casusd_reload_failures_total"], 2)

    def test_policy_reload_newer_taken_older_refused(self):
        self.assertEqual(self.srv.metrics()["casusd_policy_number"], 1)
        with open(os.path.join(harness.SRC, "deploy", "policy", "default.json")) as f:
            pol = json.load(f)
        pol["number"] = 2
        pj = os.path.join(self.tmp, "policy2.json")
        with open(pj, "w") as f:
            json.dump(pol, f)
        self.dep.admin("sign-policy", "--keystore", self.dep.root_ks, "--policy", pj, "--out", self.policy)
        n = reload(self.srv, 0)
        self.assertEqual(self.srv.metrics()["casusd_policy_number"], 2)
        self.assertIn("event=reload.policy number=2", self.srv.log())
        # the older policy back in place: refused, 2 stays
        shutil.copy(self.dep.policy, self.policy)
        reload(self.srv, n)
        self.assertRegex(self.srv.log(), r"event=reload\.refused what=policy .*reason=")
        self.assertEqual(self.srv.metrics()["casusd_policy_number"], 2)
        self.assertEqual(self.dep.cli("anna", "list", "--json")[0], 0)


class Health(unittest.TestCase):
    users = [("anna", "casemanager", "Anna Jansen", "Leger des Heils")]

    @classmethod
    def setUpClass(cls):
        cls.dep = harness.Deployment(cls.users)

    @classmethod
    def tearDownClass(cls):
        cls.dep.cleanup()

    def start(self, data, extra):
        """casusd without the harness' wait for a 200 from /healthz (it may be 503 here)."""
        for attempt in range(3):
            self.dep.port = harness.free_port()
            self.dep.set_server_url()
            srv = harness.Server(self.dep, extra, data_dir=data)
            srv.logf = open(srv.log_path, "ab")
            srv.proc = subprocess.Popen([CASUSD, "--config", srv.config], stdout=srv.logf, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: "casusd listening on" in srv.log() or srv.proc.poll() is not None,
                         what="casusd to listen")
            except AssertionError:
                srv.proc.kill()
                raise
            if srv.proc.poll() is None:
                return srv
            if attempt == 2 or "listen_failed" not in srv.log():
                raise AssertionError("casusd exited at start:\n" + srv.log())

    def healthz(self):
        return http_get("http://127.0.0.1:%d/healthz" % self.dep.port)

    def test_disk_below_threshold_is_not_ready(self):
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        # a threshold above any disk this runs on: a full disk as /healthz sees it
        srv = self.start(data, {"health": {"min_free_mb": 1 << 30}})
        try:
            status, body = self.healthz()
            self.assertEqual(status, 503, body)
            self.assertRegex(body, r"^disk near full: \d+ MiB free in the data folder, threshold 1073741824 MiB")
            self.assertEqual(srv.metrics()["casusd_ready"], 0)
            # the same status on the metrics listener
            st2, body2 = http_get("http://127.0.0.1:%d/healthz" % srv.metrics_port)
            self.assertEqual(st2, 503)
            self.assertRegex(body2, r"^disk near full: ")
        finally:
            srv.stop()

    @unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root (the README's test command runs as root)")
    def test_full_filesystem_store_cannot_write_then_recovers(self):
        mnt = tempfile.mkdtemp(prefix="tmpfs-", dir=self.dep.dir)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, "cannot mount a tmpfs: " + p.stderr)
        srv = None
        try:
            data = os.path.join(mnt, "data")
            srv = self.start(data, {"health": {"min_free_mb": 0}, "map_size": 64 << 20})
            self.assertEqual(self.healthz(), (200, "ok\n"))
            self.assertEqual(self.dep.cli("anna", "new", "--title", "A", "--purpose", "Zorg", "--basis",
                                          "Wmo 2015")[0], 0)
            # fill the file system
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
            # writes fail (logins write audit entries, so they fail as well); /healthz says why
            def failing():
                self.dep.cli("anna", "new", "--title", "B" * 2000, "--purpose", "Zorg", "--basis", "Wmo 2015")
                return self.healthz()[0] == 503
            try:
                wait_for(failing, timeout=120, what="/healthz to report the failed commit")
            except AssertionError:
                raise AssertionError("no failed commit on a full file system:\n" + srv.log()[-4000:])
            status, body = self.healthz()
            self.assertRegex(body, r"store cannot write: (the last commit failed|a commit failed \d+ s ago) "
                                   r"\(No space left on device\)")
            self.assertGreaterEqual(srv.metrics()["casusd_store_commit_failures_total"], 1)
            # space returns: the store probe commits again and /healthz recovers without traffic
            os.unlink(filler)
            wait_for(lambda: self.healthz() == (200, "ok\n"), timeout=120, what="/healthz to recover")
            self.assertEqual(self.dep.cli("anna", "list")[0], 0)
        finally:
            if srv:
                srv.stop()
            subprocess.run(["umount", "-l", mnt], capture_output=True)


class Metrics(harness.CasusTest):
    users = [("anna", "casemanager", "Anna Jansen", "Leger des Heils"),
             ("esther", "ervaringsdeskundige", "Esther de Vries", "Leger des Heils")]

    def scrape(self):
        status, body = http_get("http://127.0.0.1:%d/metrics" % self.srv.metrics_port)
        self.assertEqual(status, 200)
        return body

    def test_own_listener_help_type_histograms_errors_by_code(self):
        # not on the service port
        self.assertEqual(http_get("http://127.0.0.1:%d/metrics" % self.dep.port)[0], 404)
        cid = self.new_casus("anna", members=("esther",))
        self.dep.ok("anna", "post", cid, "hallo")
        raw(self.dep, "anna", [{"type": "no.such.request"}])
        body = self.scrape()
        helps = set(re.findall(r"(?m)^# HELP (\S+) \S", body))
        types = dict(re.findall(r"(?m)^# TYPE (\S+) (counter|gauge|histogram)$", body))
        self.assertEqual(helps, set(types), body)
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name = re.match(r"[a-z_]+", line).group(0)
                family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
                self.assertIn(family, types, line)
        for fam in ("casusd_store_fsync_seconds", "casusd_turn_commit_seconds", "casusd_post_ack_seconds"):
            self.assertEqual(types[fam], "histogram")
            buckets = [int(v) for v in re.findall(r"(?m)^%s_bucket\{le=\"[^\"]+\"\} (\d+)$" % fam, body)]
            self.assertEqual(buckets, sorted(buckets), fam)
            count = int(re.search(r"(?m)^%s_count (\d+)$" % fam, body).group(1))
            self.assertEqual(buckets[-1], count)
            self.assertGreater(count, 0, fam)
        self.assertRegex(body, r'(?m)^casusd_errors_by_code_total\{code="unknown_type"\} [1-9]')
        # post-to-ack: one observation per acknowledged post (each CLI post waits for its ack)
        self.dep.ok("esther", "post", cid, "tweede")
        body = self.scrape()
        acks = int(re.search(r"(?m)^casusd_post_ack_seconds_count (\d+)$", body).group(1))
        stored = int(re.search(r"(?m)^casusd_messages_stored_total (\d+)$", body).group(1))
        self.assertEqual(acks, stored, "post-to-ack observations differ from acknowledged posts")
        self.assertGreaterEqual(acks, 2)
        self.assertGreater(float(re.search(r"(?m)^casusd_post_ack_seconds_sum (\S+)$", body).group(1)), 0.0)
        version = subprocess.run([CASUSD, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        self.assertIn('casusd_build_info{version="%s"' % version.split(" ", 1)[1], body)
        for fam in ("casusd_disk_free_bytes", "casusd_store_used_bytes", "casusd_store_map_bytes",
                    "casusd_audit_unsealed_entries", "casusd_connections_open", "casusd_ready"):
            self.assertIn(fam, types)
        self.assertRegex(body, r"(?m)^casusd_ready 1$")

    def test_metrics_port_must_differ_from_service_port(self):
        cfg = os.path.join(self.dep.dir, "same-port.json")
        with open(self.srv.config) as f:
            c = json.load(f)
        c["metrics_port"] = c["port"]
        with open(cfg, "w") as f:
            json.dump(c, f)
        p = subprocess.run([CASUSD, "--config", cfg, "--check-config"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("metrics_port", p.stderr)


def hello(url):
    """The hello answer (store epoch, audit key) of a fresh connection."""
    import rawws
    return rawws.run(url, lambda ws: rawws.request(ws, {"id": 1, "type": "hello", "version": 1}))


class Upgrade(harness.CasusTest):
    users = [("anna", "casemanager", "Anna Jansen", "Leger des Heils"),
             ("esther", "ervaringsdeskundige", "Esther de Vries", "Leger des Heils")]

    def restart_on(self, data):
        self.srv.stop()
        self.dep.port = harness.free_port()
        self.dep.set_server_url()
        self.srv = harness.Server(self.dep, None, data_dir=data).start()

    def test_format1_store_is_migrated(self):
        from test_audit import dump_store, load_store, section
        cid = self.new_casus("anna", members=("esther",))
        self.dep.ok("anna", "post", cid, "voor de upgrade")
        epoch = hello(self.dep.url)["store_epoch"]
        self.assertRegex(epoch, r"^[0-9a-f]{32}$")
        self.srv.stop()
        secs = dump_store(self.srv.data)
        meta = section(secs, "meta")
        self.assertIn(b"store_epoch", [k for k, _ in meta["pairs"]])
        # a format-1 store: version 1, no store epoch
        meta["pairs"] = [(k, (1).to_bytes(8, "big") if k == b"schema" else v) for k, v in meta["pairs"]
                         if k != b"store_epoch"]
        old = self.srv.data + "-v1"
        load_store(secs, old)
        for f in ("audit.key", "audit.pub"):
            shutil.copy(os.path.join(self.srv.data, f), old)
        self.restart_on(old)
        self.assertIn('event=store.migrated from=1 to=2 step="store epoch"', self.srv.log())
        self.assertEqual(self.texts("esther", cid)[-1:], ["voor de upgrade"])
        new_epoch = hello(self.dep.url)["store_epoch"]
        self.assertRegex(new_epoch, r"^[0-9a-f]{32}$")
        self.assertNotEqual(new_epoch, epoch)
        # a format-1 store that still holds a format-1 commit is refused, not half migrated:
        # members' devices signed those commits, casusd cannot convert them
        self.srv.stop()
        secs = dump_store(old)
        meta = section(secs, "meta")
        meta["pairs"] = [(k, (1).to_bytes(8, "big") if k == b"schema" else v) for k, v in meta["pairs"]
                         if k != b"store_epoch"]
        commits = section(secs, "commits")
        self.assertTrue(commits["pairs"])
        k0, v0 = commits["pairs"][0]
        # 3: format 2 with the wrap version of each box (device wrap keys); 4: boxes stored apart
        self.assertIn(v0[0], (2, 3, 4))
        commits["pairs"][0] = (k0, b"\x01" + v0[1:])
        oldc = self.srv.data + "-v1c"
        load_store(secs, oldc)
        for f in ("audit.key", "audit.pub"):
            shutil.copy(os.path.join(self.srv.data, f), oldc)
        srv = harness.Server(self.dep, None, data_dir=oldc)
        with self.assertRaises(AssertionError) as e:
            srv.start()
        self.assertIn("store.migration_refused", str(e.exception))
        self.assertIn("old_commits=1", str(e.exception))
        # and a format newer than this casusd is refused, naming both
        secs = dump_store(old)
        meta = section(secs, "meta")
        meta["pairs"] = [(k, (4).to_bytes(8, "big") if k == b"schema" else v) for k, v in meta["pairs"]]
        newer = self.srv.data + "-v4"
        load_store(secs, newer)
        srv = harness.Server(self.dep, None, data_dir=newer)
        with self.assertRaises(AssertionError) as e:
            srv.start()
        self.assertIn("found 4, expected 3", str(e.exception))
        self.assertIn("install the newer package", str(e.exception))

    def test_restore_gives_a_new_store_epoch(self):
        cid = self.new_casus("anna", members=("esther",))
        self.dep.ok("anna", "post", cid, "een")
        e1 = hello(self.dep.url)["store_epoch"]
        backups = tempfile.mkdtemp(prefix="bk-", dir=self.dep.dir)
        env = dict(os.environ, CASUSD=harness.CASUSD)
        p = subprocess.run([os.path.join(harness.SRC, "deploy", "backup.sh"), self.srv.data, backups],
                           capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        bk = p.stdout.strip().split("backup: ", 1)[1]
        self.srv.stop()
        target = os.path.join(self.dep.dir, "restored-%d" % time.time_ns())
        p = subprocess.run([os.path.join(harness.SRC, "deploy", "restore.sh"), bk, target], capture_output=True,
                           text=True, env=env, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(target, "RESTORED")))
        self.restart_on(target)
        e2 = hello(self.dep.url)["store_epoch"]
        self.assertNotEqual(e1, e2)
        self.assertIn("event=store.epoch_renewed reason=restore store_epoch=" + e2, self.srv.log())
        self.assertFalse(os.path.exists(os.path.join(target, "RESTORED")))
        self.assertEqual(self.texts("esther", cid)[-1:], ["een"])
        # a plain restart keeps the epoch
        self.restart_on(target)
        self.assertEqual(hello(self.dep.url)["store_epoch"], e2)


class NoH2(unittest.TestCase):
    """A monitor that offers h2 in TLS ALPN gets HTTP/1.1, which /healthz speaks."""

    def test_alpn_offers_http11_only(self):
        dep = harness.Deployment([("anna", "casemanager", "Anna Jansen", "Leger des Heils")], tls=True)
        srv = None
        try:
            srv = harness.Server(dep).start()
            p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % dep.port, "-servername",
                                "localhost", "-alpn", "h2,http/1.1"], input="", capture_output=True, text=True,
                               timeout=60)
            self.assertIn("ALPN protocol: http/1.1", p.stdout, p.stdout + p.stderr)
            self.assertNotIn("ALPN protocol: h2", p.stdout)
            ctx = ssl.create_default_context(cafile=dep.tls_crt)
            self.assertEqual(http_get("https://localhost:%d/healthz" % dep.port, ctx), (200, "ok\n"))
        finally:
            if srv:
                srv.stop()
            dep.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
