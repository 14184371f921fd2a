"""
test_browser.py: the web client in Debian's Chromium against the real casusd
(ctest web.browser; docs/WEB.md).

A test deployment (tests/integration/harness.py) with TLS; casusd serves the
built web client from "web_dir". Checked here over HTTPS: the security
headers (strict CSP with only 'wasm-unsafe-eval', no inline script), the
Subresource Integrity of every asset in index.html against the served bytes,
web-digest.txt against the served files, /healthz and /metrics still answered,
no path outside the folder. Then browser.mjs drives Chromium (playwright-core):
enrolment in the browser, `casus-admin certify`, certificate installation,
login, and the casus list showing a casus the CLI user anna made, escalated and
shared with the browser user; casusd stopped and started again (the page
reconnects and authenticates by itself). The browser trusts the test certificate by its
SPKI hash only (--ignore-certificate-errors-spki-list), no global TLS bypass.
Screenshots: $CASUS_BUILD/web/test-output/*.png.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import ADMIN, BUILD, CASUS, CASUSD, DEFAULT_USERS, Deployment, Server  # noqa: E402

SITE = os.environ.get("CASUS_WEB_SITE", os.path.join(BUILD, "web", "site"))
NODE_MODULES = os.environ.get("CASUS_NODE_MODULES", os.path.join(BUILD, "web", "npm", "node_modules"))
CHROMIUM = os.environ.get("CASUS_CHROMIUM", "/usr/bin/chromium")
OUT = os.path.join(BUILD, "web", "test-output")
HERE = os.path.dirname(os.path.abspath(__file__))
PASSPHRASE = "correct horse battery staple"
BROWSER_USER = ("prisca", "procesregisseur", "Prisca Hoekstra", "Zorg- en Veiligheidshuis")
PURPOSE = "Zorgcoordinatie webtest"
REASON = "casus stagneert (webtest)"


def spki_hash(cert_path):
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class WebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (os.path.join(SITE, "index.html"), os.path.join(NODE_MODULES, "playwright-core"), CHROMIUM):
            if not os.path.exists(path):
                raise AssertionError("missing %s: build with CASUS_WEB=ON (deploy/install-deps.sh)" % path)
        users = [u for u in DEFAULT_USERS if u[0] in ("anna", "gijs")]
        cls.dep = Deployment(users=users, tls=True)
        cls.srv = Server(cls.dep, extra_config={"web_dir": SITE}).start()
        cls.base = "https://localhost:%d" % cls.dep.port
        cls.ctx = ssl.create_default_context(cafile=cls.dep.tls_crt)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dep.cleanup()

    def get(self, path):
        try:
            r = urllib.request.urlopen(self.base + path, context=self.ctx, timeout=30)
            return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def test_1_headers_sri_digest(self):
        status, h, body = self.get("/")
        self.assertEqual(status, 200)
        csp = h["Content-Security-Policy"] or ""
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'self' 'wasm-unsafe-eval';", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotRegex(csp, r"'unsafe-eval'")
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertIn("max-age=", h["Strict-Transport-Security"] or "")
        html = body.decode()
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)", "inline script in index.html")
        self.assertNotIn("style=", html)
        assets = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"[^>]*?integrity="([^"]+)"', html)
        self.assertEqual(sorted(a for a, _ in assets), ["app.js", "style.css"])
        for name, integrity in assets:
            st, ah, data = self.get("/" + name)
            self.assertEqual(st, 200, name)
            self.assertIn("Content-Security-Policy", ah)
            want = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
            self.assertEqual(integrity, want, "SRI of " + name)
        # the wasm's SRI is compiled into app.js and must match the served module
        st, ah, wasm = self.get("/casus-wasm.wasm")
        self.assertEqual((st, ah["Content-Type"]), (200, "application/wasm"))
        app = self.get("/app.js")[2].decode()
        self.assertIn('"sha384-%s"' % base64.b64encode(hashlib.sha384(wasm).digest()).decode(), app)
        # the published digest: every served file, and the release's bundle digest
        st, _, manifest = self.get("/web-digest.txt")
        self.assertEqual(st, 200)
        lines = manifest.decode().splitlines()
        self.assertEqual(len(lines), len(os.listdir(SITE)) - 1)
        for line in lines:
            digest, name = line.split("  ", 1)
            self.assertEqual(hashlib.sha256(self.get("/" + name)[2]).hexdigest(), digest, name)
        with open(os.path.join(SITE, "..", "web-digest")) as f:
            self.assertEqual(f.read().split()[0], hashlib.sha256(manifest).hexdigest())
        # one kept-alive connection serves each file with its own type (lws
        # leaves ending a file transaction to the protocol callback: web.c)
        conn = http.client.HTTPSConnection("localhost", self.dep.port, context=self.ctx, timeout=30)
        for name, ctype in (("/", "text/html"), ("/style.css", "text/css"), ("/app.js", "text/javascript"),
                            ("/style.css", "text/css"), ("/casus-wasm.wasm", "application/wasm")):
            conn.request("GET", name)
            r = conn.getresponse()
            data = r.read()
            self.assertEqual((r.status, r.getheader("Content-Type")), (200, ctype), name)
            with open(os.path.join(SITE, "index.html" if name == "/" else name[1:]), "rb") as f:
                self.assertEqual(data, f.read(), name)
        conn.close()
        # the server's own endpoints still answer; nothing outside the folder
        self.assertEqual(self.get("/healthz")[:1], (200,))
        self.assertEqual(self.get("/healthz")[2], b"ok\n")
        # /metrics has a loopback listener of its own (ops2, docs/OPERATIONS.md "Monitoring")
        self.assertEqual(self.get("/metrics")[0], 404)
        mconn = http.client.HTTPConnection("127.0.0.1", self.srv.metrics_port, timeout=30)
        mconn.request("GET", "/metrics")
        self.assertIn(b"casusd_connections_open", mconn.getresponse().read())
        mconn.close()
        self.assertEqual(self.get("/no-such-file.js")[0], 404)
        # SITE/../web-digest exists (the release digest): it must not be reachable
        for evil in ("/../web-digest", "/%2e%2e/web-digest", "/..%2fweb-digest", "/./../web-digest"):
            st, _, data = self.get(evil)
            self.assertNotIn(b"  web-digest.txt", data, evil)

    def test_2_browser(self):
        d = self.dep
        env_line = "export CASUS_PASSPHRASE_FILE=%s" % shlex.quote(d.passfile)
        anna = "%s --profile %s" % (shlex.quote(CASUS), shlex.quote(d.users["anna"]))
        steps = os.path.join(d.dir, "cli-steps.sh")
        with open(steps, "w") as f:
            f.write("#!/bin/sh\nset -eu\n%s\n" % env_line)
            f.write("CID=$(%s --json new --title 'Mevrouw W.' --purpose %s --basis 'Wmo 2015' --member gijs"
                    " | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"casus\"])')\n"
                    % (anna, shlex.quote(PURPOSE)))
            f.write("%s escalate \"$CID\" 3 --reason %s >/dev/null\n" % (anna, shlex.quote(REASON)))
            f.write("%s add \"$CID\" %s >/dev/null\n" % (anna, BROWSER_USER[0]))
            f.write("%s post \"$CID\" 'Overleg gepland' >/dev/null\n" % anna)
        cfg = {
            "url": self.base + "/", "spki": spki_hash(d.tls_crt), "chromium": CHROMIUM,
            "node_modules": NODE_MODULES, "outdir": OUT, "root_hex": d.root_hex,
            "user": BROWSER_USER[0], "role": BROWSER_USER[1], "name": BROWSER_USER[2], "org": BROWSER_USER[3],
            "passphrase": PASSPHRASE,
            "certify": [ADMIN, "certify", "--keystore", d.root_ks, "--request", "{req}", "--out", "{cert}", "--yes"],
            "after_login": [["sh", steps]],
            "expect": {"purpose": PURPOSE, "reason": REASON, "notice": "opgeschaald naar niveau 3", "level": 3},
            "restart": {"pid": self.srv.proc.pid, "argv": [CASUSD, "--config", self.srv.config],
                        "log": self.srv.log_path, "port": d.port},
        }
        cfg_path = os.path.join(d.dir, "browser.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run(["node", os.path.join(HERE, "browser.mjs"), cfg_path], env=d.env,
                           capture_output=True, text=True, timeout=800)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr[-4000:])
        self.assertEqual(p.returncode, 0, "browser checks failed (screenshots in %s)" % OUT)
        self.assertIn("all browser checks passed", p.stdout)
        self.srv.proc.wait(timeout=30)  # stopped by browser.mjs for the reconnect check
        self.assertEqual(self.srv.proc.returncode, 0)
        self.srv.check_log()


if __name__ == "__main__":
    unittest.main(verbosity=2)
