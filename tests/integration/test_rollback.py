"""
test_rollback.py: a client sees that the server went back in time (issue 16).

Gijs reads a casus up to message #4; the store was backed up at #2. The server
is lost and the backup restored into a new casusd (deploy/backup.sh and
deploy/restore.sh, as test_backup_restore.py does): it names a new store epoch
and holds messages up to #2 only, and Anna's next note takes number #3 again.
Gijs's client must say so, in words and as a "rollback" warning, instead of
silently diverging: `list` warns and marks the casus, `history` lists his own
copy of #3 and #4 (kept, never overwritten) and also the server's other #3,
marked as differing. Esther, who never saw the later notes, is told the server
was restored too (her live view shows the warning), and her listing shows
nothing that differs from her copy; Gijs's live view marks the other #3.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import tmux_util  # noqa: E402
from test_backup_restore import BACKUP, RESTORE, sh  # noqa: E402


def warnings_of(out, code="rollback"):
    return [w for w in (out or {}).get("warnings", []) if w.get("code") == code]


class Rollback(tmux_util.TmuxView, harness.CasusTest):
    SOCK_PREFIX = "casus-rb"

    def test_restored_server_is_reported_and_the_local_copy_kept(self):
        cid = self.new_casus("anna", ("esther", "gijs"), title="Mevrouw R.")
        self.dep.ok("anna", "post", cid, "voor de backup")
        self.assertIn("voor de backup", self.texts("gijs", cid))
        self.assertIn("voor de backup", self.texts("esther", cid))
        root = os.path.join(self.dep.dir, "backups")
        bk = sh(BACKUP, self.srv.data, root).stdout.strip().split("backup: ", 1)[1]
        late = [self.dep.ok("anna", "post", cid, "na de backup %d" % i) for i in (1, 2)]
        self.assertEqual([p["seq"] for p in late], [3, 4])
        hist = self.dep.ok("gijs", "history", cid)
        self.assertEqual(warnings_of(hist), [])
        self.assertIn("na de backup 2", [m.get("text") for m in hist["messages"]])
        lst = self.dep.ok("gijs", "list")
        self.assertEqual(warnings_of(lst), [])
        self.assertFalse([c for c in lst["casus"] if c.get("rollback")])

        # the server is lost; the backup is restored into a new casusd
        self.srv.stop()
        newdata = os.path.join(self.dep.dir, "restored-data")
        sh(RESTORE, bk, newdata)
        self.dep.port = harness.free_port()
        self.dep.set_server_url()
        self.srv = harness.Server(self.dep, self.config, data_dir=newdata).start()

        lst = self.dep.ok("gijs", "list")
        self.assertTrue(warnings_of(lst), lst)
        mine = [c for c in lst["casus"] if c["casus"] == cid][0]
        self.assertTrue(mine.get("rollback"), mine)
        self.assertEqual(mine["last_seq"], 2)
        # in words, Dutch first
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users["gijs"], "list"], env=self.dep.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("server went back in time", p.stdout)
        self.assertIn("WAARSCHUWING", p.stdout)

        # Anna's next note takes #3 again on the restored server
        new = self.dep.ok("anna", "post", cid, "nieuw na de restore")
        self.assertEqual(new["seq"], 3)
        hist = self.dep.ok("gijs", "history", cid)
        self.assertTrue(warnings_of(hist), hist)
        msgs = hist["messages"]
        texts = [m.get("text") for m in msgs]
        # his own copy is kept ...
        self.assertIn("na de backup 1", texts)
        self.assertIn("na de backup 2", texts)
        # ... and the server's other #3 is shown, marked
        other = [m for m in msgs if m.get("text") == "nieuw na de restore"]
        self.assertEqual(len(other), 1, msgs)
        self.assertEqual(other[0]["seq"], 3)
        self.assertTrue(other[0].get("diverged"), other[0])
        self.assertFalse([m for m in msgs if m.get("text") == "na de backup 1" and m.get("diverged")])
        self.assertEqual([m["seq"] for m in msgs], sorted(m["seq"] for m in msgs))
        # the local copy, offline, still holds what he read
        off = self.dep.ok("gijs", "history", cid, "--offline")
        self.assertIn("na de backup 2", [m.get("text") for m in off["messages"]])

        # Esther never saw #3 or #4: her live view tells her the server was
        # restored (Dutch, then English); nothing differs from her copy
        v = self.open_view("esther", cid)
        s = self.wait_screen(v, lambda s: "nieuw na de restore" in s and "WAARSCHUWING" in s, 30,
                             "the rollback warning in the live view")
        self.assertIn("teruggezet", s)
        self.assertNotIn("DIFFERS ON THE SERVER", s)
        hist = self.dep.ok("esther", "history", cid)
        self.assertIn("nieuw na de restore", [m.get("text") for m in hist["messages"]])
        self.assertFalse([m for m in hist["messages"] if m.get("diverged")], hist["messages"])
        # Gijs's live view marks the server's other #3
        g = self.open_view("gijs", cid)
        self.wait_screen(g, lambda s: "DIFFERS ON THE SERVER" in s and "nieuw na de restore" in s, 30,
                         "the differing note marked in the live view")


if __name__ == "__main__":
    harness.main()
