"""
test_cli_quickstart.py: the newcomer's first command, deploy/quickstart.sh
(issue #14 item 7), run for real with the build under test (--no-build, so
nothing is installed or rebuilt): the port comes from --port or CASUS_PORT, a
port that is taken is reported before any banner, and a second start on
another port rewrites state/ so that the banner, casusd and the demo
profiles all use the new port (a demo user's `casus list` works there).
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import harness

QUICKSTART = os.path.join(harness.SRC, "deploy", "quickstart.sh")


class Quickstart(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="casus-qs-")
        self.state = os.path.join(self.dir, "state")
        self.env = dict(os.environ, CASUS_BUILD=os.path.abspath(harness.BUILD))
        self.env.pop("CASUS_PORT", None)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args, env=None):
        """Run the quick start in the background; returns (proc, lines, cond)."""
        proc = subprocess.Popen(["sh", QUICKSTART, "--state", self.state, "--no-build", *args],
                                env=env or self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines, cond = [], threading.Condition()

        def read():
            for line in proc.stdout:
                with cond:
                    lines.append(line)
                    cond.notify_all()
            with cond:
                cond.notify_all()
        threading.Thread(target=read, daemon=True).start()
        return proc, lines, cond

    def wait_healthy(self, port, proc, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.assertIsNone(proc.poll(), "the quick start ended early")
            try:
                # the certificate appears when the deployment is set up
                ctx = ssl.create_default_context(cafile=os.path.join(self.state, "tls.crt"))
                r = urllib.request.urlopen("https://localhost:%d/healthz" % port, timeout=2, context=ctx)
                if r.status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.fail("casusd never answered on port %d" % port)

    def stop(self, proc):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("casusd ignored SIGTERM")
        finally:
            proc.stdout.close()

    def anna_list(self):
        env = dict(self.env, CASUS_PASSPHRASE_FILE=os.path.join(self.state, "demo-passphrase"))
        return subprocess.run([harness.CASUS, "--profile", os.path.join(self.state, "users", "anna"), "--json",
                               "list"], env=env, capture_output=True, text=True, timeout=120)

    def test_taken_port_is_reported_before_any_banner(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            p = subprocess.run(["sh", QUICKSTART, "--state", self.state, "--no-build", "--port", str(port)],
                               env=self.env, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("port %d is taken" % port, p.stderr)
            self.assertIn("bezet", p.stderr)
            self.assertNotIn("casus is starting", p.stdout)
            # the same through CASUS_PORT
            p = subprocess.run(["sh", QUICKSTART, "--state", self.state, "--no-build"],
                               env=dict(self.env, CASUS_PORT=str(port)), capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("port %d is taken" % port, p.stderr)
        self.assertFalse(os.path.exists(self.state), "nothing is set up for a taken port")
        p = subprocess.run(["sh", QUICKSTART, "--state", self.state, "--no-build", "--port", "abc"],
                           env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_port_change_rewrites_state(self):
        p1 = harness.free_port()
        proc, lines, cond = self.start("--port", str(p1))
        try:
            self.wait_healthy(p1, proc)
            with cond:
                self.assertTrue(cond.wait_for(lambda: any("casus is starting" in x for x in lines), 60))
                self.assertTrue(any("wss://localhost:%d " % p1 in x for x in lines), lines)
            r = self.anna_list()
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            self.stop(proc)
        # again on another port, from CASUS_PORT: state/ follows
        p2 = harness.free_port()
        while p2 == p1:
            p2 = harness.free_port()
        proc, lines, cond = self.start(env=dict(self.env, CASUS_PORT=str(p2)))
        try:
            self.wait_healthy(p2, proc)
            with cond:
                self.assertTrue(cond.wait_for(lambda: any("casus is starting" in x for x in lines), 60))
                text = "".join(lines)
            self.assertIn("rewriting it for port %d" % p2, text)
            self.assertIn("wss://localhost:%d " % p2, text)
            self.assertNotIn(str(p1), text.split("rewriting")[1])
            r = self.anna_list()
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for root, _, files in os.walk(self.state):
                for f in files:
                    if f.endswith(".json"):
                        with open(os.path.join(root, f)) as fh:
                            self.assertNotIn(":%d" % p1, fh.read(), f)
        finally:
            self.stop(proc)


if __name__ == "__main__":
    unittest.main(verbosity=2)
