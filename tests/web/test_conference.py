"""
test_conference.py: the case conference in the browser (ctest web.conference;
docs/WEB.md). Two browser users and one CLI user in one casus through the real
casusd with TLS serving the built web client: conference.mjs enrols both
browser users in their own Chromium contexts (keys made in wasm, certified by
casus-admin), the CLI user anna makes a casus with them and writes a note, and
then notes go browser to browser, browser to CLI and CLI to browsers live,
every one verified by the client core compiled to wasm; anna's escalation to
level 3 is verified live in both browsers, and then the ground prompt appears
where the policy asks. A third browser user, police, added at level 4 by the
process director paula, gets overleg but never zorg, and after paula's
de-escalation verifies its own removal and receives no new notes. Screenshots: $CASUS_BUILD/web/test-output-conference/.
"""
import json
import os
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import ADMIN, BUILD, CASUS, DEFAULT_USERS, Deployment, Server  # noqa: E402
from test_browser import CHROMIUM, NODE_MODULES, SITE, spki_hash  # noqa: E402

OUT = os.path.join(BUILD, "web", "test-output-conference")
HERE = os.path.dirname(os.path.abspath(__file__))
PASSPHRASE = "correct horse battery staple"
PURPOSE = "Zorgcoordinatie gezin K."
ANNA_TEXT = "Welkom in het casusoverleg (anna)"
BROWSER_USERS = [
    {"user": "bente", "role": "casemanager", "name": "Bente Smit", "org": "Wijkteam Noord"},
    {"user": "gerrit", "role": "ggd", "name": "Gerrit de Wit", "org": "GGD"},
    {"user": "pieter", "role": "politie", "name": "Pieter de Agent", "org": "Politie"},
]


class ConferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        cls.dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] in ("anna", "paula", "esther")], tls=True)
        cls.srv = Server(cls.dep, extra_config={"web_dir": SITE}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dep.cleanup()

    def test_two_browsers_and_cli(self):
        d = self.dep
        anna = [CASUS, "--profile", d.users["anna"]]
        make = os.path.join(d.dir, "make-casus.sh")
        with open(make, "w") as f:
            f.write("#!/bin/sh\nset -eu\n")
            f.write("CID=$(%s --json new --title 'Gezin K.' --purpose %s --basis 'Wmo 2015' %s"
                    " | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"casus\"])')\n"
                    % (" ".join(map(shlex.quote, anna)), shlex.quote(PURPOSE),
                       " ".join("--member " + u["user"] for u in BROWSER_USERS[:2])))
            f.write("%s post \"$CID\" %s >/dev/null\n" % (" ".join(map(shlex.quote, anna)), shlex.quote(ANNA_TEXT)))
            f.write("echo \"$CID\"\n")
        paula = [CASUS, "--profile", d.users["paula"]]
        with open(d.passfile) as f:
            cli_pass = f.read().strip()
        police_in = os.path.join(d.dir, "police-in.sh")
        with open(police_in, "w") as f:
            f.write("#!/bin/sh\nset -eu\n")
            f.write("%s add \"$1\" paula >/dev/null\n" % " ".join(map(shlex.quote, anna)))
            f.write("%s escalate \"$1\" 4 --reason 'dreiging (webtest)' >/dev/null\n" % " ".join(map(shlex.quote, paula)))
            f.write("%s add \"$1\" pieter >/dev/null\n" % " ".join(map(shlex.quote, paula)))
        cfg = {
            "url": "https://localhost:%d/" % d.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex, "passphrase": PASSPHRASE,
            "users": BROWSER_USERS,
            "certify": [ADMIN, "certify", "--keystore", d.root_ks, "--request", "{req}", "--out", "{cert}", "--yes"],
            "make_casus": ["sh", make], "purpose": PURPOSE, "anna_text": ANNA_TEXT,
            "cli_post": anna + ["post", "{casus}", "{text}"],
            "cli_history": anna + ["--json", "history", "{casus}"],
            "cli_escalate": anna + ["escalate", "{casus}", "3", "--reason", "zorgen over veiligheid (webtest)"],
            "cli_police_in": ["sh", police_in, "{casus}"],
            "import": {"user": "esther", "keystore": os.path.join(d.users["esther"], "keys.casusks"),
                       "passphrase": cli_pass},
            "cli_police_out": paula + ["deescalate", "{casus}", "3", "--reason", "situatie stabiel (webtest)"],
        }
        cfg_path = os.path.join(d.dir, "conference.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run(["node", os.path.join(HERE, "conference.mjs"), cfg_path], env=d.env,
                           capture_output=True, text=True, timeout=800)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr[-4000:])
        self.assertEqual(p.returncode, 0, "conference checks failed (screenshots in %s)" % OUT)
        self.assertIn("all conference checks passed", p.stdout)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
