"""
test_withheld_box.py: a withheld version 4 box (issue 17; docs/CRYPTO.md
"Boxes beside the signed part", threat row 17).

casusd stores a version 4 commit's sealed key boxes apart from the signed
part and may delete the ones no current device needs (box retention). A
hostile server could use that to hide an epoch key from a member: it strips
the member's boxes from the commit.fetch answer, and a client that takes
every missing box for retention applies the epoch without its key and says
nothing. Retention never deletes a box sealed to the device's newest wrap
key while the device is a member, so the client can tell the two apart.

1. The proxy strips esther's boxes from the head commit (anna's rotation,
   sealed to esther's newest wrap key). esther's `casus history` must be
   refused `withheld_box` (exit 5), and her copy on disk must not keep the
   stripped commit: served honestly again, she reads the note posted in that
   epoch.
2. The legitimate case, end to end: esther rotates her wrap key, anna rotates
   the casus (sealed to the new key), casusd (grace 2 s) deletes esther's
   epoch-0 boxes (sealed to the older key; polled in the store through a raw
   commit.fetch, generous deadline). esther, without a local copy, loads the
   chain from casusd: no `withheld_box`, exit 0, the new epoch's note read.
   tests/security/test_box_retention.py covers the rest of retention.
"""
import base64
import glob
import os
import time

import hostile  # puts tests/integration on the path

import harness  # noqa: E402

GRACE_S = 2


class WithheldBox(hostile.HostileTest):
    users = hostile.users("anna", "esther", "gijs")
    config = {"boxes": {"wrap_grace_s": GRACE_S}}

    def wrap_version(self, user, rotate=False):
        out = self.dep.ok(user, "sleutel", "vernieuwen" if rotate else "toon")
        return out["version"]

    def forget_copy(self, user, cid):
        for f in glob.glob(os.path.join(self.dep.users[user], "cache", cid + "*")):
            os.unlink(f)

    def test_stripped_box_refused(self):
        for u in ("anna", "gijs"):
            self.wrap_version(u)
        v1 = self.wrap_version("esther")
        self.assertGreaterEqual(v1, 1)
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "voor de rotatie")
        self.assertIn("voor de rotatie", self.texts("esther", cid))
        self.dep.ok("anna", "rotate", cid)
        self.dep.ok("anna", "post", cid, "na de rotatie")
        dev = bytes.fromhex(self.dep.ok("esther", "whoami")["device"])

        def strip(sess, req, resp):
            if sess.user != "esther" or req.get("type") != "commit.fetch" or req.get("casus") != cid \
                    or not resp.get("ok"):
                return None
            commits = []
            for c in resp["commits"]:
                raw = base64.b64decode(c["commit"])
                sec = hostile.box_section(raw, dev)
                if c["epoch"] == 1 and sec:
                    raw = raw[:sec[1] - 2]   # the signed part only: as if no box were stored
                    self.proxy.hit("stripped")
                commits.append(dict(c, commit=base64.b64encode(raw).decode()))
            return dict(resp, commits=commits)

        self.proxy.on_response = strip
        self.via_proxy("esther")
        res = self.run_casus("esther", "history", cid)
        self.show("esther loads the casus through a server that strips her box of epoch 1", res)
        self.assertHit("stripped", "esther's boxes of epoch 1 (sealed to her newest wrap key)")
        self.assertRefused(res, "withheld_box", "a box sealed to esther's newest wrap key was withheld")
        self.assertNotIn("na de rotatie", res.stdout)
        again = self.run_casus("esther", "history", cid)
        self.assertRefused(again, "withheld_box", "the second load through the same server")

        # served honestly again: the stripped commit was not kept, the box comes now
        self.proxy.on_response = None
        self.direct("esther")
        texts = self.texts("esther", cid)
        print("[esther, served honestly] %s" % texts)
        self.assertIn("na de rotatie", texts)
        self.assertIn("voor de rotatie", texts)

    def test_retention_not_flagged(self):
        for u in ("anna", "gijs"):
            self.wrap_version(u)
        v1 = self.wrap_version("esther")
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "voor de rotatie")
        self.assertIn("voor de rotatie", self.texts("esther", cid))
        v2 = self.wrap_version("esther", rotate=True)
        self.assertEqual(v2, v1 + 1)
        self.dep.ok("anna", "rotate", cid)
        self.dep.ok("anna", "post", cid, "na de rotatie")
        dev = bytes.fromhex(self.dep.ok("esther", "whoami")["device"])

        deadline = time.monotonic() + 180
        while True:
            r = self.raw("esther", {"type": "commit.fetch", "casus": cid, "from": 0})
            self.assertTrue(r.get("ok"), r)
            if hostile.box_section(base64.b64decode(r["commits"][0]["commit"]), dev) is None:
                break
            if time.monotonic() > deadline:
                self.fail("esther's epoch-0 boxes are still served 180 s after the rotation with a grace of "
                          "%d s\n%s" % (GRACE_S, self.srv.log()[-3000:]))
            time.sleep(1)
        self.assertIsNotNone(hostile.box_section(base64.b64decode(r["commits"][1]["commit"]), dev))

        # esther loads the whole chain from casusd again (no local copy)
        self.forget_copy("esther", cid)
        res = self.run_casus("esther", "history", cid)
        self.show("esther loads the chain after box retention deleted her epoch-0 boxes", res)
        self.assertEqual(res.rc, 0, res)
        texts = [m.get("text") for m in res.out["messages"] if m.get("verified")]
        self.assertIn("na de rotatie", texts)


if __name__ == "__main__":
    harness.main()
