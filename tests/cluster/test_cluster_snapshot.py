"""
test_cluster_snapshot.py: catch-up from a snapshot when the stream has been
trimmed (docs/SCALING.md "Cluster mode", "Catch-up from a snapshot"), on
loopback: three nats-server processes form one JetStream cluster; the writer
runs with a small stream bound (cluster.stream_max_msgs), so JetStream drops
the oldest entries while a client posts.

  - node1 follows for a while and is stopped before the trim; node2 starts
    later with an empty data folder (only the cluster's audit key). The stream
    no longer starts where either of them is: both must take a snapshot of the
    writer (casusd backup over NATS request/reply, checked by length and
    digest) and then apply the stream after it.
  - after more posts, every node's whole LMDB store is identical (mdb_dump of
    every database), every acknowledged message is in the history exactly once
    and in order, and the audit trail of every node verifies.
  - a single node whose store is larger than one NATS message (max_payload
    256 KB here) becomes the first node of a cluster: entry 1 is a snapshot
    entry, and a node that joins takes a snapshot of it, then the stream.
  - a bound below 16 is refused at --check-config.
A corrupted or truncated snapshot piece is refused: tests/unit/test_cluster_snap.c.

Skipped, with the reason printed, only when nats-server is not installed.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_util import NATS_SERVER, Nats, Node, set_servers, store_dump, wait_for, writer_of  # noqa: E402
from harness import BUILD, CASUSD, Deployment, free_port  # noqa: E402

BENCH = os.path.join(BUILD, "bench", "casus-bench")
USERS = [
    ("bs0", "casemanager", "Bench Sender", "Bench"),
    ("br0", "ggd", "Bench Receiver", "Bench"),
    ("fenna", "fg", "Fenna Dekker", "Gemeente"),
]
MAX_MSGS = 40
# NATS's largest message here: small, so that a store larger than one message is
# made quickly even in the sanitizer build (a turn's entry stays far below it)
MAX_PAYLOAD, MAX_PAYLOAD_BYTES = "256KB", 256 * 1024
# a cluster node refuses a NATS whose max_payload cannot carry its largest frame
# (limits.max_frame, 256 KiB by default, plus the relay's overhead)
SMALL_FRAMES = {"limits": {"max_frame": 128 * 1024}}
ROUNDS = 60  # posting rounds at most, each until the bench's time is up; the loops end on their condition
SKIP_CODE = 77


def read_lines(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except OSError:
        return []


def bounded(node, max_msgs):
    """Give a node's config the stream bound."""
    with open(node.config) as f:
        cfg = json.load(f)
    cfg["cluster"]["stream_max_msgs"] = max_msgs
    with open(node.config, "w") as f:
        json.dump(cfg, f)
    return node


class SnapshotCatchUp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert os.path.exists(BENCH), "casus-bench is not built (%s)" % BENCH
        cls.dep = Deployment(USERS)
        cls.nats = Nats(cls.dep.dir, max_payload=MAX_PAYLOAD)
        cls.nats.start_all()
        cls.nodes = []

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            if n.alive():
                n.proc.kill()
        cls.nats.stop_all()
        if os.environ.get("CASUS_KEEP_TMP"):
            print("kept", cls.dep.dir)
        else:
            cls.dep.cleanup()

    def stream_first_seq(self):
        """The stream's first sequence as a nats-server's monitoring port sees it (None if not yet)."""
        for port in self.nats.http_ports:
            try:
                r = urllib.request.urlopen("http://127.0.0.1:%d/jsz?streams=true" % port, timeout=2)
                data = json.loads(r.read())
            except (OSError, ValueError):
                continue
            for acc in data.get("account_details") or []:
                for st in acc.get("stream_detail") or []:
                    if st.get("name") == "CASUS":
                        return st["state"]["first_seq"], st["state"]["last_seq"]
        return None

    def same_stores(self, nodes):
        dumps = [store_dump(n.data) for n in nodes]
        return dumps[0] is not None and all(d == dumps[0] for d in dumps)

    def history(self, writer, cid, acked, out):
        """Every acknowledged message once, in order, in the history read through `writer`
        (a follower relays it)."""
        with open(out, "w") as f:
            proc = subprocess.Popen([BENCH, "dump", "--url", writer.url, "--state", self.dep.dir, "--sender",
                                     "bs0-d1", "--receivers", "br0-d1", "--casus-id", cid], stdout=f,
                                    stderr=subprocess.PIPE, env=self.dep.env)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err.decode(errors="replace"))
        hist = [(int(line[1]), line[2]) for line in read_lines(out) if line[0] == "HIST"]
        seqs = [s for s, _ in hist]
        ids = [m for _, m in hist]
        self.assertEqual(seqs, sorted(seqs), "history out of order")
        self.assertEqual(len(set(ids)), len(ids), "a message is stored twice")
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "gap in the stored sequence")
        by_seq = dict(hist)
        self.assertEqual([(s, m) for s, m in acked if by_seq.get(s) != m], [],
                         "acknowledged but not in the history (or under another seq)")
        return hist

    def test_big_store_first_entry(self):
        """A single node's store larger than one NATS message starts a cluster (stream BIG)."""
        dep, base = self.dep, self.dep.dir
        single = Node(dep, "big0", [], base).start()
        self.nodes.append(single)
        wait_for(single.serving, 90, lambda: "the single node to serve:\n" + single.log()[-3000:])
        set_servers(dep, [single.url])
        cid, acked = None, []
        db = os.path.join(single.data, "data.mdb")
        for r in range(ROUNDS):  # until the store is well past one message (3x: its op list is too)
            cid, got = self.post(single, cid, os.path.join(base, "big-single-%d.txt" % r), 2)
            acked += got
            if os.path.getsize(db) > 3 * MAX_PAYLOAD_BYTES:
                break
        self.assertEqual(single.stop(), 0, single.log()[-3000:])
        size = os.path.getsize(db)
        self.assertGreater(size, 3 * MAX_PAYLOAD_BYTES, "the single node's store is not larger than one NATS message")

        extra = {"stream": "BIG", "lease_bucket": "big_lease"}
        w, n1 = (Node(dep, "big0", self.nats.urls, base, extra=SMALL_FRAMES),
                 Node(dep, "big1", self.nats.urls, base, extra=SMALL_FRAMES))
        for n in (w, n1):
            with open(n.config) as f:
                cfg = json.load(f)
            cfg["cluster"].update(extra)
            with open(n.config, "w") as f:
                json.dump(cfg, f)
        self.nodes.extend([w, n1])
        w.start()
        wait_for(w.serving, 90, lambda: "big0 to become the writer:\n" + w.log()[-3000:])
        self.assertIn("cluster.genesis_snapshot", w.log())
        os.makedirs(n1.data, mode=0o700, exist_ok=True)
        shutil.copy(os.path.join(w.data, "audit.key"), os.path.join(n1.data, "audit.key"))
        n1.start()
        wait_for(lambda: "cluster.snapshot_installed" in n1.log(), 180,
                 lambda: "big1 to install a snapshot:\n" + n1.log()[-3000:])
        set_servers(dep, [w.url])
        cid, got = self.post(w, cid, os.path.join(base, "big-cluster.txt"), 2)
        acked += got
        wait_for(lambda: self.same_stores([w, n1]), 120, "the two stores to be identical")
        self.history(w, cid, acked, os.path.join(base, "big-dump.txt"))
        with open(os.path.join(w.data, "audit.pub")) as f:
            self.verify_audit(n1, f.read().strip())
        for n in (n1, w):
            self.assertEqual(n.stop(), 0, "%s:\n%s" % (n.name, n.log()[-3000:]))
        print("cluster snapshot: a %d-byte single-node store became entry 1 of a cluster by snapshot" % size)

    def post(self, writer, cid, out, seconds, size=None):
        args = ["--senders", "2", "--window", "16", "--seconds", str(seconds)]
        if size:
            args += ["--size", str(size)]
        if cid:
            args += ["--casus-id", cid]
        with open(out, "w") as f:
            proc = subprocess.Popen(
                [BENCH, "durable-check", "--url", writer.url, "--state", self.dep.dir, "--sender", "bs0-d1",
                 "--receivers", "br0-d1", *args], stdout=f, stderr=subprocess.PIPE, env=self.dep.env)
        _, err = proc.communicate(timeout=seconds + 120)
        self.assertEqual(proc.returncode, 0, "casus-bench: %s" % err.decode(errors="replace"))
        lines = read_lines(out)
        if not cid:
            heads = [line for line in lines if line[0] == "CASUS"]
            self.assertTrue(heads, "no casus created: %s" % err.decode(errors="replace"))
            cid = heads[0][1]
        got = [(int(line[1]), line[2]) for line in lines if line[0] == "ACK"]
        self.assertGreater(len(got), 0, "nothing acknowledged: %s" % err.decode(errors="replace"))
        return cid, got

    def verify_audit(self, node, key):
        bk = os.path.join(self.dep.dir, "bk-%s" % node.name)
        r = subprocess.run([CASUSD, "backup", "--data", node.data, "--out", bk], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, "%s: backup: %s" % (node.name, r.stderr))
        rc, out, err = self.dep.cli("fenna", "audit", "verify", "--backup", bk, "--key", key)
        self.assertEqual(rc, 0, "%s: audit verify: %s %s" % (node.name, out, err))
        self.assertTrue(out["verified"], "%s: %s" % (node.name, out))
        shutil.rmtree(bk, ignore_errors=True)

    def test_bound_checked(self):
        """A stream bound below the minimum is refused at --check-config; a good one passes."""
        for cl, why in [({"stream_max_msgs": 5}, "stream_max_msgs"), ({"stream_max_age_s": 10}, "stream_max_age_s"),
                        ({"stream_max_msgs": -1}, "stream_max_msgs"),
                        ({"stream_max_msgs": 1000, "stream_max_age_s": 86400}, None)]:
            cl.update({"nats": ["nats://127.0.0.1:4222"], "node": "n1"})
            path = os.path.join(self.dep.dir, "bound.json")
            with open(path, "w") as f:
                json.dump({"listen": "127.0.0.1", "port": free_port(), "tls": False, "data_dir": self.dep.dir,
                           "root_pub": self.dep.root_pub, "policy": self.dep.policy,
                           "revocations": self.dep.revlist, "cluster": cl}, f)
            p = subprocess.run([CASUSD, "--config", path, "--check-config"], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 2 if why else 0, (cl, p.stdout, p.stderr))
            if why:
                self.assertIn(why, p.stderr, cl)

    def test_relay_fits_max_payload(self):
        """A node refuses a NATS whose max_payload cannot carry its largest frame, with the
        remedy; large notes posted through a follower make no stream entry too large; and
        history read through a follower comes in pages that fit one NATS message (a page is
        up to history_page_bytes, 1 MiB, of messages: relayed whole, it was dropped and the
        client waited in vain)."""
        dep = self.dep
        base = dep.dir
        extra = {"stream": "RLY", "lease_bucket": "rly_lease"}

        def node(name, limits):
            n = Node(dep, name, self.nats.urls, base, extra=limits)
            with open(n.config) as f:
                cfg = json.load(f)
            cfg["cluster"].update(extra)
            with open(n.config, "w") as f:
                json.dump(cfg, f)
            return n

        # the default largest frame (256 KiB) does not fit a 256 KB max_payload
        big = node("rly-big", None)
        self.nodes.append(big)
        big.start()
        try:
            rc = big.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.fail("a node with limits.max_frame above NATS's max_payload kept running:\n" + big.log()[-3000:])
        self.assertNotEqual(rc, 0, big.log()[-3000:])
        self.assertIn("max_payload", big.log())
        self.assertIn("limits.max_frame", big.log())

        w, f = node("rly0", SMALL_FRAMES), node("rly1", SMALL_FRAMES)
        self.nodes.extend([w, f])
        w.start()
        wait_for(w.serving, 90, lambda: "rly0 to become the writer:\n" + w.log()[-3000:])
        os.makedirs(f.data, mode=0o700, exist_ok=True)
        shutil.copy(os.path.join(w.data, "audit.key"), os.path.join(f.data, "audit.key"))
        f.start()
        wait_for(f.relaying, 90, lambda: "rly1 to relay to rly0:\n" + f.log()[-3000:])
        set_servers(dep, [w.url])
        # notes of 60,000 bytes (about 80 KB each in a history page) until the history is
        # larger than one NATS message
        cid, acked = None, []
        for r in range(20):
            cid, got = self.post(w, cid, os.path.join(base, "rly-%d.txt" % r), 2, size=60000)
            acked += got
            if len(acked) >= 6:
                break
        self.assertGreaterEqual(len(acked), 6, "too few large notes acknowledged")
        # the same notes posted through the follower (two senders, 16 in flight each): the
        # writer takes relayed frames into a turn only up to a quarter of max_payload, so no
        # turn's stream entry is too large (each such turn failed: its posts refused)
        n_before = len(acked)
        for r in range(20):
            cid, got = self.post(f, cid, os.path.join(base, "rlyf-%d.txt" % r), 2, size=60000)
            acked += got
            if len(acked) - n_before >= 12:
                break
        self.assertGreaterEqual(len(acked) - n_before, 12, "too few large notes acknowledged through the follower")
        self.assertNotIn("cluster.entry_too_large", w.log())
        hist = self.history(f, cid, acked, os.path.join(base, "rly-dump.txt"))
        self.assertGreaterEqual(len(hist), len(acked))
        self.assertNotIn("relay.answer_lost", w.log())
        for n in (f, w):
            self.assertEqual(n.stop(), 0, "%s:\n%s" % (n.name, n.log()[-3000:]))

    def test_join_after_trim(self):
        dep = self.dep
        base = dep.dir
        w, n1, n2 = (bounded(Node(dep, "node%d" % i, self.nats.urls, base, extra=SMALL_FRAMES), MAX_MSGS)
                     for i in range(3))
        self.nodes.extend([w, n1, n2])
        w.start()
        wait_for(w.serving, 90, lambda: "the first node to become the writer:\n" + w.log()[-3000:])
        key_path = os.path.join(w.data, "audit.key")
        with open(os.path.join(w.data, "audit.pub")) as f:
            audit_key = f.read().strip()
        for n in (n1, n2):
            os.makedirs(n.data, mode=0o700, exist_ok=True)
            shutil.copy(key_path, os.path.join(n.data, "audit.key"))
        set_servers(dep, [w.url])

        # node1 follows from the start, applies the first entries, and is stopped
        n1.start()
        wait_for(lambda: "cluster.following" in n1.log() and store_dump(n1.data) is not None, 90,
                 lambda: "node1 to follow:\n" + n1.log()[-2000:])
        cid, acked = self.post(w, None, os.path.join(base, "round-0.txt"), 1)
        wait_for(lambda: store_dump(n1.data) == store_dump(w.data), 90, "node1 to apply the first posts")
        self.assertEqual(n1.stop(), 0, n1.log()[-3000:])
        state = self.stream_first_seq()
        self.assertTrue(state, "no stream state from the NATS monitoring port")
        n1_applied = state[1]  # node1's store was the writer's: it applied the whole stream

        # posts until the stream no longer holds the entry after node1's last one
        for r in range(1, ROUNDS):
            cid, got = self.post(w, cid, os.path.join(base, "round-%d.txt" % r), 2)
            acked += got
            state = self.stream_first_seq()
            if state and state[0] > n1_applied + 1:
                break
        state = self.stream_first_seq()
        self.assertTrue(state and state[0] > n1_applied + 1 and state[1] - state[0] + 1 <= MAX_MSGS,
                        "the stream was not trimmed past node1 (applied %d): %s" % (n1_applied, state))

        # node1 (stopped before the trim) and node2 (empty) join: both by snapshot
        n1.start()
        n2.start()
        for n in (n1, n2):
            wait_for(lambda: "cluster.snapshot_installed" in n.log(), 180,
                     lambda: "%s to install a snapshot:\n%s" % (n.name, n.log()[-3000:]))
            self.assertIn("cluster.behind_stream", n.log())
        # and then follow the stream after it
        cid, got = self.post(w, cid, os.path.join(base, "round-after.txt"), 2)
        acked += got
        trio = [w, n1, n2]
        self.assertIsNotNone(writer_of(trio), "exactly one node serves")
        wait_for(lambda: self.same_stores(trio), 120, "the three stores to be identical")
        hist = self.history(w, cid, acked, os.path.join(base, "dump.txt"))

        # no snapshot file left behind on any node, and the audit trails verify
        for n in trio:
            left = [e for e in os.listdir(n.data) if e.startswith("snapshot")]
            self.assertEqual(left, [], "%s: %s" % (n.name, left))
        for n in trio:
            self.verify_audit(n, audit_key)
        for n in (n2, n1, w):
            self.assertEqual(n.stop(), 0, "%s:\n%s" % (n.name, n.log()[-3000:]))
        print("cluster snapshot: stream %s after the trim, %d acknowledged, %d in the history, stores identical"
              % (state, len(acked), len(hist)))


if __name__ == "__main__":
    if not NATS_SERVER:
        print("SKIPPED: nats-server is not installed (deploy/install-deps.sh installs Debian's nats-server); "
              "the snapshot test needs three of them")
        sys.exit(SKIP_CODE)
    unittest.main(verbosity=2)
