"""
test_hostile.py: the hostile-server proxy in front of a browser (ctest
web.hostile; docs/WEB.md "A hostile server in front of the browser").

A TLS deployment serving the built web client, and in front of it the
HostileProxy of the hostile-server suite (tests/security/proxy.py) holding the
deployment's TLS certificate and key. Chromium loads the page from the
proxy's origin (the proxy relays plain HTTP from casusd unchanged) and trusts
it as it trusts casusd. hostile.mjs drives the browser; at each "phase" line
it prints, this test makes casus with the CLI and installs the attacks:
a message dropped from a history listing (shown as a gap warning), a casus
swap (refused, wrong_casus), a forged commit (refused), an old commit
replayed as the next one of a verified chain (refused, the copy kept), an
older revocation list after a reload (refused: the list is kept across
sessions). Each
attack is first proved to have happened (the proxy's hit counters).
Screenshots: $CASUS_BUILD/web/test-output-hostile/.
"""
import base64
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "security"))
from harness import ADMIN, BUILD, DEFAULT_USERS, Deployment, Server  # noqa: E402
from phased import run_phased  # noqa: E402
from proxy import HostileProxy, Reply  # noqa: E402
from test_browser import CHROMIUM, NODE_MODULES, SITE, spki_hash  # noqa: E402

OUT = os.path.join(BUILD, "web", "test-output-hostile")
PASSPHRASE = "correct horse battery staple"
BROWSER_USER = {"user": "bente", "role": "casemanager", "name": "Bente Smit", "org": "Wijkteam Noord"}
CASUS_FIELDS = ("commit.fetch", "msg.post", "grant.fetch", "transfer.fetch", "history", "casus.read")


class HostileBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        cls.dep = dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] in ("anna", "esther")], tls=True)
        # revocation list 2 (anna's and esther's second devices), casusd runs it;
        # list 1 (anna's only) is what the proxy offers after a reload
        dep.add_user("anna", "casemanager", "Anna Jansen", "Leger des Heils", device="d2")
        dep.add_user("esther", "ervaringsdeskundige", "Esther de Vries", "Leger des Heils", device="d2")
        cls.revlist = os.path.join(dep.dir, "revoked.bin")
        dep.admin("revoke", "--keystore", dep.root_ks, "--cert", os.path.join(dep.certs, "anna-d2.cert"),
                  "--list", dep.revlist, "--out", cls.revlist + ".1")
        dep.admin("revoke", "--keystore", dep.root_ks, "--cert", os.path.join(dep.certs, "esther-d2.cert"),
                  "--list", cls.revlist + ".1", "--out", cls.revlist)
        cls.srv = Server(dep, extra_config={"web_dir": SITE, "revocations": cls.revlist}).start()
        cls.proxy = HostileProxy(cls.dep.tls_crt, cls.dep.tls_key, cls.dep.port).start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.srv.stop()
        cls.dep.cleanup()

    def make(self, purpose, members, notes):
        cid = self.dep.ok("anna", "new", "--title", purpose, "--purpose", purpose, "--basis", "Wmo 2015",
                          *sum((["--member", m] for m in members), []))["casus"]
        for n in notes:
            self.dep.ok("anna", "post", cid, n)
        return cid

    def phase_enrolled(self):
        k = {
            "a": {"purpose": "Hostile A gap", "notes": ["notitie %d" % i for i in range(1, 5)]},
            "b": {"purpose": "Hostile B ander", "secret": "GEHEIM-ANDERE-CASUS-B"},
            "c": {"purpose": "Hostile C swap", "note": "notitie in C"},
            "d": {"purpose": "Hostile D vervalst", "note": "notitie in D"},
            "e": {"purpose": "Hostile E replay", "note": "notitie in E"},
        }
        bente = BROWSER_USER["user"]
        k["a"]["id"] = self.make(k["a"]["purpose"], [bente], k["a"]["notes"])
        # bente is a member of B too (as anna of both in tests/security/test_casus_swap.py):
        # casusd serves B's chain to her, and the proxy files it under C
        k["b"]["id"] = self.make(k["b"]["purpose"], [bente, "esther"], [k["b"]["secret"]])
        for x in "cde":
            k[x]["id"] = self.make(k[x]["purpose"], [bente], [k[x]["note"]])
        a, b, c, d = (k[x]["id"] for x in "abcd")
        p = self.proxy

        def on_request(sess, req):
            if sess.user == bente and req.get("casus") == c and req.get("type") in CASUS_FIELDS:
                p.hit("swap")
                return dict(req, casus=b)
            return None

        def on_response(sess, req, resp):
            if sess.user != bente or not resp.get("ok"):
                return None
            if req.get("type") == "history" and req.get("casus") == a:
                msgs = resp.get("messages", [])
                if any(m.get("seq") == 3 for m in msgs):  # anna's second note
                    p.hit("dropped")
                    return dict(resp, messages=[m for m in msgs if m.get("seq") != 3])
            if req.get("type") == "commit.fetch" and req.get("casus") == d and resp.get("commits"):
                commits = list(resp["commits"])
                raw = bytearray(base64.b64decode(commits[-1]["commit"]))
                raw[len(raw) // 2] ^= 0x01
                commits[-1] = dict(commits[-1], commit=base64.b64encode(bytes(raw)).decode())
                p.hit("forged")
                return dict(resp, commits=commits)
            return None
        p.on_request = on_request
        p.on_response = on_response
        self.k = k
        return k

    def phase_replay(self):
        e = self.k["e"]["id"]
        bente = BROWSER_USER["user"]
        p = self.proxy
        first = {}

        async def on_request(sess, req):
            if sess.user == bente and req.get("type") == "commit.fetch" and req.get("casus") == e \
                    and int(req.get("from") or 0) >= 1:
                if "commit" not in first:
                    r = await sess.upstream({"type": "commit.fetch", "casus": e, "from": 0})
                    first["commit"] = r["commits"][0]
                p.hit("replayed")
                return Reply({"ok": True, "commits": [first["commit"]], "more": False})
            return on_request_before(sess, req)
        on_request_before = p.on_request
        p.on_request = on_request
        self.dep.ok("anna", "escalate", e, "2", "--reason", "zorgen (webtest hostile)")
        return {}

    def phase_older_revlist(self):
        with open(self.revlist + ".1", "rb") as f:
            older = base64.b64encode(f.read()).decode()
        before = self.proxy.on_request
        p = self.proxy

        def on_request(sess, req):
            if req.get("type") == "revlist.get":
                p.hit("older_revlist")
                return Reply({"ok": True, "revlist": older, "number": 1})
            return before(sess, req)
        p.on_request = on_request
        return {}

    def test_hostile_server_in_front_of_a_browser(self):
        d = self.dep
        cfg = {
            "url": "https://localhost:%d/" % self.proxy.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex, "passphrase": PASSPHRASE,
            "user": BROWSER_USER,
            "certify": [ADMIN, "certify", "--keystore", d.root_ks, "--request", "{req}", "--out", "{cert}", "--yes"],
        }
        cfg_path = os.path.join(d.dir, "hostile.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        rc, out = run_phased(["node", os.path.join(HERE, "hostile.mjs"), cfg_path], d.env,
                             {"enrolled": self.phase_enrolled, "replay": self.phase_replay,
                              "older_revlist": self.phase_older_revlist, "done": lambda: dict(self.proxy.hits)},
                             os.path.join(d.dir, "hostile.stderr"), watchdog=800)
        print("proxy hits: %s" % self.proxy.hits)
        self.assertEqual(rc, 0, "hostile-server browser checks failed (screenshots in %s)" % OUT)
        self.assertIn("all hostile-server checks passed\n", out)
        for name in ("dropped", "swap", "forged", "replayed", "older_revlist"):
            self.assertGreater(self.proxy.count(name), 0, name)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
