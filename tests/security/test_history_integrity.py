"""
test_history_integrity.py: move 9, history integrity.

Anna posts four notes. Serving Gijs's history, the compromised server drops
one of them, swaps two, or serves one again under a new sequence number (one
sender's stream with a gap, its counter going backwards, a repeat). Every
note still verifies on its own, so the client cannot refuse: it must SHOW it.
Contract: exit 0, a top-level `warnings` entry `gap` / `reorder` /
`duplicate` in `--json`, and in text output a line starting with
`WAARSCHUWING:`.
"""
import hostile


class HistoryIntegrity(hostile.HostileTest):

    def setup_notes(self):
        cid = self.new_casus("anna", ("gijs",))
        self.notes = ["notitie %d" % i for i in range(1, 5)]
        for t in self.notes:
            self.dep.ok("anna", "post", cid, t)
        self.via_proxy("gijs")
        return cid

    def rewrite_history(self, cid, fn, name):
        def on_response(sess, req, resp):
            if sess.user == "gijs" and req.get("type") == "history" and req.get("casus") == cid and resp.get("ok"):
                msgs = resp.get("messages", [])
                if len(msgs) >= 5:
                    self.proxy.hit(name)
                    return dict(resp, messages=fn(msgs))
            return None
        self.proxy.on_response = on_response

    def texts(self, res):
        return [m.get("text") for m in (res.out or {}).get("messages", []) if m.get("verified")]

    def test_dropped_message(self):
        cid = self.setup_notes()
        self.rewrite_history(cid, lambda m: [x for x in m if x["seq"] != 3], "dropped")
        res = self.run_casus("gijs", "history", cid)
        self.show("history with anna's 2nd note dropped", res)
        self.assertHit("dropped")
        self.assertNotIn("notitie 2", self.texts(res))  # the attack: the note is gone
        self.assertWarned(res, "gap", "a dropped message is not shown")

    def test_dropped_message_text_output(self):
        cid = self.setup_notes()
        self.rewrite_history(cid, lambda m: [x for x in m if x["seq"] != 3], "dropped")
        res = self.run_casus("gijs", "history", cid, json_out=False)
        print("[gijs's terminal] %r" % res.stdout)
        self.assertHit("dropped")
        self.assertEqual(res.rc, 0, res)
        self.assertTrue([ln for ln in res.stdout.splitlines() if ln.startswith("WAARSCHUWING:")],
                        "no WAARSCHUWING: line for a dropped message")

    def test_reordered_messages(self):
        def swap(m):
            m = [dict(x) for x in m]
            a = [x for x in m if x["seq"] == 3][0]
            b = [x for x in m if x["seq"] == 4][0]
            a["msg"], b["msg"] = b["msg"], a["msg"]
            return m
        cid = self.setup_notes()
        self.rewrite_history(cid, swap, "reordered")
        res = self.run_casus("gijs", "history", cid)
        self.show("history with anna's 2nd and 3rd note swapped", res)
        self.assertHit("reordered")
        self.assertWarned(res, "reorder", "a reordered stream is not shown")

    def test_duplicated_message(self):
        def dup(m):
            two = [x for x in m if x["seq"] == 2][0]
            return m + [{"seq": max(x["seq"] for x in m) + 1, "msg": two["msg"]}]
        cid = self.setup_notes()
        self.rewrite_history(cid, dup, "duplicated")
        res = self.run_casus("gijs", "history", cid)
        self.show("history with anna's 1st note served twice", res)
        self.assertHit("duplicated")
        print("[gijs] lists 'notitie 1' as verified %d times" % self.texts(res).count("notitie 1"))
        self.assertWarned(res, "duplicate", "a duplicated message is not shown")


if __name__ == "__main__":
    hostile.main()
