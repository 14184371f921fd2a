"""
test_regie_agenda.py: the case conference's agenda, agreed actions (afspraken),
the overdue signal and notices that go away (issue 20 part 4, issue 14 item 13),
with the real casusd, the real `casus` client and real LMDB.

- An agenda entry round-trips end to end: the place reaches the members
  (`casus agenda`), the members get a content-free notice, the process
  director (no member) sees the date only, a role without the right is refused.
- An agreed action round-trips end to end (`casus afspraak`, `afspraken`,
  `--klaar`); a non-member cannot read it.
- The marker test: after agenda entries and actions carrying a unique marker,
  no file of casusd's data folder, its log, any notice or any reply a
  non-member gets holds the marker (while the casus purpose, stored in the
  clear by design, is found by the same search, so the search can fail).
- Overdue, per level (the policy's overdue_actions_days; default.json:
  Stapteam 14 days, Ketenzorg 7): casusd restarted under libfaketime 10 days
  ahead flags the level 2 casus's disclosed open action ("actions_overdue")
  and sends the process director a notice, while the level 1 casus's action,
  as far past its due date, is counted as overdue but neither flagged nor
  noticed; 17 days ahead the level 1 casus is flagged and noticed too (and the
  level 2 one not noticed again). An action kept from the server
  (--niet-delen) and one marked done do not count.
- Notices: listed with an id (`casus meldingen`), dismissed by id or all
  (`--weg`, `--alle`), never shown again after; another user's id is
  unknown; casusd 31 days ahead shows none and deletes them.
"""
import json
import os
import subprocess
import time
import uuid

import harness
from test_plaintext import scan
from test_regie import FAKETIME_LIB, wait_for


def day(offset_days):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset_days * 86400))


class RegieAgenda(harness.CasusTest):

    def restart_with_clock(self, offset):
        self.assertTrue(os.path.exists(FAKETIME_LIB), "libfaketime is needed (deploy/install-deps.sh: faketime)")
        self.srv.stop()
        saved = dict(os.environ)
        os.environ.update(FAKETIME=offset, FAKETIME_DONT_FAKE_MONOTONIC="1", LD_PRELOAD=FAKETIME_LIB,
                          ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        try:
            self.srv = harness.Server(self.dep, self.config, data_dir=self.srv.data).start()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def notices(self, user, kind=None):
        return [n for n in self.dep.ok(user, "list")["notices"] if kind is None or n.get("notice") == kind]

    def run_text(self, user, *args):
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], *args], env=self.dep.env,
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def server_files(self):
        files = []
        for root, _, names in os.walk(self.srv.data):
            files += [os.path.join(root, n) for n in names]
        return files + [self.srv.log_path]

    def raw(self, user, *reqs):
        lines = "".join(json.dumps(r) + "\n" for r in reqs)
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], "raw"], env=self.dep.env,
                           capture_output=True, text=True, input=lines, timeout=60)
        return [json.loads(x) for x in p.stdout.splitlines() if x.strip() and '"push"' not in x]

    def test_server_refuses_non_members_and_bad_requests(self):
        a = self.new_casus(members=("esther",))
        when = int(time.time()) + 86400
        aid = uuid.uuid4().hex
        r = self.raw("karel",
                     {"type": "agenda.plan", "casus": a, "agenda": aid, "date": when},
                     {"type": "action.disclose", "casus": a, "action": aid, "due": when, "done": False},
                     {"type": "agenda.list"})
        self.assertEqual([x["ok"] for x in r], [False, False, True], r)
        self.assertEqual([x["error"]["code"] for x in r[:2]], ["forbidden", "forbidden"])
        self.assertEqual(r[2]["agenda"], [])
        # the process director may plan (date only) but not disclose actions of a casus she is no member of
        r = self.raw("paula",
                     {"type": "agenda.plan", "casus": a, "agenda": aid, "date": when},
                     {"type": "action.disclose", "casus": a, "action": aid, "due": when, "done": False},
                     {"type": "agenda.plan", "casus": a, "agenda": aid, "date": when + 3 * 366 * 86400},
                     {"type": "agenda.plan", "casus": a, "agenda": "xyz", "date": when},
                     {"type": "notice.dismiss", "notices": [0]},
                     {"type": "notice.dismiss"})
        self.assertEqual([x["ok"] for x in r], [True, False, False, False, False, False], r)
        self.assertEqual([x["error"]["code"] for x in r[1:]],
                         ["forbidden", "invalid", "bad_request", "bad_request", "bad_request"])
        es = self.dep.ok("fenna", "audit", "--limit", "100000")["entries"]
        denied = sorted((e["user"], e["event"]) for e in es if e.get("casus") == a and e.get("outcome") == "denied")
        self.assertEqual(denied, [("karel", "action_disclose"), ("karel", "agenda_plan"),
                                  ("paula", "action_disclose")])

    # ---- agenda ----------------------------------------------------------------------

    def test_agenda_round_trip_members_only(self):
        marker = "PLEK-" + uuid.uuid4().hex
        purpose = "DOEL-" + uuid.uuid4().hex
        a = self.new_casus(members=("esther", "gijs"), purpose=purpose)
        b = self.new_casus(members=("esther",))
        date = day(7) + "T10:30"
        out = self.dep.ok("anna", "agenda", a, "--datum", date, "--plaats", "Stadhuis kamer 3 " + marker)
        self.assertTrue(out["note"])
        self.assertEqual(out["noticed"], 2)  # esther and gijs, not anna herself
        # members: a content-free notice, and the place through the casus
        for user in ("esther", "gijs"):
            got = self.notices(user, "agenda")
            self.assertEqual(len(got), 1, (user, got))
            self.assertEqual(got[0]["casus"], a)
            # the server's fields, plus the title this member's own device opened from
            # the chain (added by the client, never sent by the server: test_title)
            self.assertEqual(set(got[0]) - {"title"}, {"notice", "casus", "date", "time", "id"})
            self.assertNotIn(marker, json.dumps(got[0]))
        self.assertEqual(self.notices("anna", "agenda"), [])
        self.assertEqual(self.notices("esther", "agenda")[0]["date"], out["date"])
        ag = self.dep.ok("gijs", "agenda")["agenda"]
        self.assertEqual([(x["casus"], x["member"]) for x in ag], [(a, True)])
        self.assertEqual(ag[0]["place"], "Stadhuis kamer 3 " + marker)
        hist = self.dep.ok("gijs", "history", a)["messages"]
        notes = [m for m in hist if m.get("kind") == "agenda"]
        self.assertEqual(len(notes), 1)
        self.assertEqual(notes[0]["data"]["agenda"], ag[0]["agenda"])
        self.assertIn(marker, notes[0]["text"])  # readable text for clients that do not know the kind
        rc, text, _ = self.run_text("gijs", "agenda")
        self.assertEqual(rc, 0)
        self.assertIn(marker, text)
        self.assertIn(day(7) + " 10:30", text)
        # the process director: every casus's dates, never the place
        ag = self.dep.ok("paula", "agenda")["agenda"]
        self.assertEqual([(x["casus"], x["member"]) for x in ag], [(a, False)])
        self.assertNotIn("place", ag[0])
        # she may put a casus she is no member of on the agenda: the date only
        out = self.dep.ok("paula", "agenda", b, "--datum", day(7))
        self.assertFalse(out["note"])
        self.assertEqual([n["casus"] for n in self.notices("esther", "agenda")], [a, b])
        # a non-member without the right is refused, and the refusal audited
        rc, out, _ = self.dep.cli("karel", "agenda", a, "--datum", day(7))
        self.assertIn(rc, (1, 8), out)
        self.assertEqual(self.dep.ok("karel", "agenda")["agenda"], [])
        self.assertEqual(self.dep.ok("peter", "agenda")["agenda"], [])
        es = self.dep.ok("fenna", "audit", "--limit", "100000")["entries"]
        ok = [e for e in es if e.get("event") == "agenda_plan" and e.get("outcome") == "success"]
        self.assertEqual(sorted((e["user"], e["casus"]) for e in ok), sorted([("anna", a), ("paula", b)]))
        self.assertTrue([e for e in es if e.get("user") == "karel" and e.get("casus") == a
                         and e.get("outcome") == "denied"], [e for e in es if e.get("user") == "karel"])
        self.assertFalse([e for e in es if marker in json.dumps(e)])
        # a bad date is a usage error
        rc, out, _ = self.dep.cli("anna", "agenda", a, "--datum", "morgen")
        self.assertEqual(rc, 2, out)

        # the marker test on the store and the log; the purpose is found (the search works)
        self.srv.stop()
        try:
            self.assertEqual(scan(self.server_files(), marker), [])
            self.assertTrue(scan(self.server_files(), purpose))
        finally:
            self.srv.start()

    # ---- agreed actions and the overdue signal ------------------------------------------

    def stagnation_view(self, user="paula"):
        return sorted((n["casus"], n["signal"], n["overdue"], n["level"], n["threshold_days"])
                      for n in self.notices(user, "stagnation"))

    def test_actions_round_trip_and_overdue_signal(self):
        marker = "AFSPRAAK-" + uuid.uuid4().hex
        a = self.new_casus(members=("esther", "gijs"))
        quiet = self.new_casus(members=("esther",))
        # b: the same kind of action, in a casus at level 2 (Ketenzorg: flagged 7 days past the due date)
        b = self.new_casus(members=("esther", "gijs"))
        self.dep.ok("anna", "afspraak", b, "--wat", "Overleg plannen " + marker, "--wie", "gijs",
                    "--uiterlijk", day(1))
        self.dep.ok("anna", "escalate", b, "2", "--reason", "stagnatie")
        first = self.dep.ok("anna", "afspraak", a, "--wat", "Huisbezoek plannen " + marker, "--wie", "gijs",
                            "--uiterlijk", day(1))["action"]
        second = self.dep.ok("anna", "afspraak", a, "--wat", "Uitkering regelen " + marker, "--wie", "esther",
                             "--uiterlijk", day(1))["action"]
        hidden = self.dep.ok("anna", "afspraak", a, "--wat", "Niet gedeeld " + marker, "--wie", "anna",
                             "--uiterlijk", day(1), "--niet-delen")
        self.assertFalse(hidden["disclosed"])
        # a member who is not in the casus cannot be given an action
        rc, out, _ = self.dep.cli("anna", "afspraak", a, "--wat", "x", "--wie", "karel", "--uiterlijk", day(1))
        self.assertEqual(rc, 2, out)
        # gijs reads them; esther marks hers done
        acts = {x["action"]: x for x in self.dep.ok("gijs", "afspraken", a)["actions"]}
        self.assertEqual(set(acts), {first, second, hidden["action"]})
        self.assertEqual((acts[first]["what"], acts[first]["who"], acts[first]["done"], acts[first]["by"]),
                         ("Huisbezoek plannen " + marker, "gijs", False, "anna"))
        self.assertFalse(acts[first]["overdue"])
        self.dep.ok("esther", "afspraak", a, "--klaar", second[:8])
        acts = {x["action"]: x for x in self.dep.ok("gijs", "afspraken", a)["actions"]}
        self.assertTrue(acts[second]["done"])
        self.assertEqual(acts[second]["by"], "esther")
        self.assertFalse(acts[first]["done"])
        rc, text, _ = self.run_text("gijs", "afspraken", a)
        self.assertEqual(rc, 0)
        self.assertIn("Huisbezoek plannen " + marker, text)
        self.assertIn("gedaan", text)
        # a non-member reads nothing
        rc, out, _ = self.dep.cli("karel", "afspraken", a)
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn(marker, json.dumps(out))

        doc = self.dep.ok("paula", "overzicht")
        by_id = {c["casus"]: c for c in doc["casus"]}
        self.assertEqual(by_id[a]["actions"], {"disclosed": 2, "open": 1, "overdue": 0})
        self.assertEqual(by_id[a]["signals"], [])
        self.assertEqual((by_id[b]["level"], by_id[b]["actions"]), (2, {"disclosed": 1, "open": 1, "overdue": 0}))
        self.assertEqual({s["level"]: s["overdue_actions_days"] for s in doc["stagnation"]},
                         {1: 14, 2: 7, 3: 7, 4: 3, 5: 3})
        self.assertEqual(self.notices("paula", "stagnation"), [])

        # 10 days on both actions are 9 to 10 days past their due date: over level 2's
        # threshold (7), under level 1's (14)
        self.restart_with_clock("+10d")
        got = wait_for(lambda: self.notices("paula", "stagnation"), timeout=90, what="an overdue notice for paula")
        # one scan notices every casus in one transaction: a's absence is the level's threshold
        self.assertEqual(self.stagnation_view(), [(b, "actions_overdue", 1, 2, 7)])
        self.assertNotIn(marker, json.dumps(got))
        for user in ("anna", "gijs", "bea"):
            self.assertEqual(self.notices(user, "stagnation"), [], user)
        doc = self.dep.ok("paula", "overzicht")
        by_id = {c["casus"]: c for c in doc["casus"]}
        self.assertEqual(by_id[b]["signals"], ["actions_overdue"])
        self.assertEqual(by_id[a]["signals"], [])
        self.assertEqual(by_id[a]["actions"], {"disclosed": 2, "open": 1, "overdue": 1})  # past due, not flagged
        self.assertEqual(by_id[quiet]["signals"], [])
        self.assertNotIn(marker, json.dumps(doc))

        # 17 days on a's action is 16 to 17 days past its due date: over level 1's 14
        self.restart_with_clock("+17d")
        wait_for(lambda: [n for n in self.notices("paula", "stagnation") if n["casus"] == a], timeout=90,
                 what="an overdue notice for casus a")
        self.assertEqual(self.stagnation_view(),
                         sorted([(a, "actions_overdue", 1, 1, 14), (b, "actions_overdue", 1, 2, 7)]))
        doc = self.dep.ok("paula", "overzicht")
        by_id = {c["casus"]: c for c in doc["casus"]}
        self.assertEqual(by_id[a]["signals"], ["actions_overdue"])
        self.assertEqual(by_id[a]["actions"], {"disclosed": 2, "open": 1, "overdue": 1})
        self.assertEqual(by_id[quiet]["signals"], [])
        self.assertNotIn(marker, json.dumps(doc))
        rc, text, _ = self.run_text("paula", "list")
        self.assertIn("melding: casus %s stagneert op niveau 1: afspraken over tijd" % a, text)
        self.assertIn("melding: casus %s stagneert op niveau 2: afspraken over tijd" % b, text)
        es = self.dep.ok("fenna", "audit", "--limit", "100000")["entries"]
        self.assertEqual(len([e for e in es if e.get("event") == "action_disclose" and e.get("casus") == a]), 3)
        for cid in (a, b):
            s = [e for e in es if e.get("event") == "stagnation_notice" and e.get("casus") == cid]
            self.assertEqual(len(s), 1, cid)
            self.assertIn("actions_overdue", s[0]["object"])
        self.assertFalse([e for e in es if marker in json.dumps(e)])
        self.srv.stop()
        try:
            self.assertEqual(scan(self.server_files(), marker), [])
        finally:
            self.srv.start()

    def meta_keys(self):
        """The hex keys of casusd's meta database (mdb_dump, lmdb-utils)."""
        p = subprocess.run(["mdb_dump", "-s", "meta", self.srv.data], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("HEADER=END", 1)[1].splitlines()[1:]
        return [x.strip() for x in lines[0::2] if x.startswith(" ")]

    def test_purge_removes_agenda_and_actions(self):
        short = self.dep.ok("anna", "new", "--title", "Kort", "--purpose", "Kortlopend", "--basis", "Wmo 2015",
                            "--retention-days", "0", "--member", "gijs")["casus"]
        self.dep.ok("anna", "agenda", short, "--datum", day(3))
        self.dep.ok("anna", "afspraak", short, "--wat", "Bellen", "--wie", "gijs", "--uiterlijk", day(3))
        prefixes = [(b"agnd/" + bytes.fromhex(short)).hex(), (b"actn/" + bytes.fromhex(short)).hex()]
        keys = self.meta_keys()
        for pfx in prefixes:
            self.assertEqual(len([k for k in keys if k.startswith(pfx)]), 1, (pfx, keys))
        self.dep.ok("anna", "close", short, "--reason", "klaar")
        wait_for(lambda: short not in [c["casus"] for c in self.dep.ok("paula", "overzicht")["casus"]], 60,
                 "the purge")
        self.assertEqual(self.dep.ok("paula", "agenda")["agenda"], [])
        keys = self.meta_keys()
        for pfx in prefixes:
            self.assertEqual([k for k in keys if k.startswith(pfx)], [], pfx)

    # ---- notices go away ------------------------------------------------------------------

    def test_dismissed_notice_is_not_shown_again(self):
        a = self.new_casus(members=("esther", "gijs"))
        self.dep.ok("anna", "escalate", a, "3", "--reason", "procesregie nodig")
        n = self.notices("paula", "escalation")
        self.assertEqual(len(n), 1)
        nid = n[0]["id"]
        listed = self.dep.ok("paula", "meldingen")["notices"]
        self.assertEqual([x["id"] for x in listed], [nid])
        rc, text, _ = self.run_text("paula", "meldingen")
        self.assertIn("%d " % nid, text)
        self.assertIn(a, text)
        # another user cannot dismiss it: the id is not hers
        rc, out, _ = self.dep.cli("gijs", "meldingen", "--weg", str(nid))
        self.assertEqual(rc, 6, out)
        self.assertEqual(len(self.notices("paula", "escalation")), 1)
        out = self.dep.ok("paula", "meldingen", "--weg", str(nid))
        self.assertEqual(out["dismissed"], 1)
        self.assertEqual(self.notices("paula"), [])
        self.assertEqual(self.dep.ok("paula", "meldingen")["notices"], [])
        rc, text, _ = self.run_text("paula", "list")
        self.assertNotIn("needs you", text)
        # dismissing it again: not found
        rc, out, _ = self.dep.cli("paula", "meldingen", "--weg", str(nid))
        self.assertEqual(rc, 6, out)
        rc, out, _ = self.dep.cli("paula", "meldingen", "--weg", "abc")
        self.assertEqual(rc, 2, out)
        # --alle: every notice of the user
        self.dep.ok("anna", "agenda", a, "--datum", day(3))
        self.dep.ok("anna", "agenda", a, "--datum", day(10))
        self.assertEqual(len(self.notices("gijs")), 2)
        self.assertEqual(self.dep.ok("gijs", "meldingen", "--alle")["dismissed"], 2)
        self.assertEqual(self.notices("gijs"), [])
        self.assertEqual(len(self.notices("esther")), 2)  # hers stay

    def test_notices_expire(self):
        a = self.new_casus(members=("esther", "gijs"))
        # esther watches: the agenda note (a message) and the notice arrive, the notice readable
        w = subprocess.Popen([harness.CASUS, "--profile", self.dep.users["esther"], "watch", "--count", "2"],
                             env=self.dep.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("watching", w.stderr.readline())
            self.dep.ok("anna", "agenda", a, "--datum", day(3))
            out, _ = w.communicate(timeout=120)
        finally:
            if w.poll() is None:
                w.kill()
                w.communicate()
        self.assertIn("melding / notice: casus %s staat op de agenda van %s" % (a[:8], day(3)), out)
        self.assertEqual(len(self.notices("esther", "agenda")), 1)
        self.restart_with_clock("+31d")
        self.assertEqual(self.notices("esther"), [])
        # and the tick deleted them from the store
        wait_for(lambda: "notice.expired" in self.srv.log(), timeout=90, what="the expiry in the log")


if __name__ == "__main__":
    harness.main()
