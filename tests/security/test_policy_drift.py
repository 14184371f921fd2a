"""
test_policy_drift.py: move 10, policy drift.

The deployment's policy is at number 2 (casusd runs it; Gijs holds it).
Esther's device has never connected; the compromised server serves her the
older policy 1 (a genuine, root-signed one) and asks her to rotate the casus
keys under it. Commits name the policy they were made under (commit format
v2): her client sees that the chain already names policy 2, which it does
not hold, and refuses (exit 5, `stale_policy`) instead of acting under the
older rules. A client that does not check (casus_forge re-signs her commit
with her own key, naming policy 1) gets it kept by the server, which serves
it to Gijs; Gijs holds policy 2 and refuses it: exit 5, `stale_policy`.
Control: the same commit as made (naming policy 2) is accepted.
"""
import base64
import json
import os

import unittest

import hostile
from hostile import Reply


class PolicyDrift(hostile.HostileTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        dep = cls.dep
        with open(os.path.join(hostile.harness.SRC, "deploy", "policy", "default.json")) as f:
            pol = json.load(f)
        pol["number"] += 1
        path = os.path.join(dep.dir, "policy-2.json")
        with open(path, "w") as f:
            json.dump(pol, f)
        cls.policy2 = os.path.join(dep.dir, "policy-2.bin")
        dep.admin("sign-policy", "--keystore", dep.root_ks, "--policy", path, "--out", cls.policy2)
        cls.config = {"policy": cls.policy2}

    def test_commit_under_older_policy(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("gijs", "members", cid)  # gijs holds policy 2 and the chain
        with open(self.dep.policy, "rb") as f:
            older = base64.b64encode(f.read()).decode()
        captured = []

        def on_request(sess, req):
            if sess.user == "esther" and req.get("type") == "commit.post":
                captured.append(req["commit"])
                self.proxy.hit("kept")
                return Reply({"ok": True, "epoch": 1, "level": 1})
            return None

        def on_response(sess, req, resp):
            if sess.user == "esther" and req.get("type") == "policy.get" and resp.get("ok") and self.serve_older:
                self.proxy.hit("older_policy")
                return dict(resp, policy=older)
            if sess.user == "gijs" and req.get("type") == "commit.fetch" and req.get("from") == 1 and captured:
                self.proxy.hit("served")
                return dict(resp, commits=[{"epoch": 1, "commit": captured[-1]}], more=False)
            return None
        self.proxy.on_request = on_request
        self.proxy.on_response = on_response
        self.via_proxy("esther", "gijs")

        # (a) an honest client served the older policy: the chain names policy 2,
        # which it does not know, so it refuses rather than act under policy 1
        self.serve_older = True
        made = self.run_casus("esther", "rotate", cid, "--reason", "routine")
        self.show("esther, served policy 1, is asked to rotate", made)
        self.assertHit("older_policy")
        self.assertRefused(made, "stale_policy", "a chain made under a newer policy than the one served")
        self.assertEqual(captured, [], "esther's client posted a commit under the older policy")

        # (b) a client that does not check (casus_forge: esther's own key) names
        # policy 1 in her commit; the server keeps it and serves it to gijs
        self.serve_older = False
        self.run_casus("esther", "rotate", cid, "--reason", "routine")
        self.assertHit("kept", "esther's commit")
        captured.append(self.resign_commit(captured[-1], "esther", policy_number=1))
        res = self.run_casus("gijs", "members", cid)
        self.show("gijs (policy 2) is served esther's commit naming policy 1", res)
        self.assertHit("served")
        self.assertRefused(res, "stale_policy", "a commit made under an older policy")

        # control: the same commit naming policy 2 (as made) is accepted by gijs
        captured.append(captured[-2])
        ok = self.run_casus("gijs", "members", cid)
        self.show("gijs is served esther's commit as made (policy 2)", ok)
        self.assertEqual(ok.rc, 0, ok)

if __name__ == "__main__":
    hostile.main()
