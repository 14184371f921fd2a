"""
test_tui_live.py (issue 14, items 1 and 2): the live view loses nothing after
a reconnect, and long notes, the member line and the ground prompt fit the
terminal, under tmux as in test_tui.py.

1. Gijs's view is offline and holds a post in its outbox; while it is frozen
   (SIGSTOP, so the order does not depend on timing) casusd comes back and
   Anna posts. When the view runs again it reconnects, sends the queued post
   and must then show both: its own post (the "(queued ...)" line gone) and
   Anna's. Before the fix the outbox flush moved the resume point past both.
2. At 80 columns a 300-character note wraps (its last word is on screen), the
   header still says online, the member line shows every member, the ground
   prompt shows all five grounds; PageUp scrolls back to the first message
   of a long conversation and PageDown returns.
"""
import os
import signal

import harness
import tmux_util


class LiveViewLive(tmux_util.TmuxView, harness.CasusTest):

    SOCK_PREFIX = "casus-tuil"

    def test_reconnect_shows_the_outbox_post_and_a_concurrent_one(self):
        cid = self.new_casus(members=("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "voor de storing")
        g = self.open_view("gijs", cid)
        self.wait_screen(g, lambda s: "voor de storing" in s, 20, "history")
        self.srv.stop()
        self.wait_screen(g, lambda s: "OFFLINE" in s, 20, "offline marker")
        self.type(g, "uit de outbox")
        self.wait_screen(g, lambda s: "queued" in s, 20, "queued marker")
        # freeze the view, bring the server back, and let Anna post first
        pid = int(self.tmux("display-message", "-p", "-t", g, "#{pane_pid}").strip())
        os.kill(pid, signal.SIGSTOP)
        try:
            self.srv.start()
            self.dep.ok("anna", "post", cid, "gelijktijdig van anna")
        finally:
            os.kill(pid, signal.SIGCONT)
        s = self.wait_screen(g, lambda s: "gelijktijdig van anna" in s and "uit de outbox" in s, 30,
                             "both messages after the reconnect")
        # the delivered post no longer says it is queued
        s = self.wait_screen(g, lambda s: "queued" not in s, 10, "no queued marker")
        own = [line for line in s.splitlines() if "uit de outbox" in line]
        self.assertEqual(len(own), 1, s)
        self.assertIn("Gijs Bakker", own[0])
        self.assertEqual(self.texts("anna", cid).count("uit de outbox"), 1)

    def test_80_columns_wrap_scroll_members_ground(self):
        cid = self.new_casus(members=("esther", "gijs"))
        for i in range(14):
            self.dep.ok("anna", "post", cid, "regel %02d" % i)
        words = " ".join("woord%02d" % i for i in range(40))  # 319 characters
        self.dep.ok("anna", "post", cid, words + " SLOTWOORD")
        # at level 3 a care role posting to overleg must give a ground
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "voor de grondvraag")
        g = self.open_view("gijs", cid, x=80, y=16)
        s = self.wait_screen(g, lambda s: "SLOTWOORD" in s, 20, "the end of the long note")
        lines = s.splitlines()
        self.assertTrue(all(len(line) <= 80 for line in lines))
        self.assertIn("online", lines[0])
        head = "\n".join(lines[1:3])
        for who in ("anna (casemanager)", "esther (ervaringsdeskundige)", "gijs (ggd)"):
            self.assertIn(who, head.replace("\n  ", " "))
        self.assertNotIn("regel 00", s)
        # PageUp until the first message shows, PageDown back to the newest
        for _ in range(6):
            self.tmux("send-keys", "-t", g, "PPage")
            try:
                s = self.wait_screen(g, lambda s: "regel 00" in s, 3, "scroll back")
                break
            except AssertionError:
                continue
        self.assertIn("regel 00", s)
        self.assertIn("scrolled back", s)
        self.assertNotIn("SLOTWOORD", s)
        for _ in range(6):
            self.tmux("send-keys", "-t", g, "NPage")
        self.wait_screen(g, lambda s: "SLOTWOORD" in s and "scrolled back" not in s, 10, "back at the newest")
        # the ground prompt fits: every ground on screen at 80 columns
        self.tmux("send-keys", "-t", g, "Tab")
        self.wait_screen(g, lambda s: "(ground)" in s, 10, "an audience that needs a ground")
        self.type(g, "met grond")
        s = self.wait_screen(g, lambda s: "Ground needed" in s, 10, "the ground prompt")
        for gr in ("1 consent", "2 legal_duty", "3 conflict_of_duties", "4 right_to_report", "5 no_care_info"):
            self.assertIn(gr, s)
        self.tmux("send-keys", "-t", g, "Escape")
        self.wait_screen(g, lambda s: "not sent" in s, 10, "cancelled")


if __name__ == "__main__":
    harness.main()
