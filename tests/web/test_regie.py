"""
test_regie.py: the case conference's agreed actions and agenda, and the
notices of the list screen, in the browser (ctest web.regie; docs/WEB.md
"Agreed actions and agenda"). casusd with TLS serves the built web client;
regie.mjs drives Debian's Chromium:

- the process director paula (a `casus` profile imported into a browser)
  records an agreed action for anna with its due date disclosed: anna's CLI
  reads it (`casus afspraken`); an action anna's CLI records (not disclosed,
  due in the past) is shown in the browser, marked overdue; paula marks it
  done in the browser and the CLI reads it as done;
- anna's CLI puts the casus on the agenda: paula's browser shows the place
  (end-to-end encrypted in the casus) and the agenda notice in words; paula
  dismisses the notice, and after a reload and a new login it is gone;
  paula plans a meeting in the browser and anna's CLI lists it with its place;
- the server goes back in time (issue 16): the store was backed up before
  any note, and that backup is restored into a new casusd (deploy/backup.sh,
  deploy/restore.sh, as test_rollback.py). paula's browser reconnects, the
  core in wasm sees the new store epoch against its local copy: the list and
  the conference say "de server is terug in de tijd gegaan", and the notes
  read before stay shown from the local copy.

axe-core on the new screen states (no serious or critical finding), no CSP or
SRI violation, screenshots in $CASUS_BUILD/web/test-output-regie/.
"""
import datetime
import json
import os
import shlex
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BUILD, CASUS, DEFAULT_USERS, Deployment, Server  # noqa: E402
from phased import run_phased  # noqa: E402
from test_backup_restore import BACKUP, RESTORE, sh  # noqa: E402
from test_browser import CHROMIUM, NODE_MODULES, SITE, spki_hash  # noqa: E402

OUT = os.path.join(BUILD, "web", "test-output-regie")
HERE = os.path.dirname(os.path.abspath(__file__))
PURPOSE = "Afspraken gezin K."
USERS = ("anna", "gijs", "paula")


class RegieWebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        cls.dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] in USERS], tls=True)
        cls.srv = Server(cls.dep, extra_config={"web_dir": SITE}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dep.cleanup()

    def test_regie(self):
        d = self.dep
        anna = [CASUS, "--profile", d.users["anna"]]
        a = " ".join(map(shlex.quote, anna))
        make = os.path.join(d.dir, "make-casus.sh")
        with open(make, "w") as f:
            f.write("#!/bin/sh\nset -eu\n")
            f.write("CID=$(%s --json new --title 'Titel K.' --purpose %s --basis 'Wmo 2015' --member gijs"
                    " | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"casus\"])')\n"
                    % (a, shlex.quote(PURPOSE)))
            f.write("%s escalate \"$CID\" 3 --reason 'afspraken (webtest)' >/dev/null\n" % a)
            f.write("%s add \"$CID\" paula >/dev/null\n" % a)
            f.write("echo \"$CID\"\n")
        with open(d.passfile) as f:
            cli_pass = f.read().strip()
        today = datetime.datetime.now(datetime.timezone.utc).date()
        tomorrow = (today + datetime.timedelta(days=1)).isoformat()
        later = (today + datetime.timedelta(days=14)).isoformat()
        aud = ["--audience", "overleg", "--ground", "consent"]
        cfg = {
            "url": "https://localhost:%d/" % d.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex,
            "imports": {"paula": {"keystore": os.path.join(d.users["paula"], "keys.casusks"), "passphrase": cli_pass}},
            "make_casus": ["sh", make], "purpose": PURPOSE, "tomorrow": tomorrow, "later": later,
            "cli_actions": anna + ["--json", "afspraken", "{casus}"],
            "cli_action_add": anna + ["--json", "afspraak", "{casus}", "--wat", "Gesprek met school", "--wie", "paula",
                                      "--uiterlijk", "2020-01-06", "--niet-delen"] + aud,
            "cli_agenda_plan": anna + ["--json", "agenda", "{casus}", "--datum", tomorrow, "--plaats",
                                       "Stadhuis, kamer 4"] + aud,
            "cli_agenda": anna + ["--json", "agenda"],
        }
        cfg_path = os.path.join(d.dir, "regie.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        errpath = os.path.join(d.dir, "regie.stderr")
        backups = os.path.join(d.dir, "backups")
        state = {}

        def backup():
            state["bk"] = sh(BACKUP, self.srv.data, backups).stdout.strip().split("backup: ", 1)[1]
            return {}

        def restore():
            # the server is lost; the backup is restored into a new casusd on the same address
            self.srv.stop()
            newdata = os.path.join(d.dir, "restored-data")
            sh(RESTORE, state["bk"], newdata)
            type(self).srv = Server(d, {"web_dir": SITE}, data_dir=newdata).start()
            return {}

        rc, out = run_phased(["node", os.path.join(HERE, "regie.mjs"), cfg_path], d.env,
                             {"backup": backup, "restore": restore}, errpath)
        self.assertEqual(rc, 0, "agenda and action checks failed (screenshots in %s)" % OUT)
        self.assertIn("all agenda and action checks passed\n", out)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
