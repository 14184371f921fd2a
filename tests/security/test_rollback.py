"""
test_rollback.py: move 6, rollback.

Esther was removed from a casus (epoch 1); Gijs and Anna hold the verified
chain. The compromised server then (a) pushes Gijs an unauthenticated
`{"push":"removed"}`, or (b) answers Anna's chain fetch right after her own
commit with `forbidden`; today either deletes the device's verified local
copy. (c) It then serves a chain cut before Esther's removal, and the device
believes Esther is still a member (and would encrypt to her).
Contract: the verified local copy is dropped only on a verified commit that
removes this device; a chain shorter than / diverging from the verified
local copy, or an unverified removal, is refused (exit 5, `rollback`);
never is the removed member shown as a member again.
"""
import os

import hostile
from hostile import Many, Reply


class Rollback(hostile.HostileTest):

    def cache_file(self, user, cid):
        return os.path.join(self.dep.users[user], "cache", cid + ".bin")

    def setup_removed(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "remove", cid, "esther", "--reason", "niet meer betrokken")
        self.dep.ok("gijs", "history", cid)
        self.assertTrue(os.path.exists(self.cache_file("gijs", cid)))
        return cid

    def cut_chain(self, cid, victim):
        """Answer the victim's commit.fetch with the chain cut before epoch 1."""
        async def on_request(sess, req):
            if sess.user == victim and req.get("type") == "commit.fetch" and req.get("casus") == cid:
                full = await sess.upstream({"type": "commit.fetch", "casus": cid, "from": 0})
                frm = req.get("from", 0)
                commits = [c for c in full.get("commits", []) if frm <= c["epoch"] < 1]
                self.proxy.hit("cut_chain")
                return Reply({"ok": True, "commits": commits, "more": False})
            return None
        self.proxy.on_request = on_request
        self.proxy.on_response = None
        self.proxy.on_push = None

    def judge(self, victim, cid):
        self.cut_chain(cid, victim)
        res = self.run_casus(victim, "members", cid)
        self.show("%s's members after the cut chain" % victim, res)
        members = [m.get("user") for m in (res.out or {}).get("members", [])]
        print("[%s] believes the removed esther is a member again: %s" % (victim, "esther" in members))
        self.assertFalse(res.rc == 0 and "esther" in members, "the removed member is back in the roster: %r" % res)
        if res.rc != 0:
            self.assertRefused(res, "rollback", "a cut chain")

    def test_unauthenticated_removed_push(self):
        cid = self.setup_removed()
        self.via_proxy("gijs")

        def on_response(sess, req, resp):
            if sess.user == "gijs" and req.get("casus") == cid and not self.proxy.count("fake_removed"):
                self.proxy.hit("fake_removed")
                return Many([resp, {"push": "removed", "casus": cid}])
            return None
        self.proxy.on_response = on_response
        res = self.run_casus("gijs", "watch", cid, "--count", "1", "--seconds", "60")
        self.show("gijs watching when the server pushes a forged 'removed'", res)
        self.assertHit("fake_removed")
        kept = os.path.exists(self.cache_file("gijs", cid))
        print("[gijs] verified local copy kept: %s" % kept)
        self.judge("gijs", cid)
        self.assertTrue(kept, "an unauthenticated removed push deleted the verified local copy")

    def test_forbidden_after_own_commit(self):
        cid = self.setup_removed()
        self.via_proxy("anna")

        def on_response(sess, req, resp):
            if sess.user == "anna" and req.get("type") == "commit.fetch" and req.get("casus") == cid and \
                    self.proxy.sent("commit.post", user="anna"):
                self.proxy.hit("forbidden_after_commit")
                return {"id": resp.get("id"), "ok": False,
                        "error": {"code": "forbidden", "message": "not a member of this casus"}}
            return None
        self.proxy.on_response = on_response
        res = self.run_casus("anna", "rotate", cid, "--reason", "routine")
        self.show("anna's rotate answered 'forbidden' on the chain fetch that follows it", res)
        self.assertHit("forbidden_after_commit")
        kept = os.path.exists(self.cache_file("anna", cid))
        print("[anna] verified local copy kept: %s" % kept)
        self.judge("anna", cid)
        self.assertTrue(kept, "a 'forbidden' answer deleted the verified local copy")

    def test_chain_cut_with_local_copy(self):
        """Regression guard (holds today): a device that kept its verified copy
        is not moved back by a cut chain."""
        cid = self.setup_removed()
        self.via_proxy("gijs")
        self.judge("gijs", cid)


if __name__ == "__main__":
    hostile.main()
