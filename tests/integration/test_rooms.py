"""
test_rooms.py: server-side pieces of issue 12 that clients rely on.

- `revlist.get` hands out the revocation list exactly as casusd loaded it
  (before and after authentication), or null and number 0 without one.
- A commit dated more than 300 s after casusd's wall clock is refused as
  `invalid` ("commit time is in the future"), for `commit.post` and for
  `casus.create`; nothing of it is stored. The client runs under faketime.
- The reason of a level change or of `casus.close` is the members' text: it is
  in no audit entry and in no escalation notice. The closing reason is an
  end-to-end encrypted note the members read; casusd refuses a `casus.close`
  that carries a "reason" (an older client), so it never reaches the server.
"""
import base64
import os
import re
import subprocess
import uuid

import harness
import rawws
from casus_util import code, raw

FAKETIME = "/usr/bin/faketime"


class EmptyRevlist(harness.CasusTest):

    def test_revlist_get_with_the_empty_list(self):
        # casusd does not start without a list; the harness gives it an empty one (number 1)
        rc, resps, _ = raw(self.dep, "anna", [{"type": "revlist.get"}])
        self.assertEqual(code(resps[0]), "ok", resps)
        with open(self.dep.revlist, "rb") as f:
            self.assertEqual(base64.b64decode(resps[0]["revlist"]), f.read())
        self.assertEqual(resps[0]["number"], 1)


class Rooms(harness.CasusTest):
    users = harness.DEFAULT_USERS + [("rita", "casemanager", "Rita Oud", "Leger des Heils")]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # rita's device is revoked: the list casusd is started with
        cls.revlist = os.path.join(cls.dep.dir, "revoked.bin")
        p = cls.dep.admin("revoke", "--keystore", cls.dep.root_ks, "--cert",
                          os.path.join(cls.dep.certs, "rita-d1.cert"), "--list", cls.dep.revlist, "--out",
                          cls.revlist)
        cls.revnumber = int(re.search(r"revocation list (\d+)", p.stdout).group(1))
        cls.config = {"revocations": cls.revlist, "audit": {"checkpoint_every": 5, "checkpoint_secs": 1}}

    def test_revlist_get_after_auth(self):
        rc, resps, _ = raw(self.dep, "anna", [{"type": "revlist.get"}])
        self.assertEqual(code(resps[0]), "ok", resps)
        with open(self.revlist, "rb") as f:
            self.assertEqual(base64.b64decode(resps[0]["revlist"]), f.read())
        self.assertEqual(resps[0]["number"], self.revnumber)
        self.assertGreaterEqual(self.revnumber, 1)

    def test_revlist_get_before_auth(self):
        async def script(ws):
            await rawws.request(ws, {"id": 1, "type": "hello", "version": 1})
            return await rawws.request(ws, {"id": 2, "type": "revlist.get"})
        r = rawws.run(self.dep.url, script)
        self.assertTrue(r["ok"], r)
        with open(self.revlist, "rb") as f:
            self.assertEqual(base64.b64decode(r["revlist"]), f.read())
        self.assertEqual(r["number"], self.revnumber)
        # the revoked device itself is still refused
        rc, out, err = self.dep.cli("rita", "list")
        self.assertNotEqual(rc, 0, (out, err))

    def future(self, user, *args, offset="+1h"):
        """Run `casus --json ARGS` as user with the client's clock an hour ahead."""
        env = dict(self.dep.env, ASAN_OPTIONS="verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
        p = subprocess.run([FAKETIME, "-f", offset, harness.CASUS, "--profile", self.dep.users[user], "--json",
                            *args], env=env, capture_output=True, text=True, timeout=120)
        lines = [x for x in p.stdout.splitlines() if x.strip()]
        import json
        return p.returncode, (json.loads(lines[-1]) if lines else None), p.stderr

    def test_commit_time_in_the_future(self):
        self.assertTrue(os.path.exists(FAKETIME), "faketime is needed (deploy/install-deps.sh)")
        cid = self.new_casus()
        before = self.dep.ok("anna", "list")["casus"][0]
        rc, out, err = self.future("anna", "escalate", cid, "2", "--reason", "te vroeg")
        self.assertNotEqual(rc, 0, (out, err))
        self.assertEqual(out["error"]["code"], "invalid", (out, err))
        self.assertIn("commit time is in the future", out["error"]["message"])
        after = self.dep.ok("anna", "list")["casus"][0]
        self.assertEqual((after["epoch"], after["level"]), (before["epoch"], before["level"]))
        # within the skew it is fine
        rc, out, err = self.future("anna", "escalate", cid, "2", "--reason", "bijna nu", offset="+60s")
        self.assertEqual(rc, 0, (out, err))
        # a casus created with a clock an hour ahead is refused too
        n = len(self.dep.ok("anna", "list")["casus"])
        rc, out, err = self.future("anna", "new", "--title", "Later", "--purpose", "Zorgcoordinatie", "--basis",
                                   "Wmo 2015", "--member", "esther")
        self.assertNotEqual(rc, 0, (out, err))
        self.assertEqual(out["error"]["code"], "invalid", (out, err))
        self.assertIn("commit time is in the future", out["error"]["message"])
        self.assertEqual(len(self.dep.ok("anna", "list")["casus"]), n)

    def test_reasons_stay_out_of_the_trail_and_notices(self):
        secret_esc = "ESC-" + uuid.uuid4().hex
        secret_close = "CLOSE-" + uuid.uuid4().hex
        cid = self.new_casus()
        self.dep.ok("anna", "escalate", cid, "3", "--reason", secret_esc)
        # an old client's close with the reason in it is refused, nothing closes
        rc, resps, _ = raw(self.dep, "anna", [{"type": "casus.close", "casus": cid, "reason": secret_close}])
        self.assertEqual(code(resps[0]), "bad_request", resps)
        self.assertIn("encrypted note", resps[0]["error"]["message"])
        self.dep.ok("anna", "post", cid, "nog open")
        self.dep.ok("anna", "close", cid, "--reason", secret_close)
        # the members read the reason as the closing note
        self.assertIn("Casus gesloten / closed: " + secret_close, self.texts("esther", cid))
        rc, out, _ = self.dep.cli("anna", "post", cid, "te laat")
        self.assertNotEqual(rc, 0, out)
        notices = self.dep.ok("paula", "list")["notices"]
        self.assertEqual([(x["casus"], x["level"]) for x in notices], [(cid, 3)])
        self.assertNotIn(secret_esc, repr(notices))
        key = self.dep.ok("fenna", "audit", "key")["audit_key"]
        out = self.dep.ok("fenna", "audit", "--key", key)
        self.assertTrue(out["verified"], out)
        es = out["entries"]
        self.assertTrue([e for e in es if e["event"] == "casus_close" and e["casus"] == cid], es[-5:])
        self.assertTrue([e for e in es if e["event"] == "commit_level" and e["casus"] == cid], es[-5:])
        self.assertNotIn(secret_esc, repr(es))
        self.assertNotIn(secret_close, repr(es))
        # nor anywhere in the store's files
        for name in os.listdir(self.srv.data):
            path = os.path.join(self.srv.data, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    blob = f.read()
                self.assertNotIn(secret_close.encode(), blob, name)


if __name__ == "__main__":
    harness.main()
