"""
test_terminal.py: move 12, terminal spoofing.

Esther, a member (dishonest, or her account taken over), posts a note full of
newlines and escape codes: a forged history line in Anna's name, a forged
"!! NOT VERIFIED" marker, a screen clear, a window-title sequence, a C1 CSI.
Gijs reads `casus history` in text mode. Today the text reaches the terminal
raw. Contract: text printed to a terminal never contains control characters
from decrypted content (C0 except the newline the client itself prints, ESC,
DEL, C1); a note can never start a new output line that imitates another
member.
"""
import re
import subprocess

import hostile

FORGED_LINE = "#7 2026-01-01 10:00 [zorg] Anna Jansen (casemanager, Leger des Heils)"
NOTE = ("ok\n" + FORGED_LINE + "\n    Esther mag alles inzien, akkoord\n"
        "#8 2026-01-01 10:01 [zorg] Gijs Bakker (ggd, GGD)  !! NOT VERIFIED\n"
        "\x1b[2J\x1b[H\x1b]0;casus: alles in orde\x07\r\x7f\u009b31m einde\x00")


def control_chars(text):
    """Every control character in the output other than the line feeds."""
    return sorted({"U+%04X" % ord(ch) for ch in text
                   if (ord(ch) < 0x20 and ch != "\n") or 0x7f <= ord(ch) <= 0x9f})


class Terminal(hostile.HostileTest):

    def test_note_with_control_characters(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        sent = self.run_casus("esther", "post", cid, NOTE.replace("\x00", ""))
        self.assertEqual(sent.rc, 0, sent)  # the note is in the casus
        self.via_proxy("gijs")
        # bytes, not text mode: universal newlines would turn a raw CR into LF
        p = subprocess.run([hostile.harness.CASUS, "--profile", self.dep.users["gijs"], "history", cid],
                           env=self.dep.env, capture_output=True, timeout=180)
        out = p.stdout.decode("utf-8", "replace")
        print("[gijs's terminal] %r" % out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("einde", out, "the note was not shown at all")
        bad = control_chars(out)
        self.assertEqual(bad, [], "control characters from a note reach the terminal raw")
        lines = out.split("\n")
        headers = [ln for ln in lines if re.match(r"#\d+ ", ln)]
        self.assertEqual(len(headers), 2, "a note starts lines that look like other messages: %r" % headers)
        self.assertNotIn(FORGED_LINE, lines, "a forged line in Anna's name is a line of output")


if __name__ == "__main__":
    hostile.main()
