"""
test_paging.py: move 13, endless paging.

The compromised server answers every `history` (and, in the second test,
every `commit.fetch`) page with nothing and `"more": true`, forever. Today the
client asks again forever. Contract: the client stops after a bounded number
of pages that make no progress and exits 5 with error code `paging`.
The command gets a generous 120 s; a bounded client needs a few seconds. After
2000 empty pages the proxy answers an error itself (the client did not stop).
"""
import subprocess

import hostile
from hostile import Reply

LIMIT_S = 120
GIVE_UP = 2000  # empty pages after which the proxy ends the loop itself


class Paging(hostile.HostileTest):

    def endless(self, victim, cid, kind):
        def on_request(sess, req):
            if sess.user == victim and req.get("type") == kind and req.get("casus") == cid:
                self.proxy.hit("empty_page")
                if self.proxy.count("empty_page") > GIVE_UP:
                    # the client did not stop by itself: end it here rather than
                    # burn the shared machine's CPU until the timeout
                    return Reply({"ok": False, "error": {"code": "internal", "message": "proxy gave up"}})
                body = {"messages": [], "more": True} if kind == "history" else {"commits": [], "more": True}
                return Reply(dict(body, ok=True))
            return None
        self.proxy.on_request = on_request

    def run_bounded(self, user, *args):
        try:
            return self.run_casus(user, *args, timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            print("[%s] still paging after %d s: %d empty pages served" % (user, LIMIT_S,
                                                                         self.proxy.count("empty_page")))
            self.fail("the client pages forever through empty pages (%d served)" % self.proxy.count("empty_page"))

    def test_history_empty_pages_forever(self):
        cid = self.new_casus("anna", ("gijs",))
        self.via_proxy("gijs")
        self.endless("gijs", cid, "history")
        res = self.run_bounded("gijs", "history", cid)
        self.show("history with endless empty pages", res)
        self.assertHit("empty_page")
        self.assertLessEqual(self.proxy.count("empty_page"), GIVE_UP, "the client never stopped paging by itself")
        self.assertRefused(res, "paging", "endless empty history pages")

    def test_commit_fetch_empty_pages_forever(self):
        cid = self.new_casus("anna", ("gijs",))
        self.via_proxy("gijs")
        self.endless("gijs", cid, "commit.fetch")
        res = self.run_bounded("gijs", "members", cid)
        self.show("members with endless empty commit pages", res)
        self.assertHit("empty_page")
        self.assertLessEqual(self.proxy.count("empty_page"), GIVE_UP, "the client never stopped paging by itself")
        self.assertRefused(res, "paging", "endless empty commit pages")


if __name__ == "__main__":
    hostile.main()
