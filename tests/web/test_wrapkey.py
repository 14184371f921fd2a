"""
test_wrapkey.py: the browser device's rotating key, its wrap key (issue 17;
docs/CRYPTO.md "Device wrap keys", docs/WEB.md "Device key"; ctest
web.wrapkey). Against the real casusd (TLS, serving the built web client),
the casus command and Chromium, wrapkey.mjs checks that

1. a browser device enrolled and logged in makes, stores and publishes its
   wrap key 1 at its first connect (shown in the device section);
2. a commit by the casus command (anna opens a casus with bente) seals the
   browser device's boxes to that wrap key, the browser opens them and reads
   anna's note (the box versions are read from the server's LMDB by the
   security suite's thief tool, casus_wrap_steal, with the keystore image the
   browser stored in IndexedDB, which is the keys.casusks format);
3. "Apparaatsleutel nu vernieuwen" publishes wrap key 2 at once;
4. a commit built in the browser (an escalation) fetches and verifies the
   roster's wrap keys and seals anna's boxes to her wrap key and the browser's
   own to its new wrap key 2;
5. anna's casus command reads the note the browser writes in that epoch;
6. a server that swaps a wrap key in its dir.lookup answer (the hostile-server
   suite's proxy, tests/security/proxy.py, in front of casusd: a flipped
   signature byte in every record) gets the browser's next change refused
   (bad_signature) and no commit.post at all;
7. a server that strips the browser device's boxes from commit.fetch (anna's
   rotation, sealed to the browser's newest wrap key 2) gets the conference
   refused `withheld_box` (docs/CRYPTO.md "Boxes beside the signed part").
"""
import base64
import json
import os
import shlex
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "security"))
from harness import ADMIN, BUILD, CASUS, DEFAULT_USERS, Deployment, Server  # noqa: E402
from phased import run_phased  # noqa: E402
from proxy import HostileProxy  # noqa: E402
from test_browser import CHROMIUM, NODE_MODULES, SITE, spki_hash  # noqa: E402

OUT = os.path.join(BUILD, "web", "test-output-wrapkey")
HERE = os.path.dirname(os.path.abspath(__file__))
STEAL = os.path.join(BUILD, "tests", "security", "casus_wrap_steal")
PASSPHRASE = "correct horse battery staple"
PURPOSE = "Zorgcoordinatie gezin W."
ANNA_TEXT = "Eerste notitie van anna (wrap)"
BROWSER_TEXT = "Notitie van bente na de nieuwe sleutel"


def strip_boxes(raw):
    """A served version 4 commit without its box section (all the boxes in it
    are the requesting device's): the signed part alone, as if none were stored."""
    entry = 1 + 16 + 122
    for n in range(1, 16):
        at = len(raw) - n * entry
        if at >= 2 and int.from_bytes(raw[at - 2:at], "big") == n and \
                len({raw[at + i * entry + 1:at + i * entry + 17] for i in range(n)}) == 1:
            return raw[:at - 2]
    return raw


class WrapKeyBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM, STEAL):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (and the casus_wrap_steal target)" % path)
        cls.dep = Deployment(users=[u for u in DEFAULT_USERS if u[0] == "anna"], tls=True)
        cls.srv = Server(cls.dep, extra_config={"web_dir": SITE}).start()
        # the page comes through the proxy (it relays casusd unchanged until phase "swap")
        cls.proxy = HostileProxy(cls.dep.tls_crt, cls.dep.tls_key, cls.dep.port).start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.srv.stop()
        cls.dep.cleanup()

    def phase_swap(self):
        """From now on every wrap-key record the browser is served by
        dir.lookup "devices" carries a flipped signature byte (a key the
        server chose), and every commit.post it sends is counted."""
        p = self.proxy

        def on_request(sess, req):
            if sess.user == "bente" and req.get("type") == "commit.post":
                p.hit("commit_post_after_swap")
            return None

        def on_response(sess, req, resp):
            if sess.user != "bente" or req.get("type") != "dir.lookup" or "devices" not in req or not resp.get("ok"):
                return None
            devs = []
            for d in resp.get("devices", []):
                if d.get("wrapkey"):
                    rec = bytearray(base64.b64decode(d["wrapkey"]))
                    rec[-1] ^= 0x01
                    d = dict(d, wrapkey=base64.b64encode(bytes(rec)).decode())
                    p.hit("wrap_swapped")
                devs.append(d)
            return dict(resp, devices=devs)
        p.on_request = on_request
        p.on_response = on_response
        return {}

    def phase_strip(self):
        """From now on the box section of every commit of epoch 2 or later is
        cut from bente's commit.fetch answers (the signed part stays)."""
        p = self.proxy

        def on_response(sess, req, resp):
            if sess.user != "bente" or req.get("type") != "commit.fetch" or not resp.get("ok"):
                return None
            commits = []
            for c in resp.get("commits", []):
                if c.get("epoch", 0) >= 2:
                    raw = base64.b64decode(c["commit"])
                    cut = strip_boxes(raw)
                    if cut != raw:
                        p.hit("box_stripped")
                    c = dict(c, commit=base64.b64encode(cut).decode())
                commits.append(c)
            return dict(resp, commits=commits)
        p.on_request = None
        p.on_response = on_response
        return {}

    def test_browser_wrap_keys(self):
        d = self.dep
        anna = [CASUS, "--profile", d.users["anna"]]
        make = os.path.join(d.dir, "make-casus.sh")
        with open(make, "w") as f:
            f.write("#!/bin/sh\nset -eu\n")
            f.write("CID=$(%s --json new --title 'Gezin W.' --purpose %s --basis 'Wmo 2015' --member bente"
                    " | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"casus\"])')\n"
                    % (" ".join(map(shlex.quote, anna)), shlex.quote(PURPOSE)))
            f.write("%s post \"$CID\" %s >/dev/null\n" % (" ".join(map(shlex.quote, anna)), shlex.quote(ANNA_TEXT)))
            f.write("echo \"$CID\"\n")
        cfg = {
            "url": "https://localhost:%d/" % self.proxy.port, "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex, "passphrase": PASSPHRASE,
            "users": [{"user": "bente", "role": "casemanager", "name": "Bente Smit", "org": "Wijkteam Noord"}],
            "certify": [ADMIN, "certify", "--keystore", d.root_ks, "--request", "{req}", "--out", "{cert}", "--yes"],
            "make_casus": ["sh", make], "purpose": PURPOSE, "anna_text": ANNA_TEXT,
            "browser_text": BROWSER_TEXT, "audience": "zorg",
            "cli_history": anna + ["--json", "history", "{casus}"],
            "anna_rotate": anna + ["--json", "rotate", "{casus}"],
            "anna_keys": anna + ["--json", "sleutel", "toon"],
            "anna_keystore": os.path.join(d.users["anna"], "keys.casusks"), "anna_passfile": d.passfile,
            "steal": STEAL, "data": self.srv.data,
        }
        cfg_path = os.path.join(d.dir, "wrapkey.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        rc, out = run_phased(["node", os.path.join(HERE, "wrapkey.mjs"), cfg_path], d.env,
                             {"swap": self.phase_swap, "strip": self.phase_strip,
                              "done": lambda: dict(self.proxy.hits)},
                             os.path.join(d.dir, "wrapkey.stderr"), watchdog=800)
        print("proxy hits: %s" % self.proxy.hits)
        self.assertEqual(rc, 0, "wrap-key checks failed (screenshots in %s)" % OUT)
        self.assertIn("all wrap-key checks passed\n", out)
        self.assertGreater(self.proxy.count("wrap_swapped"), 0, "the swap never happened")
        self.assertEqual(self.proxy.count("commit_post_after_swap"), 0, "a commit went out with a swapped wrap key")
        self.assertGreater(self.proxy.count("box_stripped"), 0, "the boxes were never stripped")
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
