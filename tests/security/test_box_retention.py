"""
test_box_retention.py: the server deletes sealed boxes no current device needs
(issue 17; docs/STORAGE.md "Box retention", docs/CRYPTO.md section 6).

1. After a rotation and the grace period, the old boxes are gone from the
   store. Esther publishes wrap key v1, anna opens a casus (esther's boxes are
   sealed to v1), esther rotates to v2 (her client keeps the secret of v1 for
   its own 14 days), anna rotates the casus (the new epoch is sealed to v2).
   casusd runs with boxes.wrap_grace_s = 2. Before the sweep the thief
   (casus_wrap_steal: a copy of the store and esther's keystore, which still
   holds v1) opens esther's epoch-0 boxes: the test can fail. The test then
   waits (polling, generous deadline) until the store no longer holds them;
   the same thief then opens nothing of epoch 0, while epoch 1 (v2) and the
   boxes of members who did not rotate stay. Members still read new notes,
   and the chain still verifies for a member that loads it again.
2. A hostile server that swaps one of a member's boxes (two of her own boxes
   of one commit exchanged in the commit.fetch answer) is refused: the box
   does not match the digest the commit's author signed (exit 5, tampered).
"""
import base64
import json
import os
import subprocess
import time

import hostile  # puts tests/integration on the path
from hostile import Reply  # noqa: F401  (the hook API)

import harness  # noqa: E402

GRACE_S = 2


def steal(data_dir, keystore, passfile):
    tool = os.path.join(harness.BUILD, "tests", "security", "casus_wrap_steal")
    p = subprocess.run([tool, data_dir, keystore, passfile], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("casus_wrap_steal failed: %s" % p.stderr)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return lines[:-1], lines[-1]


class BoxRetention(hostile.HostileTest):
    users = hostile.users("anna", "esther", "gijs")
    config = {"boxes": {"wrap_grace_s": GRACE_S}}

    def device_keys(self, user, rotate=False):
        args = [harness.CASUS, "--profile", self.dep.users[user], "--json", "sleutel",
                "vernieuwen" if rotate else "toon"]
        p = subprocess.run(args, env=self.dep.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, "casus sleutel: %s %s" % (p.stdout, p.stderr))
        return json.loads([x for x in p.stdout.splitlines() if x.strip()][-1])

    def test_old_boxes_deleted_after_rotation_and_grace(self):
        for u in ("anna", "gijs"):
            self.device_keys(u)
        v1 = self.device_keys("esther")["version"]
        self.assertGreaterEqual(v1, 1)
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "voor de rotatie")
        self.assertIn("voor de rotatie", self.texts("esther", cid))
        rot = self.device_keys("esther", rotate=True)
        v2 = rot["version"]
        self.assertEqual(v2, v1 + 1, rot)
        self.assertIn(v1, rot["held"], "the client keeps the old secret for its grace period")
        self.dep.ok("anna", "rotate", cid)
        self.dep.ok("anna", "post", cid, "na de rotatie")
        self.assertIn("na de rotatie", self.texts("esther", cid))

        ks = os.path.join(self.dep.users["esther"], "keys.casusks")

        def esther_boxes():
            boxes, summary = steal(self.srv.data, ks, self.dep.passfile)
            by_epoch = {}
            for b in boxes:
                if b["casus"] == cid and b.get("kind") == "commit":
                    by_epoch.setdefault(b["epoch"], []).append(b)
            return by_epoch, summary

        # the thief may be early: then epoch 0 is still on the disk and opens
        # with v1 (proof that the thief works); either way the sweep must come
        first, summary = esther_boxes()
        print("\n[thief, first look] %s" % summary)
        self.assertEqual(sorted(first), [0, 1], first)
        self.assertEqual({b["wrap"] for b in first[0]}, {v1})
        self.assertEqual({b["wrap"] for b in first[1]}, {v2})
        self.assertIn(v1, summary["keys"], "the stolen keystore must still hold v1 (else the test proves nothing)")
        for b in first[0]:
            self.assertEqual(b["opened"], b["stored"], "a stored v1 box must open with the stolen v1: %r" % b)

        deadline = time.monotonic() + 180
        while True:
            now, summary = esther_boxes()
            if not any(b["stored"] for b in now[0]):
                break
            if time.monotonic() > deadline:
                self.fail("esther's epoch-0 boxes (sealed to v1) are still stored 180 s after the rotation "
                          "with a grace of %d s: %r\n%s" % (GRACE_S, now[0], self.srv.log()[-3000:]))
            time.sleep(1)
        print("[thief, after the sweep] %s" % summary)
        self.assertFalse([b for b in now[0] if b["opened"]], "a key stolen after the rotation opens an older epoch")
        self.assertTrue(now[1] and all(b["stored"] and b["opened"] and b["with"] == "wrap %d" % v2 for b in now[1]),
                        "the current epoch (v2) must stay and open: %r" % now[1])
        self.assertIn("boxes.deleted", self.srv.log())

        # gijs did not rotate: his boxes stay
        gk = os.path.join(self.dep.users["gijs"], "keys.casusks")
        gb, _ = steal(self.srv.data, gk, self.dep.passfile)
        g0 = [b for b in gb if b["casus"] == cid and b["epoch"] == 0]
        self.assertTrue(g0 and all(b["stored"] and b["opened"] for b in g0), g0)

        # members still read new notes, and esther still posts
        self.dep.ok("anna", "post", cid, "na het opruimen")
        self.assertIn("na het opruimen", self.texts("esther", cid))
        self.assertIn("na het opruimen", self.texts("gijs", cid))
        self.dep.ok("esther", "post", cid, "esther na het opruimen")
        self.assertIn("esther na het opruimen", self.texts("anna", cid))
        # the signed chain in the store is intact: a raw fetch from epoch 0 gives
        # every commit, and the one of epoch 0 holds no box for esther any more
        r = self.raw("esther", {"type": "commit.fetch", "casus": cid, "from": 0})
        self.assertTrue(r.get("ok"), r)
        self.assertEqual([c["epoch"] for c in r["commits"]], [0, 1])
        dev = bytes.fromhex(self.dep.ok("esther", "whoami")["device"])
        self.assertIsNone(hostile.box_section(base64.b64decode(r["commits"][0]["commit"]), dev))
        self.assertIsNotNone(hostile.box_section(base64.b64decode(r["commits"][1]["commit"]), dev))

    def test_swapped_box_refused(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "eerste notitie")
        dev = bytes.fromhex(self.dep.ok("esther", "whoami")["device"])

        def swap(sess, req, resp):
            if sess.user != "esther" or req.get("type") != "commit.fetch" or req.get("casus") != cid \
                    or not resp.get("ok"):
                return None
            commits = []
            for c in resp["commits"]:
                raw = bytearray(base64.b64decode(c["commit"]))
                sec = hostile.box_section(bytes(raw), dev)
                if c["epoch"] == 0 and sec and sec[0] >= 2:
                    n, at = sec
                    a = bytes(raw[at + 17:at + hostile.BOX_ENTRY])
                    b = bytes(raw[at + hostile.BOX_ENTRY + 17:at + 2 * hostile.BOX_ENTRY])
                    raw[at + 17:at + hostile.BOX_ENTRY] = b
                    raw[at + hostile.BOX_ENTRY + 17:at + 2 * hostile.BOX_ENTRY] = a
                    self.proxy.hit("swapped")
                commits.append(dict(c, commit=base64.b64encode(bytes(raw)).decode()))
            return dict(resp, commits=commits)
        self.proxy.on_response = swap
        self.via_proxy("esther")
        res = self.run_casus("esther", "history", cid)
        self.show("esther loads the casus through a server that swapped two of her boxes", res)
        self.assertHit("swapped", "esther's boxes of epoch 0")
        self.assertNotEqual(res.rc, 0, "a swapped box was accepted: %r" % res)
        self.assertEqual(res.code, "tampered", res)
        # the others are not affected: gijs, served honestly, reads
        self.assertIn("eerste notitie", self.texts("gijs", cid))


if __name__ == "__main__":
    harness.main()
