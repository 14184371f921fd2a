"""
test_backup_restore.py: deploy/backup.sh and deploy/restore.sh (issue 16, item 2).

A backup taken while a member keeps posting holds everything a restore needs
(the store, the audit signing key, the public key, a MANIFEST with sums). It is
restored into a new data folder; the new casusd signs with the same audit key,
so `casus audit verify` with the key pinned before the backup accepts the whole
trail, from before the backup through entries written after the restore.
restore.sh refuses a damaged backup, a backup without the key, and a data
folder that a running casusd holds.

The restored casusd starts a new, separately anchored audit segment: it seals
the restored head with a checkpoint and appends a segment anchor (event
`segment`) that names the head and the checkpoint it continues from, sealed by
a checkpoint of its own; `casus audit verify` walks both segments and says
where the boundary is and why. A segment anchor altered in the store fails
verification, also when the audit key holder re-hashes and re-signs the trail
(tests/tools/audit_rewrite.c).
"""
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

BACKUP = os.path.join(harness.SRC, "deploy", "backup.sh")
REWRITE = os.path.join(harness.BUILD, "tests", "audit_rewrite")
RESTORE = os.path.join(harness.SRC, "deploy", "restore.sh")


def sh(*args, env=None, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, CASUSD=harness.CASUSD, **(env or {})))
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (args[0], p.returncode, p.stdout, p.stderr))
    return p


class BackupRestore(harness.CasusTest):
    config = {"audit": {"checkpoint_every": 5, "checkpoint_secs": 1}}

    def verify_backup(self, path, key):
        rc, out, err = self.dep.cli("fenna", "audit", "verify", "--backup", path, "--key", key)
        return rc, out, err

    def test_backup_under_load_restores_with_one_audit_chain(self):
        key = self.dep.ok("fenna", "audit", "key")["audit_key"]
        cid = self.new_casus()
        for i in range(5):
            self.dep.ok("anna", "post", cid, "voor de backup %d" % i)
        # a member keeps posting while the backup is taken
        stop = threading.Event()
        posted = []

        def poster():
            n = 0
            while not stop.is_set() and n < 200:
                rc, _, _ = self.dep.cli("esther", "post", cid, "tijdens %d" % n)
                if rc == 0:
                    posted.append(n)
                n += 1
        t = threading.Thread(target=poster)
        t.start()
        try:
            # wait until the load is on, then back up
            deadline = time.time() + 60
            while not posted and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue(posted, "the poster never got a post through")
            root = os.path.join(self.dep.dir, "backups")
            out = sh(BACKUP, self.srv.data, root).stdout
        finally:
            stop.set()
            t.join(timeout=300)
        bk = out.strip().split("backup: ", 1)[1]
        self.assertTrue(os.path.basename(bk).startswith("casus-"), bk)
        self.assertFalse([x for x in os.listdir(root) if x.endswith(".partial")])
        # what a restore needs, protected
        for name in ("data.mdb", "audit.key", "audit.pub", "MANIFEST"):
            self.assertTrue(os.path.isfile(os.path.join(bk, name)), name)
        self.assertEqual(stat.S_IMODE(os.stat(root).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(bk).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(bk, "audit.key")).st_mode), 0o600)
        manifest = open(os.path.join(bk, "MANIFEST")).read()
        self.assertIn("store format", manifest)
        self.assertRegex(manifest, r"[0-9a-f]{64}  audit\.key")
        rc, out, err = self.verify_backup(bk, key)
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(out["segments"], 0, out)
        backup_last = out["last_seq"]

        # restore.sh refuses the folder of the running casusd
        p = sh(RESTORE, bk, self.srv.data, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("running", p.stderr)

        # the server is lost; restore into a new data folder and start there
        self.srv.stop()
        newdata = os.path.join(self.dep.dir, "restored-data")
        sh(RESTORE, bk, newdata)
        self.assertEqual(open(os.path.join(newdata, "audit.pub")).read().strip(), key)
        self.dep.port = harness.free_port()
        self.dep.set_server_url()
        self.srv = harness.Server(self.dep, self.config, data_dir=newdata).start()
        self.assertNotIn("audit.key_created", self.srv.log())
        self.assertEqual(self.dep.ok("fenna", "audit", "key")["audit_key"], key)
        texts = self.texts("anna", cid)
        self.assertIn("voor de backup 4", texts)
        self.dep.ok("anna", "post", cid, "na de restore")
        self.assertIn("na de restore", self.texts("esther", cid))
        # the whole trail, before and after the restore, verifies with the key pinned before
        after = os.path.join(self.dep.dir, "after-restore")
        sh(harness.CASUSD, "backup", "--data", newdata, "--out", after)
        rc, out, err = self.verify_backup(after, key)
        self.assertEqual(rc, 0, (out, err))
        self.assertTrue(out["verified"], out)
        self.assertGreater(out.get("entries", 1), 0)
        # ... across a new segment that starts right after the backup's head and says why
        self.assertEqual(out["segments"], 1, out)
        self.assertEqual(out["segment_continues_from"], backup_last, out)
        self.assertEqual(out["segment_seq"], backup_last + 1, out)
        self.assertEqual(out["segment_reason"], "restored from a backup")
        self.assertEqual(out["first_seq"], 1)
        seg = [e for e in self.dep.ok("fenna", "audit", "--key", key)["entries"] if e["event"] == "segment"]
        self.assertEqual([e["seq"] for e in seg], [backup_last + 1])
        self.assertEqual(seg[0]["seq_to"], backup_last)
        self.assertIn("continues from seq %d" % backup_last, seg[0]["object"])
        p = subprocess.run([harness.CASUS, "audit", "verify", "--backup", after, "--key", key],
                           capture_output=True, text=True, timeout=120, env=self.dep.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("segment: the store was restored from a backup; a new segment starts at seq %d"
                      % (backup_last + 1), p.stdout)
        # tampering with the segment anchor fails verification: changed in place ...
        bad = os.path.join(self.dep.dir, "seg-changed")
        shutil.copytree(after, bad)
        shutil.copy(os.path.join(newdata, "audit.key"), bad)  # the operator has the key
        sh(REWRITE, bad, str(backup_last + 1), "object", "segment after a restore: nothing lost", "--no-resign")
        rc, out, err = self.verify_backup(bad, key)
        self.assertEqual(rc, 5, (out, err))
        self.assertEqual(out["fault"], "checkpoint_mismatch", out)
        # ... and rewritten by the audit key holder to continue from another checkpoint, re-signed
        bad = os.path.join(self.dep.dir, "seg-forged")
        shutil.copytree(after, bad)
        shutil.copy(os.path.join(newdata, "audit.key"), bad)
        sh(REWRITE, bad, str(backup_last + 1), "seq_from", "1")
        rc, out, err = self.verify_backup(bad, key)
        self.assertEqual(rc, 5, (out, err))
        self.assertEqual((out["fault"], out["fault_seq"]), ("segment_mismatch", backup_last + 1), out)

    def test_restore_refuses_incomplete_or_damaged_backups(self):
        root = os.path.join(self.dep.dir, "bk2")
        nokey = sh(BACKUP, self.srv.data, root, env={"CASUS_BACKUP_AUDIT_KEY": "0"}).stdout
        nokey = nokey.strip().split("backup: ", 1)[1]
        self.assertFalse(os.path.exists(os.path.join(nokey, "audit.key")))
        p = sh(RESTORE, nokey, os.path.join(self.dep.dir, "r1"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("audit key", p.stderr)
        # with the key given from its separate copy it goes through
        p = sh(RESTORE, nokey, os.path.join(self.dep.dir, "r2"),
               env={"CASUS_AUDIT_KEY": os.path.join(self.srv.data, "audit.key")})
        self.assertTrue(os.path.isfile(os.path.join(self.dep.dir, "r2", "audit.key")))
        # a damaged copy is refused
        full = sh(BACKUP, self.srv.data, root).stdout.strip().split("backup: ", 1)[1]
        dmg = full + "-damaged"
        shutil.copytree(full, dmg)
        with open(os.path.join(dmg, "data.mdb"), "r+b") as f:
            f.seek(8192)
            b = f.read(1)
            f.seek(8192)
            f.write(bytes([b[0] ^ 0xFF]))
        p = sh(RESTORE, dmg, os.path.join(self.dep.dir, "r3"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("MANIFEST", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dep.dir, "r3", "data.mdb")))
        # an existing folder is moved aside, not overwritten
        target = os.path.join(self.dep.dir, "r4")
        os.makedirs(target)
        open(os.path.join(target, "marker"), "w").close()
        sh(RESTORE, full, target)
        aside = [x for x in os.listdir(self.dep.dir) if x.startswith("r4.before-restore-")]
        self.assertEqual(len(aside), 1)
        self.assertTrue(os.path.exists(os.path.join(self.dep.dir, aside[0], "marker")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
