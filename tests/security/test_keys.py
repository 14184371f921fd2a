"""
test_keys.py: revocation that fails closed and issuance with a record (issue 17).

Revocation (docs/OPERATIONS.md "Revocation"): casusd refuses to start without
a valid, signed revocation list (an empty list is a list); it keeps the number
(and hash) of the newest list it applied in its store and refuses an older
list, or another list under the same number, at start and at a SIGHUP reload,
across restarts; `casus-admin revoke` verifies the previous list and continues
its numbering.

Issuance (docs/CRYPTO.md "Issuance log"): `casus-admin certify` shows what it
signs and asks (--yes for scripts), refuses a device id or key already issued,
and appends every certificate to a root-signed, hash-chained issuance log that
casusd serves (issuance.get); the per-device connection limit is per whole
device id, not per two bytes of it; casusd refuses a certificate that names a
known device id with other keys.

Everything runs the real casus-admin, casus and casusd on loopback.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from casus_util import code, raw  # noqa: E402

KEYTOOL = os.environ.get("CASUS_KEYTOOL") or os.path.join(harness.BUILD, "tests", "security", "casus_keytool")


def wait_for(cond, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def start_refused(dep, cfg_over, data):
    """Start casusd with the harness config plus cfg_over; it must exit. Returns (rc, log)."""
    srv = harness.Server(dep, cfg_over, data_dir=data)
    with open(srv.log_path, "ab") as lf:
        p = subprocess.run([harness.CASUSD, "--config", srv.config], stdout=lf, stderr=subprocess.STDOUT,
                           timeout=120)
    return p.returncode, srv.log()


def reload(srv):
    n = srv.log().count("event=reload.done")
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: srv.log().count("event=reload.done") > n, what="reload.done")


class Revocation(harness.CasusTest):
    """casusd and casus-admin around the revocation list. Each test starts its
    own servers (own lists, own stores), one at a time on a fresh port."""

    def setUp(self):
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()

    def start(self, revocations, data):
        if self.srv:
            self.srv.stop()
        self.dep.port = harness.free_port()
        self.dep.set_server_url()
        self.srv = harness.Server(self.dep, {"revocations": revocations}, data_dir=data).start()
        return self.srv

    def revoke(self, cert_user, old, out, check=True):
        return self.dep.admin("revoke", "--keystore", self.dep.root_ks, "--cert",
                              os.path.join(self.dep.certs, "%s-d1.cert" % cert_user), "--list", old, "--out", out,
                              check=check)

    def test_refuses_to_start_without_a_list(self):
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        rc, log = start_refused(self.dep, {"revocations": ""}, data)
        self.assertEqual(rc, 2, log)
        self.assertIn("no revocation list", log)
        rc, log = start_refused(self.dep, {"revocations": os.path.join(self.dep.dir, "no-such-list.bin")}, data)
        self.assertEqual(rc, 2, log)
        self.assertIn("revocation list", log)
        self.assertNotIn("casusd listening", log)
        # a list signed by another root is no list
        other = harness.Deployment(users=[])
        try:
            rc, log = start_refused(self.dep, {"revocations": other.revlist}, data)
        finally:
            other.cleanup()
        self.assertEqual(rc, 2, log)
        self.assertIn("revocation list %s refused" % other.revlist, log)

    def test_refuses_an_older_list_at_start(self):
        newer = os.path.join(self.dep.dir, "start-newer.bin")
        self.revoke("gijs", self.dep.revlist, newer)  # number 2
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        self.start(newer, data).stop()
        # the same store with the older (empty) list 1: refused, across the restart
        rc, log = start_refused(self.dep, {"revocations": self.dep.revlist}, data)
        self.assertEqual(rc, 2, log)
        self.assertIn("older than list 2", log)
        # the newer list still starts
        self.start(newer, data)

    def test_refuses_an_older_list_at_reload_and_after_it(self):
        live = os.path.join(self.dep.dir, "reload-live.bin")
        newer = os.path.join(self.dep.dir, "reload-newer.bin")
        self.revoke("esther", self.dep.revlist, newer)  # number 2
        shutil.copy(self.dep.revlist, live)
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        srv = self.start(live, data)
        shutil.copy(newer, live)
        reload(srv)
        self.assertIn("event=reload.revocations number=2", srv.log())
        # back to list 1: refused, list 2 stays in force
        shutil.copy(self.dep.revlist, live)
        reload(srv)
        self.assertRegex(srv.log(), r"event=reload.refused what=revocations")
        rc, resps, _ = raw(self.dep, "anna", [{"type": "revlist.get"}])
        self.assertEqual(code(resps[0]), "ok", resps)
        self.assertEqual(resps[0]["number"], 2)
        srv.stop()
        # the number learnt at the reload is in the store: list 1 cannot start it
        rc, log = start_refused(self.dep, {"revocations": live}, data)
        self.assertEqual(rc, 2, log)
        self.assertIn("older than list 2", log)

    def test_another_list_under_the_same_number_is_refused(self):
        a = os.path.join(self.dep.dir, "same-a.bin")
        b = os.path.join(self.dep.dir, "same-b.bin")
        self.revoke("gijs", self.dep.revlist, a)    # number 2, gijs revoked
        self.revoke("esther", self.dep.revlist, b)  # number 2, esther revoked
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        self.start(a, data).stop()
        rc, log = start_refused(self.dep, {"revocations": b}, data)
        self.assertEqual(rc, 2, log)
        self.assertIn("differs from the list under the same number", log)

    def test_revoke_verifies_and_continues_the_list(self):
        one = os.path.join(self.dep.dir, "cont-1.bin")
        two = os.path.join(self.dep.dir, "cont-2.bin")
        p = self.revoke("gijs", self.dep.revlist, one)
        self.assertIn("revocation list 2: 1 revoked", p.stdout)
        p = self.revoke("esther", one, two)
        self.assertIn("revocation list 3: 2 revoked", p.stdout)
        # the same certificate again: refused, nothing written
        p = self.revoke("esther", two, os.path.join(self.dep.dir, "cont-x.bin"), check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dep.dir, "cont-x.bin")))
        # without the previous list: a usage error (a fresh list would drop earlier revocations)
        p = self.dep.admin("revoke", "--keystore", self.dep.root_ks, "--cert",
                           os.path.join(self.dep.certs, "anna-d1.cert"), "--out", one + ".new", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--list", p.stderr)
        # a previous list altered after signing (gijs taken off): refused with 5
        with open(two, "rb") as f:
            data = bytearray(f.read())
        data[-70] ^= 1  # inside the signed body, before the signature
        bad = os.path.join(self.dep.dir, "cont-bad.bin")
        with open(bad, "wb") as f:
            f.write(bytes(data))
        p = self.revoke("anna", bad, os.path.join(self.dep.dir, "cont-y.bin"), check=False)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dep.dir, "cont-y.bin")))
        # revlist-init does not overwrite a list
        p = self.dep.admin("revlist-init", "--keystore", self.dep.root_ks, "--out", two, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)


class Issuance(harness.CasusTest):
    """casus-admin certify, the issuance log, device ids in casusd."""

    config = {"limits": {"conn_per_device": 1}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config = dict(cls.config, issuance_log=cls.dep.issuance_log)
        # two devices whose ids share their first two bytes (a bucket under the old cap)
        cls.shared = {}
        for uid, tail in (("bram", "01"), ("bea", "02")):
            did = "abcd" + os.urandom(13).hex() + tail
            cls.shared[uid] = did
            cls.make_device(uid, "casemanager", did)

    @classmethod
    def new_profile(cls, uid, role, did=None):
        prof = os.path.join(cls.dep.dir, "users", uid + "-x")
        p = subprocess.run([harness.CASUS, "--profile", prof, "init", "--server", cls.dep.url, "--root",
                            cls.dep.root_hex, "--user", uid, "--role", role, "--name", uid, "--org", "Test"],
                           env=cls.dep.env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        if did:
            p = subprocess.run([KEYTOOL, "set-device-id", "--profile", prof, "--passfile", cls.dep.passfile,
                                "--id", did], capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
        return prof

    @classmethod
    def make_device(cls, uid, role, did):
        prof = cls.new_profile(uid, role, did)
        cert = os.path.join(prof, "device.cert")
        cls.dep.admin("certify", "--keystore", cls.dep.root_ks, "--request", os.path.join(prof, "request.casusreq"),
                      "--out", cert, "--yes")
        p = subprocess.run([harness.CASUS, "--profile", prof, "install-cert", cert], env=cls.dep.env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        shutil.copy(cert, os.path.join(cls.dep.certs, "%s-d1.cert" % uid))
        cls.dep.users[uid] = prof

    def certify(self, prof, *extra, input=None):
        out = os.path.join(prof, "device.cert")
        p = subprocess.run([harness.ADMIN, "certify", "--keystore", self.dep.root_ks, "--request",
                            os.path.join(prof, "request.casusreq"), "--out", out, *extra], env=self.dep.env,
                           capture_output=True, text=True, timeout=120, input=input)
        return p, out

    def log_bytes(self):
        with open(self.dep.issuance_log, "rb") as f:
            return f.read()

    def test_certifying_a_device_id_twice_is_refused(self):
        # a new device that claims anna's device id (its own keys)
        with open(os.path.join(self.dep.users["anna"], "profile.json")) as f:
            anna_id = json.load(f)["device"]
        prof = self.new_profile("mallory", "casemanager", anna_id)
        before = self.log_bytes()
        p, out = self.certify(prof, "--yes")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("already issued", p.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.log_bytes(), before, "a refused certificate changed the issuance log")
        # anna's own request again: refused too, unless it is a renewal of that very device
        p, _ = self.certify(self.dep.users["anna"], "--yes")
        self.assertEqual(p.returncode, 1, p.stderr)
        p, out = self.certify(self.dep.users["anna"], "--yes", "--renew")
        self.assertEqual(p.returncode, 0, p.stderr)
        # --renew for a device the log does not hold is refused
        fresh = self.new_profile("renate", "ggd")
        p, _ = self.certify(fresh, "--yes", "--renew")
        self.assertEqual(p.returncode, 1, p.stderr)

    def test_casusd_refuses_a_second_device_under_a_known_id(self):
        # a root holder who bypasses the log (another --log file) still cannot
        # make casusd take a second device under anna's device id
        with open(os.path.join(self.dep.users["anna"], "profile.json")) as f:
            anna_id = json.load(f)["device"]
        prof = self.new_profile("mallet", "casemanager", anna_id)
        p, cert = self.certify(prof, "--yes", "--log", os.path.join(self.dep.dir, "elsewhere.log"))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([harness.CASUS, "--profile", prof, "install-cert", cert], env=self.dep.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(prof, "profile.json")) as f:
            data = json.load(f)
        data["server"] = self.dep.url
        with open(os.path.join(prof, "profile.json"), "w") as f:
            json.dump(data, f)
        p = subprocess.run([harness.CASUS, "--profile", prof, "--json", "raw"], env=self.dep.env,
                           input=json.dumps({"type": "ping"}) + "\n", capture_output=True, text=True, timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("belongs to another device", p.stdout + p.stderr)
        self.assertIn("event=auth.device_taken", self.srv.log())
        # anna herself is unaffected
        rc, resps, _ = raw(self.dep, "anna", [{"type": "ping"}])
        self.assertEqual(code(resps[0]), "ok", resps)

    def test_certify_asks_and_records(self):
        prof = self.new_profile("olga", "ggd")
        before = self.log_bytes()
        p, out = self.certify(prof, input="n\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("olga", p.stderr)       # it showed what it would sign
        self.assertIn("Sign?", p.stderr)
        self.assertFalse(os.path.exists(out))
        p, out = self.certify(prof, input="")  # no answer (no terminal): not signed
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.log_bytes(), before)
        p, out = self.certify(prof, input="j\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(out))
        after = self.log_bytes()
        self.assertTrue(after.startswith(before) and len(after) > len(before), "the log must only grow")
        p = self.dep.admin("show-issued", "--log", self.dep.issuance_log, "--root-pub", self.dep.root_pub)
        self.assertIn("olga", p.stdout)
        self.assertIn("verified", p.stdout)
        # a log altered after signing fails verification, and certify signs nothing on top of it
        bad = bytearray(after)
        bad[40] ^= 1
        badp = os.path.join(self.dep.dir, "issuance-bad.log")
        with open(badp, "wb") as f:
            f.write(bytes(bad))
        p = self.dep.admin("show-issued", "--log", badp, "--root-pub", self.dep.root_pub, check=False)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        p, _ = self.certify(self.new_profile("otto", "ggd"), "--yes", "--log", badp)
        self.assertEqual(p.returncode, 5, p.stderr)

    def test_casusd_serves_the_issuance_log(self):
        rc, resps, _ = raw(self.dep, "anna", [{"type": "issuance.get"}])
        self.assertEqual(code(resps[0]), "ok", resps)
        served = base64.b64decode(resps[0]["log"])
        self.assertTrue(self.log_bytes().startswith(served))
        self.assertGreaterEqual(resps[0]["count"], len(self.dep.users))
        # a log that is not the root's stops the start
        bad = bytearray(self.log_bytes())
        bad[-1] ^= 1
        badp = os.path.join(self.dep.dir, "issuance-start-bad.log")
        with open(badp, "wb") as f:
            f.write(bytes(bad))
        rc, log = start_refused(self.dep, dict(self.config, issuance_log=badp),
                                tempfile.mkdtemp(prefix="data-", dir=self.dep.dir))
        self.assertEqual(rc, 2, log)
        self.assertIn("issuance log", log)

    def test_per_device_cap_uses_the_whole_id(self):
        self.assertEqual(self.shared["bram"][:4], self.shared["bea"][:4])
        self.assertNotEqual(self.shared["bram"], self.shared["bea"])
        # bram holds his one allowed connection open
        hold = subprocess.Popen([harness.CASUS, "--profile", self.dep.users["bram"], "--json", "raw"],
                                env=self.dep.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            hold.stdin.write(json.dumps({"type": "ping"}) + "\n")
            hold.stdin.flush()
            first = hold.stdout.readline()
            self.assertTrue(json.loads(first).get("ok"), first)
            # bea's device shares the first two bytes of its id: not limited by bram
            rc, resps, _ = raw(self.dep, "bea", [{"type": "ping"}])
            self.assertEqual(rc, 0)
            self.assertEqual(code(resps[0]), "ok", resps)
            # bram's second connection is over his own limit
            p = subprocess.run([harness.CASUS, "--profile", self.dep.users["bram"], "--json", "raw"],
                               env=self.dep.env, input=json.dumps({"type": "ping"}) + "\n", capture_output=True,
                               text=True, timeout=120)
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertIn("too many connections", p.stdout + p.stderr)
        finally:
            hold.stdin.close()
            hold.wait(timeout=60)


if __name__ == "__main__":
    harness.main()
