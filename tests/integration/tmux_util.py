"""
tmux_util.py: the live view (`casus open CASUS`) in a real terminal under tmux,
shared by the live-view tests (test_tui.py, test_tui_live.py).

TmuxView is a mixin for harness.CasusTest: each test gets its own tmux server
(socket `SOCK_PREFIX-pid-ms`), open_view() starts `casus open` for a demo user
in a detached session of the given size (TERM=screen-256color as over ssh),
screen() captures the pane, wait_screen() polls until a predicate holds (a
generous deadline, never a sleep as a wait), type() types a line and Enter.
"""
import os
import shutil
import subprocess
import time

import harness

TMUX = shutil.which("tmux")


class TmuxView:
    SOCK_PREFIX = "casus-tui"
    WAIT_TIMEOUT = 20  # default deadline of wait_screen, seconds
    POLL = 0.05

    @classmethod
    def setUpClass(cls):
        # never skipped in silence: deploy/install-deps.sh installs tmux
        assert TMUX, "tmux is not installed (deploy/install-deps.sh installs it)"
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.sock = "%s-%d-%d" % (self.SOCK_PREFIX, os.getpid(), int(time.time() * 1000) % 100000)
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

    def wait_screen(self, name, pred, timeout=None, what="text"):
        deadline = time.time() + (self.WAIT_TIMEOUT if timeout is None else timeout)
        s = ""
        while time.time() < deadline:
            s = self.screen(name)
            if pred(s):
                return s
            time.sleep(self.POLL)
        raise AssertionError("%s: no %s on screen:\n%s" % (name, what, s))

    def type(self, name, text):
        self.tmux("send-keys", "-t", name, "-l", text)
        self.tmux("send-keys", "-t", name, "Enter")
