"""
test_regie.py: procesregie (issue 20) end to end, with the real casusd, the
real `casus` client and real LMDB.

- The overview (`casus overzicht`) shows every casus's metadata (level, time at
  level, members' roles and organisations, last note, last membership change,
  open escalation, closed) and never a title or a note: the marker test posts
  notes and a title with a unique marker and searches the overview's bytes.
- A role without the policy right (may_overview / may_monitor) is refused,
  and the refusal is in the audit trail; every read is an audit entry.
- Stagnation: casusd is restarted on the same store under libfaketime (its
  wall clock only, 25 days ahead; the clients keep the real clock). The casus
  at a level whose policy says "no note for 21 days" is flagged and the
  process director gets a content-free notice; the casus at a level with a
  30-day threshold is not.
- Monitoring figures equal the counts of this test's own actions, and counts
  of 1..4 are suppressed (null in JSON, "<5" in CSV and HTML).
"""
import csv
import io
import json
import os
import subprocess
import time
import uuid

import harness

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"  # Debian package libfaketime


def wait_for(pred, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class Regie(harness.CasusTest):

    def overview_raw(self, user):
        """`casus --json overzicht` as user: (exit code, stdout bytes)."""
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], "--json", "overzicht"],
                           env=self.dep.env, capture_output=True, timeout=120)
        return p.returncode, p.stdout

    def overview(self, user="paula"):
        rc, out = self.overview_raw(user)
        self.assertEqual(rc, 0, out)
        doc = json.loads(out)
        return {c["casus"]: c for c in doc["casus"]}, doc

    def audit(self):
        out = self.dep.ok("fenna", "audit", "--limit", "100000")
        return out["entries"]

    def find(self, entries, **want):
        hits = [e for e in entries if all(e.get(k) == v for k, v in want.items())]
        self.assertTrue(hits, "no audit entry with %s" % want)
        return hits

    # ---- the overview ---------------------------------------------------------------

    def test_overview_shows_metadata_never_content(self):
        marker = "MARKER-" + uuid.uuid4().hex
        a = self.new_casus(title="Titel " + marker)
        self.dep.ok("anna", "post", a, "notitie " + marker)
        self.dep.ok("gijs", "post", a, "nog een notitie " + marker)
        b = self.new_casus(members=("esther",), title="Andere " + marker)
        self.dep.ok("anna", "escalate", a, "3", "--reason", "reden " + marker)
        self.dep.ok("anna", "close", b, "--reason", "klaar " + marker)

        by_id, doc = self.overview()
        self.assertEqual(set(by_id), {a, b})
        ca, cb = by_id[a], by_id[b]
        self.assertEqual((ca["level"], ca["level_name"]), (3, "Procesregie"))
        self.assertEqual(ca["escalations"], 1)
        self.assertTrue(ca["open_escalation"], "level 3 without a process director waits for her")
        self.assertFalse(ca["closed"])
        self.assertIsNotNone(ca["last_note"])
        self.assertIsNotNone(ca["last_member_change"])
        self.assertEqual(ca["days_at_level"], 0)
        self.assertEqual(sorted((m["role"], m["organisation"], m["users"]) for m in ca["members"]),
                         [("casemanager", "Leger des Heils", 1), ("ervaringsdeskundige", "Leger des Heils", 1),
                          ("ggd", "GGD", 1)])
        self.assertTrue(cb["closed"])
        self.assertIsNotNone(cb["last_note"])  # the title travels as the first (encrypted) message
        self.assertFalse(cb["open_escalation"])
        self.assertEqual(cb["level"], 1)
        self.assertEqual(ca["signals"], [])

        # the marker test: no title, note or reason in the overview's bytes (JSON and text)
        rc, raw = self.overview_raw("paula")
        self.assertEqual(rc, 0)
        self.assertNotIn(marker.encode(), raw)
        for word in (b"Titel", b"notitie " , b"reden", b"Anna", b"anna"):
            self.assertNotIn(word, raw)
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users["paula"], "overzicht"], env=self.dep.env,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(a.encode(), p.stdout)
        self.assertIn(b"Procesregie", p.stdout)
        self.assertNotIn(marker.encode(), p.stdout)

        # once the process director is a member, the escalation is no longer open
        self.dep.ok("anna", "add", a, "paula")
        by_id, _ = self.overview()
        self.assertFalse(by_id[a]["open_escalation"])
        self.assertIn(("procesregisseur", "Zorg- en Veiligheidshuis", 1),
                      [(m["role"], m["organisation"], m["users"]) for m in by_id[a]["members"]])

    def test_refusals_are_audited(self):
        self.new_casus()
        for user in ("anna", "bea", "peter"):
            rc, out, err = self.dep.cli(user, "overzicht")
            self.assertEqual(rc, 1, (user, out, err))
            self.assertEqual(out["error"]["code"], "forbidden", out)
        rc, out, err = self.dep.cli("gijs", "monitor")
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(out["error"]["code"], "forbidden")
        self.overview("paula")
        self.dep.ok("bea", "monitor")  # beleid has may_monitor, not may_overview
        es = self.audit()
        for user in ("anna", "bea", "peter"):
            self.find(es, event="overview", user=user, outcome="denied")
        self.find(es, event="monitor", user="gijs", outcome="denied")
        ok = self.find(es, event="overview", user="paula", role="procesregisseur", outcome="success")
        self.assertIn("overview of 1 casus", ok[-1]["object"])
        self.find(es, event="monitor", user="bea", role="beleid", outcome="success")

    # ---- stagnation -----------------------------------------------------------------

    def restart_with_clock(self, offset):
        """Stop casusd and start it again on the same store with its wall clock
        moved by offset (libfaketime; the monotonic clock is left alone)."""
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

    def notices(self, user="paula"):
        return [n for n in self.dep.ok(user, "list")["notices"] if n.get("notice") == "stagnation"]

    def test_stagnation_flagged_and_noticed(self):
        marker = "MARKER-" + uuid.uuid4().hex
        quiet = self.new_casus(title=marker)          # stays at level 1: no note for 30 days
        stuck = self.new_casus(title=marker)          # level 2: no note for 21 days
        self.dep.ok("anna", "post", quiet, "notitie " + marker)
        self.dep.ok("anna", "post", stuck, "notitie " + marker)
        self.dep.ok("anna", "escalate", stuck, "2", "--reason", marker)
        by_id, doc = self.overview()
        self.assertEqual(by_id[stuck]["signals"], [])
        self.assertEqual(by_id[quiet]["signals"], [])
        self.assertEqual([s for s in doc["stagnation"] if s["level"] == 2][0]["no_note_days"], 21)
        self.assertEqual(self.notices(), [])

        self.restart_with_clock("+25d")
        # the scan runs when casusd starts, then once a minute
        got = wait_for(lambda: self.notices(), timeout=90, what="a stagnation notice for paula")
        self.assertEqual(len(got), 1, got)
        n = got[0]
        self.assertEqual((n["casus"], n["signal"], n["level"]), (stuck, "no_note", 2))
        self.assertGreaterEqual(n["days"], 24)
        self.assertEqual(n["threshold_days"], 21)
        self.assertEqual(set(n), {"notice", "casus", "signal", "level", "level_name", "since", "days", "id",
                                  "threshold_days", "time"})
        self.assertNotIn(marker, json.dumps(n))
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users["paula"], "list"], env=self.dep.env,
                           capture_output=True, text=True, timeout=120)
        self.assertIn("melding: casus %s stagneert op niveau 2: geen notitie" % stuck, p.stdout)
        # only the overview roles get it
        for user in ("anna", "gijs", "bea"):
            self.assertEqual(self.notices(user), [], user)

        by_id, _ = self.overview()
        self.assertEqual(by_id[stuck]["signals"], ["no_note"])
        self.assertEqual(by_id[quiet]["signals"], [])
        self.assertGreaterEqual(by_id[stuck]["days_at_level"], 24)
        es = self.audit()
        s = self.find(es, event="stagnation_notice", casus=stuck)
        self.assertEqual(len(s), 1)
        self.assertIn("users noticed 1", s[0]["object"])

    # ---- monitoring -----------------------------------------------------------------

    def test_monitor_figures_equal_own_counts(self):
        marker = "MARKER-" + uuid.uuid4().hex
        ids = [self.new_casus(title=marker) for _ in range(7)]
        months = {time.strftime("%Y-%m", time.gmtime())}
        for cid in ids[1:]:
            self.dep.ok("anna", "escalate", cid, "2", "--reason", marker)
        self.dep.ok("anna", "deescalate", ids[1], "1", "--reason", marker)
        self.dep.ok("anna", "close", ids[0], "--reason", marker)
        months.add(time.strftime("%Y-%m", time.gmtime()))
        # the test's own counts
        opened, closed, esc, desc = 7, 1, 6, 1
        open_l1, open_l2 = 1, 5            # ids[1] back at 1; ids[2..6] at 2; ids[0] closed
        open_per_org = {"Leger des Heils": 6, "GGD": 6}

        def shown(n):
            return None if 0 < n < 5 else n

        out = self.dep.ok("bea", "monitor")
        lv = {x["level"]: x["open"] for x in out["levels"]}
        self.assertEqual(lv, {1: shown(open_l1), 2: shown(open_l2), 3: 0, 4: 0, 5: 0})
        self.assertIsNone(lv[1], "a count of 1 is suppressed")
        self.assertEqual(out["escalations"], shown(esc))
        self.assertEqual(out["deescalations"], shown(desc))
        self.assertIsNone(out["deescalations"])
        self.assertEqual(out["time_to_deescalation"], {"count": None, "median_days": None})
        self.assertEqual(out["small_cell"], 5)
        if len(months) == 1:  # the test did not straddle a month boundary
            self.assertEqual(out["months"], [{"month": months.pop(), "opened": shown(opened),
                                              "closed": shown(closed), "escalations": shown(esc),
                                              "deescalations": shown(desc)}])
        self.assertEqual({o["organisation"]: o["casus"] for o in out["organisations"]},
                         {k: shown(v) for k, v in open_per_org.items()})
        self.assertNotIn(marker, json.dumps(out))

        # CSV: the same figures, "<5" for suppressed cells
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users["bea"], "monitor", "--csv"],
                           env=self.dep.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = list(csv.reader(io.StringIO(p.stdout)))
        self.assertEqual(rows[0], ["tabel", "sleutel", "maat", "waarde"])
        self.assertIn(["niveau", "1 Stapteam", "open", "<5"], rows)
        self.assertIn(["niveau", "2 Ketenzorg", "open", "5"], rows)
        self.assertIn(["totaal", "alle", "escalaties", "6"], rows)
        self.assertIn(["totaal", "alle", "de-escalaties", "<5"], rows)
        self.assertIn(["organisatie", "GGD", "open casussen", "6"], rows)

        # the HTML report: self-contained, Dutch, SVG charts, no content
        html = os.path.join(self.dep.dir, "monitor-%s.html" % uuid.uuid4().hex[:8])
        out = self.dep.ok("bea", "monitor", "--html", html)
        self.assertEqual(out["html"], html)
        with open(html, encoding="utf-8") as f:
            text = f.read()
        self.assertIn('<html lang="nl">', text)
        self.assertGreaterEqual(text.count("<svg"), 3)
        self.assertIn("&lt;5", text)
        self.assertNotIn(marker, text)
        for external in ("<script", "http://", "https://", "src="):
            self.assertNotIn(external, text)


if __name__ == "__main__":
    harness.main()
