"""
test_retention.py: closing a casus and purging its content after retention.

A casus opened with a retention of 0 days is purged at the server's next
retention check after it is closed (within about ten seconds); a casus with the
default retention is closed but keeps its content. The purge is an audit entry,
and the audit trail still verifies.
"""
import json
import os
import subprocess
import time
import uuid

import harness


class Retention(harness.CasusTest):

    def raw(self, user, *reqs):
        lines = "".join(json.dumps(r) + "\n" for r in reqs)
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], "raw"], env=self.dep.env,
                           capture_output=True, text=True, input=lines, timeout=60)
        return [json.loads(x) for x in p.stdout.splitlines() if x.strip() and '"push"' not in x]

    def test_close_then_purge(self):
        marker = "BEWAAR-" + uuid.uuid4().hex
        short = self.dep.ok("anna", "new", "--title", "Kort", "--purpose", "Kortlopend", "--basis", "Wmo 2015",
                            "--retention-days", "0", "--member", "esther", "--member", "gijs")["casus"]
        keep = self.new_casus(title="Lang")
        self.dep.ok("anna", "post", short, marker)
        self.dep.ok("anna", "post", keep, marker)
        self.assertIn(marker, self.texts("gijs", short))

        # only a member who directs the casus may close it
        rc, out, _ = self.dep.cli("esther", "close", short, "--reason", "klaar")
        self.assertEqual(rc, 1)
        self.assertEqual(out["error"]["code"], "forbidden")
        rc, out, _ = self.dep.cli("anna", "close", short)
        self.assertEqual(rc, 2)

        out = self.dep.ok("anna", "close", short, "--reason", "doelen bereikt")
        self.assertLessEqual(out["purge_after"], int(time.time()) + 1)
        self.dep.ok("anna", "close", keep, "--reason", "doelen bereikt")

        # closed: nothing new, reading still works for the kept one
        rc, out, _ = self.dep.cli("anna", "post", keep, "na sluiting")
        self.assertNotEqual(rc, 0)
        self.assertIn(marker, self.texts("gijs", keep))
        rc, out, _ = self.dep.cli("anna", "add", keep, "karel")
        self.assertNotEqual(rc, 0)
        listed = {c["casus"]: c for c in self.dep.ok("anna", "list")["casus"]}
        self.assertIn("closed_at", listed[keep])

        # the short one disappears at the next retention check
        deadline = time.time() + 30
        while time.time() < deadline:
            r = self.raw("gijs", {"type": "history", "casus": short})
            if r and not r[0]["ok"] and r[0]["error"]["code"] == "not_found":
                break
            time.sleep(1)
        else:
            self.fail("the casus was not purged: %s" % r)
        for t in ("commit.fetch", "grant.fetch", "msg.post"):
            r = self.raw("anna", {"type": t, "casus": short, "msg": "AAAA"})
            self.assertEqual(r[0]["error"]["code"], "not_found", (t, r))
        self.assertNotIn(short, [c["casus"] for c in self.dep.ok("anna", "list")["casus"]])
        # the id is never reused, the kept casus is untouched
        self.assertIn(marker, self.texts("esther", keep))

        # the audit trail tells: closed, purged (with purpose and basis), and still verifies
        key = self.dep.ok("fenna", "audit", "key")["audit_key"]
        out = self.dep.ok("fenna", "audit", "--key", key, "--casus", short)
        events = [(e["event"], e["outcome"]) for e in out["entries"]]
        self.assertIn(("casus_close", "success"), events)
        self.assertIn(("casus_close", "denied"), events)
        purge = [e for e in out["entries"] if e["event"] == "purge"]
        self.assertEqual(len(purge), 1, events)
        self.assertEqual((purge[0]["purpose"], purge[0]["legal_basis"]), ("Kortlopend", "Wmo 2015"))
        # one more than before the closing reason became a note (the refused non-director posted none)
        self.assertIn("messages 3", purge[0]["object"])
        self.assertNotIn(marker, json.dumps(out))
        bk = os.path.join(self.dep.dir, "bk-" + uuid.uuid4().hex[:6])
        subprocess.run([harness.CASUSD, "backup", "--data", self.srv.data, "--out", bk], check=True,
                       capture_output=True)
        rc, out, err = self.dep.cli("fenna", "audit", "verify", "--backup", bk, "--key", key)
        self.assertEqual(rc, 0, (out, err))

    def test_purge_survives_restart_and_keeps_other_casus(self):
        short = self.dep.ok("anna", "new", "--title", "Kort", "--purpose", "Kort", "--basis", "Wmo 2015",
                            "--retention-days", "0", "--member", "gijs")["casus"]
        other = self.new_casus()
        self.dep.ok("anna", "post", other, "blijft")
        self.dep.ok("anna", "close", short, "--reason", "klaar")
        # restart before the check: the closing is durable, the purge still happens
        self.srv.stop()
        self.srv.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            if short not in [c["casus"] for c in self.dep.ok("anna", "list")["casus"]]:
                break
            time.sleep(1)
        else:
            self.fail("not purged after restart")
        self.assertIn("blijft", self.texts("gijs", other))
        self.dep.ok("anna", "post", other, "nog open")


if __name__ == "__main__":
    harness.main()
