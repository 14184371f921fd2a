"""
test_policy_table.py (issue 6): every role x level x action cell of a policy,
walked through the real casusd and the real `casus` client.

The expected outcome of each cell comes from policy_doc.Policy, a small Python
model of the rules in crypto/cc_policy.c and crypto/cc_commit.c, computed from
the policy JSON; the actual outcome is what the client and server do (exit
code, error code; reads by real decryption through `history`). One user per
role (named after the role) plus a spare user of the first role admitted at
level 1 (the target of add/remove). One casus per level, reused for every
action at that level.

PolicyTable runs deploy/policy/default.json, FourLevelPolicyTable the other
deployment's ladder (deploy/policy/four-level.json) with the same code.
DocTable checks that docs/POLICY.md holds the generated table.
PolicyVersions: a client that saw a newer policy refuses an older one (exit 5);
casusd refuses a policy that is not signed by the deployment root.

CASUS_POLICY_LEVELS=subset (set by tests/run.sh for the sanitizer pass, where
the full walk took ~625 s): every role and action, but only the lowest and the
highest level of each ladder (the highest covers de-escalation and the widest
membership; every level runs the same client and server code, which is what
the sanitizer checks). The normal pass walks every level.
"""
import json
import re
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import harness
import policy_doc

DEFAULT_POLICY = os.path.join(harness.SRC, "deploy", "policy", "default.json")
FOUR_LEVEL_POLICY = os.path.join(harness.SRC, "deploy", "policy", "four-level.json")
GROUNDS = ("consent",)
# exit codes a refusal may have (client/cli_exit.h): 1 refused, 2 usage,
# 5 does not verify (a change the chain rules refuse), 6 not found, 8 not a member
REFUSAL_RCS = (1, 2, 5, 6, 8)
SUBSET = os.environ.get("CASUS_POLICY_LEVELS", "all") == "subset"


def users_for(policy_path):
    p = policy_doc.Policy.load(policy_path)
    users = [(r, r, "User %s" % r, "Org %s" % r) for r in p.role_names]
    spare_role = [r for r in p.role_names if p.member(r, 1)][0]
    users.append(("spare", spare_role, "Spare %s" % spare_role, "Org spare"))
    return users


class PolicyTable(harness.CasusTest):
    policy = DEFAULT_POLICY
    users = users_for(DEFAULT_POLICY)
    workers = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pol = policy_doc.Policy.load(cls.policy)

    def setUp(self):
        super().setUp()
        self.mismatch = []
        self.checked = 0
        self.pool = ThreadPoolExecutor(self.workers)

    def tearDown(self):
        self.pool.shutdown()
        super().tearDown()

    # ---- helpers ----

    def run_cli(self, user, *args):
        """Run casus as user; an exit that is no clean refusal is recorded (and the walk goes on)."""
        rc, out, err = self.dep.cli(user, *args)
        if rc != 0:
            code = (out or {}).get("error", {}).get("code")
            if out is None and args[0] == "audit":
                # `casus --json audit` reports a refusal on stderr only (see the report)
                m = re.search(r"refused \((\w+)\)", err)
                code = m.group(1) if m else None
            if rc not in REFUSAL_RCS or code in ("internal", "storage", "network", None):
                self.mismatch.append("casus %s as %s: not a clean refusal: exit %d %s %s" % (
                    " ".join(args), user, rc, out, err.strip()[:300]))
        return rc, out

    def phase(self, name):
        if os.environ.get("CASUS_VERBOSE"):
            now = time.time()
            print("  %-24s %.1f s" % (name, now - getattr(self, "_t", now)), flush=True)
            self._t = now

    def expect(self, what, want, got, detail=""):
        self.checked += 1
        if want != got:
            self.mismatch.append("%s: expected %s, got %s %s" % (what, want, got, detail))

    def members(self, cid):
        m = self.dep.ok(self.helper, "members", cid)
        return m["level"], sorted({x["user"] for x in m["members"]})

    def ensure_spare(self, cid, present):
        """The spare user in (present) or out of the casus; self.spare_in tracks it."""
        if self.spare_in != present:
            self.dep.ok(self.helper, "add" if present else "remove", cid, "spare")
            self.spare_in = present

    def restore(self, cid, level):
        """Bring the casus back to `level` with every admitted role and the spare as members."""
        cur, mem = self.members(cid)
        if cur > level:
            self.dep.ok(self.helper, "deescalate", cid, str(level), "--reason", "terug")
        elif cur < level:
            esc = [r for r in mem if r in self.pol.role_names and self.pol.may_escalate(r, cur, level)]
            self.assertTrue(esc, "nobody can escalate back to %d" % level)
            self.dep.ok(esc[0], "escalate", cid, str(level), "--reason", "terug")
        cur, mem = self.members(cid)
        self.assertEqual(cur, level)
        for r in self.pol.admitted(level):
            if r not in mem:
                self.dep.ok(self.helper, "add", cid, r)
        if "spare" not in mem:
            self.dep.ok(self.helper, "add", cid, "spare")
        cur, mem = self.members(cid)
        self.assertEqual(mem, sorted(self.pol.admitted(level) + ["spare"]))
        self.spare_in = True

    def pick_helper(self, level):
        for r in self.pol.role_names:
            role = self.pol.role(r)
            if self.pol.member(r, level) and role["may_add"] and role["may_remove"] and role["may_deescalate"]:
                return r
        self.fail("no role at level %d may add, remove and de-escalate" % level)

    # ---- one level ----

    def walk_level(self, level):
        p = self.pol
        creator = [r for r in p.role_names if p.member(r, level) and p.role(r)["may_create"]][0]
        self.helper = self.pick_helper(level)
        admitted = p.admitted(level)
        args = ["new", "--title", "tabel %d" % level, "--purpose", "beleidstabel", "--basis", "test", "--level",
                str(level)]
        for r in admitted + ["spare"]:
            if r != creator:
                args += ["--member", r]
        cid = self.dep.ok(creator, *args)["casus"]
        self.assertEqual(self.members(cid), (level, sorted(admitted + ["spare"])))
        self.spare_in = True
        roles = p.role_names
        auds = p.aud_names

        # post, per audience: without a ground first, then with one if the ground was asked for
        def post(r, a):
            text = "P|%d|%s|%s" % (level, r, a)
            rc, out = self.run_cli(r, "post", cid, "--audience", a, text)
            if rc == 0:
                return "yes"
            if rc == 2 and out["error"]["code"] == "ground_required":
                rc2, out2 = self.run_cli(r, "post", cid, "--audience", a, "--ground", GROUNDS[0], text)
                return "ground" if rc2 == 0 else "ground-refused(%s)" % out2
            return "no"

        jobs = {(r, a): self.pool.submit(post, r, a) for r in roles for a in auds}
        for (r, a), f in jobs.items():
            self.expect("L%d %s post %s" % (level, r, a), p.post(r, a, level), f.result())

        self.phase("L%d post" % level)
        # read, by real decryption: which (poster, audience) messages each role's client opens
        def history(r):
            rc, out = self.run_cli(r, "history", cid)
            return out["messages"] if rc == 0 else None

        hist = {r: f.result() for r, f in {r: self.pool.submit(history, r) for r in roles}.items()}
        for r in roles:
            got = set()
            for m in hist[r] or []:
                t = m.get("text") or ""
                if m.get("verified") and t.startswith("P|%d|" % level):
                    _, _, poster, aud = t.split("|")
                    self.assertEqual(aud, m["audience"])  # the header agrees with the text
                    got.add((poster, aud))
            for a in auds:
                want = {(q, a) for q in roles if p.post(q, a, level) != "no"} if p.read(r, a, level) else set()
                self.expect("L%d %s read %s" % (level, r, a), sorted(want), sorted(x for x in got if x[1] == a))
            self.expect("L%d %s history" % (level, r), p.member(r, level), hist[r] is not None)

        self.phase("L%d read" % level)
        # grant: share a readable message with another member entitled to its audience
        def grant(r):
            mid, to = "0" * 32, self.helper
            for m in hist[r] or []:
                if m.get("verified") and (m.get("text") or "").startswith("P|%d|" % level):
                    others = [q for q in admitted if q != r and p.read(q, m["audience"], level)]
                    if others:
                        mid, to = m["id"], others[0]
                        break
            rc, out = self.run_cli(r, "share", cid, "--to", to, "--messages", mid, "--ground", "consent",
                                   "--reason", "tabel")
            return rc == 0

        jobs = {r: self.pool.submit(grant, r) for r in roles}
        for r, f in jobs.items():
            self.expect("L%d %s grant" % (level, r), p.grant(r, level), f.result())

        self.phase("L%d grant" % level)
        # audit trail of this casus
        def audit(r):
            rc, out = self.run_cli(r, "audit", "--casus", cid, "--limit", "5")
            if rc == 0:
                self.assertTrue(out["entries"], out)
                self.assertTrue(all(e["casus"] == cid for e in out["entries"]), out)
            return rc == 0

        jobs = {r: self.pool.submit(audit, r) for r in roles}
        for r, f in jobs.items():
            self.expect("L%d %s audit" % (level, r), p.audit(r, level) is not None, f.result())

        self.phase("L%d audit" % level)
        # Commits. The attempts the model refuses run in parallel (they must change
        # nothing); the allowed ones run one by one, each followed by a restore.
        def attempt(r, *args):
            return self.run_cli(r, *args)[0] == 0

        def refused_batch(label, actors, *args):
            jobs = {r: self.pool.submit(attempt, r, *args) for r in actors}
            for r, f in jobs.items():
                self.expect("L%d %s %s" % (level, r, label), False, f.result())
            lv, mem = self.members(cid)
            self.assertEqual(lv, level, "a refused %s changed the level" % label)
            return mem

        # remove the spare (a member)
        mem = refused_batch("remove", [r for r in roles if not p.remove(r, level)], "remove", cid, "spare")
        self.assertIn("spare", mem, "a refused remove removed the spare")
        for r in [r for r in roles if p.remove(r, level)]:
            self.ensure_spare(cid, True)
            ok = attempt(r, "remove", cid, "spare", "--reason", "t")
            self.expect("L%d %s remove" % (level, r), True, ok)
            self.spare_in = not ok
        self.ensure_spare(cid, False)
        # add the spare (not a member), normally and by break-glass
        mem = refused_batch("add", [r for r in roles if not p.add(r, level)], "add", cid, "spare")
        self.assertNotIn("spare", mem, "a refused add added the spare")
        mem = refused_batch("break-glass", [r for r in roles if not p.break_glass(r, level)], "add", cid, "spare",
                            "--break-glass", "tabel noodtoegang")
        self.assertNotIn("spare", mem, "a refused break-glass added the spare")
        for r in [r for r in roles if p.add(r, level)]:
            self.ensure_spare(cid, False)
            ok = attempt(r, "add", cid, "spare")
            self.expect("L%d %s add" % (level, r), True, ok)
            self.spare_in = ok
        for r in [r for r in roles if p.break_glass(r, level)]:
            self.ensure_spare(cid, False)
            ok = attempt(r, "add", cid, "spare", "--break-glass", "tabel noodtoegang")
            self.expect("L%d %s break-glass" % (level, r), True, ok)
            if ok:
                self.spare_in = True
                mem = {x["user"]: x for x in self.dep.ok(self.helper, "members", cid)["members"]}
                self.assertTrue(mem["spare"]["break_glass"])
        self.ensure_spare(cid, False)
        self.ensure_spare(cid, True)

        self.phase("L%d remove/add/bg" % level)
        # the ladder: roles the level does not admit cannot be added
        jobs = {q: self.pool.submit(attempt, self.helper, "add", cid, q) for q in roles if not p.member(q, level)}
        for q, f in jobs.items():
            self.expect("L%d %s admits %s" % (level, self.helper, q), False, f.result())

        self.phase("L%d ladder" % level)
        # escalate: the highest allowed target and the first one above it
        refused = []
        allowed = []
        for r in roles:
            targets = p.escalate_targets(r, level)
            if targets:
                allowed.append((r, targets[-1]))
            first_refused = (targets[-1] if targets else level) + 1
            if first_refused <= p.n:
                refused.append((r, first_refused))
        jobs = {(r, t): self.pool.submit(attempt, r, "escalate", cid, str(t), "--reason", "tabel")
                for r, t in refused}
        for (r, t), f in jobs.items():
            self.expect("L%d %s escalate to %d" % (level, r, t), False, f.result())
        self.assertEqual(self.members(cid)[0], level, "a refused escalation changed the level")
        for r, t in allowed:
            ok = attempt(r, "escalate", cid, str(t), "--reason", "tabel")
            lv = self.members(cid)[0]
            self.expect("L%d %s escalate to %d" % (level, r, t), True, ok, "(level now %d)" % lv)
            if lv != level:
                self.restore(cid, level)

        self.phase("L%d escalate" % level)
        # de-escalate by one level
        if level > 1:
            jobs = {r: self.pool.submit(attempt, r, "deescalate", cid, str(level - 1), "--reason", "tabel")
                    for r in roles if not p.deescalate(r, level)}
            for r, f in jobs.items():
                self.expect("L%d %s deescalate" % (level, r), False, f.result())
            self.assertEqual(self.members(cid)[0], level, "a refused de-escalation changed the level")
            for r in [r for r in roles if p.deescalate(r, level)]:
                ok = attempt(r, "deescalate", cid, str(level - 1), "--reason", "tabel")
                lv, mem = self.members(cid)
                self.expect("L%d %s deescalate" % (level, r), True, ok,
                            "(exit code; the level is now %d)" % lv)
                if lv != level:
                    self.assertEqual(lv, level - 1)
                    # the lower level keeps exactly the roles it admits
                    self.assertEqual(mem, sorted(p.admitted(level - 1) + ["spare"]))
                    self.restore(cid, level)
        return cid

    def test_every_cell(self):
        t0 = time.time()
        levels = sorted({1, self.pol.n}) if SUBSET else range(1, self.pol.n + 1)
        for level in levels:
            self.walk_level(level)
        # at least every role x walked level x (audiences x 2 + actions) cell was checked
        min_cells = len(self.pol.role_names) * len(levels) * (2 * len(self.pol.aud_names) + 6)
        self.assertGreaterEqual(self.checked, min_cells)
        print("%d cells (levels %s) in %.1f s" % (self.checked, " ".join(map(str, levels)), time.time() - t0))
        self.assertEqual(self.mismatch, [], "\n".join(self.mismatch))


class FourLevelPolicyTable(PolicyTable):
    policy = FOUR_LEVEL_POLICY
    users = users_for(FOUR_LEVEL_POLICY)


class DocTable(harness.unittest.TestCase):
    """docs/POLICY.md holds exactly the table policy_doc.py generates for default.json."""

    def test_doc_matches_generator(self):
        with open(os.path.join(harness.SRC, "docs", "POLICY.md")) as f:
            doc = f.read()
        begin, end = "<!-- policy-table: begin -->\n", "<!-- policy-table: end -->"
        self.assertIn(begin, doc)
        self.assertIn(end, doc)
        table = doc.split(begin, 1)[1].split(end, 1)[0]
        p = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "policy_doc.py"), DEFAULT_POLICY],
                           capture_output=True, text=True, check=True)
        self.assertEqual(table, p.stdout)

    def test_generator_follows_the_policy(self):
        """The table changes when the policy does (the check above can fail)."""
        with open(DEFAULT_POLICY) as f:
            data = json.load(f)
        before = policy_doc.markdown(policy_doc.Policy(data))
        data["roles"][1]["may_add"] = True
        self.assertNotEqual(policy_doc.markdown(policy_doc.Policy(data)), before)


class PolicyVersions(harness.CasusTest):
    """A deployment changes its policy by signing one with a higher number."""

    def setUp(self):
        # every test starts from clients that have seen no policy yet
        for prof in self.dep.users.values():
            try:
                os.unlink(os.path.join(prof, "policy.bin"))
            except FileNotFoundError:
                pass
        super().setUp()

    def sign(self, number, root_ks=None, mutate=None):
        with open(DEFAULT_POLICY) as f:
            data = json.load(f)
        data["number"] = number
        if mutate:
            mutate(data)
        fd, src = tempfile.mkstemp(suffix=".json", dir=self.dep.dir)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        out = src[:-5] + ".bin"
        self.dep.admin("sign-policy", "--keystore", root_ks or self.dep.root_ks, "--policy", src, "--out", out)
        return out

    def restart(self, policy_path):
        self.srv.stop()
        self.srv = harness.Server(self.dep, {"policy": policy_path}, data_dir=self.srv.data).start()

    def test_client_refuses_an_older_policy(self):
        cid = self.new_casus()
        newer = self.sign(2, mutate=lambda d: d["roles"][1].update({"may_grant": True}))
        self.restart(newer)
        self.dep.ok("anna", "post", cid, "onder beleid 2")
        self.assertIn("onder beleid 2", self.texts("gijs", cid))
        # the server goes back to number 1: the clients that saw 2 refuse it
        self.restart(self.dep.policy)
        for u in ("anna", "gijs"):
            rc, out, err = self.dep.cli(u, "list")
            self.assertEqual(rc, 5, (u, out, err))
            self.assertIn("older", out["error"]["message"])
        rc, out, err = self.dep.cli("anna", "post", cid, "onder oud beleid")
        self.assertEqual(rc, 5, (out, err))
        # and with the newer policy back, everyone works again
        self.restart(newer)
        self.dep.ok("anna", "post", cid, "weer beleid 2")
        self.assertIn("weer beleid 2", self.texts("gijs", cid))

    def test_server_refuses_to_serve_an_older_policy(self):
        """casusd remembers the newest policy number its store has served."""
        cid = self.new_casus()
        newer = self.sign(2)
        self.restart(newer)
        self.dep.ok("anna", "post", cid, "onder beleid 2")
        self.restart(self.dep.policy)
        # esther never saw number 2, so her client would accept 1: the server refuses itself
        rc, out, err = self.dep.cli("esther", "history", cid)
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("older", out["error"]["message"])
        rc, out, err = self.dep.cli("esther", "list")
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("older", out["error"]["message"])
        self.assertIn("policy.stale", self.srv.log())
        # the newer policy (or a still newer one) serves again, nothing lost
        self.restart(self.sign(3))
        self.assertIn("onder beleid 2", self.texts("esther", cid))

    def test_a_newer_policy_takes_effect(self):
        """esther (ervaringsdeskundige) may not share under number 1 and may under number 2."""
        cid = self.new_casus()
        mid = self.dep.ok("anna", "post", cid, "te delen")["id"]
        self.dep.ok("esther", "history", cid)
        rc, out, err = self.dep.cli("esther", "share", cid, "--to", "gijs", "--messages", mid, "--ground",
                                    "consent", "--reason", "r")
        self.assertNotEqual(rc, 0, out)
        self.restart(self.sign(2, mutate=lambda d: d["roles"][1].update({"may_grant": True})))
        self.dep.ok("esther", "share", cid, "--to", "gijs", "--messages", mid, "--ground", "consent",
                    "--reason", "r")

    def test_server_refuses_a_policy_not_signed_by_the_root(self):
        other = os.path.join(self.dep.dir, "other-root.casusks")
        if not os.path.exists(other):
            self.dep.admin("root-init", "--keystore", other, "--pub", other + ".pub")
        forged = self.sign(5, root_ks=other)
        self.srv.stop()
        srv = harness.Server(self.dep, {"policy": forged}, data_dir=self.srv.data)
        with self.assertRaises(AssertionError) as cm:
            srv.start(timeout=10)
        self.assertIn("exited at start", str(cm.exception))
        # a policy file with one byte changed
        with open(self.dep.policy, "rb") as f:
            b = bytearray(f.read())
        b[len(b) // 2] ^= 1
        tampered = os.path.join(self.dep.dir, "tampered.bin")
        with open(tampered, "wb") as f:
            f.write(b)
        srv = harness.Server(self.dep, {"policy": tampered}, data_dir=self.srv.data)
        with self.assertRaises(AssertionError):
            srv.start(timeout=10)
        self.srv = harness.Server(self.dep, None, data_dir=self.srv.data).start()
        self.dep.ok("anna", "list")


if __name__ == "__main__":
    harness.main()
