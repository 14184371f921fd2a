"""
test_plaintext.py: the server never holds content in the clear.

Messages and a title carrying a unique marker are posted (several audiences, a
long one, one shared onward by a grant); then every file in casusd's data
folder (LMDB data.mdb, lock file, anything else) and its log are searched for
the marker in several encodings: raw UTF-8, UTF-16 (LE/BE), base64 at every
alignment, hex. Nothing may be found. The same marker must be readable by a
member through `history` (real decryption), and a string the server does store
in the clear by design (the casus purpose, for the audit trail) must be found
by the same search, so the test can fail.
"""
import base64
import os
import secrets

import harness


def encodings(marker):
    """Byte strings under which the marker would show up if stored or logged."""
    m = marker.encode()
    forms = {"utf-8": m, "utf-16-le": marker.encode("utf-16-le"), "utf-16-be": marker.encode("utf-16-be"),
             "hex": m.hex().encode(), "HEX": m.hex().upper().encode()}
    for shift in range(3):
        # base64 of the marker at each offset inside a longer buffer: the characters
        # that depend only on the marker's own bytes
        b = base64.b64encode(b"\0" * shift + m)
        start = (shift * 4 + 2) // 3 + (1 if shift else 0)
        core = b[start:len(b) - 4]
        forms["base64+%d" % shift] = core
        forms["base64url+%d" % shift] = core.replace(b"+", b"-").replace(b"/", b"_")
    return forms


def scan(paths, marker):
    """[(path, encoding)] of every occurrence."""
    hits = []
    forms = encodings(marker)
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        for name, form in forms.items():
            if form in data:
                hits.append((path, name))
    return hits


class Plaintext(harness.CasusTest):

    def server_files(self):
        files = []
        for root, _, names in os.walk(self.srv.data):
            files += [os.path.join(root, n) for n in names]
        self.assertTrue([f for f in files if f.endswith("data.mdb")], files)
        return files + [self.srv.log_path]

    def test_no_content_in_store_or_log(self):
        marker = "GEHEIM-" + secrets.token_hex(12)
        purpose_marker = "DOEL-" + secrets.token_hex(12)
        cid = self.new_casus("anna", ("esther", "gijs"), title="Titel %s" % marker, purpose=purpose_marker)
        texts = [
            "zorg: %s terugval" % marker,
            "lang: " + (" ".join([marker] * 400)),
            "unicode: %s \u00e9\u00e8 \u2764 \u65e5\u672c" % marker,
        ]
        for t in texts:
            self.dep.ok("anna", "post", cid, t)
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        self.dep.ok("anna", "add", cid, "paula")
        ov = "overleg: %s met grond" % marker
        self.dep.ok("gijs", "post", cid, "--audience", "overleg", "--ground", "consent", ov)
        rg = "regie: %s" % marker
        out = self.dep.ok("paula", "post", cid, "--audience", "regie", rg)
        # shared onward to a later member: the grant carries keys, never text
        self.dep.ok("anna", "add", cid, "karel")
        first = self.dep.ok("anna", "history", cid)["messages"]
        zid = [m["id"] for m in first if m.get("text") == texts[0]][0]
        self.dep.ok("anna", "share", cid, "--to", "karel", "--messages", zid, "--ground", "consent",
                    "--reason", "overdracht")
        # by stdin too
        p = harness.subprocess.run([harness.CASUS, "--profile", self.dep.users["esther"], "--json", "post", cid, "-"],
                                   env=self.dep.env, input="stdin: %s\n" % marker, capture_output=True, text=True,
                                   timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        # every member reads the marker (history goes through the server too)
        anna = self.texts("anna", cid)
        for t in ["Titel %s" % marker] + texts + [ov, rg, "stdin: %s" % marker]:
            self.assertIn(t, anna)
        self.assertIn(texts[0], self.texts("karel", cid))
        self.assertIn(rg, self.texts("paula", cid))
        self.assertTrue(out["seq"] > 0)

        # the server's files while it runs, and after a clean stop
        for phase in ("running", "stopped"):
            if phase == "stopped":
                self.srv.stop()
            files = self.server_files()
            self.assertEqual(scan(files, marker), [], phase)
            # the search does find what is stored in the clear by design
            self.assertIn("utf-8", [enc for (_, enc) in scan(files, purpose_marker)], phase)
        # the encodings used above are right: each is found in a buffer that holds it
        for name, form in encodings(marker).items():
            self.assertTrue(form)
        for shift in range(3):
            blob = base64.b64encode(os.urandom(shift) + marker.encode())
            self.assertIn(encodings(marker)["base64+%d" % shift], blob)
        # restart on the same store: still readable by members, still not in the clear
        self.srv = harness.Server(self.dep, None, data_dir=self.srv.data).start()
        self.assertIn(texts[1], self.texts("gijs", cid))
        self.assertEqual(scan(self.server_files(), marker), [])

    def test_debug_log_level_logs_no_content(self):
        """Even at the most verbose log level nothing of the content reaches the log."""
        self.srv.stop()
        self.srv = harness.Server(self.dep, {"log_level": "debug"}, data_dir=self.srv.data).start()
        marker = "LOG-" + secrets.token_hex(12)
        cid = self.new_casus("anna", ("gijs",), title=marker)
        self.dep.ok("anna", "post", cid, "bericht %s" % marker)
        self.dep.ok("gijs", "post", cid, "antwoord %s" % marker)
        self.assertIn("bericht %s" % marker, self.texts("gijs", cid))
        self.assertGreater(len(self.srv.log()), 0)
        self.assertEqual(scan(self.server_files(), marker), [])


if __name__ == "__main__":
    harness.main()
