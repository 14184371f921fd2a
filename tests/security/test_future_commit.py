"""
test_future_commit.py: move 5, bricking by a commit dated in the future.

Esther, a member, rotates the casus keys with her clock a day ahead
(libfaketime on her `casus` only). Every honest client refuses a commit more
than 300 s in the future, and every later commit must be dated after it, so
once casusd stores it nobody can commit again and the casus is bricked.
Contract: casusd refuses a commit dated more than 300 s ahead (`invalid`);
served such a commit anyway (the compromised server injects it), the client
refuses it with exit 5 and `future_commit`, and honest members can still
commit.
"""
import hostile
from hostile import Reply

AHEAD = "+1d"


class FutureCommit(hostile.HostileTest):

    def run_ahead(self, user, *args):
        return self.run_casus(user, *args, clock=AHEAD)

    def test_server_refuses_and_casus_stays_usable(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        res = self.run_ahead("esther", "rotate", cid, "--reason", "routine")
        self.show("esther rotates with her clock a day ahead (straight to casusd)", res)
        after = self.run_casus("anna", "rotate", cid, "--reason", "routine")
        self.show("anna commits (rotates) afterwards", after)
        seen = self.run_casus("gijs", "members", cid)
        self.show("gijs lists the members afterwards", seen)
        self.assertNotEqual(res.rc, 0, "casusd accepted a commit dated a day ahead: %r" % res)
        self.assertEqual(res.code, "invalid", res)
        self.assertEqual(after.rc, 0, "the casus is bricked: %r" % after)
        self.assertEqual(seen.rc, 0, "an honest member cannot load the casus: %r" % seen)

    def test_injected_future_commit_refused(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("gijs", "members", cid)
        captured = []

        def capture(sess, req):
            if sess.user == "esther" and req.get("type") == "commit.post":
                captured.append(req["commit"])
                self.proxy.hit("captured")
                return Reply({"ok": True, "epoch": 1, "level": 1})
            return None
        self.proxy.on_request = capture
        self.via_proxy("esther")
        self.run_ahead("esther", "rotate", cid, "--reason", "routine")
        self.assertHit("captured", "esther's future-dated commit")

        def inject(sess, req, resp):
            if sess.user == "gijs" and req.get("type") == "commit.fetch" and req.get("casus") == cid \
                    and resp.get("ok") and req.get("from") == 1:
                self.proxy.hit("injected")
                return dict(resp, commits=[{"epoch": 1, "commit": captured[0]}], more=False)
            return None
        self.proxy.on_request = None
        self.proxy.on_response = inject
        self.via_proxy("gijs")
        res = self.run_casus("gijs", "members", cid)
        self.show("gijs is served the future-dated commit", res)
        self.assertHit("injected")
        self.assertRefused(res, "future_commit", "a commit dated a day ahead")


if __name__ == "__main__":
    hostile.main()
