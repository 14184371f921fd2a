"""
test_backdating.py: move 7, backdating with an expired key.

Gerrit's device certificate is valid for one day. He adds his second device
to the casus (`casus add-device`): a commit dated today. Gijs verifies that
chain with his clock two days later (libfaketime on his `casus` only): for
him Gerrit's key has expired, and the commit is dated back to when it was
still valid, which is exactly what a thief holding the expired key, or a
server replaying it, would send. Today certificates are judged only at the
time the signer wrote into the commit, so the commit is accepted and the
device it adds becomes a member Gijs encrypts to. Contract: certificate
validity is judged at the verifier's time as well as the commit's: exit 5,
`expired_cert`.
"""
import os
import subprocess

import hostile


class Backdating(hostile.HostileTest):
    users = hostile.users("anna", "gijs")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        dep = cls.dep
        prof = dep.add_user("gerrit", "ggd", "Gerrit Smit", "GGD")
        short = os.path.join(dep.certs, "gerrit-d1.cert")
        dep.admin("certify", "--keystore", dep.root_ks, "--request", os.path.join(prof, "request.casusreq"),
                  "--out", short, "--days", "1", "--renew", "--yes")
        p = subprocess.run([hostile.harness.CASUS, "--profile", prof, "install-cert", short], env=dep.env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr

    def test_commit_by_key_expired_at_verification(self):
        cid = self.new_casus("anna", ("gijs", "gerrit"))
        self.dep.ok("gijs", "members", cid)  # gijs holds the chain up to here
        # Gerrit's second device is certified after the casus was made
        self.dep.add_user("gerrit", "ggd", "Gerrit Smit", "GGD", device="d2")
        self.restart_server()  # casusd reads its directory at start
        self.dep.ok("gerrit", "add-device", cid, *self.pairing("gerrit-d2"))
        self.via_proxy("gijs")
        res = self.run_casus("gijs", "members", cid, clock="+2d")
        self.show("gijs, two days later, loads gerrit's commit", res)
        gerrit = [m.get("device") for m in (res.out or {}).get("members", []) if m.get("user") == "gerrit"]
        print("[gijs] gerrit's devices in the roster he encrypts to: %d" % len(gerrit))
        self.assertRefused(res, "expired_cert", "a commit by an expired key, dated back")


if __name__ == "__main__":
    hostile.main()
