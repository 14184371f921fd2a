"""
test_audit_health.py: /healthz says "audit chain behind" (issue 16).

casusd seals its audit entries with a signed checkpoint every
`audit.checkpoint_every` entries or `audit.checkpoint_secs` seconds. Entries
that wait longer than `health.audit_behind_secs` (default: the checkpoint
interval plus 10 s) for their checkpoint make /healthz answer 503 with the
reason, on the service port and on the metrics listener, and /metrics shows
the backlog. The test provokes it for real: checkpoints are due only every
hour or every 1,000 entries, and the alert threshold is 2 s, so the entries
casusd writes at start-up wait past it.
"""
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness


def http_get(url):
    try:
        r = urllib.request.urlopen(url, timeout=10)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(cond, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class AuditBehind(unittest.TestCase):
    users = [("anna", "casemanager", "Anna Jansen", "Leger des Heils")]

    @classmethod
    def setUpClass(cls):
        cls.dep = harness.Deployment(cls.users)

    @classmethod
    def tearDownClass(cls):
        cls.dep.cleanup()

    def start(self, extra):
        """casusd without the harness' wait for a 200 from /healthz (it is 503 here)."""
        data = tempfile.mkdtemp(prefix="data-", dir=self.dep.dir)
        for attempt in range(3):
            self.dep.port = harness.free_port()
            self.dep.set_server_url()
            srv = harness.Server(self.dep, extra, data_dir=data)
            srv.logf = open(srv.log_path, "ab")
            srv.proc = subprocess.Popen([harness.CASUSD, "--config", srv.config], stdout=srv.logf,
                                        stderr=subprocess.STDOUT)
            wait_for(lambda: "casusd listening on" in srv.log() or srv.proc.poll() is not None,
                     what="casusd to listen")
            if srv.proc.poll() is None:
                return srv
            if attempt == 2 or "listen_failed" not in srv.log():
                raise AssertionError("casusd exited at start:\n" + srv.log())

    def test_unsealed_entries_past_the_threshold_are_not_ready(self):
        srv = self.start({"audit": {"checkpoint_every": 1000, "checkpoint_secs": 3600},
                          "health": {"audit_behind_secs": 2, "min_free_mb": 0}})
        try:
            self.assertEqual(self.dep.cli("anna", "list")[0], 0)
            url = "http://127.0.0.1:%d/healthz" % self.dep.port
            wait_for(lambda: http_get(url)[0] == 503, what="/healthz to report the audit chain behind")
            status, body = http_get(url)
            self.assertEqual(status, 503, body)
            m = re.search(r"audit chain behind: (\d+) entries without a signed checkpoint for (\d+) s", body)
            self.assertIsNotNone(m, body)
            self.assertGreaterEqual(int(m.group(1)), 2)  # server_start, the sign-in, the list
            self.assertGreaterEqual(int(m.group(2)), 2)
            self.assertNotIn("store cannot write", body)
            self.assertNotIn("disk near full", body)
            # the same on the metrics listener, and the backlog in /metrics
            st2, body2 = http_get("http://127.0.0.1:%d/healthz" % srv.metrics_port)
            self.assertEqual(st2, 503)
            self.assertIn("audit chain behind", body2)
            met = srv.metrics()
            self.assertEqual(met["casusd_ready"], 0)
            self.assertGreaterEqual(met["casusd_audit_unsealed_entries"], 2)
            self.assertGreaterEqual(met["casusd_audit_unsealed_seconds"], 2)
        finally:
            srv.stop()

    def test_threshold_is_range_checked(self):
        srv = harness.Server(self.dep, {"health": {"audit_behind_secs": 86401}})
        p = subprocess.run([harness.CASUSD, "--config", srv.config, "--check-config"], capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("audit_behind_secs", p.stdout + p.stderr)


if __name__ == "__main__":
    harness.main()
