"""
test_grants.py: move 8, a grant of an audience the grantee may not read.

Peter (politie) is a member at level 4; his role may read `overleg`, never
`zorg`. A dishonest member, Anna, grants her zorg note to Peter: her own
keys, the real chain and note, built with casus_forge (her client refuses
to, the honest casusd refuses the grant too). The compromised server serves
the grant to Peter with the note. Today Peter's client accepts the grant
and decrypts the note. Contract: grants are checked against the
grantee's audiences under the client's own policy: refused with
`grant_audience` (exit 5, or the granted message listed as not verified
with that code), and the note's text is never shown to Peter.
"""
import base64
import json
import os
import secrets

import hostile


class Grants(hostile.HostileTest):

    def test_zorg_note_granted_to_police(self):
        cid = self.new_casus("anna", ("gijs",))
        marker = "ZORG-" + secrets.token_hex(6)
        seq = self.dep.ok("anna", "post", cid, "zorg: " + marker)["seq"]
        mid = [m["id"] for m in self.dep.ok("anna", "history", cid)["messages"] if m.get("seq") == seq][0]
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        self.dep.ok("anna", "add", cid, "paula")
        self.dep.ok("paula", "escalate", cid, "4", "--reason", "veiligheid")
        self.dep.ok("paula", "add", cid, "peter")
        # what a dishonest member's client sends: Anna's real keys, the real
        # chain, the zorg note, granted to Peter's device (casus_forge grant)
        commits = self.raw("anna", {"type": "commit.fetch", "casus": cid, "from": 0})["commits"]
        note = [m for m in self.raw("anna", {"type": "history", "casus": cid, "after": 0, "limit": 500})["messages"]
                if m["seq"] == seq][0]
        peter_dev = [m["device"] for m in self.dep.ok("anna", "members", cid)["members"] if m["user"] == "peter"][0]
        files = []
        for c in commits:
            files += ["--commit", self.write_tmp("commit-%d.bin" % c["epoch"], base64.b64decode(c["commit"]))]
        out = os.path.join(self.dep.dir, "grant.bin")
        self.forge("grant", "--keystore", os.path.join(self.dep.users["anna"], "keys.casusks"),
                   "--passfile", self.dep.passfile, "--cert", os.path.join(self.dep.users["anna"], "device.cert"),
                   "--policy", self.dep.policy, "--root", self.dep.root_hex, *files,
                   "--msg", self.write_tmp("note.bin", base64.b64decode(note["msg"])), "--to", peter_dev,
                   "--reason", "overdracht", "--out", out)
        with open(out, "rb") as f:
            grant = base64.b64encode(f.read()).decode()
        honest = self.raw("anna", {"type": "grant.post", "casus": cid, "grant": grant})
        print("[honest casusd] answers the grant with: %s" % json.dumps(honest))

        def on_response(sess, req, resp):
            if sess.user == "peter" and req.get("type") == "grant.fetch" and resp.get("ok"):
                self.proxy.hit("grant_served")
                return dict(resp, grants=resp.get("grants", []) + [{"grant": grant, "messages": [note]}])
            return None
        self.proxy.on_response = on_response
        self.via_proxy("peter")
        res = self.run_casus("peter", "history", cid)
        self.show("peter (politie) reads history with the served grant", res)
        self.assertHit("grant_served")
        print("[peter, politie] decrypts the zorg note: %s" % (marker in res.stdout))
        self.assertMessageRefused(res, lambda m: m.get("seq") == seq or marker in str(m.get("text", "")),
                                  "grant_audience", "a zorg note granted to politie")
        self.assertNotIn(marker, res.stdout, "politie reads a zorg note")

if __name__ == "__main__":
    hostile.main()
