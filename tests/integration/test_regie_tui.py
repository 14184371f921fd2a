"""
test_regie_tui.py: the overview and the agreed actions in the live view
(issue 20 part 4), under tmux (tmux_util.TmuxView, as test_tui_live.py).

- The process director, in the live view of a casus she is a member of,
  presses F2: the overview of every casus appears (also one she is no member
  of), with levels and the overdue count, and never that casus's title; F2 again returns
  to the messages.
- A member without may_overview presses F2: the panel says it was refused.
- F3 shows the casus's agreed actions (decrypted in the view), and /afspraken
  does the same.
"""
import time
import uuid

import harness
from tmux_util import TmuxView


def day(offset_days):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset_days * 86400))


class RegieLiveView(TmuxView, harness.CasusTest):
    SOCK_PREFIX = "casus-regie"

    def test_overview_and_actions_panels(self):
        marker = "TITEL-" + uuid.uuid4().hex[:12]
        a = self.new_casus(members=("esther", "gijs"), title="Mevrouw A.")
        b = self.new_casus(members=("esther",), title="Meneer " + marker)  # paula is no member of b
        self.dep.ok("anna", "escalate", a, "3", "--reason", "procesregie")
        self.dep.ok("anna", "add", a, "paula")
        self.dep.ok("anna", "afspraak", a, "--wat", "Huisbezoek plannen", "--wie", "gijs", "--uiterlijk", day(2))

        p = self.open_view("paula", a)
        self.tmux("send-keys", "-t", p, "F2")
        s = self.wait_screen(p, lambda s: "Overzicht" in s and b[:8] in s, 30, "the overview panel")
        rows = {line.lstrip("* ")[:8]: line for line in s.splitlines() if line.lstrip("* ")[:8] in (a[:8], b[:8])}
        self.assertIn("Procesregie", rows[a[:8]])
        self.assertIn("Stapteam", rows[b[:8]])
        self.assertIn("0/1", rows[a[:8]])  # no action overdue, one open
        self.assertTrue(rows[a[:8]].lstrip().startswith("*"), "the open casus is marked")
        self.assertNotIn(marker, s)
        self.tmux("send-keys", "-t", p, "F2")
        self.wait_screen(p, lambda s: "Overzicht" not in s, 20, "the messages again")

        # a role without may_overview is refused, in the panel
        g = self.open_view("gijs", a)
        self.tmux("send-keys", "-t", g, "F2")
        self.wait_screen(g, lambda s: "geweigerd" in s and "forbidden" in s, 30, "the refusal")
        self.tmux("send-keys", "-t", g, "F2")
        self.wait_screen(g, lambda s: "geweigerd" not in s, 20, "the messages again")
        # F3: the agreed actions, decrypted in the view
        self.tmux("send-keys", "-t", g, "F3")
        s = self.wait_screen(g, lambda s: "Afspraken in deze casus" in s and "Huisbezoek plannen" in s, 30,
                             "the actions panel")
        line = [x for x in s.splitlines() if "Huisbezoek plannen" in x and "Afspraak:" not in x][0]
        self.assertIn("gijs", line)
        self.assertIn("open", line)
        self.assertIn(day(2), line)
        self.tmux("send-keys", "-t", g, "Escape")
        self.wait_screen(g, lambda s: "Afspraken in deze casus" not in s, 20, "the messages again")
        self.tmux("send-keys", "-t", g, "-l", "/afspraken")
        self.tmux("send-keys", "-t", g, "Enter")
        self.wait_screen(g, lambda s: "Afspraken in deze casus" in s, 20, "the actions panel by command")


if __name__ == "__main__":
    harness.main()
