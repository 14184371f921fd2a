"""
hostile.py: the base of every test in tests/security (the hostile-server suite).

HostileTest is tests/integration/harness.py's CasusTest (imported, not copied)
with a TLS deployment: each test method gets a fresh real casusd with an
empty LMDB store and, in front of it, a HostileProxy (proxy.py) holding the
deployment's TLS key. At the start every profile talks to casusd directly;
`via_proxy(user...)` points a user's profile at the proxy, `direct(user...)`
back at casusd. The victim is always the real `casus` command.

Contract helpers (docs/CLIENT.md, tests/security/README.md):
  refused(res, code)   exit 5 and {"ok":false,"error":{"code":code}}
  warned(res, code)    exit 0 and a top-level "warnings" entry with that code
Every test first proves its attack happened (a proxy hit counter, what the
victim saw, printed with show()), then asserts the contract, so a failure is
the hole showing and not the proxy missing its moment.
"""
import base64
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from proxy import DROP, PASS, HostileProxy, Many, Reply  # noqa: E402,F401

EXIT_VERIFY = 5
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"  # Debian package libfaketime


class Result:
    """One run of `casus`: exit code, last JSON document, all stdout, stderr."""

    def __init__(self, rc, out, stdout, stderr):
        self.rc, self.out, self.stdout, self.stderr = rc, out, stdout, stderr

    @property
    def code(self):
        if isinstance(self.out, dict) and isinstance(self.out.get("error"), dict):
            return self.out["error"].get("code")
        return None

    def warnings(self):
        w = self.out.get("warnings") if isinstance(self.out, dict) else None
        return [x.get("code") for x in w] if isinstance(w, list) else []

    def __repr__(self):
        return "exit %d, out %s, stderr %r" % (self.rc, json.dumps(self.out)[:4000], self.stderr[-800:])


# a version 4 commit as commit.fetch serves it ends in its box section: u16 count,
# then count entries of u8 audience, device id [16], sealed key (CC_SEALED_KEY_BYTES)
SEALED_KEY = 48 + 1 + 16 + 16 + 1 + 8 + 32
BOX_ENTRY = 1 + 16 + SEALED_KEY


def box_section(raw, device):
    """(count, offset of the first entry) of the box section at the end of a
    served commit whose boxes are all `device`'s; None if there is none."""
    for n in range(1, 16):
        at = len(raw) - n * BOX_ENTRY
        if at < 2:
            break
        if int.from_bytes(raw[at - 2:at], "big") == n and all(
                raw[at + i * BOX_ENTRY + 1:at + i * BOX_ENTRY + 17] == device for i in range(n)):
            return n, at
    return None


def users(*ids):
    """A subset of the harness's test users (a smaller deployment starts faster)."""
    return [u for u in harness.DEFAULT_USERS if u[0] in ids]


class HostileTest(harness.CasusTest):
    tls = True
    users = users("anna", "esther", "gijs", "paula", "peter")

    def setUp(self):
        super().setUp()
        self.proxy = HostileProxy(self.dep.tls_crt, self.dep.tls_key, self.dep.port).start()

    def tearDown(self):
        try:
            self.proxy.stop()
        finally:
            super().tearDown()

    # -- routing -------------------------------------------------------------
    def _set_url(self, users, url):
        for u in users:
            pj = os.path.join(self.dep.users[u], "profile.json")
            with open(pj) as f:
                data = json.load(f)
            data["server"] = url
            with open(pj, "w") as f:
                json.dump(data, f)

    def via_proxy(self, *users):
        self._set_url(users, self.proxy.url)

    def direct(self, *users):
        self._set_url(users, self.dep.url)

    def restart_server(self, extra_config=None):
        """Stop casusd and start it again on the same port and store (e.g. with
        a revocation list); the proxy keeps pointing at it."""
        self.srv.stop()
        cfg = dict(self.config or {}, **(extra_config or {}))
        self.srv = harness.Server(self.dep, cfg, data_dir=self.srv.data).start()

    # -- running the real client ---------------------------------------------
    def run_casus(self, user, *args, json_out=True, timeout=180, input=None, clock=None):
        """Run the real `casus` as user; clock="+1d" moves only this process's
        wall clock (libfaketime; the monotonic clock is left alone)."""
        cmd = [harness.CASUS, "--profile", self.dep.users[user]] + (["--json"] if json_out else []) + list(args)
        env = self.dep.env
        if clock:
            env = dict(env, FAKETIME=clock, FAKETIME_DONT_FAKE_MONOTONIC="1", LD_PRELOAD=FAKETIME_LIB,
                       ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, input=input)
        out = None
        if json_out:
            lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
            if lines:
                try:
                    out = json.loads(lines[-1])
                except ValueError:
                    out = None
        return Result(p.returncode, out, p.stdout, p.stderr)

    def forge(self, *args):
        """Run tests/security/forge.c (built as casus_forge)."""
        tool = os.environ.get("CASUS_FORGE") or os.path.join(harness.BUILD, "tests", "security", "casus_forge")
        p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("casus_forge %s failed: %s" % (args[0], p.stderr))

    def resign_commit(self, commit_b64, user, time=None, policy_number=None):
        """A commit re-signed by user's device as its actor (base64 in, base64 out),
        optionally with another time or policy number."""
        src = os.path.join(self.dep.dir, "forge-in.bin")
        dst = os.path.join(self.dep.dir, "forge-out.bin")
        with open(src, "wb") as f:
            f.write(base64.b64decode(commit_b64))
        extra = ["--time", str(int(time))] if time is not None else []
        if policy_number is not None:
            extra += ["--policy-number", str(int(policy_number))]
        self.forge("resign", "--keystore", os.path.join(self.dep.users[user], "keys.casusks"),
                   "--passfile", self.dep.passfile, "--in", src, "--out", dst, *extra)
        with open(dst, "rb") as f:
            return base64.b64encode(f.read()).decode()

    def write_tmp(self, name, data):
        path = os.path.join(self.dep.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def raw(self, user, req):
        """One request through `casus raw` (straight to the profile's server); its answer."""
        p = subprocess.run([harness.CASUS, "--profile", self.dep.users[user], "raw"], env=self.dep.env,
                           capture_output=True, text=True, input=json.dumps(dict(req, id=1)) + "\n", timeout=120)
        answers = [json.loads(x) for x in p.stdout.splitlines() if x.strip() and '"push"' not in x]
        if not answers:
            raise AssertionError("casus raw %s gave no answer: %s" % (req.get("type"), p.stderr))
        return answers[-1]

    def pairing(self, device_user):
        """`--code CODE` for add-device where the client asks for explicit
        pairing (the new device's `casus whoami` shows the code); nothing for
        a client that adds every device the directory lists."""
        me = self.run_casus(device_user, "whoami")
        code = (me.out or {}).get("pairing")
        return ["--code", code] if code else []

    def show(self, what, res):
        """Print what the victim saw (the attack shown end to end)."""
        print("\n[victim] %s: %r" % (what, res), file=sys.stderr, flush=True)

    def history_texts(self, user, cid):
        out = self.dep.ok(user, "history", cid)
        return [m.get("text") for m in out["messages"] if m.get("verified")]

    # -- contract assertions ---------------------------------------------------
    def assertRefused(self, res, code, why=""):
        self.assertEqual(res.rc, EXIT_VERIFY, "%s: expected exit 5 (refused, %s), got %r" % (why, code, res))
        self.assertEqual(res.code, code, "%s: expected error code %s, got %r" % (why, code, res))

    def assertWarned(self, res, code, why=""):
        self.assertEqual(res.rc, 0, "%s: expected exit 0 with a warning, got %r" % (why, res))
        self.assertIn(code, res.warnings(), "%s: expected warning %s, got %r" % (why, code, res))

    def assertMessageRefused(self, res, match, code, why=""):
        """A message-level move (history): either the whole command is refused
        (exit 5, code), or every message for which match(m) holds is listed as
        not verified, without text, with the code in its "code" or "error"."""
        if res.rc == EXIT_VERIFY:
            self.assertEqual(res.code, code, "%s: %r" % (why, res))
            return
        self.assertEqual(res.rc, 0, "%s: %r" % (why, res))
        hits = [m for m in res.out.get("messages", []) if match(m)]
        for m in hits:
            self.assertFalse(m.get("verified"), "%s: shown as verified: %r" % (why, m))
            self.assertNotIn("text", m, "%s: its text is shown: %r" % (why, m))
            self.assertTrue(m.get("code") == code or code in str(m.get("error", "")),
                            "%s: expected code %s on %r" % (why, code, m))

    def assertHit(self, name, why=""):
        self.assertGreater(self.proxy.count(name), 0,
                           "proxy never made its move %r (%s): the test setup is wrong, not the client" % (name, why))


def main():
    unittest.main(verbosity=2)
