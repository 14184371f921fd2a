"""
test_cli.py: the `casus` command as a new user meets it (issue #14, the
command-line items), against a real casusd with the real client and LMDB.

Each test is one defect the issue found, and fails on the code before the fix:
help that runs commands or needs a profile, one exit-code vocabulary (a
policy refusal is 1 with words, not "roster is inconsistent"; `escalate CASUS
drie` is bad usage; not a member is 8), --json usage errors as JSON, --limit
giving the newest N, a missing passphrase file named as such, `outbox`
exiting non-zero after a refusal, short casus ids, `share` taking the #N that
`history` prints, `watch` printing readable lines, `post` saying which
audience it used and how to end input on a terminal, `members` aligning long
role names, `list` not telling roles that may not create a casus how to
create one, and `list` showing the title.
"""
import json
import os
import pty
import re
import select
import subprocess
import threading
import time

import harness

CASUS = harness.CASUS


class Cli(harness.CasusTest):

    def run_text(self, user, *args, env=None, input=None, timeout=120):
        """`casus` without --json as user: (exit code, stdout, stderr)."""
        prof = ["--profile", self.dep.users[user]] if user else []
        p = subprocess.run([CASUS, *prof, *args], env=env or self.dep.env, capture_output=True, text=True,
                           input=input, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def level4(self, cid):
        """anna escalates to 3 (if not yet), adds paula; paula escalates to 4 and adds peter."""
        if self.dep.ok("anna", "members", cid)["level"] < 3:
            self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        self.dep.ok("anna", "add", cid, "paula")
        self.dep.ok("paula", "escalate", cid, "4", "--reason", "veiligheidsrisico")
        self.dep.ok("paula", "add", cid, "peter")

    # ---- item 8: help ----

    def test_help_needs_no_profile_and_runs_nothing(self):
        env = {k: v for k, v in self.dep.env.items() if k != "CASUS_PROFILE"}
        rc, out, err = self.run_text(None, "help", env=env)
        self.assertEqual(rc, 0, err)
        for word in ("post CASUS", "history CASUS", "share CASUS", "outbox"):
            self.assertIn(word, out)
        # the exit-code table, every code 0..9 with its word
        for code, kind in ((0, "ok"), (1, "refused"), (2, "usage"), (3, "profile"), (4, "network"),
                           (5, "verify"), (6, "not_found"), (7, "queued"), (8, "not_member"), (9, "internal")):
            self.assertRegex(out, r"(?m)^\s+%d %s\b" % (code, kind))
        for cmd in ("list", "whoami", "outbox", "audit", "watch", "post"):
            rc, out, err = self.run_text(None, cmd, "--help", env=env, timeout=30)
            self.assertEqual(rc, 0, (cmd, err))
            self.assertIn("casus [--profile DIR] [--json] " + cmd, out)
            self.assertNotIn("no profile", out + err)
        rc, out, _ = self.run_text(None, "help", "share", env=env)
        self.assertIn("#18", out)
        # with a profile and a queued post, `outbox --help` sends nothing
        cid = self.new_casus()
        self.dep.ok("gijs", "history", cid)
        self.srv.stop()
        rc, out, _ = self.dep.cli("gijs", "post", cid, "wacht in de outbox")
        self.assertEqual(rc, 7, out)
        self.srv.start()
        rc, out, err = self.run_text("gijs", "outbox", "--help")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("wacht in de outbox", self.texts("anna", cid))
        self.assertEqual(len(self.dep.ok("gijs", "outbox")["delivered"]), 1)
        self.assertIn("wacht in de outbox", self.texts("anna", cid))

    # ---- item 6 and the exit-code vocabulary ----

    def test_refusals_and_usage_have_their_own_exit_codes(self):
        cid = self.new_casus()
        rc, out, _ = self.dep.cli("anna", "escalate", cid, "drie", "--reason", "x")
        self.assertEqual(rc, 2, out)
        self.assertEqual(out["error"]["kind"], "usage")
        self.assertIn("drie", out["error"]["message"])
        self.assertNotIn("roster", out["error"]["message"])
        rc, out, _ = self.dep.cli("anna", "escalate", cid, "9", "--reason", "x")
        self.assertEqual(rc, 2, out)
        # a role the level does not admit: refused by the policy, in words
        rc, out, _ = self.dep.cli("anna", "add", cid, "peter")
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["error"]["kind"], "refused")
        self.assertIn("politie", out["error"]["message"])
        self.assertIn("niveau 1", out["error"]["message"])
        self.assertNotIn("roster", out["error"]["message"])
        self.assertNotIn("peter", [m["user"] for m in self.dep.ok("anna", "members", cid)["members"]])
        # above her escalation maximum: refused (1), not usage (2)
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        rc, out, _ = self.dep.cli("anna", "escalate", cid, "4", "--reason", "te hoog")
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["error"]["code"], "forbidden")
        # not a member: 8
        rc, out, _ = self.dep.cli("karel", "history", cid)
        self.assertEqual(rc, 8, out)
        self.assertEqual(out["error"]["kind"], "not_member")
        # --json usage errors are JSON, wherever they are found
        for args in (["bogus"], ["--bogus", "list"], ["history"], ["history", cid, "--limit", "abc"],
                     ["post"]):
            rc, out, err = self.dep.cli("anna", *args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIsNotNone(out, (args, err))
            self.assertEqual(out["error"]["kind"], "usage", args)

    def test_missing_passphrase_file_is_named(self):
        env = dict(self.dep.env, CASUS_PASSPHRASE_FILE=os.path.join(self.dep.dir, "no-such-file"))
        rc, out, err = self.run_text("anna", "list", env=env)
        self.assertEqual(rc, 3, err)
        self.assertIn("no-such-file", err)
        self.assertIn("CASUS_PASSPHRASE_FILE", err)
        self.assertIn("No such file", err)

    # ---- item 13: small ones ----

    def test_limit_gives_the_newest_and_rejects_words(self):
        cid = self.new_casus()
        for i in range(5):
            self.dep.ok("anna", "post", cid, "notitie %d" % i)
        got = self.dep.ok("gijs", "history", cid, "--limit", "2")["messages"]
        self.assertEqual([m["text"] for m in got], ["notitie 3", "notitie 4"])
        got = self.dep.ok("gijs", "history", cid, "--after", "1", "--limit", "2")["messages"]
        self.assertEqual([m["text"] for m in got], ["notitie 0", "notitie 1"])
        rc, out, _ = self.dep.cli("gijs", "history", cid, "--limit", "abc")
        self.assertEqual(rc, 2, out)
        self.assertIn("abc", out["error"]["message"])

    def test_outbox_exits_nonzero_after_a_refusal(self):
        cid = self.new_casus()
        self.dep.ok("esther", "history", cid)
        self.srv.stop()
        rc, out, _ = self.dep.cli("esther", "post", cid, "na verwijdering geschreven")
        self.assertEqual(rc, 7, out)
        self.srv.start()
        self.dep.ok("anna", "remove", cid, "esther", "--reason", "einde betrokkenheid")
        rc, out, err = self.run_text("esther", "outbox")
        self.assertIn("REFUSED", out)
        self.assertEqual(rc, 1, (out, err))
        # still listed afterwards, but an old refusal does not fail every later run
        rc, out, err = self.run_text("esther", "outbox")
        self.assertIn("REFUSED", out)
        self.assertEqual(rc, 0, (out, err))

    def test_members_aligns_long_role_names(self):
        cid = self.new_casus()
        rc, out, err = self.run_text("anna", "members", cid)
        self.assertEqual(rc, 0, err)
        # the member rows come before the chain's changes ("changes:" and one row per commit)
        lines = out.splitlines()
        self.assertIn("changes:", lines, out)
        rows = [ln for ln in lines[:lines.index("changes:")] if ln.startswith("  ")]
        self.assertEqual(len(rows), 3, out)
        # the organisation column starts at the same place on every row
        starts = {ln.index(org) for ln in rows for org in ("Leger des Heils", "GGD") if org in ln}
        self.assertEqual(len(starts), 1, out)
        self.assertIn("ervaringsdeskundige", out)

    def test_list_hints_only_to_who_may_create_and_shows_the_title(self):
        rc, out, _ = self.run_text("peter", "list")
        self.assertEqual(rc, 0)
        self.assertNotIn("casus new", out)
        rc, out, _ = self.run_text("anna", "list")
        self.assertIn("casus new", out)
        cid = self.new_casus(title="Meneer Titel", purpose="Zorgcoordinatie")
        self.dep.ok("gijs", "history", cid)
        rc, out, _ = self.run_text("gijs", "list")
        line = [ln for ln in out.splitlines() if ln.startswith(cid)]
        self.assertEqual(len(line), 1, out)
        self.assertIn("Meneer Titel", line[0])
        lst = self.dep.ok("gijs", "list")
        self.assertEqual([c.get("title") for c in lst["casus"]], ["Meneer Titel"])

    # ---- item 10: short ids ----

    def test_a_unique_prefix_names_the_casus(self):
        cid = self.new_casus()
        short = cid[:6]
        self.dep.ok("anna", "post", short, "via korte id")
        self.assertIn("via korte id", [m["text"] for m in self.dep.ok("gijs", "history", short)["messages"]])
        self.assertEqual(len(self.dep.ok("gijs", "members", cid[:4])["members"]), 3)
        rc, out, _ = self.dep.cli("gijs", "history", "0000" if not cid.startswith("0000") else "ffff")
        self.assertEqual(rc, 6, out)
        # two casus with the same prefix on this device: not unique, say which
        other = short + ("0" if cid[6] != "0" else "1") + "f" * 25
        fake = os.path.join(self.dep.users["gijs"], "cache", other + ".bin")
        with open(fake, "wb") as f:
            f.write(b"x")
        try:
            rc, out, _ = self.dep.cli("gijs", "history", short)
            self.assertEqual(rc, 2, out)
            self.assertIn("niet uniek", out["error"]["message"])
            self.assertIn(cid, out["error"]["message"])
            self.assertIn(other, out["error"]["message"])
            self.assertIn("via korte id", self.texts("gijs", cid[:7]))
        finally:
            os.unlink(fake)

    # ---- item 11: history ids, share, watch ----

    def test_share_takes_the_numbers_history_prints(self):
        cid = self.new_casus()
        self.dep.ok("anna", "post", cid, "alleen zorg")
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        overleg = self.dep.ok("anna", "post", cid, "eerder overleg", "--audience", "overleg", "--ground",
                              "consent")
        self.level4(cid)
        rc, out, _ = self.run_text("anna", "history", cid)
        m = re.search(r"(?m)^#(\d+) ([0-9a-f]{8}) .*\n\s+eerder overleg$", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), overleg["seq"])
        self.assertTrue(overleg["id"].startswith(m.group(2)))
        self.assertNotIn("eerder overleg", self.texts("peter", cid))
        self.dep.ok("anna", "share", cid[:8], "--to", "peter", "--messages", "#%s" % m.group(1), "--ground",
                    "consent", "--reason", "nodig voor veiligheid")
        self.assertIn("eerder overleg", self.texts("peter", cid))
        # a zorg note to the police: refused by the policy, in words
        zorg = [x for x in self.dep.ok("anna", "history", cid)["messages"] if x.get("text") == "alleen zorg"][0]
        rc, out, _ = self.dep.cli("anna", "share", cid, "--to", "peter", "--messages", zorg["id"][:10],
                                  "--ground", "consent", "--reason", "x")
        self.assertEqual(rc, 1, out)
        self.assertIn("zorg", out["error"]["message"])
        self.assertNotIn("alleen zorg", self.texts("peter", cid))
        rc, out, _ = self.dep.cli("anna", "share", cid, "--to", "peter", "--messages", "#999", "--ground",
                                  "consent", "--reason", "x")
        self.assertEqual(rc, 6, out)

    def test_watch_prints_readable_lines(self):
        cid = self.new_casus()
        self.dep.ok("gijs", "history", cid)
        proc = subprocess.Popen([CASUS, "--profile", self.dep.users["gijs"], "watch", cid[:8], "--count", "1",
                                 "--seconds", "120"], env=self.dep.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            ready = threading.Event()

            def wait_ready():
                for line in proc.stderr:
                    if "watching" in line:
                        ready.set()
                        return
            threading.Thread(target=wait_ready, daemon=True).start()
            self.assertTrue(ready.wait(60), "watch never became ready")
            self.dep.ok("anna", "post", cid, "live leesbaar")
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, out)
        self.assertIn("live leesbaar", out)
        self.assertIn("Anna Jansen", out)
        self.assertNotIn('"push"', out)
        self.assertNotIn('"msg"', out)

    # ---- item 9: post ----

    def test_post_says_its_audience_and_how_to_end_input(self):
        cid = self.new_casus()
        rc, out, err = self.run_text("anna", "post", cid, "met publiek")
        self.assertEqual(rc, 0, err)
        self.assertIn("zorg", out)
        self.assertEqual(self.dep.ok("anna", "post", cid, "json")["audience"], "zorg")
        # on a terminal without TEXT: a prompt that says how to end, then the text
        master, slave = pty.openpty()
        proc = subprocess.Popen([CASUS, "--profile", self.dep.users["anna"], "post", cid], env=self.dep.env,
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(slave)
        try:
            err = ""
            deadline = time.time() + 60
            while "Ctrl-D" not in err and time.time() < deadline and proc.poll() is None:
                r, _, _ = select.select([proc.stderr], [], [], 1)
                if r:
                    err += proc.stderr.readline()
            self.assertIn("Ctrl-D", err)
            os.write(master, b"via de terminal\n")
            os.write(master, b"\x04")
            out, rest = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        self.assertEqual(proc.returncode, 0, (out, rest))
        self.assertIn("via de terminal", self.texts("gijs", cid))
        # the process director's default audience is named, not silent
        self.level4(cid)
        res = self.dep.ok("paula", "post", cid, "van de regie")
        rc, out, _ = self.run_text("paula", "post", cid, "nog een van de regie")
        self.assertIn(res["audience"], out)
        self.assertEqual(res["audience"], [m for m in self.dep.ok("paula", "history", cid)["messages"]
                                           if m.get("text") == "van de regie"][0]["audience"])


if __name__ == "__main__":
    harness.main()
