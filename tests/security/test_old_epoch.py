"""
test_old_epoch.py: move 4, old epochs stay open.

Esther is removed from a casus (epoch 0 -> 1). She still holds the epoch-0
key. Towards her the compromised server hides the removal (her commit.fetch
answers "nothing new") and keeps the note she then writes in epoch 0 instead
of refusing it. It then serves that note to Gijs, in the casus order after
the commit that closed epoch 0. Today Gijs shows it as a verified note by
Esther. Contract: a message in a superseded epoch placed after the commit
that closed it, or from a sender no longer entitled, is refused
(`stale_epoch_message`): the command exits 5 with that code, or history lists
the message as not verified, without text, with that code.
"""
import secrets

import hostile
from hostile import Reply


class OldEpoch(hostile.HostileTest):

    def test_removed_member_writes_in_closed_epoch(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("esther", "history", cid)  # esther holds the chain and the epoch-0 key
        self.dep.ok("anna", "remove", cid, "esther", "--reason", "niet meer betrokken")
        captured = []

        def on_request(sess, req):
            if sess.user != "esther" or req.get("casus") != cid:
                return None
            t = req.get("type")
            if t == "commit.fetch":
                self.proxy.hit("hide_removal")
                return Reply({"ok": True, "commits": [], "more": False})
            if t == "grant.fetch":
                return Reply({"ok": True, "grants": []})
            if t == "transfer.fetch":
                return Reply({"ok": True, "transfers": []})
            if t == "history":
                return Reply({"ok": True, "messages": [], "more": False})
            if t == "casus.read":
                return Reply({"ok": True})
            if t == "msg.post":
                captured.append(req["msg"])
                self.proxy.hit("captured")
                return Reply({"ok": True, "seq": 1000})
            return None
        self.proxy.on_request = on_request
        self.via_proxy("esther")
        marker = "OUDE-EPOCH-" + secrets.token_hex(6)
        res = self.run_casus("esther", "post", cid, "zorg: " + marker)
        self.show("removed esther posts in epoch 0 (server plays along)", res)
        self.assertHit("captured", "esther's epoch-0 note was captured")

        def on_response(sess, req, resp):
            if sess.user == "gijs" and req.get("type") == "history" and req.get("casus") == cid and resp.get("ok"):
                msgs = resp.get("messages", [])
                last = max([m["seq"] for m in msgs] + [req.get("after", 0)])
                self.proxy.hit("injected")
                return dict(resp, messages=msgs + [{"seq": last + 1, "msg": captured[0]}])
            return None
        self.proxy.on_request = None
        self.proxy.on_response = on_response
        self.via_proxy("gijs")
        seen = self.run_casus("gijs", "history", cid)
        self.show("gijs reads history with the injected epoch-0 note", seen)
        self.assertHit("injected")
        shown = [m for m in (seen.out or {}).get("messages", []) if marker in str(m.get("text", ""))]
        print("[gijs] shows esther's note from the closed epoch as verified: %s"
              % any(m.get("verified") for m in shown))
        self.assertMessageRefused(seen, lambda m: marker in str(m.get("text", "")) or m.get("epoch") == 0 and
                                  m.get("seq", 0) > 1, "stale_epoch_message",
                                  "a note in the closed epoch by a removed member")
        self.assertFalse([m for m in shown if m.get("verified")], "the closed-epoch note is shown as verified")


if __name__ == "__main__":
    hostile.main()
