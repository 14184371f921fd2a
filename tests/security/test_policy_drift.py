"""
test_policy_drift.py: move 10, policy drift.

The deployment's policy is at number 2 (casusd runs it; Gijs holds it).
Esther's device has never connected; the compromised server serves her the
older policy 1 (a genuine, root-signed one) and she rotates the casus keys
under it. The server keeps her commit and serves it to Gijs. Today a commit
does not name the policy it was made under, so Gijs cannot tell and accepts
it. Contract: commits name their policy number; a commit (or a served
policy) with an older number than the one the client holds is refused:
exit 5, `stale_policy`.
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

    # OPEN HOLE (issue #11): commits do not yet name the policy number they were made under (needs
    # commit format v2 and regenerated vectors).
    # Kept as an expected failure so the suite stays honest: it reports this
    # case as an expected failure while the hole is open, and an unexpected
    # success (a failed run) the day it is closed, so the mark must then go.
    @unittest.expectedFailure
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
            if sess.user == "esther" and req.get("type") == "policy.get" and resp.get("ok"):
                self.proxy.hit("older_policy")
                return dict(resp, policy=older)
            if sess.user == "gijs" and req.get("type") == "commit.fetch" and req.get("from") == 1 and captured:
                self.proxy.hit("served")
                return dict(resp, commits=[{"epoch": 1, "commit": captured[0]}], more=False)
            return None
        self.proxy.on_request = on_request
        self.proxy.on_response = on_response
        self.via_proxy("esther", "gijs")
        made = self.run_casus("esther", "rotate", cid, "--reason", "routine")
        self.show("esther rotates under policy 1", made)
        self.assertHit("older_policy")
        self.assertHit("kept", "esther's commit under policy 1")
        res = self.run_casus("gijs", "members", cid)
        self.show("gijs (policy 2) is served esther's commit", res)
        self.assertHit("served")
        self.assertRefused(res, "stale_policy", "a commit made under an older policy")


if __name__ == "__main__":
    hostile.main()
