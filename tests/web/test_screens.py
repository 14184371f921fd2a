"""
test_screens.py: the browser's remaining screens (ctest web.screens;
docs/WEB.md "Managing a casus", "The audit view", "Procesregie"). casusd with
TLS serves the built web client; screens.mjs drives Debian's Chromium:

- the process director paula (a `casus` profile imported into a browser)
  escalates 3 -> 4 with a reason (the CLI reads the reason from the commit's
  end-to-end reason box), adds the police user peter (his browser then gets
  overleg, never zorg), shares anna's earlier overleg note with him (grant v2,
  his browser opens it), de-escalates with a reason (peter's browser verifies
  its removal, later notes do not reach it), removes gijs, sees the overview
  (level and members, never the title or a note: markers) and the monitor,
  and de-escalates below her own level (her browser verifies her own removal);
- anna's browser closes the casus (the reason arrives in the CLI as an
  end-to-end note);
- a new browser device of anna is paired: it shows its pairing code, anna's
  CLI adds it with `casus add-device --code`, and the browser reads anna's
  earlier note with the keys passed on; then the browser approves anna's
  third device (a CLI profile) by its pairing code, which reads that note too;
- the privacy officer fenna verifies the whole audit trail in wasm and reads
  the data-subject report of the casus.

axe-core on every new screen (no serious or critical finding), no CSP or SRI
violation, screenshots in $CASUS_BUILD/web/test-output-screens/.
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

OUT = os.path.join(BUILD, "web", "test-output-screens")
HERE = os.path.dirname(os.path.abspath(__file__))
PURPOSE = "Veiligheid gezin M."
TITLE_MARKER = "MARKER-TITEL-7f3a"
NOTE_MARKER = "MARKER-NOTITIE-91c2"
OVERLEG_TEXT = "Overlegnotitie van anna voor de politie"
USERS = ("anna", "gijs", "paula", "peter", "fenna")


class ScreensTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        cls.dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] in USERS], tls=True)
        # anna's third device, a CLI profile not yet in any casus (paired by the browser)
        cls.dep.add_user("anna", "casemanager", "Anna Jansen", "Leger des Heils", device="d3")
        cls.srv = Server(cls.dep, extra_config={"web_dir": SITE}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dep.cleanup()

    def test_screens(self):
        d = self.dep
        anna = [CASUS, "--profile", d.users["anna"]]
        a = " ".join(map(shlex.quote, anna))
        make = os.path.join(d.dir, "make-casus.sh")
        with open(make, "w") as f:
            f.write("#!/bin/sh\nset -eu\n")
            f.write("CID=$(%s --json new --title %s --purpose %s --basis 'Wet veiligheidsregio' --member gijs"
                    " | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"casus\"])')\n"
                    % (a, shlex.quote(TITLE_MARKER), shlex.quote(PURPOSE)))
            f.write("%s post \"$CID\" --audience zorg %s >/dev/null\n" % (a, shlex.quote(NOTE_MARKER)))
            f.write("%s escalate \"$CID\" 3 --reason 'zorgen (schermtest)' >/dev/null\n" % a)
            f.write("%s add \"$CID\" paula >/dev/null\n" % a)
            f.write("%s post \"$CID\" --audience overleg --ground consent %s >/dev/null\n"
                    % (a, shlex.quote(OVERLEG_TEXT)))
            f.write("echo \"$CID\"\n")
        with open(d.passfile) as f:
            cli_pass = f.read().strip()
        cfg = {
            "url": "https://localhost:%d/" % d.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex, "passphrase": "correct horse battery staple",
            "imports": {u: {"keystore": os.path.join(d.users[u], "keys.casusks"), "passphrase": cli_pass}
                        for u in ("paula", "peter", "fenna")},
            "new_device": {"user": "anna", "role": "casemanager", "name": "Anna Jansen", "org": "Leger des Heils"},
            "certify": [ADMIN, "certify", "--keystore", d.root_ks, "--request", "{req}", "--out", "{cert}", "--yes"],
            "make_casus": ["sh", make], "purpose": PURPOSE, "title_marker": TITLE_MARKER,
            "note_marker": NOTE_MARKER, "overleg_text": OVERLEG_TEXT,
            "cli_members": anna + ["--json", "members", "{casus}"],
            "cli_history": anna + ["--json", "history", "{casus}"],
            "cli_list": anna + ["--json", "list"],
            "cli_add_device": anna + ["add-device", "{casus}", "--code", "{text}"],
            "cli2_whoami": [CASUS, "--profile", d.users["anna-d3"], "--json", "whoami"],
            "cli2_history": [CASUS, "--profile", d.users["anna-d3"], "--json", "history", "{casus}"],
        }
        cfg_path = os.path.join(d.dir, "screens.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run(["node", os.path.join(HERE, "screens.mjs"), cfg_path], env=d.env,
                           capture_output=True, text=True, timeout=850)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr[-4000:])
        self.assertEqual(p.returncode, 0, "screen checks failed (screenshots in %s)" % OUT)
        self.assertIn("all screen checks passed", p.stdout)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
