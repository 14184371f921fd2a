"""
test_durability.py: the crash test. Clients post without pause, casusd is
killed with SIGKILL mid-stream, restarted on the same data folder, and killed
again, several times. Afterwards every message the server acknowledged must be
in the history, with the sequence number it was acknowledged with, in order,
exactly once; the history has no gaps and no duplicate message ids. Messages
that were in flight at the kill (never acknowledged) may or may not be there.

The posting client is bench/casus-bench in its durable-check mode: two
pipelined connections (window 32 each) print "ACK <seq> <message id>" for every
acknowledgement as it arrives; its dump mode lists the stored history
("HIST <seq> <message id>", headers decoded, nothing decrypted).

After every restart the audit trail is checked: a hot backup of the store
(`casusd backup`) is verified by the privacy officer's verifier
(`casus audit verify --backup`) with the key casusd wrote to DATA/audit.pub.

Beside the posting stream, each round the real client works on a second casus
until the kill: the case manager rotates its key (a commit), posts a note and
shares one of the notes from before a second case manager joined with her (a
grant), the GGD member reads the history (the core checking every commit and
message). The command cut by the kill may fail; no other may. After the last
restart the clients read that casus: every note the client saw acknowledged is
there exactly once, the epoch counts every acknowledged rotation (and at most
the ones cut by a kill besides), and the second case manager reads every early
note whose grant was acknowledged, once, and none that was never shared.

Short form: 20 kills (every test run). Long form: CASUS_KILLS=1000 (opt-in).
"""
import os
import random
import shutil
import subprocess
import threading
import time
import unittest

from harness import BUILD, CASUSD, Deployment, Server, free_port

BENCH = os.path.join(BUILD, "bench", "casus-bench")
USERS = [
    ("bs0", "casemanager", "Bench Sender", "Bench"),
    ("br0", "ggd", "Bench Receiver", "Bench"),
    ("bs1", "casemanager", "Tweede Casemanager", "Bench"),
    ("fenna", "fg", "Fenna Dekker", "Gemeente"),
]
KILLS = int(os.environ.get("CASUS_KILLS", "20"))
ASAN = "asan" in BUILD.lower() or "sanit" in BUILD.lower()


def read_lines(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except OSError:
        return []


class Durability(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # never skipped in silence: casus-bench is part of every build
        assert os.path.exists(BENCH), "casus-bench is not built (%s)" % BENCH
        cls.dep = Deployment(USERS)

    @classmethod
    def tearDownClass(cls):
        cls.dep.cleanup()

    def bench(self, mode, out_path, *args):
        with open(out_path, "w") as out:
            return subprocess.Popen(
                [BENCH, mode, "--url", self.dep.url, "--state", self.dep.dir, "--sender", "bs0-d1",
                 "--receivers", "br0-d1", *args],
                stdout=out, stderr=subprocess.PIPE, env=self.dep.env)

    def verify_audit(self, data, round_no):
        """The trail in a hot backup of the running store verifies under the audit key."""
        with open(os.path.join(data, "audit.pub")) as f:
            key = f.read().strip()
        bk = os.path.join(self.dep.dir, "bk-%d" % round_no)
        r = subprocess.run([CASUSD, "backup", "--data", data, "--out", bk], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, "round %d: backup: %s" % (round_no, r.stderr))
        rc, out, err = self.dep.cli("fenna", "audit", "verify", "--backup", bk, "--key", key)
        self.assertEqual(rc, 0, "round %d: audit verify: %s %s" % (round_no, out, err))
        self.assertTrue(out["verified"], "round %d: %s" % (round_no, out))
        shutil.rmtree(bk, ignore_errors=True)
        return out

    def client_work(self, cid, round_no, stop, log, early):
        """Until `stop`: rotate (a commit), post a note, share an early note with bs1 (a
        grant; `early` holds the (id, text) not shared yet), read the history, as the real
        client. Stops at the first failure; log gets (kind, ok, text, stop set before)."""
        i = 0
        while not stop.is_set():
            note = "r%d-n%d" % (round_no, i)
            steps = [("bs0", ("rotate", cid), "rotate", None), ("bs0", ("post", cid, note), "post", note)]
            if early:
                gid, gtext = early.pop(0)
                steps.append(("bs0", ("share", cid, "--to", "bs1", "--messages", gid, "--ground", "consent",
                                      "--reason", "overdracht"), "share", gtext))
            steps.append(("br0", ("history", cid), "history", None))
            for user, args, kind, text in steps:
                rc, out, err = self.dep.cli(user, *args)
                log.append((kind, rc == 0, text, stop.is_set(), "%s %s" % (out, err)))
                if rc != 0:
                    return
            i += 1

    def test_acked_messages_survive_sigkill(self):
        dep = self.dep
        dep.port = free_port()
        dep.set_server_url()
        data = os.path.join(dep.dir, "data")
        cid = None
        acked = []            # (seq, msgid) in the order the acks arrived
        work_cid, epoch0, client_log, early = None, None, [], []
        rng = random.Random(7513)
        for round_no in range(KILLS):
            srv = Server(dep, data_dir=data).start()
            if round_no:
                self.verify_audit(data, round_no)
            out = os.path.join(dep.dir, "round-%d.txt" % round_no)
            args = ["--senders", "2", "--window", "32", "--seconds", "60"]
            if cid:
                args += ["--casus-id", cid]
            proc = self.bench("durable-check", out, *args)
            if work_cid is None:
                work_cid = dep.ok("bs0", "new", "--title", "Werkcasus", "--purpose", "Zorgcoordinatie",
                                  "--basis", "Wmo 2015", "--member", "br0")["casus"]
                # notes from before bs1 joins: she reads one only once it is shared with her
                early = [(dep.ok("bs0", "post", work_cid, "vroeg-%d" % k)["id"], "vroeg-%d" % k)
                         for k in range(2 * KILLS)]
                dep.ok("bs0", "add", work_cid, "bs1")
                epoch0 = dep.ok("br0", "members", work_cid)["epoch"]
            stop, log = threading.Event(), []
            worker = threading.Thread(target=self.client_work, args=(work_cid, round_no, stop, log, early))
            worker.start()
            # wait until the stream runs and the client has done a random number of its
            # commands (the kill then cuts the next one), then kill casusd at a random moment
            want = rng.randint(150, 600)
            ops = rng.randint(1, 4)
            deadline = time.time() + (90 if ASAN else 30)
            while time.time() < deadline:
                n = sum(1 for line in read_lines(out) if line[0] == "ACK")
                if (n >= want and len(log) >= ops) or proc.poll() is not None or not worker.is_alive():
                    break
                time.sleep(0.02)
            time.sleep(rng.random() * 0.05)
            stop.set()
            srv.kill()
            worker.join(timeout=300)
            self.assertFalse(worker.is_alive(), "round %d: the client's commands did not end" % round_no)
            # a command may fail only once the kill was due (the one it cut)
            bad = [e for e in log if not e[1] and not e[3]]
            self.assertEqual(bad, [], "round %d: a client command failed before the kill" % round_no)
            client_log += log
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                self.fail("casus-bench did not stop after the server died")
            # exit 3: a reply matched no request its connection had in flight, so an
            # ACK line could have named the wrong message (a false alarm below)
            self.assertEqual(proc.returncode, 0, "round %d: casus-bench: %s" % (round_no, err.decode(errors="replace")))
            lines = read_lines(out)
            if not cid:
                heads = [line for line in lines if line[0] == "CASUS"]
                self.assertTrue(heads, "no casus created: %s" % err.decode(errors="replace"))
                cid = heads[0][1]
            got = [(int(line[1]), line[2]) for line in lines if line[0] == "ACK"]
            self.assertGreater(len(got), 0, "round %d: nothing acknowledged: %s" % (round_no, err.decode(errors="replace")))
            acked += got

        # restart once more and read the whole history back
        srv = Server(dep, data_dir=data).start()
        try:
            self.verify_audit(data, KILLS)
            dump = os.path.join(dep.dir, "dump.txt")
            proc = self.bench("dump", dump, "--casus-id", cid)
            _, err = proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 0, err.decode(errors="replace"))
            hist = [(int(line[1]), line[2]) for line in read_lines(dump) if line[0] == "HIST"]
            # the client's casus, read by the real client after every kill
            texts = [m.get("text") for m in dep.ok("br0", "history", work_cid)["messages"] if m.get("verified")]
            epoch = dep.ok("br0", "members", work_cid)["epoch"]
            got_early = [m.get("text") for m in dep.ok("bs1", "history", work_cid)["messages"]
                         if m.get("verified") and str(m.get("text", "")).startswith("vroeg-")]
        finally:
            srv.stop()

        seqs = [s for s, _ in hist]
        ids = [m for _, m in hist]
        self.assertEqual(seqs, sorted(seqs), "history out of order")
        self.assertEqual(len(set(seqs)), len(seqs), "a sequence number appears twice")
        self.assertEqual(len(set(ids)), len(ids), "a message is stored twice")
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "gap in the stored sequence")
        by_seq = dict(hist)
        missing = [(s, m) for s, m in acked if by_seq.get(s) != m]
        self.assertEqual(missing, [], "acknowledged but not in history (or under another seq)")
        ack_ids = [m for _, m in acked]
        self.assertEqual(len(set(ack_ids)), len(ack_ids), "a message id was acknowledged twice")
        # every acked message is in history exactly once; unacked in-flight ones may be there too
        notes = [e[2] for e in client_log if e[0] == "post" and e[1]]
        self.assertGreater(len(notes), 0, "the client posted nothing")
        self.assertEqual([t for t in notes if texts.count(t) != 1], [],
                         "a note the client saw acknowledged is not in its history exactly once")
        rot_ok = sum(1 for e in client_log if e[0] == "rotate" and e[1])
        rot_cut = sum(1 for e in client_log if e[0] == "rotate" and not e[1])
        self.assertTrue(epoch0 + rot_ok <= epoch <= epoch0 + rot_ok + rot_cut,
                        "epoch %d after %d acknowledged and %d cut rotations from %d" % (epoch, rot_ok, rot_cut,
                                                                                        epoch0))
        shared = [e[2] for e in client_log if e[0] == "share" and e[1]]
        cut_shares = [e[2] for e in client_log if e[0] == "share" and not e[1]]
        self.assertGreater(len(shared), 0, "the client shared nothing")
        self.assertEqual([t for t in shared if got_early.count(t) != 1], [],
                         "a note whose grant was acknowledged is not in bs1's history exactly once")
        self.assertEqual([t for t in got_early if t not in shared and t not in cut_shares], [],
                         "bs1 reads an early note that was never shared with her")
        self.assertEqual(len(got_early), len(set(got_early)), "an early note is listed twice")
        reads = sum(1 for e in client_log if e[0] == "history" and e[1])
        cut = sum(1 for e in client_log if not e[1])
        print("durability: %d kills, %d acknowledged, %d in history; client: %d rotations, %d notes, %d grants, "
              "%d history reads acknowledged, %d commands cut by a kill" % (KILLS, len(acked), len(hist), rot_ok,
                                                                              len(notes), len(shared), reads, cut))


if __name__ == "__main__":
    unittest.main(verbosity=2)
