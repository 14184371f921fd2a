"""
test_audit_witness.py: the browser's audit view catches a rewritten trail as
`casus audit verify` does (ctest web.audit_witness; docs/WEB.md "The audit
view", docs/AUDIT.md "Witnesses"). casusd with TLS serves the built web
client; audit_witness.mjs drives Debian's Chromium:

- anna's CLI makes a casus and posts; the privacy officer fenna's CLI
  countersigns the checkpoints (`casus audit witness`);
- fenna's profile imported into the browser verifies the whole trail in wasm
  (audit/audit_trail.c, the CLI's driver) and shows the checkpoints witnessed
  by this device;
- the operator stops casusd, rewrites a message_post entry sealed by a
  witnessed checkpoint with the audit key (tests/tools/audit_rewrite.c: chain
  recomputed, every checkpoint re-signed, the cosignatures left as they were)
  and starts it again: the browser refuses the trail (witness_mismatch), and
  so does the CLI.

axe-core on both states, no CSP or SRI violation, screenshots in
$CASUS_BUILD/web/test-output-witness/.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BUILD, DEFAULT_USERS, Deployment, Server  # noqa: E402
from phased import run_phased  # noqa: E402
from test_browser import CHROMIUM, NODE_MODULES, SITE, spki_hash  # noqa: E402

OUT = os.path.join(BUILD, "web", "test-output-witness")
HERE = os.path.dirname(os.path.abspath(__file__))
REWRITE = os.path.join(BUILD, "tests", "audit_rewrite")
USERS = ("anna", "gijs", "fenna")
CONFIG = {"web_dir": SITE, "audit": {"checkpoint_every": 5, "checkpoint_secs": 1}}


class AuditWitnessWebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM,
                     REWRITE):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        cls.dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] in USERS], tls=True)
        cls.srv = Server(cls.dep, extra_config=CONFIG).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dep.cleanup()

    def test_rewritten_trail_is_caught_in_the_browser(self):
        d = self.dep
        cid = d.ok("anna", "new", "--title", "Titel W.", "--purpose", "Getuige gezin W.", "--basis", "Wmo 2015",
                   "--member", "gijs")["casus"]
        for i in range(4):
            d.ok("anna", "post", cid, "bericht %d" % i)
        key = d.ok("fenna", "audit", "key")["audit_key"]
        w = d.ok("fenna", "audit", "witness", "--key", key)
        self.assertGreaterEqual(w["cosigned"], 2, w)
        signed_seq = w["newest_seq"]
        q = d.ok("fenna", "audit", "--key", key)
        posts = [e["seq"] for e in q["entries"] if e["event"] == "message_post" and e["seq"] < signed_seq]
        self.assertTrue(posts, q)
        victim = posts[0]
        with open(d.passfile) as f:
            cli_pass = f.read().strip()
        cfg = {
            "url": "https://localhost:%d/" % d.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex,
            "imports": {"fenna": {"keystore": os.path.join(d.users["fenna"], "keys.casusks"), "passphrase": cli_pass}},
            "casus": cid, "audit_key": key, "cosigned": 2,
        }
        cfg_path = os.path.join(d.dir, "audit_witness.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)

        def rewrite():
            self.srv.stop()
            p = subprocess.run([REWRITE, self.srv.data, str(victim), "access_point", "192.0.2.66:4444"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
            type(self).srv = Server(d, CONFIG, data_dir=self.srv.data).start()
            return {}

        rc, out = run_phased(["node", os.path.join(HERE, "audit_witness.mjs"), cfg_path], d.env,
                             {"rewrite": rewrite}, os.path.join(d.dir, "audit_witness.stderr"))
        self.assertEqual(rc, 0, "audit witness checks failed (screenshots in %s)" % OUT)
        self.assertIn("all audit witness checks passed\n", out)
        # the CLI reaches the same verdict on the same server
        rc, out2, err2 = d.cli("fenna", "audit", "--key", key)
        self.assertEqual(rc, 5, (out2, err2))
        self.assertEqual(out2["fault"], "witness_mismatch", out2)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
