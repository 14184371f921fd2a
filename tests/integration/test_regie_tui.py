"""
test_regie_tui.py: the overview and the agreed actions in the live view
(issue 20 part 4), under tmux as test_tui_live.py does.

- The process director, in the live view of a casus she is a member of,
  presses F2: the overview of every casus appears (also one she is no member
  of), with levels and the overdue count, and never that casus's title; F2 again returns
  to the messages.
- A member without may_overview presses F2: the panel says it was refused.
- F3 shows the casus's agreed actions (decrypted in the view), and /afspraken
  does the same.
"""
import os
import shutil
import subprocess
import time
import uuid

import harness

TMUX = shutil.which("tmux")


def day(offset_days):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset_days * 86400))


class RegieLiveView(harness.CasusTest):

    @classmethod
    def setUpClass(cls):
        assert TMUX, "tmux is not installed (deploy/install-deps.sh installs it)"
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.sock = "casus-regie-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        self.sessions = []

    def tearDown(self):
        for s in self.sessions:
            self.tmux("kill-session", "-t", s, check=False)
        self.tmux("kill-server", check=False)
        super().tearDown()

    def tmux(self, *args, check=True):
        p = subprocess.run([TMUX, "-L", self.sock, *args], capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise AssertionError("tmux %s: %s" % (args, p.stderr))
        return p.stdout

    def open_view(self, user, cid, x=120, y=40):
        name = "v-" + user
        cmd = "%s --profile %s open %s" % (harness.CASUS, self.dep.users[user], cid)
        self.tmux("new-session", "-d", "-s", name, "-x", str(x), "-y", str(y),
                  "-e", "CASUS_PASSPHRASE_FILE=" + self.dep.passfile, "-e", "TERM=screen-256color", cmd)
        self.tmux("set-option", "-t", name, "remain-on-exit", "on")
        self.sessions.append(name)
        self.wait_screen(name, lambda s: "level" in s and "to " in s, 60, "the live view")
        return name

    def screen(self, name):
        return self.tmux("capture-pane", "-p", "-t", name)

    def wait_screen(self, name, pred, timeout=20, what="text"):
        deadline = time.time() + timeout
        s = ""
        while time.time() < deadline:
            s = self.screen(name)
            if pred(s):
                return s
            time.sleep(0.05)
        raise AssertionError("%s: no %s on screen:\n%s" % (name, what, s))

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
