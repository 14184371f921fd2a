"""
test_outbox.py: move 11, the outbox widens the audience.

Gijs writes a zorg note while offline: it is queued, encrypted for epoch 0,
whose zorg readers are Anna and Gijs. Meanwhile Anna adds Esther (who may
read zorg). When Gijs reconnects, through the proxy, the server answers his
queued post with `stale_epoch`; today the client re-encrypts the queued text
for the new, broader roster and sends it, and Esther reads a note that was
written for two people. (Today the client sees the new epoch when it loads
the chain before sending; the second test makes the server's `stale_epoch`
the trigger: the proxy hides the new commit until the post was refused.)
Contract: the outbox never widens the audience of
queued text without asking: the note is not sent to the broader roster (it
stays listed in `casus outbox`, waiting for the user), and Esther never
reads it.
"""
import secrets

import hostile


class Outbox(hostile.HostileTest):

    def test_stale_epoch_then_broader_roster(self):
        cid = self.new_casus("anna", ("gijs",))
        self.dep.ok("gijs", "history", cid)  # gijs holds the casus
        self._set_url(["gijs"], "wss://localhost:%d" % hostile.harness.free_port())  # offline
        marker = "ALLEEN-VOOR-ANNA-" + secrets.token_hex(6)
        q = self.run_casus("gijs", "post", cid, "zorg: " + marker)
        self.show("gijs posts while offline", q)
        self.assertEqual(q.rc, 7, "the post was not queued: %r" % q)
        self.dep.ok("anna", "add", cid, "esther")  # the zorg roster grows
        self.via_proxy("gijs")
        res = self.run_casus("gijs", "history", cid)  # reconnect: the outbox goes out
        self.show("gijs reconnects", res)
        leaked = [t for t in self.history_texts("esther", cid) if t and marker in t]
        print("[esther, added after the note was written] reads it: %s" % bool(leaked))
        pending = self.run_casus("gijs", "outbox")
        self.show("gijs's outbox afterwards", pending)
        self.assertEqual(leaked, [], "queued text was re-encrypted for a broader roster without asking")
        self.assertTrue(marker in pending.stdout or q.out.get("id", "-") in pending.stdout,
                        "the held note is not listed in the outbox: %r" % pending)


    def test_stale_epoch_answer_then_broader_roster(self):
        cid = self.new_casus("anna", ("gijs",))
        self.dep.ok("gijs", "history", cid)
        self.dep.ok("anna", "add", cid, "esther")

        def hide_new_commit(sess, req, resp):
            if sess.user != "gijs":
                return None
            if (resp.get("error") or {}).get("code") == "stale_epoch":
                self.proxy.hit("stale_epoch")
            if req.get("type") == "commit.fetch" and not self.proxy.count("stale_epoch") and resp.get("ok"):
                self.proxy.hit("hidden")
                return dict(resp, commits=[c for c in resp.get("commits", []) if c["epoch"] < 1], more=False)
            return None
        self.proxy.on_response = hide_new_commit
        self.via_proxy("gijs")
        marker = "ALLEEN-VOOR-ANNA-" + secrets.token_hex(6)
        res = self.run_casus("gijs", "post", cid, "zorg: " + marker)
        self.show("gijs posts while the server hides that esther joined, then says stale_epoch", res)
        self.assertHit("hidden")
        self.assertHit("stale_epoch", "the post encrypted for epoch 0 was refused as stale")
        leaked = [t for t in self.history_texts("esther", cid) if t and marker in t]
        print("[esther, added before the post but hidden from gijs] reads it: %s" % bool(leaked))
        self.assertEqual(leaked, [], "text was re-encrypted for a broader roster after stale_epoch without asking")


if __name__ == "__main__":
    hostile.main()
