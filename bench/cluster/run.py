#!/usr/bin/python3
"""
bench/cluster/run.py [BUILD]: cluster mode next to a single node, same run,
same machine (docs/SCALING.md "Cluster mode: measured").

1. A single casusd: casus-bench throughput (durable msg/s, each to 10 members)
   and latency (p99 post-to-delivery at a fixed rate).
2. Three nats-server (one JetStream cluster, R3) and three casusd nodes in
   cluster mode: the same two runs against the writer, then the same two runs
   through a follower (every frame relayed to the writer over NATS, every
   reply and push relayed back: docs/SCALING.md "Every node serves").
3. Take-over: casus-bench durable-check posts to the writer, the writer is
   killed with SIGKILL (TAKEOVERS times); printed per take-over: writer killed
   -> the new writer listens, and -> the first ack by the new writer (the
   second includes casus-bench's own start: connect, authenticate).

Everything on loopback; the load generator shares the machine's cores.
Environment: TP_ARGS, LAT_ARGS, TAKEOVERS override the defaults below.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
os.environ.setdefault("CASUS_BUILD", sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
os.environ.setdefault("CASUS_SRC", ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
from cluster_util import NATS_SERVER, Nats, Node, set_servers, wait_for, writer_of  # noqa: E402
from harness import BUILD, Deployment  # noqa: E402

BENCH = os.path.join(BUILD, "bench", "casus-bench")
TP_ARGS = os.environ.get("TP_ARGS", "--senders 4 --window 256 --casus 8 --messages 60000").split()
LAT_ARGS = os.environ.get("LAT_ARGS", "--senders 2 --window 256 --casus 4 --rate 2000 --seconds 10").split()
TAKEOVERS = int(os.environ.get("TAKEOVERS", "5"))
LIMITS = {"limits": {"req_per_s": 1000000, "req_burst": 1000000, "conn_per_device": 20000,
                     "max_connections": 20000, "conn_per_addr": 20000}, "log_level": "warn"}
USERS = [("bs0", "casemanager", "Bench bs0", "Bench")] + [
    ("br%d" % i, "ggd" if i < 3 else ("ervaringsdeskundige" if i < 6 else "casemanager"), "Bench br%d" % i, "Bench")
    for i in range(10)]


def bench(dep, mode, url, args, pid=None):
    cmd = [BENCH, mode, "--url", url, "--state", dep.dir, "--sender", "bs0-d1",
           "--receivers", ",".join("br%d-d1" % i for i in range(10)), *args]
    if pid:
        cmd += ["--pid", str(pid)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dep.env, timeout=600)
    if p.returncode != 0:
        raise SystemExit("casus-bench %s failed: %s" % (mode, p.stderr))
    return p.stdout.strip()


def runs(dep, node, label):
    print("## %s" % label)
    print("$ casus-bench throughput %s" % " ".join(TP_ARGS))
    print(bench(dep, "throughput", node.url, TP_ARGS, node.proc.pid))
    print("$ casus-bench latency %s" % " ".join(LAT_ARGS))
    print(bench(dep, "latency", node.url, LAT_ARGS, node.proc.pid))
    sys.stdout.flush()


def main():
    if not NATS_SERVER:
        raise SystemExit("nats-server is not installed (deploy/install-deps.sh)")
    print("# bench/cluster/run.py %s, load average %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                         " ".join(open("/proc/loadavg").read().split()[:3])))
    dep = Deployment(USERS)
    base = tempfile.mkdtemp(prefix="cluster-bench-", dir=dep.dir)
    nats = Nats(base)
    nodes = []
    try:
        single = Node(dep, "single", None, base, extra=LIMITS).start()
        wait_for(single.serving, 60, "the single node")
        set_servers(dep, [single.url])
        runs(dep, single, "single node (no cluster)")
        single.stop()

        nats.start_all()
        nodes.extend(Node(dep, "node%d" % i, nats.urls, base, extra=LIMITS) for i in range(3))
        nodes[0].start()
        wait_for(nodes[0].serving, 90, "the first writer")
        for n in nodes[1:]:
            os.makedirs(n.data, mode=0o700, exist_ok=True)
            with open(os.path.join(nodes[0].data, "audit.key"), "rb") as f, \
                    open(os.path.join(n.data, "audit.key"), "wb") as g:
                g.write(f.read())
            os.chmod(os.path.join(n.data, "audit.key"), 0o600)
            n.start()
        set_servers(dep, [n.url for n in nodes])
        runs(dep, nodes[0], "cluster: 3 nats-server (R3 stream), 3 casusd, writer node0")
        wait_for(nodes[1].relaying, 90, "node1 relaying to the writer")
        runs(dep, nodes[1], "cluster: the same, through follower node1 (relayed to writer node0)")

        print("## take-over (lease TTL 2000 ms, renewed every 500 ms)")
        for k in range(TAKEOVERS):
            w = wait_for(lambda: writer_of(nodes), 90, "a writer")
            out = os.path.join(base, "tk-%d.txt" % k)
            with open(out, "w") as f:
                p = subprocess.Popen([BENCH, "durable-check", "--url", w.url, "--state", dep.dir, "--sender",
                                      "bs0-d1", "--receivers", "br0-d1", "--senders", "1", "--window", "8",
                                      "--seconds", "30"], stdout=f, stderr=subprocess.DEVNULL, env=dep.env)
            wait_for(lambda: "ACK" in open(out).read(), 60, "acks")
            t_kill = time.time()
            w.kill()
            p.wait(timeout=60)
            w.start()  # back as a follower
            nw = wait_for(lambda: writer_of(nodes), 90, "a new writer")
            t_serve = time.time() - t_kill
            out2 = os.path.join(base, "tk-%d-b.txt" % k)
            with open(out2, "w") as f:
                p = subprocess.Popen([BENCH, "durable-check", "--url", nw.url, "--state", dep.dir, "--sender",
                                      "bs0-d1", "--receivers", "br0-d1", "--senders", "1", "--window", "8",
                                      "--seconds", "3"], stdout=f, stderr=subprocess.DEVNULL, env=dep.env)
            wait_for(lambda: "ACK" in open(out2).read(), 60, "acks from the new writer")
            t_ack = time.time() - t_kill
            p.wait(timeout=60)
            print("take-over %d: %s -> %s: new writer listening after %.2f s, first ack after %.2f s"
                  % (k + 1, w.name, nw.name, t_serve, t_ack))
            sys.stdout.flush()
    finally:
        for n in nodes:
            if n.alive():
                n.stop()
        nats.stop_all()
        dep.cleanup()


if __name__ == "__main__":
    main()
