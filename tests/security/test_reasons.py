"""
test_reasons.py: move 14, case content in the clear.

Commit reasons are case content ("signalen van uitbuiting"). Anna escalates,
removes a member, rotates, shares an earlier note with a returning member
(grant v2: the reason in a box for the grantees) and closes the casus with
reasons carrying a unique
marker (the closing reason goes to the members as an encrypted note); every
profile talks through the proxy, so the proxy sees exactly what the server
sees. Afterwards the marker is searched (test_plaintext.py's encodings: raw,
UTF-16, base64 at every alignment, hex) in: casusd's LMDB files and log, every
frame the server received or sent, the privacy officer's audit export, and
what a process director who is no member receives (the escalation notice in
`casus list`). Contract: found nowhere; a notice to a non-member says only
which casus needs them and at which level. Members read the reason in
`casus members` and the closing note in `casus history` (decrypted by their device). The casus purpose (stored in the
clear by design) must be found by the same search, so the test can fail.
"""
import json
import os
import secrets

import unittest

import hostile
import test_plaintext


class Reasons(hostile.HostileTest):
    users = hostile.users("anna", "esther", "gijs", "paula", "fenna")

    def test_reasons_never_in_the_clear(self):
        marker = "UITBUITING-" + secrets.token_hex(10)
        purpose = "DOEL-" + secrets.token_hex(10)
        self.via_proxy("anna", "esther", "gijs", "paula", "fenna")
        cid = self.new_casus("anna", ("esther", "gijs"), purpose=purpose)
        reason = "signalen van uitbuiting %s" % marker
        self.dep.ok("anna", "escalate", cid, "3", "--reason", reason)
        post = self.dep.ok("anna", "post", cid, "notitie voor later")
        self.dep.ok("anna", "remove", cid, "esther", "--reason", reason)
        self.dep.ok("anna", "rotate", cid, "--reason", reason)
        # members read the reason: decrypted by their own device
        seen = self.dep.ok("gijs", "members", cid)
        reasons = {ch["type"]: ch.get("reason") for ch in seen["changes"]}
        print("[member] gijs reads the changes: %s" % seen["changes"])
        for kind in ("escalate", "remove", "rotate"):
            self.assertEqual(reasons.get(kind), reason, "gijs cannot read the %s reason" % kind)
        text = self.run_casus("gijs", "members", cid, json_out=False)
        self.assertIn(marker, text.stdout, "the reason is not shown in the text output")
        # a grant's reason: esther comes back and gets the earlier note shared
        self.dep.ok("anna", "add", cid, "esther")
        self.dep.ok("anna", "share", cid, "--to", "esther", "--messages", post["id"], "--ground", "consent",
                    "--reason", reason)
        got = [m.get("text") for m in self.dep.ok("esther", "history", cid)["messages"] if m.get("verified")]
        self.assertIn("notitie voor later", got, "esther cannot read the shared note")
        # the closing reason: an end-to-end encrypted note the members read
        self.dep.ok("anna", "close", cid, "--reason", reason)
        notes = [m.get("text") for m in self.dep.ok("gijs", "history", cid)["messages"] if m.get("verified")]
        self.assertIn("Casus gesloten / closed: " + reason, notes)
        notices = self.run_casus("paula", "list")
        self.show("paula (procesregisseur, no member) lists her notices", notices)
        key = self.dep.ok("fenna", "audit", "key")["audit_key"]
        export = os.path.join(self.dep.dir, "audit-export.jsonl")
        self.dep.ok("fenna", "audit", "export", "--format", "jsonl", "--out", export, "--key", key)

        files = [os.path.join(r, n) for r, _, ns in os.walk(self.srv.data) for n in ns]
        self.assertTrue([f for f in files if f.endswith("data.mdb")], files)
        frames = os.path.join(self.dep.dir, "proxy-frames.json")
        with open(frames, "w") as f:
            json.dump([fr[3] for fr in self.proxy.frames], f)
        paula_out = os.path.join(self.dep.dir, "paula-list.txt")
        with open(paula_out, "w") as f:
            f.write(notices.stdout)
        self.srv.stop()  # flushes the log; LMDB is on disk already
        places = files + [self.srv.log_path, frames, export, paula_out]
        control = test_plaintext.scan(files, purpose)
        self.assertTrue(control, "the search cannot find the purpose that casusd stores in the clear")
        hits = test_plaintext.scan(places, marker)
        print("[server side] the reason is readable in: %s" % sorted({(os.path.basename(p), e) for p, e in hits}))
        self.assertEqual(hits, [], "a commit, grant or closing reason is readable by the server")
        self.srv = hostile.harness.Server(self.dep, self.config, data_dir=self.srv.data).start()


if __name__ == "__main__":
    hostile.main()
