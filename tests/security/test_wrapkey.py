"""
test_wrapkey.py: device wrap keys that rotate (issue 17; docs/CRYPTO.md, "Device wrap keys").

1. A device key stolen after a rotation opens no older epoch. Esther's device
   publishes wrap key v, anna opens a casus (its boxes for esther are sealed
   to v), esther rotates to v+1 (`casus sleutel vernieuwen`), anna rotates the
   casus (the new epoch is sealed to v+1). Before the grace period is over the
   thief (tests/security/wrap_steal.c: a copy of the server's LMDB folder and
   esther's keystore with its passphrase, trying every secret it holds on
   every box addressed to her) still opens the old epoch: the test can fail.
   After the grace period (CASUS_WRAPKEY_GRACE=0 for esther's next connect)
   the secret of v is wiped, and the same thief opens the current epoch but
   no box of the epoch before the rotation.
2. A server that swaps a device's wrap key in the directory for one its
   identity key did not sign is refused: the client that builds the commit
   exits 5 (bad_signature) and posts nothing.
3. casusd keeps the newest signed wrap key per device: an older or equal
   version, a bad signature, another device's record and a wrong length are
   refused.
4. Six processes of one profile connecting at once for the first time make
   one wrap key between them: the one the server keeps is the one the device
   holds, so a commit sealed to it opens (a process that stamped the keystore
   after reading it once made a second key of the same version).
6. Verified wrap keys persist: a client that verified esther's newest wrap
   key refuses (`rollback`, exit 5, nothing posted) a directory that serves
   her older, genuinely signed record in a later process; without its kept
   state (wrapkeys.bin removed) the same answer is sealed to, so the test
   can fail.
7. A withheld wrap key is detected: esther's own connect refuses a
   directory that returns an older record of her or none
   (`withheld_wrapkey`, exit 5); a committer warns `stale_wrapkey` for a
   wrap key older than CASUS_WRAPKEY_STALE (default interval + grace).
8. A live process follows a rotation made by another process of the same
   profile: esther's `casus watch` runs, `casus sleutel vernieuwen` runs
   beside it, anna rotates the casus (sealed to the new key) and posts; the
   watching process reads the keystore again and shows the note.
5. The same for grants and device key transfers: a grant to esther and a
   transfer to anna's second device are sealed to their newest wrap keys;
   within the grace period the thief opens both with that wrap secret (not
   with the certified key), after the rotation and the grace period with
   nothing.
"""
import base64
import json
import os
import subprocess
import threading
import time

import hostile  # puts tests/integration on the path

import harness  # noqa: E402


def steal(data_dir, keystore, passfile):
    tool = os.path.join(harness.BUILD, "tests", "security", "casus_wrap_steal")
    p = subprocess.run([tool, data_dir, keystore, passfile], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("casus_wrap_steal failed: %s" % p.stderr)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return lines[:-1], lines[-1]


class WrapKey(hostile.HostileTest):
    users = hostile.users("anna", "esther", "gijs")

    def device_keys(self, user, env=None, rotate=False):
        args = [harness.CASUS, "--profile", self.dep.users[user], "--json", "sleutel",
                "vernieuwen" if rotate else "toon"]
        p = subprocess.run(args, env=dict(self.dep.env, **(env or {})), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, "casus sleutel: %s %s" % (p.stdout, p.stderr))
        return json.loads([x for x in p.stdout.splitlines() if x.strip()][-1])

    def test_concurrent_first_connects_make_one_wrap_key(self):
        # gijs has never connected (the tests run in name order): no wrap key yet
        procs = [subprocess.Popen([harness.CASUS, "--profile", self.dep.users["gijs"], "--json", "list"],
                                  env=self.dep.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "casus list: %s %s" % (out, err))
        keys = self.device_keys("gijs")
        self.assertEqual(keys["version"], 1, "six first connects made more than one key: %r" % keys)
        self.assertEqual(keys["published"], 1)
        self.device_keys("anna")
        cid = self.new_casus("anna", ("gijs",))
        self.dep.ok("anna", "post", cid, "na de wedloop")
        self.assertIn("na de wedloop", self.texts("gijs", cid))

    def test_stolen_key_after_rotation_opens_no_older_epoch(self):
        # every device publishes a wrap key at its first connect
        for u in ("anna", "gijs"):
            self.device_keys(u)
        before = self.device_keys("esther")
        v1 = before["version"]
        self.assertGreaterEqual(v1, 1, "esther published no wrap key at connect: %r" % before)
        self.assertEqual(before["published"], v1)

        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "voor de rotatie")
        self.assertIn("voor de rotatie", self.texts("esther", cid))

        rot = self.device_keys("esther", rotate=True)
        v2 = rot["version"]
        self.assertEqual(v2, v1 + 1, "sleutel vernieuwen made no newer key: %r" % rot)
        self.assertEqual(rot["published"], v2)
        self.assertIn(v1, rot["held"], "the old secret is wiped before its grace period")
        self.dep.ok("anna", "rotate", cid)
        self.dep.ok("anna", "post", cid, "na de rotatie")
        self.assertIn("na de rotatie", self.texts("esther", cid))

        ks = os.path.join(self.dep.users["esther"], "keys.casusks")
        boxes, summary = steal(self.srv.data, ks, self.dep.passfile)
        print("\n[thief, within the grace period] %s" % summary)
        by_epoch = {}
        for b in boxes:
            if b["kind"] == "commit" and b["casus"] == cid:
                by_epoch.setdefault(b["epoch"], []).append(b)
        self.assertEqual(sorted(by_epoch), [0, 1], "boxes for esther: %r" % boxes)
        self.assertEqual({b["wrap"] for b in by_epoch[0]}, {v1}, "epoch 0 must be sealed to wrap key v1")
        self.assertEqual({b["wrap"] for b in by_epoch[1]}, {v2}, "epoch 1 must be sealed to wrap key v2")
        # within the grace period the old secret is still held: the thief opens epoch 0
        self.assertTrue(all(b["opened"] for b in by_epoch[0]), "grace period: %r" % by_epoch[0])

        # without the grace period passing nothing is wiped
        self.assertIn(v1, self.device_keys("esther")["held"])
        # the grace period passes (esther's next connect, with the knob at 0)
        after = self.device_keys("esther", env={"CASUS_WRAPKEY_GRACE": "0"})
        self.assertNotIn(v1, after["held"], "the secret of v1 was not wiped: %r" % after)
        self.assertIn(v2, after["held"])
        # esther still follows the casus (the retired epoch has no key for her any more)
        post = self.dep.ok("esther", "post", cid, "esther na het wissen")
        self.assertTrue(post.get("ok"), post)
        self.assertIn("esther na het wissen", self.texts("anna", cid))
        seen = self.texts("esther", cid)
        print("[esther after the wipe] reads %r" % seen)
        self.assertIn("na de rotatie", seen)
        # the note of the retired epoch stays readable from her local sealed copy
        self.assertIn("voor de rotatie", seen)

        boxes, summary = steal(self.srv.data, ks, self.dep.passfile)
        print("[thief, after the grace period] %s" % summary)
        self.assertNotIn(v1, summary["keys"], "the stolen keystore still holds wrap secret v1")
        mine = [b for b in boxes if b["kind"] == "commit" and b["casus"] == cid]
        old = [b for b in mine if b["epoch"] == 0]
        new = [b for b in mine if b["epoch"] == 1]
        self.assertTrue(old and new, mine)
        self.assertFalse([b for b in old if b["opened"]], "a key stolen after the rotation opens an older epoch")
        self.assertTrue(all(b["opened"] and b["with"] == "wrap %d" % v2 for b in new),
                        "the thief should open the current epoch (else the test proves nothing): %r" % new)

    def test_stolen_key_opens_no_older_grant_or_transfer(self):
        if "anna-d2" not in self.dep.users:
            self.dep.add_user("anna", "casemanager", "Anna Jansen", "Leger des Heils", device="d2")
        for u in ("anna", "gijs"):
            self.device_keys(u)
        ev = self.device_keys("esther")["version"]
        dv = self.device_keys("anna-d2")["version"]
        self.assertGreaterEqual(min(ev, dv), 1)

        cid = self.new_casus("anna", ("gijs",))
        post = self.dep.ok("anna", "post", cid, "voor het delen")
        self.dep.ok("anna", "add", cid, "esther")
        self.assertNotIn("voor het delen", self.texts("esther", cid))  # a new member starts fresh
        self.dep.ok("anna", "share", cid, "--to", "esther", "--messages", post["id"], "--ground", "consent",
                    "--reason", "client stemt in")
        self.assertIn("voor het delen", self.texts("esther", cid), "the grant did not open for esther")
        added = self.dep.ok("anna", "add-device", cid, *self.pairing("anna-d2"))
        self.assertEqual(len(added["transferred"]), 1, added)
        self.assertIn("voor het delen", self.texts("anna-d2", cid), "the transfer did not open for the phone")

        def stolen(user):
            ks = os.path.join(self.dep.users[user], "keys.casusks")
            boxes, summary = steal(self.srv.data, ks, self.dep.passfile)
            return [b for b in boxes if b["casus"] == cid and b["kind"] in ("grant", "transfer")], summary

        grants, summary = stolen("esther")
        print("\n[thief of esther, within the grace period] %s %s" % (grants, summary))
        self.assertEqual([(b["kind"], b["wrap"]) for b in grants], [("grant", ev)], grants)
        self.assertTrue(grants[0]["opened"] and grants[0]["with"] == "wrap %d" % ev,
                        "the grant must be sealed to esther's wrap key, not her certified key: %r" % grants)
        xfers, summary = stolen("anna-d2")
        print("[thief of the phone, within the grace period] %s %s" % (xfers, summary))
        self.assertEqual([(b["kind"], b["wrap"]) for b in xfers], [("transfer", dv)], xfers)
        self.assertTrue(xfers[0]["opened"] and xfers[0]["with"] == "wrap %d" % dv,
                        "the transfer must be sealed to the phone's wrap key: %r" % xfers)

        # both rotate; the grace period passes (the knob at 0 on the next connect)
        for u, v in (("esther", ev), ("anna-d2", dv)):
            self.assertEqual(self.device_keys(u, rotate=True)["version"], v + 1)
            after = self.device_keys(u, env={"CASUS_WRAPKEY_GRACE": "0"})
            self.assertNotIn(v, after["held"], "%s still holds wrap secret %d: %r" % (u, v, after))

        grants, summary = stolen("esther")
        print("[thief of esther, after the grace period] %s %s" % (grants, summary))
        self.assertEqual(len(grants), 1, grants)
        self.assertFalse(grants[0]["opened"], "a key stolen after the rotation opens an older grant: %r" % grants)
        xfers, summary = stolen("anna-d2")
        print("[thief of the phone, after the grace period] %s %s" % (xfers, summary))
        self.assertEqual(len(xfers), 1, xfers)
        self.assertFalse(xfers[0]["opened"], "a key stolen after the rotation opens an older transfer: %r" % xfers)
        # the history stays readable from the local sealed copies
        self.assertIn("voor het delen", self.texts("esther", cid))
        self.assertIn("voor het delen", self.texts("anna-d2", cid))

    def record_of(self, user):
        dev = self.dep.ok(user, "whoami")["device"]
        r = self.raw(user, {"type": "dir.lookup", "devices": [dev]})
        self.assertTrue(r.get("ok"), r)
        return dev, r["devices"][0].get("wrapkey")

    def serve_record(self, victim_user, dev, record, hit):
        """The proxy answers victim_user's dir.lookup with `record` (None: no
        wrap key) for device dev."""
        def on_response(sess, req, resp):
            if sess.user != victim_user or req.get("type") != "dir.lookup" or not resp.get("ok"):
                return None
            devs = []
            for d in resp.get("devices", []):
                d = dict(d)
                if d.get("device") == dev:
                    if record is None:
                        d.pop("wrapkey", None)
                    else:
                        d["wrapkey"] = record
                    self.proxy.hit(hit)
                devs.append(d)
            return dict(resp, devices=devs)
        self.proxy.on_response = on_response
        self.via_proxy(victim_user)

    def test_verified_wrap_key_never_goes_back(self):
        for u in ("anna", "gijs"):
            self.device_keys(u)
        self.device_keys("esther")
        dev, old = self.record_of("esther")
        self.assertTrue(old)
        self.device_keys("esther", rotate=True)
        cid = self.new_casus("anna", ("esther", "gijs"))  # anna verifies esther's newest (and keeps it)
        epoch = self.dep.ok("anna", "members", cid)["epoch"]
        self.serve_record("anna", dev, old, "older")
        res = self.run_casus("anna", "rotate", cid)
        self.show("anna rotates while the server serves esther's older wrap key", res)
        self.assertHit("older")
        self.assertRefused(res, "rollback", "an older wrap key than one verified before")
        self.proxy.on_response = None
        self.direct("anna")
        self.assertEqual(self.dep.ok("anna", "members", cid)["epoch"], epoch, "a commit was posted")
        # without the kept state the older record is believed: the check is what refuses it
        os.unlink(os.path.join(self.dep.users["anna"], "wrapkeys.bin"))
        self.serve_record("anna", dev, old, "older")
        res = self.run_casus("anna", "rotate", cid)
        self.proxy.on_response = None
        self.direct("anna")
        self.assertEqual(res.rc, 0, "without wrapkeys.bin the older key is sealed to: %r" % res)
        self.assertEqual(self.dep.ok("anna", "members", cid)["epoch"], epoch + 1)

    def test_withheld_own_wrap_key_is_reported(self):
        self.device_keys("esther")
        dev, old = self.record_of("esther")
        self.device_keys("esther", rotate=True)
        for record, hit in ((old, "older_own"), (None, "no_own")):
            self.serve_record("esther", dev, record, hit)
            res = self.run_casus("esther", "list")
            self.show("esther connects while the directory returns %s" % hit, res)
            self.assertHit(hit)
            self.assertRefused(res, "withheld_wrapkey", "the directory withholds esther's newest wrap key")
            self.proxy.on_response = None
            self.direct("esther")
        self.assertEqual(self.run_casus("esther", "list").rc, 0)

    def test_stale_wrap_key_is_warned(self):
        for u in ("anna", "gijs"):
            self.device_keys(u)
        created = self.device_keys("esther")["created"]
        cid = self.new_casus("anna", ("esther", "gijs"))
        res = self.run_casus("anna", "rotate", cid)
        self.assertEqual(res.rc, 0, res)
        self.assertNotIn("stale_wrapkey", res.warnings(), "a fresh wrap key is not stale: %r" % res)
        # wait for the wall clock to pass created + 1 (asserts nothing about time)
        while int(time.time()) <= created + 1:
            time.sleep(0.2)
        env = dict(self.dep.env, CASUS_WRAPKEY_STALE="1")
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users["anna"], "--json", "rotate", cid], env=env,
                           capture_output=True, text=True, timeout=180)
        out = json.loads([x for x in p.stdout.splitlines() if x.strip()][-1])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        codes = [w.get("code") for w in out.get("warnings", [])]
        self.assertIn("stale_wrapkey", codes, "a wrap key older than the limit is reported: %r" % out)

    def test_live_view_follows_rotation_in_another_process(self):
        for u in ("anna", "gijs"):
            self.device_keys(u)
        self.device_keys("esther")
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.assertIn("Mevrouw A.", self.texts("esther", cid))
        proc = subprocess.Popen([harness.CASUS, "--profile", self.dep.users["esther"], "watch", cid, "--seconds",
                                 "300"], env=self.dep.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err, cond = [], [], threading.Condition()

        def pump(stream, into):
            for line in stream:
                with cond:
                    into.append(line)
                    cond.notify_all()
        threads = [threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, err), daemon=True)]
        for t in threads:
            t.start()

        def wait_for(pred, what, timeout=120):
            deadline = time.time() + timeout
            with cond:
                while not pred() and time.time() < deadline and proc.poll() is None:
                    cond.wait(timeout=0.5)
                ok = pred()
            self.assertTrue(ok, "%s: stdout %r stderr %r" % (what, "".join(out), "".join(err)))
        try:
            wait_for(lambda: any("watching" in x for x in err), "the watch never started")
            rot = self.device_keys("esther", rotate=True)  # another process of esther's profile
            self.dep.ok("anna", "rotate", cid)
            commit = self.dep.ok("anna", "members", cid)
            self.assertGreaterEqual(commit["epoch"], 1)
            self.dep.ok("anna", "post", cid, "na de vernieuwing")
            wait_for(lambda: any("na de vernieuwing" in x for x in out),
                     "the live process did not pick up wrap key %d" % rot["version"])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for t in threads:
                t.join(timeout=5)

    def test_server_keeps_newest_signed_wrap_key(self):
        """casusd stores the newest wrap key per device and refuses an older or
        equal version, a bad signature and another device's record."""
        def record(user):
            dev = self.dep.ok(user, "whoami")["device"]
            r = self.raw(user, {"type": "dir.lookup", "devices": [dev]})
            self.assertTrue(r.get("ok"), r)
            return r["devices"][0].get("wrapkey")
        self.device_keys("gijs")
        first = self.device_keys("esther")["version"]
        old = record("esther")
        self.assertTrue(old, "esther's wrap key is not in the directory")
        newer = self.device_keys("esther", rotate=True)["version"]
        self.assertEqual(newer, first + 1)
        cur = record("esther")
        self.assertNotEqual(cur, old)
        self.assertEqual(int.from_bytes(base64.b64decode(cur)[21:25], "big"), newer)
        # the same record again: answered, nothing changes
        same = self.raw("esther", {"type": "dir.publish", "wrapkey": cur})
        self.assertTrue(same.get("ok"), same)
        # rollback: the older, genuinely signed record is refused
        back = self.raw("esther", {"type": "dir.publish", "wrapkey": old})
        self.assertFalse(back.get("ok"), back)
        self.assertEqual(back["error"]["code"], "invalid", back)
        self.assertEqual(record("esther"), cur, "the server went back to an older wrap key")
        # a record with a higher version but a key the device did not sign
        forged = bytearray(base64.b64decode(cur))
        forged[21:25] = (newer + 5).to_bytes(4, "big")
        bad = self.raw("esther", {"type": "dir.publish", "wrapkey": base64.b64encode(bytes(forged)).decode()})
        self.assertFalse(bad.get("ok"), bad)
        self.assertEqual(bad["error"]["code"], "bad_signature", bad)
        # gijs's record published over esther's session
        foreign = self.raw("esther", {"type": "dir.publish", "wrapkey": record("gijs")})
        self.assertFalse(foreign.get("ok"), foreign)
        self.assertEqual(foreign["error"]["code"], "forbidden", foreign)
        # wrong length
        short = self.raw("esther", {"type": "dir.publish", "wrapkey": base64.b64encode(bytes(forged[:100])).decode()})
        self.assertFalse(short.get("ok"), short)
        self.assertEqual(record("esther"), cur)

    def test_server_swaps_wrap_key(self):
        for u in ("anna", "esther", "gijs"):
            self.device_keys(u)
        cid = self.new_casus("anna", ("esther", "gijs"))
        epoch_before = self.dep.ok("anna", "members", cid)["epoch"]
        esther_dev = self.dep.ok("esther", "whoami")["device"]

        def on_response(sess, req, resp):
            if sess.user != "anna" or req.get("type") != "dir.lookup" or not resp.get("ok"):
                return None
            devs = []
            for d in resp.get("devices", []):
                d = dict(d)
                if d.get("device") == esther_dev and d.get("wrapkey"):
                    rec = bytearray(base64.b64decode(d["wrapkey"]))
                    rec[33:65] = os.urandom(32)  # the server's own X25519 key, the signature left as it was
                    d["wrapkey"] = base64.b64encode(bytes(rec)).decode()
                    self.proxy.hit("swapped")
                devs.append(d)
            return dict(resp, devices=devs)
        self.proxy.on_response = on_response
        self.via_proxy("anna")
        res = self.run_casus("anna", "rotate", cid)
        self.show("anna rotates while the server swaps esther's wrap key", res)
        self.assertHit("swapped")
        self.assertRefused(res, "bad_signature", "a wrap key not signed by esther's identity key")
        self.proxy.on_response = None
        self.direct("anna")
        self.assertEqual(self.dep.ok("anna", "members", cid)["epoch"], epoch_before,
                         "a commit was posted although a wrap key did not verify")


if __name__ == "__main__":
    hostile.main()
