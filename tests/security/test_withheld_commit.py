"""
test_withheld_commit.py: move 2, a withheld removal.

The compromised server answers `ok` to the remover's `commit.post` and never
stores it. Contract: `casus remove` must not exit 0; it exits 5 with
`withheld_commit` (own commit acked but not the verified head after fetching
the chain) or 4, and no later post by that client is readable by the member
that was to be removed.
"""
import secrets

import hostile
from hostile import Reply


class WithheldCommit(hostile.HostileTest):

    def withhold_commits(self):
        async def on_request(sess, req):
            if req.get("type") == "commit.post":
                # what casusd would answer, made up from its own chain
                r = await sess.upstream({"type": "commit.fetch", "casus": req.get("casus"), "from": 0})
                self.proxy.hit("withheld")
                return Reply({"ok": True, "epoch": len(r.get("commits", [])), "level": 1})
            return None
        self.proxy.on_request = on_request

    def test_withheld_removal(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.via_proxy("anna")
        self.withhold_commits()
        res = self.run_casus("anna", "remove", cid, "esther", "--reason", "niet meer betrokken")
        self.show("casus remove while the server withholds the commit", res)
        self.assertHit("withheld", "commit.post answered ok without forwarding")
        # the attack: later notes still reach esther
        marker = "NA-VERWIJDERING-" + secrets.token_hex(6)
        self.proxy.on_request = None
        post = self.run_casus("anna", "post", cid, "zorg: " + marker)
        self.show("post after the 'removal'", post)
        seen = self.history_texts("esther", cid)
        leaked = [t for t in seen if t and marker in t]
        print("[removed member esther] reads the later note: %s" % bool(leaked))
        self.assertNotEqual(res.rc, 0, "remove reported success although the server dropped the commit: %r" % res)
        self.assertIn(res.rc, (4, 5), res)
        if res.rc == 5:
            self.assertEqual(res.code, "withheld_commit", res)
        self.assertEqual(leaked, [], "the member to be removed reads a note posted after the 'removal'")


if __name__ == "__main__":
    hostile.main()
