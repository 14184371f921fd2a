"""
test_scenario.py (issue 6): the source case, end to end through casusd.

Casemanager anna opens a casus with esther (ervaringsdeskundige) and gijs (ggd)
at level 1, escalates to 3 (the process director gets a notice, live and in
`casus list`), adds paula; paula escalates to 4, adds peter (police) and admits
karel by break-glass; then the casus goes back to level 2 and paula, peter and
karel leave in one commit. At every step: who reads what, by real decryption.
"""
import subprocess

import harness
from casus_util import Watch, code, header, raw, raw_history


class SourceCase(harness.CasusTest):

    def setUp(self):
        super().setUp()
        self.watches = []

    def tearDown(self):
        for w in self.watches:
            w.stop()
        super().tearDown()

    def watch(self, user, cid):
        w = Watch(self.dep, user, cid, seconds=120)
        self.watches.append(w)
        return w

    def post(self, user, cid, text, audience=None, ground=None):
        args = ["post", cid]
        if audience:
            args += ["--audience", audience]
        if ground:
            args += ["--ground", ground]
        return self.dep.ok(user, *args, text)

    def readers(self, cid, text, users):
        """The users (of `users`) whose client decrypts a message with this text."""
        out = set()
        for u in users:
            rc, res, err = self.dep.cli(u, "history", cid)
            if rc == 0 and text in [m.get("text") for m in res["messages"] if m.get("verified")]:
                out.add(u)
        return out

    def plain_members(self, user, cid):
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], "members", cid], env=self.dep.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_source_case(self):
        everyone = ["anna", "esther", "gijs", "karel", "paula", "peter", "bert"]
        # level 1: Stapteam
        cid = self.new_casus("anna", ("esther", "gijs"), title="Mevrouw B.")
        z1 = "zorg op niveau 1: terugval in gebruik"
        self.post("anna", cid, z1)
        self.assertEqual(self.readers(cid, z1, everyone), {"anna", "esther", "gijs"})
        self.assertEqual(self.dep.ok("gijs", "members", cid)["level"], 1)
        # at level 1 nobody outside care is in overleg: no ground needed yet
        o1 = "overleg op niveau 1"
        out = self.post("esther", cid, o1, audience="overleg")
        self.assertEqual(self.readers(cid, o1, everyone), {"anna", "esther", "gijs"})
        # esther may not escalate, anna not beyond 3
        rc, res, err = self.dep.cli("esther", "escalate", cid, "2", "--reason", "probeer")
        self.assertNotEqual(rc, 0)
        self.assertEqual(res["error"]["code"], "forbidden", (res, err))
        rc, res, err = self.dep.cli("anna", "escalate", cid, "4", "--reason", "te hoog")
        self.assertNotEqual(rc, 0)
        self.assertEqual(res["error"]["code"], "forbidden", (res, err))

        # level 3: Procesregie. paula is connected: she gets the notice live
        self.assertEqual(self.dep.ok("paula", "list")["notices"], [])
        wpaula = self.watch("paula", None)  # not a member: follows the device's pushes
        wkarel = self.watch("karel", None)
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "casus stagneert")
        pushes = wpaula.wait_for(lambda ps: any(p.get("push") == "notice" for p in ps))
        notices = [p["notice"] for p in pushes if p.get("push") == "notice"]
        self.assertEqual(len(notices), 1, pushes)
        n = notices[0]
        # paula is not a member: the notice carries the casus, the level and the time, no content
        self.assertEqual(sorted(n), ["casus", "level", "level_name", "notice", "time"], n)
        self.assertEqual((n["casus"], n["level"], n["notice"]), (cid, 3, "escalation"))
        self.assertTrue(n["level_name"])
        lst = self.dep.ok("paula", "list")
        self.assertEqual([(x["casus"], x["level"]) for x in lst["notices"]], [(cid, 3)])
        self.assertFalse([x for x in lst["notices"] if "reason" in x or "by" in x], lst["notices"])
        self.assertEqual(lst["casus"], [])  # a notice, not membership
        # roles that do not direct the new levels get no notice
        for u in ("karel", "peter", "bert", "bea", "fenna"):
            self.assertEqual(self.dep.ok(u, "list")["notices"], [], u)
        self.assertFalse([p for p in wkarel.stop() if p.get("push") == "notice"])
        # paula is not a member before she is added
        rc, res, err = self.dep.cli("paula", "history", cid)
        self.assertEqual(rc, 8)  # not a member (cli_exit.h)
        self.assertEqual(res["error"]["code"], "forbidden")
        self.dep.ok("anna", "add", cid, "paula")
        # a care role posting to overleg now needs a ground: refused without, exit 2
        rc, res, err = self.dep.cli("gijs", "post", cid, "--audience", "overleg", "zonder grond")
        self.assertEqual(rc, 2, (res, err))
        self.assertEqual(res["error"]["code"], "ground_required")
        self.assertNotIn("zonder grond", self.texts("anna", cid))
        o3 = "overleg op niveau 3 met grond"
        self.post("gijs", cid, o3, audience="overleg", ground="consent")
        hist = self.dep.ok("paula", "history", cid)["messages"]
        got = [m for m in hist if m.get("text") == o3]
        self.assertEqual(len(got), 1)
        self.assertEqual((got[0]["ground"], got[0]["audience"], got[0]["sender"]["user"]),
                         ("consent", "overleg", "gijs"))
        # paula sees only from her join onward: not the level-1 overleg, never zorg
        self.assertEqual([m.get("text") for m in hist], [o3])
        self.assertEqual(self.readers(cid, o3, everyone), {"anna", "esther", "gijs", "paula"})
        z3 = "zorg op niveau 3"
        self.post("esther", cid, z3, audience="zorg")
        self.assertEqual(self.readers(cid, z3, everyone), {"anna", "esther", "gijs"})
        r3 = "regie op niveau 3"
        self.post("paula", cid, r3, audience="regie")
        self.assertEqual(self.readers(cid, r3, everyone), {"anna", "paula"})

        # level 4: Zorg en Veiligheid (paula escalates, adds peter)
        self.dep.ok("paula", "escalate", cid, "4", "--reason", "signalen van uitbuiting")
        self.dep.ok("paula", "add", cid, "peter")
        wpeter = self.watch("peter", cid)
        z4 = "zorg op niveau 4: medische details"
        zs = self.post("anna", cid, z4, audience="zorg")
        o4 = "overleg op niveau 4: veiligheidsplan"
        os_ = self.post("anna", cid, o4, audience="overleg", ground="conflict_of_duties")
        p4 = "politie meldt: adres bekend"
        self.post("peter", cid, p4, audience="overleg")  # not a care role: no ground needed
        wpeter.wait_for(lambda ps: any(p.get("seq") == os_["seq"] for p in ps))
        self.assertEqual(self.readers(cid, z4, everyone), {"anna", "esther", "gijs"})
        self.assertEqual(self.readers(cid, o4, everyone), {"anna", "esther", "gijs", "paula", "peter"})
        self.assertEqual(self.readers(cid, p4, everyone), {"anna", "esther", "gijs", "paula", "peter"})
        peter_hist = self.dep.ok("peter", "history", cid)["messages"]
        self.assertEqual([m["text"] for m in peter_hist], [o4, p4])
        self.assertEqual(peter_hist[0]["ground"], "conflict_of_duties")
        # police never read zorg: not in history, not as ciphertext, not as a push
        for m in raw_history(self.dep, "peter", cid)["messages"]:
            self.assertNotEqual(header(m["msg"])["audience"], 0)
        self.assertNotIn(zs["seq"], [p.get("seq") for p in wpeter.pushes])
        self.assertFalse([p for p in wpeter.msgs() if header(p["msg"])["audience"] == 0])
        rc, res, err = self.dep.cli("peter", "post", cid, "--audience", "zorg", "politie in zorg")
        self.assertNotEqual(rc, 0, res)
        # break-glass: paula admits karel outside the ladder
        self.dep.ok("paula", "add", cid, "karel", "--break-glass", "acuut woonprobleem, keten nodig")
        for u in ("anna", "esther", "gijs", "paula", "peter", "karel"):
            mem = self.dep.ok(u, "members", cid)["members"]
            flags = {m["user"]: m["break_glass"] for m in mem}
            self.assertEqual(flags, {"anna": False, "esther": False, "gijs": False, "paula": False,
                                     "peter": False, "karel": True}, u)
            text = self.plain_members(u, cid)
            lines = [line for line in text.splitlines() if "BREAK-GLASS" in line]
            self.assertEqual(len(lines), 1, text)
            self.assertTrue(lines[0].strip().startswith("karel"), text)
        audit = self.dep.ok("fenna", "audit", "--casus", cid, "--limit", "1000")["entries"]
        bg = [e for e in audit if e["break_glass"]]
        self.assertEqual(len(bg), 1, [e["event"] for e in audit])
        # the reason is the members' text: not kept in the clear in the trail
        self.assertEqual((bg[0]["user"], bg[0]["role"], bg[0]["reason"], bg[0]["casus"], bg[0]["outcome"]),
                         ("paula", "procesregisseur", "", cid, "success"))
        self.assertFalse([e for e in audit if e["break_glass"] and e["user"] != "paula"])
        # the level changes are in the trail with old and new level and actor (no reason)
        lv = [(e["level_prev"], e["level"], e["user"], e["reason"]) for e in audit
              if e["level"] != e["level_prev"] and e["event"] != "?" and e["level_prev"]]
        self.assertIn((1, 3, "anna", ""), lv)
        self.assertIn((3, 4, "paula", ""), lv)
        k4 = "na noodtoegang"
        self.post("anna", cid, k4, audience="zorg")
        self.assertIn(k4, self.texts("karel", cid))

        # back to level 2: paula, peter (ladder) and karel (break-glass) leave in one commit
        last_peter_epoch = self.dep.ok("peter", "members", cid)["epoch"]
        epoch_before = self.dep.ok("anna", "members", cid)["epoch"]
        self.dep.ok("anna", "deescalate", cid, "2", "--reason", "veiligheidsrisico geweken")
        m = self.dep.ok("gijs", "members", cid)
        self.assertEqual((m["level"], m["epoch"]), (2, epoch_before + 1))
        self.assertEqual(sorted(x["user"] for x in m["members"]), ["anna", "esther", "gijs"])
        pushes = wpeter.wait_for(lambda ps: any(p.get("push") == "removed" for p in ps))
        self.assertTrue(any(p.get("push") == "removed" for p in pushes), pushes)
        after = "na de-escalatie: alleen nog de zorg"
        out = self.post("anna", cid, after, audience="overleg")  # no non-care role left: no ground
        self.assertEqual(self.readers(cid, after, everyone), {"anna", "esther", "gijs"})
        # peter cannot read it, even handed the ciphertext: it is at an epoch he never got a key for
        blob = [x for x in raw_history(self.dep, "anna", cid)["messages"] if x["seq"] == out["seq"]]
        self.assertEqual(len(blob), 1)
        h = header(blob[0]["msg"])
        self.assertEqual(h["casus"], cid)
        self.assertGreater(h["epoch"], last_peter_epoch)
        self.assertEqual(h["epoch"], epoch_before + 1)
        # the server refuses him content; it serves him the commits up to the
        # one that removed him (epoch_before + 1) and nothing after, so his
        # client verifies its removal and drops its copy (no rollback alarm)
        removed_answer = (8, "forbidden")  # not (or no longer) a member: exit 8 (client/cli_exit.h)
        rc, res, err = self.dep.cli("peter", "history", cid)
        self.assertEqual((rc, res["error"]["code"]), removed_answer, (res, err))
        rc, resps, _ = raw(self.dep, "peter", [{"type": "history", "casus": cid},
                                               {"type": "commit.fetch", "casus": cid, "from": epoch_before},
                                               {"type": "commit.fetch", "casus": cid, "from": epoch_before + 2}])
        self.assertEqual([code(x) for x in resps], ["forbidden", "ok", "forbidden"], resps)
        self.assertEqual([c["epoch"] for c in resps[1]["commits"]], [epoch_before, epoch_before + 1], resps[1])
        self.assertFalse(resps[1]["more"])
        for u in ("paula", "karel"):
            rc, res, err = self.dep.cli(u, "history", cid)
            self.assertEqual((rc, res["error"]["code"]), removed_answer, u)
        self.assertFalse([p for p in wpeter.stop() if p.get("push") == "msg" and p["seq"] >= out["seq"]])
        # the epoch key of the new epoch was sealed only to the three who stayed
        rc, resps, _ = raw(self.dep, "anna", [{"type": "commit.fetch", "casus": cid, "from": epoch_before + 1}])
        self.assertEqual([c["epoch"] for c in resps[0]["commits"]], [epoch_before + 1])
        # karel may come back through the ladder now (ketenpartner from level 2)
        self.dep.ok("anna", "add", cid, "karel")
        flags = {x["user"]: x["break_glass"] for x in self.dep.ok("anna", "members", cid)["members"]}
        self.assertEqual(flags.get("karel"), False)
        self.assertNotIn(k4, self.texts("karel", cid))  # a new member starts fresh
        self.assertNotIn(after, self.texts("karel", cid))

    def test_notice_once_per_user_with_two_devices(self):
        """A process director with two devices gets one notice (and a push on each device)."""
        if "paula-d2" not in self.dep.users:
            self.dep.add_user("paula", "procesregisseur", "Paula Visser", "Zorg- en Veiligheidshuis", device="d2")
        # the server learns the second device when it first authenticates
        self.assertEqual(self.dep.ok("paula-d2", "list")["notices"], [])
        cid = self.new_casus("anna", ("esther", "gijs"))
        w1, w2 = self.watch("paula", None), self.watch("paula-d2", None)
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "twee apparaten")
        for w in (w1, w2):
            pushes = w.wait_for(lambda ps: any(p.get("push") == "notice" for p in ps))
            self.assertEqual(len([p for p in pushes if p.get("push") == "notice"]), 1, pushes)
        for dev in ("paula", "paula-d2"):
            notices = self.dep.ok(dev, "list")["notices"]
            self.assertEqual([(n["casus"], n["level"]) for n in notices], [(cid, 3)], dev)
        # both devices can be added; both then read
        self.dep.ok("anna", "add", cid, "paula")
        self.dep.ok("anna", "post", cid, "--audience", "overleg", "--ground", "consent", "voor beide apparaten")
        for dev in ("paula", "paula-d2"):
            self.assertIn("voor beide apparaten", self.texts(dev, cid))

    def test_notices_are_capped_newest_first_kept(self):
        """casus.list returns the newest 50 notices, so the reply stays small however often
        a casus goes up and down the ladder."""
        # notices carry no reason: the three oldest are of another casus, so
        # which ones were kept shows in the casus ids
        old = self.new_casus("anna", ("gijs",), title="Oud")
        cid = self.new_casus("anna", ("gijs",))
        for i in range(53):
            c = old if i < 3 else cid
            self.dep.ok("anna", "escalate", c, "3", "--reason", "ronde %d" % i)
            self.dep.ok("anna", "deescalate", c, "1", "--reason", "terug %d" % i)
        notices = self.dep.ok("paula", "list")["notices"]
        self.assertEqual([(n["casus"], n["level"]) for n in notices], [(cid, 3)] * 50)

    def test_break_glass_rights(self):
        """Only a role with may_break_glass may admit outside the ladder, and a reason is needed."""
        cid = self.new_casus("anna", ("esther", "gijs"))
        rc, res, err = self.dep.cli("anna", "add", cid, "peter", "--break-glass", "nood")
        self.assertNotEqual(rc, 0)
        self.assertEqual(res["error"]["code"], "forbidden", (res, err))
        # peter is not admitted at level 1 through the ladder either
        rc, res, err = self.dep.cli("anna", "add", cid, "peter")
        self.assertNotEqual(rc, 0, res)
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        self.dep.ok("anna", "add", cid, "paula")
        # bestuur is admitted only at level 5; paula admits bert at 3 by break-glass
        self.dep.ok("paula", "add", cid, "bert", "--break-glass", "wethouder moet beslissen")
        mem = {m["user"]: m for m in self.dep.ok("esther", "members", cid)["members"]}
        self.assertTrue(mem["bert"]["break_glass"])
        self.post("paula", cid, "regie voor de wethouder", audience="regie")
        self.assertIn("regie voor de wethouder", self.texts("bert", cid))
        audit = self.dep.ok("fenna", "audit", "--casus", cid, "--limit", "1000")["entries"]
        self.assertEqual([(e["user"], e["reason"]) for e in audit if e["break_glass"]], [("paula", "")])
        # beleid never receives keys, not even by break-glass
        rc, res, err = self.dep.cli("paula", "add", cid, "bea", "--break-glass", "beleid wil meelezen")
        self.assertNotEqual(rc, 0, res)
        self.assertNotIn("bea", [m["user"] for m in self.dep.ok("anna", "members", cid)["members"]])


if __name__ == "__main__":
    harness.main()
