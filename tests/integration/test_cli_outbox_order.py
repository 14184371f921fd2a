"""
test_cli_outbox_order.py (issue 14, item 13): queued posts and time order.

Anna writes two notes while the server is away: each is encrypted, and so
dated, when she writes it, and waits in her outbox. Gijs posts once the server
is back, before Anna's device reconnects; her next command sends the outbox,
so her notes take the places after his. Every member's history keeps the
server's order (#2 Gijs, #3 and #4 Anna: the same for everyone), and says why
the times go back: Anna's two notes are marked "late" ("eerder geschreven,
later verzonden / written earlier, sent later"), Gijs's note is not. Before,
the listing showed earlier times below a later one without a word.
CASUS_LATE_SECS=1 (default 60 s) lets the test keep the server away briefly;
the sleep only makes the wall clock move past it, nothing waits on it.
"""
import subprocess
import time

import harness


class OutboxOrder(harness.CasusTest):

    def test_queued_posts_keep_the_server_order_and_are_marked_late(self):
        self.dep.env = dict(self.dep.env, CASUS_LATE_SECS="1")
        cid = self.new_casus()
        self.dep.ok("anna", "history", cid)
        self.dep.ok("gijs", "history", cid)
        self.srv.stop()
        for text in ("offline geschreven 1", "offline geschreven 2"):
            rc, out, err = self.dep.cli("anna", "post", cid, text)
            self.assertEqual(rc, 7, (out, err))
        written = time.time()
        time.sleep(2.5)  # the clock moves past CASUS_LATE_SECS; no condition is awaited
        self.assertGreater(time.time() - written, 2)
        self.srv.start()
        b = self.dep.ok("gijs", "post", cid, "van gijs na de storing")
        for who in ("anna", "gijs"):
            msgs = self.dep.ok(who, "history", cid)["messages"]
            by_text = {m.get("text"): m for m in msgs}
            order = [m.get("text") for m in msgs]
            self.assertEqual(order, ["Mevrouw A.", "van gijs na de storing", "offline geschreven 1",
                                     "offline geschreven 2"], who)
            self.assertEqual([m["seq"] for m in msgs], [1, b["seq"], b["seq"] + 1, b["seq"] + 2])
            self.assertLess(by_text["offline geschreven 1"]["time"], by_text["van gijs na de storing"]["time"])
            self.assertTrue(by_text["offline geschreven 1"].get("late"), (who, msgs))
            self.assertTrue(by_text["offline geschreven 2"].get("late"), (who, msgs))
            self.assertFalse(by_text["van gijs na de storing"].get("late"), (who, msgs))
            self.assertFalse(by_text["Mevrouw A."].get("late"), (who, msgs))
        # in words, in the text listing and from the local copy offline
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users["gijs"], "history", cid], env=self.dep.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        marked = [i for i, ln in enumerate(lines) if "written earlier, sent later" in ln]
        self.assertEqual(len(marked), 2, p.stdout)
        self.assertTrue(all("Anna Jansen" in lines[i] for i in marked), p.stdout)
        off = self.dep.ok("anna", "history", cid, "--offline")["messages"]
        self.assertEqual([m.get("text") for m in off if m.get("late")],
                         ["offline geschreven 1", "offline geschreven 2"])


if __name__ == "__main__":
    harness.main()
