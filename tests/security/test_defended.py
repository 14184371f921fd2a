"""
test_defended.py: moves already defended today (the proof the suite can pass,
and a guard that they stay defended).

- ghost commit: the server serves a commit that builds on the head but is
  signed by a device that is not a member (Peter's, through casus_forge);
- replayed commit: the server serves an earlier commit again as the next one;
- tampered ciphertext: one byte of a note in history is flipped;
- older policy: the server offers policy 1 to a client that has seen policy 2.
Each is refused: the chain and policy moves exit 5 (today with the generic
code `verify`; the contract's codes `ghost_commit`, `replay`, `stale_policy`
are accepted too), the tampered note is listed as not verified and its text
is never shown.
"""
import base64
import json
import os

import hostile
from hostile import Reply

CHAIN_CODES = {
    "ghost": ("verify", "ghost_commit", "bad_signature"),
    "replay": ("verify", "replay", "tampered"),
    "policy": ("verify", "stale_policy"),
}


class Defended(hostile.HostileTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        dep = cls.dep
        with open(os.path.join(hostile.harness.SRC, "deploy", "policy", "default.json")) as f:
            pol = json.load(f)
        pol["number"] = pol["number"] + 1
        newer = os.path.join(dep.dir, "policy-newer.json")
        with open(newer, "w") as f:
            json.dump(pol, f)
        cls.policy_newer = os.path.join(dep.dir, "policy-newer.bin")
        dep.admin("sign-policy", "--keystore", dep.root_ks, "--policy", newer, "--out", cls.policy_newer)
        cls.config = {"policy": cls.policy_newer}

    def serve_commit(self, cid, victim, make):
        async def on_request(sess, req):
            if sess.user == victim and req.get("type") == "commit.fetch" and req.get("casus") == cid \
                    and req.get("from", 0) > 0:
                full = await sess.upstream({"type": "commit.fetch", "casus": cid, "from": 0})
                self.proxy.hit("served")
                return Reply({"ok": True, "commits": [make(full["commits"], req["from"])], "more": False})
            return None
        self.proxy.on_request = on_request

    def test_ghost_commit(self):
        cid = self.new_casus("anna", ("gijs",))
        self.dep.ok("gijs", "members", cid)
        self.dep.ok("anna", "rotate", cid, "--reason", "routine")
        self.via_proxy("gijs")
        self.serve_commit(cid, "gijs", lambda cs, frm: {"epoch": frm, "commit": self.resign_commit(
            cs[frm]["commit"], "peter")})
        res = self.run_casus("gijs", "members", cid)
        self.show("gijs is served a commit signed by non-member peter", res)
        self.assertHit("served")
        self.assertEqual(res.rc, 5, res)
        self.assertIn(res.code, CHAIN_CODES["ghost"], res)

    def test_replayed_commit(self):
        cid = self.new_casus("anna", ("gijs",))
        self.dep.ok("anna", "rotate", cid, "--reason", "routine")
        self.dep.ok("gijs", "members", cid)
        self.via_proxy("gijs")
        self.serve_commit(cid, "gijs", lambda cs, frm: {"epoch": frm, "commit": cs[frm - 1]["commit"]})
        res = self.run_casus("gijs", "members", cid)
        self.show("gijs is served commit 1 again as commit 2", res)
        self.assertHit("served")
        self.assertEqual(res.rc, 5, res)
        self.assertIn(res.code, CHAIN_CODES["replay"], res)

    def test_tampered_ciphertext(self):
        cid = self.new_casus("anna", ("gijs",))
        marker = "GEKNOEID-" + os.urandom(4).hex()
        self.dep.ok("anna", "post", cid, "zorg: " + marker)

        def on_response(sess, req, resp):
            if sess.user == "gijs" and req.get("type") == "history" and resp.get("ok"):
                msgs = []
                for m in resp.get("messages", []):
                    if m["seq"] == 2:
                        raw = bytearray(base64.b64decode(m["msg"]))
                        raw[len(raw) - 40] ^= 0x01  # inside the ciphertext
                        m = dict(m, msg=base64.b64encode(bytes(raw)).decode())
                        self.proxy.hit("tampered")
                    msgs.append(m)
                return dict(resp, messages=msgs)
            return None
        self.proxy.on_response = on_response
        self.via_proxy("gijs")
        res = self.run_casus("gijs", "history", cid)
        self.show("gijs reads a history with one flipped byte", res)
        self.assertHit("tampered")
        msgs = (res.out or {}).get("messages", [])
        if res.rc == 5:
            self.assertIn(res.code, ("tampered", "bad_signature"), res)
        else:
            self.assertEqual(res.rc, 0, res)
            two = [m for m in msgs if m.get("seq") == 2]
            self.assertEqual(len(two), 1, res)
            self.assertFalse(two[0].get("verified"), two[0])
            self.assertNotIn("text", two[0])
        self.assertNotIn(marker, res.stdout)

    def test_older_policy(self):
        cid = self.new_casus("anna", ("gijs",))
        self.dep.ok("gijs", "members", cid)  # gijs holds policy 2 now
        with open(self.dep.policy, "rb") as f:
            older = base64.b64encode(f.read()).decode()

        def on_response(sess, req, resp):
            if sess.user == "gijs" and req.get("type") == "policy.get":
                self.proxy.hit("older_policy")
                return dict(resp, policy=older)
            return None
        self.proxy.on_response = on_response
        self.via_proxy("gijs")
        res = self.run_casus("gijs", "members", cid)
        self.show("gijs is offered policy 1 after policy 2", res)
        self.assertHit("older_policy")
        self.assertEqual(res.rc, 5, res)
        self.assertIn(res.code, CHAIN_CODES["policy"], res)


if __name__ == "__main__":
    hostile.main()
