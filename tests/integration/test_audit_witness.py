"""
test_audit_witness.py: an audit trail with witnesses (issue 17).

The operator holds the audit key, so the key alone cannot show that the
operator rewrote the trail: whoever holds it can change an entry, recompute
every later hash and re-sign every checkpoint. Evidence outside the operator's
machine can: the privacy officer's device countersigns (cosigns) each
checkpoint it verified (`casus audit witness`), casusd keeps the
cosignatures, and the device remembers the newest checkpoint it signed.

- A rewrite with re-signed checkpoints (tests/tools/audit_rewrite.c, offline
  on the LMDB store with the audit key) is caught by the stored
  cosignatures (`witness_mismatch`) in a backup, an export and online, and
  by the witness's own state even when the operator deletes the
  cosignatures too; the witness then signs nothing and keeps its state.
- A prune past the checkpoint the officer remembered fails verification
  (`not_extending`) and leaves the remember file as it was, unless the new
  anchor is countersigned by the pinned witness key.
- `casus audit verify` reports which checkpoints are witnessed and by whom.
"""
import json
import os
import subprocess
import uuid

import harness

FAULT_EXIT = 5
REWRITE = os.path.join(harness.BUILD, "tests", "audit_rewrite")


def read(path):
    with open(path) as f:
        return f.read()


def lines(path):
    with open(path) as f:
        return [json.loads(x) for x in f]


def run(*args, check=True, timeout=120):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (args[:2], p.returncode, p.stdout, p.stderr))
    return p


class Witness(harness.CasusTest):
    config = {"audit": {"checkpoint_every": 5, "checkpoint_secs": 1}}

    def setUp(self):
        super().setUp()
        self.key = self.dep.ok("fenna", "audit", "key")["audit_key"]
        # a fresh witness state per test: the profile keeps the newest checkpoint cosigned
        self.state = os.path.join(self.dep.users["fenna"], "audit_witness.cp")
        if os.path.exists(self.state):
            os.unlink(self.state)

    def activity(self, n=4):
        cid = self.new_casus()
        for i in range(n):
            self.dep.ok("anna", "post", cid, "bericht %d" % i)
            self.texts("esther", cid)
        return cid

    def backup(self, name="bk"):
        out = os.path.join(self.dep.dir, "%s-%s" % (name, uuid.uuid4().hex[:8]))
        run(harness.CASUSD, "backup", "--data", self.srv.data, "--out", out)
        return out

    def verify(self, *args):
        return self.dep.cli("fenna", "audit", "verify", *args, "--key", self.key)

    def restart(self):
        self.srv = harness.Server(self.dep, self.config, data_dir=self.srv.data).start()

    def test_rewrite_with_resigned_checkpoints_is_caught_by_the_witness(self):
        self.activity()
        w = self.dep.ok("fenna", "audit", "witness", "--key", self.key)
        self.assertGreaterEqual(w["cosigned"], 2, w)
        self.assertTrue(w["verified"], w)
        self.assertIsNone(w["extends_seq"])
        wkey = w["witness_key"]
        signed_seq = w["newest_seq"]
        # the server kept them: online, in a backup and in an export the checkpoints are witnessed by fenna
        q = self.dep.ok("fenna", "audit", "--key", self.key)
        self.assertGreaterEqual(q["witnessed"], 2, q)
        self.assertEqual(q["last_witness"], "fenna")
        self.assertEqual(q["last_witness_key"], wkey)
        bk = self.backup()
        rc, out, err = self.verify("--backup", bk, "--witness", wkey)
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(out["last_witnessed_seq"], signed_seq, out)
        self.assertEqual(out["last_witness"], "fenna")
        exp = os.path.join(self.dep.dir, "witnessed-%s.jsonl" % uuid.uuid4().hex[:6])
        self.dep.ok("fenna", "audit", "export", "--format", "jsonl", "--out", exp, "--key", self.key)
        self.assertTrue(any(r["type"] == "cosign" for r in lines(exp)))
        rc, out, err = self.verify(exp)
        self.assertEqual(rc, 0, (out, err))
        self.assertGreaterEqual(out["witnessed"], 2, out)
        # a second round: the trail extends what it signed, nothing signed twice
        self.dep.ok("anna", "list")
        w2 = self.dep.ok("fenna", "audit", "witness", "--key", self.key)
        self.assertEqual(w2["extends_seq"], signed_seq, w2)
        state = read(self.state)

        # the operator stops casusd and rewrites a message_post entry sealed by a witnessed
        # checkpoint, recomputes the chain and re-signs every checkpoint with the audit key
        posts = [e for e in q["entries"] if e["event"] == "message_post" and e["seq"] < signed_seq]
        victim = posts[0]["seq"]
        self.srv.stop()
        forged = os.path.join(self.dep.dir, "forged-%s" % uuid.uuid4().hex[:6])
        run("cp", "-r", self.srv.data, forged)
        run(REWRITE, forged, str(victim), "access_point", "192.0.2.66:4444")
        # the audit key alone is satisfied: the re-signed trail without its witnesses verifies
        bare = os.path.join(self.dep.dir, "bare-%s" % uuid.uuid4().hex[:6])
        run("cp", "-r", forged, bare)
        run(REWRITE, bare, str(victim), "access_point", "192.0.2.66:4444", "--drop-cosigns")
        rc, out, err = self.verify("--backup", bare)
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(out["witnessed"], 0, out)
        # the cosignatures kept by the server catch it
        rc, out, err = self.verify("--backup", forged)
        self.assertEqual(rc, FAULT_EXIT, (out, err))
        self.assertEqual(out["fault"], "witness_mismatch", out)
        self.assertGreaterEqual(out["fault_seq"], victim)
        self.assertEqual(out["kind"], "verify")

        # the same rewrite on the live store, cosignatures dropped too: the witness's own state catches it
        run(REWRITE, self.srv.data, str(victim), "access_point", "192.0.2.66:4444", "--drop-cosigns")
        self.restart()
        rc, out, err = self.dep.cli("fenna", "audit", "witness", "--key", self.key)
        self.assertEqual(rc, FAULT_EXIT, (out, err))
        self.assertFalse(out["verified"], out)
        self.assertIn(out["fault"], ("checkpoint_mismatch", "witness_mismatch"), out)
        # nothing signed, the state is what it was
        self.assertEqual(read(self.state), state)

    def test_prune_past_the_remembered_checkpoint_fails_unless_witnessed(self):
        self.activity(n=3)
        remember = os.path.join(self.dep.dir, "remember-%s" % uuid.uuid4().hex[:6])
        rc, out, err = self.verify("--backup", self.backup("early"), "--remember", remember)
        self.assertEqual(rc, 0, (out, err))
        early = read(remember)
        self.activity(n=4)
        self.srv.stop()
        off = os.path.join(self.dep.dir, "before-prune-%s.jsonl" % uuid.uuid4().hex[:6])
        run(harness.CASUSD, "audit-export", "--data", self.srv.data, "--out", off)
        cps = lines(off)
        cps = [r for r in cps if r["type"] == "checkpoint"]
        remembered_seq = int(early.strip()[2:18], 16)
        # the newest checkpoint past the remembered one whose successor is strictly younger
        pick = None
        for a, b in zip(cps, cps[1:]):
            if a["seq"] > remembered_seq and b["time_ms"] > a["time_ms"]:
                pick = a
        self.assertIsNotNone(pick, "no checkpoint to prune to after seq %d" % remembered_seq)
        now = pick["time_ms"] + 86400000 + 1
        p = run(harness.CASUSD, "audit-prune", "--data", self.srv.data, "--keep-days", "1", "--now-ms", str(now))
        self.assertIn("anchor: checkpoint at seq %d" % pick["seq"], p.stdout)
        self.restart()
        bk = self.backup("pruned")
        # the new anchor does not prove it extends the remembered checkpoint: a fault, the file is kept
        rc, out, err = self.verify("--backup", bk, "--remember", remember)
        self.assertEqual(rc, FAULT_EXIT, (out, err))
        self.assertEqual((out["fault"], out["fault_seq"]), ("not_extending", remembered_seq), out)
        self.assertEqual(read(remember), early)
        # the same for an export
        exp = os.path.join(self.dep.dir, "pruned-%s.jsonl" % uuid.uuid4().hex[:6])
        self.dep.ok("fenna", "audit", "export", "--format", "jsonl", "--out", exp, "--key", self.key)
        rc, out, err = self.verify(exp, "--remember", remember)
        self.assertEqual(rc, FAULT_EXIT, (out, err))
        self.assertEqual(out["fault"], "not_extending", out)
        self.assertEqual(read(remember), early)

    def test_witnessed_anchor_proves_the_prune_extends(self):
        self.activity(n=3)
        remember = os.path.join(self.dep.dir, "remember-%s" % uuid.uuid4().hex[:6])
        rc, out, err = self.verify("--backup", self.backup("early"), "--remember", remember)
        self.assertEqual(rc, 0, (out, err))
        early = read(remember)
        remembered_seq = int(early.strip()[2:18], 16)
        self.activity(n=4)
        # the witness verifies the trail (extending everything) and cosigns every checkpoint
        w = self.dep.ok("fenna", "audit", "witness", "--key", self.key)
        self.srv.stop()
        off = os.path.join(self.dep.dir, "before-prune-%s.jsonl" % uuid.uuid4().hex[:6])
        run(harness.CASUSD, "audit-export", "--data", self.srv.data, "--out", off)
        recs = lines(off)
        cosigned = {r["seq"] for r in recs if r["type"] == "cosign"}
        cps = [r for r in recs if r["type"] == "checkpoint"]
        pick = None
        for a, b in zip(cps, cps[1:]):
            if a["seq"] > remembered_seq and a["seq"] in cosigned and b["time_ms"] > a["time_ms"]:
                pick = a
        self.assertIsNotNone(pick)
        now = pick["time_ms"] + 86400000 + 1
        run(harness.CASUSD, "audit-prune", "--data", self.srv.data, "--keep-days", "1", "--now-ms", str(now))
        self.restart()
        bk = self.backup("pruned-witnessed")
        # without the witness key pinned: not proven
        rc, out, err = self.verify("--backup", bk, "--remember", remember)
        self.assertEqual(rc, FAULT_EXIT, (out, err))
        self.assertEqual(out["fault"], "not_extending")
        # with it: the anchor's cosignature is the proof; said so, and the file moves on
        rc, out, err = self.verify("--backup", bk, "--remember", remember, "--witness", w["witness_key"])
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("pruned past", out["note"])
        self.assertEqual(out["anchor_seq"], pick["seq"])
        self.assertNotEqual(read(remember), early)

    def test_read_receipts_expose_a_rewritten_read(self):
        cid = self.activity(n=3)
        rc, out, err = self.dep.cli("esther", "audit", "receipts", "--key", self.key)
        self.assertEqual(rc, 0, (out, err))
        self.assertGreaterEqual(out["added"], 3, out)  # her history fetches and key fetches
        path = out["file"]
        recs = lines(path)
        self.assertEqual(oct(os.stat(path).st_mode & 0o777), "0o600")
        self.assertTrue(all(r["audit_key"] == self.key for r in recs))
        # a second run adds only what is new, and nothing of anna's
        self.texts("esther", cid)
        self.texts("anna", cid)
        out2 = self.dep.ok("esther", "audit", "receipts", "--key", self.key)
        self.assertGreaterEqual(out2["added"], 1)
        self.assertEqual(out2["kept"], out["kept"] + out2["added"])
        seqs = [r["seq"] for r in lines(path)]
        self.assertEqual(len(seqs), len(set(seqs)))
        # the privacy officer checks a device's receipts against a backup
        bk = self.backup()
        rc, v, err = self.verify("--backup", bk, "--receipts", path)
        self.assertEqual(rc, 0, (v, err))
        self.assertEqual(v["receipts_checked"], len(seqs), v)
        # the operator rewrites one of esther's reads (re-hashed, re-signed, no witness around):
        # the audit key alone is satisfied, her receipt is not
        victim = lines(path)[0]["seq"]
        self.srv.stop()
        run(REWRITE, self.srv.data, str(victim), "object", "messages 0")
        self.restart()
        bk = self.backup("rewritten")
        rc, v, err = self.verify("--backup", bk)
        self.assertEqual(rc, 0, (v, err))
        rc, v, err = self.verify("--backup", bk, "--receipts", path)
        self.assertEqual(rc, FAULT_EXIT, (v, err))
        self.assertEqual((v["fault"], v["fault_seq"]), ("receipt_mismatch", victim), v)
        # a receipt file edited by hand is refused (not signed by the audit key)
        forged = path + ".forged"
        with open(forged, "w") as f:
            r = lines(path)[0]
            r["hash"] = "00" * 32
            f.write(json.dumps(r) + "\n")
        rc, v, err = self.verify("--backup", bk, "--receipts", forged)
        self.assertEqual(rc, FAULT_EXIT, (v, err))
        self.assertEqual(v["error"]["code"], "receipt_unreadable", v)

    def test_audit_commands_speak_the_one_exit_vocabulary(self):
        """issue 14: casus audit exits with cli_exit.h's codes and says the word as "kind"."""
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", "--backup", "/nonexistent")
        self.assertEqual((rc, out["error"]["code"], out["error"]["kind"]), (2, "usage", "usage"), out)
        rc, out, _ = self.dep.cli("anna", "audit", "witness", "--key", self.key)
        self.assertEqual((rc, out["error"]["kind"]), (1, "refused"), out)
        rc, out, _ = self.dep.cli("anna", "audit", "--key", self.key)
        self.assertEqual((rc, out["error"]["kind"]), (1, "refused"), out)
        rc, out, _ = self.dep.cli("fenna", "audit", "verify", "--backup", "/nonexistent", "--key", self.key)
        self.assertEqual((rc, out["error"]["kind"]), (1, "refused"), out)
        # a server whose key is not the pinned one: a verification fault, exit 5 "verify"
        rc, out, _ = self.dep.cli("fenna", "audit", "--key", "00" * 32)
        self.assertEqual((rc, out["error"]["code"], out["error"]["kind"]), (5, "audit_key_mismatch", "verify"), out)


if __name__ == "__main__":
    harness.main()
