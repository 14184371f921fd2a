"""
test_tui.py: the live view (`casus open CASUS`) in real terminals under tmux.

Two members of one casus each run the live view in their own tmux session
(120x40, TERM=screen-256color as over ssh). What one types appears at the
other within a second; Tab switches the audience of the next message and
the ground prompt answers the disclosure rule; resizing the window keeps the
header (level, members) and the input line; a server restart shows OFFLINE
and the view comes back by itself.
"""
import time

import harness
import tmux_util


class LiveView(tmux_util.TmuxView, harness.CasusTest):

    SOCK_PREFIX = "casus-tui"
    WAIT_TIMEOUT = 10
    POLL = 0.02

    def test_two_members_chat_switch_audience_ground_resize(self):
        cid = self.new_casus(members=("esther", "gijs"))
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "overleg")
        self.dep.ok("anna", "add", cid, "paula")
        a = self.open_view("anna", cid)
        g = self.open_view("gijs", cid)
        sa = self.screen(a)
        self.assertIn("level 3", sa)
        self.assertIn("paula (procesregisseur)", sa)
        self.assertIn("to zorg", sa)

        # anna types, gijs sees it within a second
        self.tmux("send-keys", "-t", a, "-l", "Hallo vanuit de tmux")
        t0 = time.time()
        self.tmux("send-keys", "-t", a, "Enter")
        self.wait_screen(g, lambda s: "Hallo vanuit de tmux" in s, 5, "anna's message")
        latency = time.time() - t0
        self.assertLess(latency, 1.0, "message took %.2f s" % latency)
        self.assertIn("Anna Jansen (casemanager) [zorg]", self.screen(g))
        self.wait_screen(a, lambda s: "Hallo vanuit de tmux" in s, 5, "own message")

        # and back
        self.type(g, "Gezien, ik bel haar")
        self.wait_screen(a, lambda s: "Gezien, ik bel haar" in s, 5, "gijs' message")

        # Tab: the next message goes to 'overleg', which needs a ground
        self.tmux("send-keys", "-t", a, "Tab")
        self.wait_screen(a, lambda s: "to overleg (ground)" in s, 5, "the overleg audience")
        self.type(a, "Melding aan overleg")
        self.wait_screen(a, lambda s: "Ground needed" in s, 5, "the ground prompt")
        self.tmux("send-keys", "-t", a, "2")
        s = self.wait_screen(g, lambda s: "Melding aan overleg" in s, 5, "the overleg message")
        self.assertIn("[overleg legal_duty]", s)
        # paula is not in zorg but is in overleg: verified on her side too
        hist = self.dep.ok("paula", "history", cid)["messages"]
        m = [x for x in hist if x.get("text") == "Melding aan overleg"]
        self.assertEqual(len(m), 1)
        self.assertEqual(m[0]["ground"], "legal_duty")
        # Esc at the ground prompt sends nothing
        self.type(a, "Niet versturen")
        self.wait_screen(a, lambda s: "Ground needed" in s, 5, "the ground prompt")
        self.tmux("send-keys", "-t", a, "Escape")
        self.wait_screen(a, lambda s: "not sent" in s, 5, "not sent status")
        time.sleep(0.3)
        self.assertNotIn("Niet versturen", self.screen(g))
        # clear the line with Ctrl-U; Tab cycles on (overleg -> regie -> zorg)
        self.tmux("send-keys", "-t", a, "C-u")
        self.tmux("send-keys", "-t", a, "Tab")
        self.wait_screen(a, lambda s: "to regie (ground)" in s, 5, "the regie audience")
        self.tmux("send-keys", "-t", a, "Tab")
        self.wait_screen(a, lambda s: "to zorg >" in s, 5, "back to zorg")

        # resize: smaller and larger; header and input line stay, chat goes on
        self.tmux("resize-window", "-t", g, "-x", "70", "-y", "15")
        s = self.wait_screen(g, lambda s: len(s.splitlines()[0]) <= 70 and "level 3" in s.splitlines()[0],
                             5, "the header after resize")
        self.type(a, "Na het verkleinen")
        s = self.wait_screen(g, lambda s: "Na het verkleinen" in s, 5, "message after resize")
        lines = [l for l in s.splitlines()]
        self.assertTrue(any(l.startswith("to ") for l in lines[-3:]), s)
        self.tmux("resize-window", "-t", g, "-x", "150", "-y", "45")
        self.type(a, "Na het vergroten")
        self.wait_screen(g, lambda s: "Na het vergroten" in s and "level 3" in s, 5, "message after enlarging")

        # membership change arrives live: the header follows
        self.dep.ok("anna", "remove", cid, "paula", "--reason", "klaar")
        self.wait_screen(g, lambda s: "membership or level changed" in s and "paula (" not in s.splitlines()[1],
                         10, "the new roster")

        # Ctrl-D leaves
        self.tmux("send-keys", "-t", g, "C-d")
        self.wait_screen(g, lambda s: "Pane is dead" in s or "Hallo" not in s, 5, "exit")

    def test_view_survives_a_server_restart(self):
        cid = self.new_casus(members=("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "voor de storing")
        g = self.open_view("gijs", cid)
        self.wait_screen(g, lambda s: "voor de storing" in s, 5, "history")
        self.srv.stop()
        self.wait_screen(g, lambda s: "OFFLINE" in s, 10, "offline marker")
        # gijs writes while offline: queued
        self.type(g, "geschreven tijdens storing")
        self.wait_screen(g, lambda s: "queued" in s, 5, "queued marker")
        self.srv.start()
        self.wait_screen(g, lambda s: "connected again" in s and "online" in s.splitlines()[0], 20, "reconnect")
        # the queued message was delivered once; new messages arrive live again
        self.assertEqual(self.texts("anna", cid).count("geschreven tijdens storing"), 1)
        self.dep.ok("anna", "post", cid, "na de storing")
        self.wait_screen(g, lambda s: "na de storing" in s, 5, "message after restart")

    def test_view_opens_offline_from_the_local_copy(self):
        cid = self.new_casus(members=("esther", "gijs"))
        self.dep.ok("anna", "post", cid, "al gelezen")
        self.dep.ok("gijs", "history", cid)  # the local copy
        self.srv.stop()
        g = self.open_view("gijs", cid)
        s = self.screen(g)
        self.assertIn("al gelezen", s)
        self.assertIn("OFFLINE", s)
        self.assertIn("level 1", s)
        self.srv.start()
        self.wait_screen(g, lambda s: "online" in s.splitlines()[0], 20, "reconnect")
        self.dep.ok("anna", "post", cid, "weer verbonden")
        self.wait_screen(g, lambda s: "weer verbonden" in s, 5, "live message")


if __name__ == "__main__":
    harness.main()
