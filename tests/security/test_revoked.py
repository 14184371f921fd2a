"""
test_revoked.py: move 1, revoked devices look valid.

Anna's second device (a lost phone) and Gijs's second device are revoked by
the administrator; casusd is started with that revocation list, so its
directory no longer lists them. The compromised server puts them back into
the `dir.lookup` answer and acks the commit itself (an honest casusd would
refuse it): today `casus add-device` and `casus add` seal the casus keys to
the revoked device. Contract: refused with exit 5 and `revoked`, and no
commit (no key box for the revoked device) leaves the client. A roster that
already holds a device revoked later is shown: `members` succeeds with a
`revoked_member` warning. A revocation list older than one the client holds
is refused (`revoked`).
"""
import base64
import os
import shutil
import time

import hostile
from hostile import Reply


class RevokedBase(hostile.HostileTest):
    """The deployment: Anna's and Gijs's second devices, and a revocation list
    (casusd gets it only when a test restarts it with the list)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        dep = cls.dep
        dep.add_user("anna", "casemanager", "Anna Jansen", "Leger des Heils", device="d2")
        dep.add_user("gijs", "ggd", "Gijs Bakker", "GGD", device="d2")
        cls.revlist = os.path.join(dep.dir, "revoked.bin")
        dep.admin("revoke", "--keystore", dep.root_ks, "--cert", os.path.join(dep.certs, "anna-d2.cert"),
                  "--list", dep.revlist, "--out", cls.revlist + ".1")
        dep.admin("revoke", "--keystore", dep.root_ks, "--cert", os.path.join(dep.certs, "gijs-d2.cert"),
                  "--list", cls.revlist + ".1", "--out", cls.revlist)

    def restart_server(self, extra_config=None):
        super().restart_server(extra_config)
        # clients keep the newest list they verified and refuse an older one, and
        # casusd always serves a list: later servers of this class serve this one
        if (extra_config or {}).get("revocations"):
            shutil.copy(extra_config["revocations"], self.dep.revlist)

    def cert_b64(self, name):
        with open(os.path.join(self.dep.certs, name), "rb") as f:
            return base64.b64encode(f.read()).decode()

    def hostile_directory(self, user, cert):
        def on_request(sess, req):
            if sess.user == "anna" and req.get("type") in ("commit.post", "transfer.post"):
                self.proxy.hit("sealed_to_revoked")  # keys for the revoked device left the client
                return Reply({"ok": True, "epoch": 1, "level": 1})
            return None

        def on_response(sess, req, resp):
            if req.get("type") == "dir.lookup" and req.get("user") == user and resp.get("ok"):
                self.proxy.hit("revoked_in_directory")
                return dict(resp, devices=resp.get("devices", []) + [{"cert": cert}])
            return None
        self.proxy.on_request = on_request
        self.proxy.on_response = on_response



class Revoked(RevokedBase):

    def test_add_device_to_revoked_device(self):
        cid = self.new_casus("anna", ("esther",))
        code = self.pairing("anna-d2")  # the thief shows the lost phone's code
        self.restart_server({"revocations": self.revlist})
        self.via_proxy("anna")
        self.hostile_directory("anna", self.cert_b64("anna-d2.cert"))
        res = self.run_casus("anna", "add-device", cid, *code)
        self.show("add-device with the revoked phone in the directory answer", res)
        self.assertHit("revoked_in_directory")
        print("[anna] sealed the casus keys to the revoked phone: %s" % bool(self.proxy.count("sealed_to_revoked")))
        self.assertRefused(res, "revoked", "add-device sealed keys to a revoked device")
        self.assertEqual(self.proxy.count("sealed_to_revoked"), 0, "a commit or transfer for the revoked device was sent")

    def test_add_member_with_revoked_device(self):
        cid = self.new_casus("anna", ("esther",))
        self.restart_server({"revocations": self.revlist})
        self.via_proxy("anna")
        self.hostile_directory("gijs", self.cert_b64("gijs-d2.cert"))
        res = self.run_casus("anna", "add", cid, "gijs")
        self.show("add gijs with his revoked device in the directory answer", res)
        self.assertHit("revoked_in_directory")
        print("[anna] sealed the casus keys to gijs's revoked device: %s"
              % bool(self.proxy.count("sealed_to_revoked")))
        self.assertRefused(res, "revoked", "add sealed keys to a revoked device")
        self.assertEqual(self.proxy.count("sealed_to_revoked"), 0, "a commit for the revoked device was sent")



    def test_older_revocation_list(self):
        cid = self.new_casus("anna", ("esther",))
        self.restart_server({"revocations": self.revlist})
        self.dep.ok("anna", "members", cid)  # casusd serves list 3 (both phones revoked)
        with open(self.revlist + ".1", "rb") as f:
            older = base64.b64encode(f.read()).decode()

        def on_request(sess, req):
            if sess.user == "anna" and req.get("type") == "revlist.get":
                self.proxy.hit("older_revlist")
                return Reply({"ok": True, "revlist": older, "number": 2})
            return None
        self.proxy.on_request = on_request
        self.via_proxy("anna")
        res = self.run_casus("anna", "members", cid)
        self.show("members while the server offers revocation list 2 after list 3", res)
        self.assertTrue(self.proxy.count("older_revlist"),
                        "the client never asks the server for the revocation list (revlist.get)")
        self.assertRefused(res, "revoked", "an older revocation list than the one held")


class RevokedLater(hostile.HostileTest):
    """Its own deployment (client profiles keep the newest revocation list they
    saw, it never goes back): Anna's phone joins, then is revoked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dep.add_user("anna", "casemanager", "Anna Jansen", "Leger des Heils", device="d2")

    def test_roster_holding_revoked_device(self):
        cid = self.new_casus("anna", ("esther", "gijs"))
        self.dep.ok("anna", "add-device", cid, *self.pairing("anna-d2"))  # the phone joins while still valid
        before = self.dep.ok("gijs", "members", cid)
        # then it is lost and revoked: revoked_at must be later than every
        # commit (a device revoked before a commit that adds it is `revoked`)
        last = int(time.time())
        while int(time.time()) <= last + 1:
            time.sleep(0.2)  # waits for the wall clock's next seconds, asserts nothing about time
        later = os.path.join(self.dep.dir, "revoked-later.bin")
        self.dep.admin("revoke", "--keystore", self.dep.root_ks, "--cert", os.path.join(self.dep.certs, "anna-d2.cert"),
                       "--list", self.dep.revlist, "--out", later)
        self.restart_server({"revocations": later})
        self.via_proxy("gijs")
        res = self.run_casus("gijs", "members", cid)
        self.show("members of a casus whose roster holds a revoked device", res)
        devs = [m.get("device") for m in before.get("members", []) if m.get("user") == "anna"]
        print("[gijs] members before revocation list anna's devices: %s" % devs)
        self.assertWarned(res, "revoked_member", "a roster holding a revoked device is not shown")


if __name__ == "__main__":
    hostile.main()
