"""
test_client.py: the `casus` command end to end against a real casusd, as a
case manager uses it: the everyday commands with --json and their exit codes,
a live `casus watch` that survives a server restart, the outbox (a post made
while the server is down is delivered exactly once after it comes back), the
encrypted local cache read offline, and whoami.
"""
import glob
import json
import os
import shutil
import subprocess
import threading
import time

import harness


class Watcher:
    """`casus --json watch CASUS` in the background; every JSON line kept."""

    def __init__(self, dep, user, cid, seconds=120):
        self.proc = subprocess.Popen(
            [harness.CASUS, "--profile", dep.users[user], "--json", "watch", cid, "--seconds", str(seconds)],
            env=dep.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.wait_for(lambda ls: any(x.get("ready") for x in ls), 60, "ready")

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                with self.cond:
                    self.lines.append(json.loads(line))
                    self.cond.notify_all()

    def wait_for(self, pred, timeout=20, what="condition"):
        with self.cond:
            if not self.cond.wait_for(lambda: pred(self.lines), timeout=timeout):
                raise AssertionError("watch: no %s in %s" % (what, self.lines))

    def msg_seqs(self):
        with self.cond:
            return [x["seq"] for x in self.lines if x.get("push") == "msg"]

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


class ClientCommands(harness.CasusTest):

    def test_everyday_flow_with_json_and_exit_codes(self):
        dep = self.dep
        cid = self.new_casus(members=("esther", "gijs"))
        out = dep.ok("anna", "post", cid, "Cliente heeft afspraak gemist")
        self.assertTrue(out["ok"])
        self.assertGreater(out["seq"], 0)
        self.assertEqual(len(out["id"]), 32)
        hist = dep.ok("gijs", "history", cid)
        self.assertFalse(hist["offline"])
        m = [x for x in hist["messages"] if x.get("text") == "Cliente heeft afspraak gemist"][0]
        self.assertTrue(m["verified"])
        self.assertEqual(m["sender"]["user"], "anna")
        self.assertEqual(m["sender"]["role"], "casemanager")
        self.assertEqual(m["sender"]["org"], "Leger des Heils")
        self.assertEqual(m["sender"]["name"], "Anna Jansen")
        self.assertEqual(m["audience"], "zorg")
        self.assertGreater(m["time"], 1700000000)

        # usage errors: exit 2, JSON error with a hint
        rc, out, _ = dep.cli("anna", "post", cid, "x", "--audience", "nope")
        self.assertEqual(rc, 2)
        self.assertFalse(out["ok"])
        rc, out, _ = dep.cli("anna", "history", "not-a-casus")
        self.assertEqual(rc, 2)
        self.assertIn("32 hex", out["error"]["message"])
        # a casus that does not exist: 6 (not found) or 1 (refused), never 0
        rc, out, _ = dep.cli("anna", "history", "00" * 16)
        self.assertIn(rc, (1, 6), out)

        # escalate to 3 (casemanager's maximum), 4 is refused for her
        dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        vooraf = dep.ok("anna", "post", cid, "Overleg vooraf", "--audience", "overleg", "--ground", "consent")
        rc, out, _ = dep.cli("anna", "escalate", cid, "4", "--reason", "te hoog")
        self.assertNotEqual(rc, 0)
        self.assertEqual(out["error"]["code"], "forbidden")
        dep.ok("anna", "add", cid, "paula")
        dep.ok("paula", "escalate", cid, "4", "--reason", "veiligheidsrisico")
        dep.ok("paula", "add", cid, "peter")
        mem = dep.ok("anna", "members", cid)
        self.assertEqual(mem["level"], 4)
        self.assertEqual(sorted(x["user"] for x in mem["members"]),
                         ["anna", "esther", "gijs", "paula", "peter"])

        # the police see nothing from before they joined, until it is shared
        self.assertNotIn("Cliente heeft afspraak gemist", self.texts("peter", cid))
        self.assertNotIn("Overleg vooraf", self.texts("peter", cid))
        rc, out, _ = dep.cli("anna", "post", cid, "Overleg nodig", "--audience", "overleg")
        self.assertEqual(rc, 2)
        self.assertEqual(out["error"]["code"], "ground_required")
        dep.ok("anna", "post", cid, "Overleg nodig", "--audience", "overleg", "--ground", "legal_duty")
        self.assertIn("Overleg nodig", self.texts("peter", cid))
        dep.ok("anna", "share", cid, "--to", "peter", "--messages", vooraf["id"], "--ground", "legal_duty",
               "--reason", "zorgmelding")
        # shared a second time: two grants, one message, listed once
        dep.ok("anna", "share", cid, "--to", "peter", "--messages", vooraf["id"], "--ground", "legal_duty",
               "--reason", "nogmaals")
        hist = dep.ok("peter", "history", cid)["messages"]
        self.assertNotIn("Cliente heeft afspraak gemist", [x.get("text") for x in hist])
        shared = [x for x in hist if x.get("text") == "Overleg vooraf"]
        self.assertEqual(len(shared), 1)
        self.assertTrue(shared[0].get("granted"))

        # removal: peter reads nothing written after he left
        dep.ok("paula", "remove", cid, "peter", "--reason", "niet meer nodig")
        dep.ok("anna", "post", cid, "Na vertrek politie", "--audience", "overleg", "--ground", "no_care_info")
        rc, out, _ = dep.cli("peter", "history", cid)
        texts = [x.get("text") for x in (out or {}).get("messages", [])]
        self.assertNotIn("Na vertrek politie", texts)
        self.assertIn("Na vertrek politie", self.texts("gijs", cid))

    def test_keys_rotate_at_least_weekly(self):
        """A quiet casus gets fresh keys when the head commit is older than the
        rotation period (a week; shortened here through CASUS_ROTATE_SECS)."""
        import time
        cid = self.new_casus()
        self.dep.ok("anna", "post", cid, "voor de rotatie")
        e0 = self.dep.ok("anna", "members", cid)["epoch"]
        old = self.dep.env.get("CASUS_ROTATE_SECS")
        self.dep.env["CASUS_ROTATE_SECS"] = "1"
        try:
            time.sleep(2.1)
            self.dep.ok("gijs", "post", cid, "na de rotatie")
        finally:
            if old is None:
                del self.dep.env["CASUS_ROTATE_SECS"]
            else:
                self.dep.env["CASUS_ROTATE_SECS"] = old
        e1 = self.dep.ok("anna", "members", cid)["epoch"]
        self.assertEqual(e1, e0 + 1)
        hist = self.dep.ok("esther", "history", cid)["messages"]
        last = [m for m in hist if m.get("text") == "na de rotatie"]
        self.assertEqual(len(last), 1)
        self.assertEqual(last[0]["epoch"], e1)
        self.assertTrue(last[0]["verified"])
        # within the period nothing rotates
        self.dep.ok("gijs", "post", cid, "nog een")
        self.assertEqual(self.dep.ok("anna", "members", cid)["epoch"], e1)

    def test_deescalation_that_removes_the_actor_succeeds(self):
        cid = self.new_casus()
        self.dep.ok("anna", "escalate", cid, "3", "--reason", "stagnatie")
        self.dep.ok("anna", "add", cid, "paula")
        self.dep.ok("paula", "history", cid)
        # level 2 does not admit the process director: she removes herself
        rc, out, err = self.dep.cli("paula", "deescalate", cid, "2", "--reason", "weer op koers")
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(self.dep.ok("anna", "members", cid)["level"], 2)
        # and keeps no local copy of a casus she left
        self.assertFalse(os.path.exists(os.path.join(self.dep.users["paula"], "cache", cid + ".bin")))

    def test_whoami_online_and_offline(self):
        out = self.dep.ok("gijs", "whoami")
        self.assertEqual(out["user"], "gijs")
        self.assertEqual(out["role"], "ggd")
        self.assertEqual(out["org"], "GGD")
        self.assertTrue(out["online"])
        self.assertEqual(len(out["device"]), 32)
        self.srv.stop()
        try:
            out = self.dep.ok("gijs", "whoami")
            self.assertFalse(out["online"])
            self.assertEqual(out["user"], "gijs")
        finally:
            self.srv.start()
        # a command that needs the server says so: exit 4
        self.srv.stop()
        try:
            rc, out, _ = self.dep.cli("gijs", "list")
            self.assertEqual(rc, 4)
            self.assertEqual(out["error"]["code"], "network")
        finally:
            self.srv.start()


class Reconnect(harness.CasusTest):

    def test_watch_keeps_receiving_after_server_restart(self):
        cid = self.new_casus()
        w = Watcher(self.dep, "gijs", cid)
        try:
            s1 = self.dep.ok("anna", "post", cid, "voor herstart")["seq"]
            w.wait_for(lambda ls: s1 in [x.get("seq") for x in ls if x.get("push") == "msg"], 10, "first msg")
            self.srv.stop()
            w.wait_for(lambda ls: any(x.get("push") == "connection" and x.get("state") == "offline" for x in ls),
                       10, "offline event")
            self.srv.start()
            w.wait_for(lambda ls: any(x.get("push") == "connection" and x.get("state") == "online" for x in ls),
                       20, "online event")
            s2 = self.dep.ok("anna", "post", cid, "na herstart")["seq"]
            w.wait_for(lambda ls: s2 in [x.get("seq") for x in ls if x.get("push") == "msg"], 10, "second msg")
            # nothing twice
            seqs = w.msg_seqs()
            self.assertEqual(len(seqs), len(set(seqs)), seqs)
        finally:
            w.stop()

    def test_watch_resumes_what_it_missed(self):
        cid = self.new_casus()
        w = Watcher(self.dep, "gijs", cid)
        try:
            s1 = self.dep.ok("anna", "post", cid, "een")["seq"]
            w.wait_for(lambda ls: s1 in [x.get("seq") for x in ls if x.get("push") == "msg"], 10, "msg one")
            # restart the server and post before the watcher is back: the
            # message only reaches it through the resume (history after seq)
            self.srv.stop()
            w.wait_for(lambda ls: any(x.get("state") == "offline" for x in ls), 10, "offline event")
            self.srv.start()
            rc, out, _ = self.dep.cli("anna", "post", cid, "gemist")
            self.assertEqual(rc, 0, out)
            w.wait_for(lambda ls: out["seq"] in [x.get("seq") for x in ls if x.get("push") == "msg"], 20,
                       "missed msg")
            seqs = w.msg_seqs()
            self.assertEqual(sorted(seqs), sorted(set(seqs)))
            self.assertIn(out["seq"], seqs)
        finally:
            w.stop()


class Outbox(harness.CasusTest):

    def outbox_files(self, user):
        return glob.glob(os.path.join(self.dep.users[user], "outbox", "*.bin"))

    def test_post_while_server_down_is_delivered_once(self):
        cid = self.new_casus()
        self.dep.ok("anna", "history", cid)  # local copy of the casus
        self.srv.stop()
        rc, out, err = self.dep.cli("anna", "post", cid, "tijdens storing geschreven")
        self.assertEqual(rc, 7, (out, err))
        self.assertTrue(out["queued"])
        self.assertEqual(out["error"]["code"], "queued")
        self.assertEqual(len(out["id"]), 32)  # encrypted already: the id is fixed
        self.assertEqual(len(self.outbox_files("anna")), 1)
        # the outbox is sealed: the text is not in the file
        raw = open(self.outbox_files("anna")[0], "rb").read()
        self.assertNotIn(b"tijdens storing", raw)
        rc, lst, _ = self.dep.cli("anna", "outbox")
        self.assertEqual(rc, 7)
        self.assertEqual(len(lst["pending"]), 1)
        self.assertEqual(lst["pending"][0]["id"], out["id"])
        saved = self.outbox_files("anna")[0]
        copy = saved + ".keep"
        shutil.copy(saved, copy)

        self.srv.start()
        lst = self.dep.ok("anna", "outbox")  # connecting delivers it
        self.assertEqual(lst["pending"], [])
        self.assertEqual([d["id"] for d in lst["delivered"]], [out["id"]])
        self.assertEqual(self.outbox_files("anna"), [])
        self.assertEqual(self.texts("gijs", cid).count("tijdens storing geschreven"), 1)

        # a resend of the same entry (e.g. the ack was lost): the server says
        # duplicate, the client counts it delivered, nothing is stored twice
        shutil.move(copy, saved)
        lst = self.dep.ok("anna", "outbox")
        self.assertEqual(lst["pending"], [])
        self.assertEqual([d["id"] for d in lst["delivered"]], [out["id"]])
        self.assertEqual(self.texts("gijs", cid).count("tijdens storing geschreven"), 1)
        self.assertEqual(self.texts("anna", cid).count("tijdens storing geschreven"), 1)

    def test_queued_post_reencrypted_after_epoch_change(self):
        cid = self.dep.ok("anna", "new", "--title", "Mevrouw B.", "--purpose", "Zorgcoordinatie", "--basis",
                          "Wmo 2015", "--level", "3", "--member", "esther", "--member", "gijs",
                          "--member", "paula")["casus"]
        self.dep.ok("anna", "history", cid)
        self.srv.stop()
        rc, out, _ = self.dep.cli("anna", "post", cid, "wacht op nieuwe sleutel")
        self.assertEqual(rc, 7, out)
        self.srv.start()
        # someone else rotates the keys first: a new epoch, the same recipients
        self.dep.ok("paula", "rotate", cid, "--reason", "routine")
        lst = self.dep.ok("anna", "outbox")
        self.assertEqual(lst["pending"], [])
        self.assertEqual(len(lst["delivered"]), 1)
        self.assertEqual(self.texts("gijs", cid).count("wacht op nieuwe sleutel"), 1)

    def test_queued_post_never_widened_to_a_new_member(self):
        cid = self.dep.ok("anna", "new", "--title", "Mevrouw B.", "--purpose", "Zorgcoordinatie", "--basis",
                          "Wmo 2015", "--level", "3", "--member", "esther", "--member", "gijs",
                          "--member", "paula")["casus"]
        self.dep.ok("anna", "history", cid)
        self.srv.stop()
        rc, out, _ = self.dep.cli("anna", "post", cid, "alleen voor de oude kring")
        self.assertEqual(rc, 7, out)
        self.srv.start()
        # the roster grows before the queued post goes out: it is not
        # encrypted again for the broader roster without asking
        self.dep.ok("paula", "add", cid, "karel")
        rc, lst, _ = self.dep.cli("anna", "outbox")
        self.assertEqual(rc, 1, lst)  # a refused post: the outbox command says so in its exit code
        self.assertEqual(lst["pending"], [])
        self.assertEqual(lst["delivered"], [])
        self.assertEqual(len(lst["failed"]), 1, lst)
        self.assertIn("more recipients", lst["failed"][0]["failed"])
        self.assertNotIn("alleen voor de oude kring", self.texts("karel", cid))
        self.assertNotIn("alleen voor de oude kring", self.texts("gijs", cid))

    def test_queued_post_refused_after_removal_is_reported_not_sent(self):
        cid = self.new_casus()
        self.dep.ok("esther", "history", cid)
        self.srv.stop()
        rc, out, _ = self.dep.cli("esther", "post", cid, "na verwijdering geschreven")
        self.assertEqual(rc, 7, out)
        self.srv.start()
        self.dep.ok("anna", "remove", cid, "esther", "--reason", "einde betrokkenheid")
        rc, lst, _ = self.dep.cli("esther", "outbox")
        self.assertEqual(rc, 1, lst)
        self.assertEqual(lst["pending"], [])
        self.assertEqual(lst["delivered"], [])
        self.assertEqual(len(lst["failed"]), 1)
        # the server no longer lets esther fetch the chain; no verified commit
        # removed her here, so her client keeps its copy and says so
        self.assertTrue(any(w in lst["failed"][0]["failed"] for w in ("forbidden", "unverified removal")), lst)
        self.assertNotIn("na verwijdering geschreven", self.texts("gijs", cid))
        # not resent on the next connect either
        self.dep.ok("esther", "whoami")
        self.assertNotIn("na verwijdering geschreven", self.texts("gijs", cid))

    def test_post_without_local_copy_is_queued_then_sent(self):
        cid = self.new_casus()
        # esther never opened the casus on this device
        shutil.rmtree(os.path.join(self.dep.users["esther"], "cache"), ignore_errors=True)
        os.makedirs(os.path.join(self.dep.users["esther"], "cache"), mode=0o700)
        self.srv.stop()
        rc, out, _ = self.dep.cli("esther", "post", cid, "zonder kopie")
        self.assertEqual(rc, 7, out)
        self.srv.start()
        self.dep.ok("esther", "whoami")  # any connecting command delivers
        self.assertEqual(self.texts("gijs", cid).count("zonder kopie"), 1)


class Cache(harness.CasusTest):

    def test_history_offline_from_the_encrypted_cache(self):
        cid = self.new_casus()
        self.dep.ok("anna", "post", cid, "geheime notitie een")
        self.dep.ok("anna", "post", cid, "geheime notitie twee")
        online = self.dep.ok("gijs", "history", cid)
        self.assertFalse(online["offline"])
        files = glob.glob(os.path.join(self.dep.users["gijs"], "cache", cid + ".bin"))
        self.assertEqual(len(files), 1)
        raw = open(files[0], "rb").read()
        self.assertNotIn(b"geheime notitie", raw)
        self.assertNotIn(b"Anna Jansen", raw)
        # explicitly offline while the server is up
        off = self.dep.ok("gijs", "history", cid, "--offline")
        self.assertTrue(off["offline"])
        self.assertIn("geheime notitie twee", [m.get("text") for m in off["messages"]])
        # the server is down: automatically offline, clearly marked
        self.srv.stop()
        try:
            off = self.dep.ok("gijs", "history", cid)
            self.assertTrue(off["offline"])
            self.assertGreater(off["cached_at"], 0)
            texts = [m.get("text") for m in off["messages"]]
            self.assertEqual(texts[-2:], ["geheime notitie een", "geheime notitie twee"])
            self.assertTrue(all(m["verified"] for m in off["messages"] if "text" in m))
            p = subprocess.run([harness.CASUS, "--profile", self.dep.users["gijs"], "history", cid],
                               env=self.dep.env, capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0)
            self.assertIn("OFFLINE", p.stdout)
            mem = self.dep.ok("gijs", "members", cid)
            self.assertTrue(mem["offline"])
            self.assertEqual(len(mem["members"]), 3)
        finally:
            self.srv.start()
        # back online, the cache is merged with what is new
        self.dep.ok("anna", "post", cid, "na storing")
        self.assertEqual(self.texts("gijs", cid)[-3:], ["geheime notitie een", "geheime notitie twee", "na storing"])

    def test_cache_of_another_device_does_not_open(self):
        cid = self.new_casus()
        self.dep.ok("anna", "post", cid, "alleen voor gijs")
        self.dep.ok("gijs", "history", cid)
        self.dep.ok("esther", "history", cid)
        g = os.path.join(self.dep.users["gijs"], "cache", cid + ".bin")
        e = os.path.join(self.dep.users["esther"], "cache", cid + ".bin")
        shutil.copy(g, e)  # esther's key does not open gijs' copy
        self.srv.stop()
        try:
            rc, out, _ = self.dep.cli("esther", "history", cid)
            self.assertEqual(rc, 4, out)  # no usable local copy: network error
        finally:
            self.srv.start()


class SecondDevice(harness.CasusTest):
    """gijs gets a second device (its own keys and certificate) after the casus
    exists; his first device adds it and passes the casus keys, audited."""

    def new_device(self, uid, role, name, org):
        # a fresh device name per test: the server learns it when it first connects
        dev = "d%d" % (int(time.time() * 1000) % 10000000)
        self.dep.add_user(uid, role, name, org, device=dev)
        key = uid + "-" + dev
        self.dep.ok(key, "whoami")  # connects: the server stores its certificate
        return key

    def test_second_device_reads_old_and_new_messages(self):
        dep = self.dep
        cid = self.new_casus(members=("esther", "gijs"))
        dep.ok("anna", "post", cid, "van voor het tweede apparaat")
        self.assertIn("van voor het tweede apparaat", self.texts("gijs", cid))
        d2 = self.new_device("gijs", "ggd", "Gijs Bakker", "GGD")
        # certified, but not in the casus yet
        rc, out, _ = dep.cli(d2, "history", cid)
        self.assertNotEqual(rc, 0, out)
        # esther (no may_add) cannot add another user's device
        rc, out, _ = dep.cli("esther", "add", cid, "gijs")
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(out["error"]["code"], "forbidden")
        # gijs adds his own device (no may_add needed) and passes the keys:
        # only as an explicit pairing with the code the new device shows
        me2 = dep.ok(d2, "whoami")
        rc, out, _ = dep.cli("gijs", "add-device", cid)
        self.assertEqual(rc, 2, out)
        self.assertEqual(out["error"]["code"], "pairing")
        rc, out, _ = dep.cli("gijs", "add-device", cid, "--code", "0000-0000-0000-0000")
        self.assertEqual(rc, 2, out)
        self.assertEqual(out["error"]["code"], "pairing")
        self.assertEqual(len(dep.ok("anna", "members", cid)["members"]), 3)
        out = dep.ok("gijs", "add-device", cid, "--code", me2["pairing"])
        self.assertEqual(out["added"], 1)
        self.assertEqual(out["transferred"], [me2["device"]])
        mem = dep.ok("anna", "members", cid)
        self.assertEqual([m["user"] for m in mem["members"]].count("gijs"), 2)
        # the second device reads the old message (transferred keys) and new ones
        hist = dep.ok(d2, "history", cid)["messages"]
        old = [m for m in hist if m.get("text") == "van voor het tweede apparaat"]
        self.assertEqual(len(old), 1, hist)
        self.assertTrue(old[0]["verified"])
        dep.ok("anna", "post", cid, "na het tweede apparaat")
        self.assertIn("na het tweede apparaat", self.texts(d2, cid))
        self.assertIn("na het tweede apparaat", self.texts("gijs", cid))
        # it can post; the others verify it
        dep.ok(d2, "post", cid, "vanaf de telefoon")
        self.assertIn("vanaf de telefoon", self.texts("anna", cid))
        # running it again adds nothing
        again = dep.ok("gijs", "add-device", cid)
        self.assertEqual(again["added"], 0)
        # the transfer is in the audit trail
        audit = dep.ok("fenna", "audit", "--casus", cid)
        self.assertIn("device key transfer from", json.dumps(audit))

    def test_no_transfer_without_another_device(self):
        cid = self.new_casus(members=("esther",))
        out = self.dep.ok("anna", "add-device", cid)
        self.assertEqual(out["added"], 0)
        self.assertEqual(out["transferred"], [])
        # and without may_add, only one's own devices: esther cannot add gijs
        rc, out, _ = self.dep.cli("esther", "add", cid, "gijs")
        self.assertNotEqual(rc, 0, out)


if __name__ == "__main__":
    harness.main()
