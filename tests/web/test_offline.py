"""
test_offline.py: the browser offline (ctest web.offline; docs/WEB.md "Offline").

A TLS deployment serving the built web client; offline.mjs drives Chromium:
a browser user and the CLI user anna in one casus, then casusd is stopped (and
started again by offline.mjs, on the same store and port). Checked: nothing
in IndexedDB readable without the passphrase; a reload while casusd is
stopped shows the cached history after login with the passphrase, marked
offline, under the policy kept from the earlier session; a post made offline
is queued, survives a reload, is delivered after casusd is back and shown
delivered; the CLI reads each browser note exactly once with no gap or
duplicate warning. Screenshots: $CASUS_BUILD/web/test-output-offline/.
"""
import json
import os
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import ADMIN, BUILD, CASUS, CASUSD, DEFAULT_USERS, Deployment, Server  # noqa: E402
from test_browser import CHROMIUM, NODE_MODULES, SITE, spki_hash  # noqa: E402

OUT = os.path.join(BUILD, "web", "test-output-offline")
HERE = os.path.dirname(os.path.abspath(__file__))
PASSPHRASE = "correct horse battery staple"
PURPOSE = "Zorgcoordinatie gezin O."
ANNA_TEXT = "Welkom, dit overleg blijft ook offline leesbaar (anna)"
BROWSER_USER = {"user": "bente", "role": "casemanager", "name": "Bente Smit", "org": "Wijkteam Noord"}


class OfflineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        cls.dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] == "anna"], tls=True)
        cls.srv = Server(cls.dep, extra_config={"web_dir": SITE}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dep.cleanup()

    def test_offline_history_and_outbox(self):
        d = self.dep
        anna = [CASUS, "--profile", d.users["anna"]]
        make = os.path.join(d.dir, "make-casus.sh")
        with open(make, "w") as f:
            f.write("#!/bin/sh\nset -eu\n")
            f.write("CID=$(%s --json new --title 'Gezin O.' --purpose %s --basis 'Wmo 2015' --member %s"
                    " | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"casus\"])')\n"
                    % (" ".join(map(shlex.quote, anna)), shlex.quote(PURPOSE), BROWSER_USER["user"]))
            f.write("%s post \"$CID\" %s >/dev/null\n" % (" ".join(map(shlex.quote, anna)), shlex.quote(ANNA_TEXT)))
            f.write("echo \"$CID\"\n")
        cfg = {
            "url": "https://localhost:%d/" % d.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex, "passphrase": PASSPHRASE,
            "user": BROWSER_USER,
            "certify": [ADMIN, "certify", "--keystore", d.root_ks, "--request", "{req}", "--out", "{cert}", "--yes"],
            "make_casus": ["sh", make], "purpose": PURPOSE, "anna_text": ANNA_TEXT,
            "cli_history": anna + ["--json", "history", "{casus}"],
            "restart": {"pid": self.srv.proc.pid, "argv": [CASUSD, "--config", self.srv.config],
                        "log": self.srv.log_path, "port": d.port},
        }
        cfg_path = os.path.join(d.dir, "offline.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run(["node", os.path.join(HERE, "offline.mjs"), cfg_path], env=d.env,
                           capture_output=True, text=True, timeout=800)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr[-4000:])
        self.assertEqual(p.returncode, 0, "offline checks failed (screenshots in %s)" % OUT)
        self.assertIn("all offline checks passed", p.stdout)
        self.srv.proc.wait(timeout=30)  # stopped by offline.mjs
        self.assertEqual(self.srv.proc.returncode, 0)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
