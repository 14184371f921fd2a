"""
cluster_util.py: three nats-server processes forming one JetStream cluster on
loopback, and casusd nodes in cluster mode on top (docs/SCALING.md "Cluster
mode"). Used by tests/cluster/test_cluster.py and bench/cluster/run.sh.

Every wait polls a condition under a generous deadline; nothing sleeps for a
fixed time to let something happen.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import CASUSD, SANITIZER_MARKS, free_port  # noqa: E402

_TAKEN = set()


def fresh_port():
    """A free loopback port that no other part of this cluster was given (three
    nats-servers with three ports each and three casusd with two: the kernel may
    hand out the same free port twice)."""
    port = free_port(other_than=_TAKEN)
    _TAKEN.add(port)
    return port

NATS_SERVER = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server")
                                              else None)


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out after %ds waiting for %s" % (timeout, what() if callable(what) else what))


class Nats:
    """Three nats-server processes, one JetStream cluster (routes on loopback)."""

    def __init__(self, base, n=3, max_payload="8MB"):
        self.base = base
        self.n = n
        self.max_payload = max_payload
        self.client_ports = [fresh_port() for _ in range(n)]
        self.route_ports = [fresh_port() for _ in range(n)]
        self.http_ports = [fresh_port() for _ in range(n)]
        self.procs = [None] * n
        self.logs = [os.path.join(base, "nats-%d.log" % i) for i in range(n)]

    @property
    def urls(self):
        return ["nats://127.0.0.1:%d" % p for p in self.client_ports]

    def conf(self, i):
        d = os.path.join(self.base, "nats-%d" % i)
        os.makedirs(d, exist_ok=True)
        routes = ", ".join("nats-route://127.0.0.1:%d" % p for j, p in enumerate(self.route_ports) if j != i)
        path = os.path.join(self.base, "nats-%d.conf" % i)
        with open(path, "w") as f:
            f.write("server_name: n%d\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\nmax_payload: %s\n"
                    "jetstream { store_dir: \"%s\", max_memory_store: 64MB, max_file_store: 2GB }\n"
                    "cluster { name: casus, listen: 127.0.0.1:%d, routes: [%s] }\n"
                    % (i, self.client_ports[i], self.http_ports[i], self.max_payload, d, self.route_ports[i],
                       routes))
        return path

    def start(self, i):
        log = open(self.logs[i], "ab")
        self.procs[i] = subprocess.Popen([NATS_SERVER, "-c", self.conf(i)], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def healthy(self, i):
        try:
            r = urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.http_ports[i], timeout=1)
            return r.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def start_all(self, timeout=60):
        for i in range(self.n):
            self.start(i)
        wait_for(lambda: all(self.healthy(i) for i in range(self.n)), timeout, "the NATS cluster to be healthy")

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.kill()
            p.wait(timeout=10)

    def stop_all(self):
        for p in self.procs:
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()


class Node:
    """One casusd in cluster mode: its own data folder, port and log."""

    def __init__(self, dep, name, nats_urls, base, lease_ttl_ms=2000, extra=None, publish_timeout_ms=1000):
        self.dep = dep
        self.name = name
        self.port = fresh_port()
        self.data = os.path.join(base, "data-" + name)
        self.log_path = os.path.join(base, "casusd-%s.log" % name)
        cfg = {
            "listen": "127.0.0.1", "port": self.port, "tls": False, "data_dir": self.data,
            "root_pub": dep.root_pub, "policy": dep.policy, "certs_dir": dep.certs, "log_level": "info",
            "revocations": dep.revlist, "metrics_port": fresh_port(),
            "cluster": {"nats": nats_urls, "node": name, "advertise": self.url, "replicas": 3,
                        "lease_ttl_ms": lease_ttl_ms, "publish_timeout_ms": publish_timeout_ms},
        }
        cfg.update(extra or {})
        if not nats_urls:
            del cfg["cluster"]  # a single node, for comparison (bench/cluster/run.py)
        self.metrics_port = cfg["metrics_port"]
        self.config = os.path.join(base, "casusd-%s.json" % name)
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc = None

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.port

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CASUSD, "--config", self.config], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def role(self):
        """"writer", "follower" (it says so on /healthz: "ok follower of NODE" while it
        relays to a writer, 503 "follower without a writer" during a take-over), or
        None (not listening). Every node listens; only the writer's /healthz does not
        name itself a follower."""
        if not self.alive():
            return None
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port, timeout=1).read()
        except urllib.error.HTTPError as e:
            body = e.read()
        except OSError:
            return None
        return "follower" if b"follower" in body else "writer"

    def serving(self):
        """This node is the writer."""
        return self.role() == "writer"

    def relaying(self):
        """This node is a follower that relays to a writer ("ok follower of ...")."""
        if not self.alive():
            return False
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port, timeout=1).read()
        except (OSError, urllib.error.HTTPError):
            return False
        return body.startswith(b"ok follower")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def check_log(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError("sanitizer report in %s's log:\n%s" % (self.name, text[-6000:]))

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.check_log()

    def stop(self):
        """SIGTERM; a clean exit (0), or 75 (stepped down: it gave up the writer role)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # generous: a node's stop gives the lease back and closes its NATS
                # connection, each bounded by NATS timeouts, on a machine that may be busy
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("%s ignored SIGTERM:\n%s" % (self.name, self.log()[-4000:]))
        self.check_log()
        return self.proc.returncode


def set_servers(dep, urls):
    """Every profile of the deployment names these addresses (a client's list)."""
    for prof in dep.users.values():
        pj = os.path.join(prof, "profile.json")
        with open(pj) as f:
            data = json.load(f)
        data["server"] = ",".join(urls)
        with open(pj, "w") as f:
            json.dump(data, f)


def writer_of(nodes):
    """The one node that serves, or None. Two serving at once can be seen for a
    moment on a stalled machine (a deposed writer that has not yet noticed):
    then wait; the stream's expected-sequence check keeps them from both
    writing, which the store comparison of the test checks."""
    up = [n for n in nodes if n.serving()]
    return up[0] if len(up) == 1 else None


def store_dump(data):
    """Every named database of a node's LMDB as mdb_dump prints it (read-only, live store)."""
    p = subprocess.run(["mdb_dump", "-a", data], capture_output=True, timeout=120)
    if p.returncode != 0:
        return None
    return p.stdout
