#!/usr/bin/python3
"""
history_bench.py: how long a member's client takes to read a long history
(issue 15, "the client reads history fast"). A measurement, not a test.

    /usr/bin/python3 tests/perf/history_bench.py [--build BUILD] [--messages 10000] [--size 1024] [--runs 3]

What it does, with the real tools on loopback:
  1. a deployment in a temporary folder: root key, signed default policy, empty
     revocation list, certified devices (bs0..bs9 write, br0 reads), and casusd
     with its own LMDB folder (rate limits raised as bench/run.sh does);
  2. bs0 opens a casus with the others as members (`casus new`), then
     history_fill.c (compiled here against the build's libraries) posts, as
     each writer in turn, its share of N notes of SIZE bytes with libcasus's
     casus_post on one connection: the same notes `casus post` writes (about
     15 ms each: two fsyncs);
  3. `casus --json history CASUS` as br0, timed:
       cold  the local copy of the casus deleted first: every message is
             fetched, verified and decrypted (and the copy written again);
       warm  right after, with the local copy: only the check for newer ones;
     each run reports wall time, the client's CPU (user+sys of the child, from
     wait4's resource usage) and casusd's CPU over the run (/proc/PID/stat
     utime+stime before and after);
  4. no baseline is subtracted: the figures are the whole command (keystore
     open, connect, commit chain, history, writing the local copy).

It checks that the listing holds all N messages, verified, in order; it prints
one line per run and the medians. Load average is printed before and after.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port(other_than=()):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in other_than:
            return port


def cpu_of(pid):
    """utime+stime of a process in seconds (/proc/PID/stat fields 14, 15)."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def run(args, env, check=True):
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s%s" % (p.returncode, " ".join(args), p.stdout, p.stderr))
    return p


def timed(args, env):
    """Run a child; (rc, stdout bytes, wall s, child CPU s)."""
    out = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    data = out.read()
    out.close()
    return p.returncode, data, wall, ru.ru_utime + ru.ru_stime


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--writers", type=int, default=10, help="devices that post (the notes are split among them)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--compare", metavar="BUILD2",
                    help="also time BUILD2's casus on the same casus and server, runs interleaved (before/after)")
    a = ap.parse_args()
    casus = os.path.join(a.build, "client", "casus")
    admin = os.path.join(a.build, "client", "casus-admin")
    casusd = os.path.join(a.build, "server", "casusd")
    for t in (casus, admin, casusd):
        if not os.access(t, os.X_OK):
            raise SystemExit("missing %s (cmake --build %s --target casusd casus casus-admin)" % (t, a.build))
    st = tempfile.mkdtemp(prefix="casus-histbench-")
    srv = None
    try:
        # the filler: libcasus's casus_post in a loop on one connection
        fill = os.path.join(st, "history_fill")
        lib = lambda p: os.path.join(a.build, p)
        run(["cc", "-O2", "-I", os.path.join(ROOT, "client"), "-o", fill, os.path.join(ROOT, "tests/perf/history_fill.c"),
             lib("client/libcasus_client.a"), lib("client/core/libcasus_core.a"), lib("protocol/libcasus_proto.a"),
             lib("audit/libcasus_audit.a"), lib("crypto/libcasus_crypto.a"), "-llmdb", "-lsodium", "-lwebsockets",
             "-ljansson"], os.environ)
        with open(os.path.join(st, "passphrase"), "w") as f:
            f.write("bench\n")
        env = dict(os.environ, CASUS_PASSPHRASE_FILE=os.path.join(st, "passphrase"), CASUS_ADMIN_FAST_KDF="1")
        port = free_port()
        ks = os.path.join(st, "root.casusks")
        run([admin, "root-init", "--keystore", ks, "--pub", os.path.join(st, "root.pub")], env)
        run([admin, "sign-policy", "--keystore", ks, "--policy", os.path.join(ROOT, "deploy/policy/default.json"),
             "--out", os.path.join(st, "policy.bin")], env)
        run([admin, "revlist-init", "--keystore", ks, "--out", os.path.join(st, "revocations.bin")], env)
        roothex = open(os.path.join(st, "root.pub")).read().strip()
        os.makedirs(os.path.join(st, "users"))
        os.makedirs(os.path.join(st, "certs"))
        writers = ["bs%d" % i for i in range(a.writers)]
        for uid in writers + ["br0"]:
            prof = os.path.join(st, "users", uid)
            run([casus, "--profile", prof, "init", "--server", "ws://127.0.0.1:%d" % port, "--root", roothex,
                 "--user", uid, "--role", "casemanager", "--name", "Bench " + uid, "--org", "Bench"], env)
            run([admin, "certify", "--keystore", ks, "--request", os.path.join(prof, "request.casusreq"), "--out",
                 os.path.join(prof, "device.cert"), "--yes"], env)
            run([casus, "--profile", prof, "install-cert", os.path.join(prof, "device.cert")], env)
            shutil.copy(os.path.join(prof, "device.cert"), os.path.join(st, "certs", uid + ".cert"))
        cfg = {"listen": "127.0.0.1", "port": port, "tls": False, "metrics_port": free_port(other_than=(port,)),
               "data_dir": os.path.join(st, "data"), "root_pub": os.path.join(st, "root.pub"),
               "policy": os.path.join(st, "policy.bin"), "revocations": os.path.join(st, "revocations.bin"),
               "certs_dir": os.path.join(st, "certs"), "log_level": "warn",
               "limits": {"req_per_s": 1000000, "req_burst": 1000000}}
        with open(os.path.join(st, "casusd.json"), "w") as f:
            json.dump(cfg, f)
        log = open(os.path.join(st, "casusd.log"), "wb")
        srv = subprocess.Popen([casusd, "--config", os.path.join(st, "casusd.json")], stdout=log,
                               stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                if urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1).status == 200:
                    break
            except OSError:
                pass
            if srv.poll() is not None or time.time() > deadline:
                raise SystemExit("casusd did not start:\n" + open(os.path.join(st, "casusd.log")).read())
            time.sleep(0.1)
        sender = os.path.join(st, "users", "bs0")
        reader = os.path.join(st, "users", "br0")
        args = [casus, "--profile", sender, "--json", "new", "--title", "Bench", "--purpose", "history bench",
                "--basis", "bench"]
        for uid in writers[1:] + ["br0"]:
            args += ["--member", uid]
        cid = json.loads(run(args, env).stdout.splitlines()[-1])["casus"]
        t0 = time.monotonic()
        # each writer posts its share (a writer's own local copy grows with
        # what it posted: several writers keep the filling linear)
        for i, uid in enumerate(writers):
            n = a.messages // a.writers + (1 if i < a.messages % a.writers else 0)
            run([fill, os.path.join(st, "users", uid), cid, str(n), str(a.size)], env)
        print("filled casus %s with %d notes of %d B in %.1f s" % (cid, a.messages, a.size, time.monotonic() - t0))
        print("load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        clients = [("", casus)]
        if a.compare:
            clients = [(a.build, casus), (a.compare, os.path.join(a.compare, "client", "casus"))]
        cache = os.path.join(reader, "cache", cid + ".bin")
        rows = {}
        outputs = {}
        for r, (label, exe) in [(r, c) for r in range(a.runs) for c in clients]:
            hist = [exe, "--profile", reader, "--json", "history", cid]
            for kind in ("cold", "warm"):
                if kind == "cold" and os.path.exists(cache):
                    os.unlink(cache)
                s0 = cpu_of(srv.pid)
                rc, data, wall, cpu = timed(hist, env)
                s1 = cpu_of(srv.pid)
                if rc != 0:
                    raise SystemExit("history failed (%d): %s" % (rc, data[-2000:]))
                doc = json.loads(data.decode().splitlines()[-1])
                msgs = doc["messages"]
                seqs = [m["seq"] for m in msgs]
                notes = [m for m in msgs if m.get("text", "").startswith("bench message ")
                         and len(m["text"]) == a.size]
                ok = (len(notes) == a.messages and all(m.get("verified") for m in msgs) and seqs == sorted(seqs)
                      and len(set(seqs)) == len(seqs))
                if not ok:
                    raise SystemExit("history as br0 is not the %d verified notes posted (%d listed): %s" %
                                     (a.messages, len(msgs), [m for m in msgs if m not in notes][:3]))
                rows.setdefault((label, kind), []).append((wall, cpu, s1 - s0))
                outputs.setdefault((r, kind), set()).add(data)
                print("%srun %d %-4s wall %6.3f s  client CPU %6.3f s  casusd CPU %6.3f s  (%d messages, %d B of JSON)"
                      % (label and label + ": ", r + 1, kind, wall, cpu, s1 - s0, len(msgs), len(data)))
        if a.compare:
            same = all(len(v) == 1 for v in outputs.values())
            print("both builds printed byte-identical documents in every run: %s" % ("yes" if same else "NO"))
        print("load average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        for (label, kind), xs in rows.items():
            w = median([x[0] for x in xs])
            c = median([x[1] for x in xs])
            s = median([x[2] for x in xs])
            print("%smedian %-4s wall %.3f s  client CPU %.3f s  casusd CPU %.3f s" % (label and label + ": ", kind, w, c, s))
    finally:
        if srv and srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(timeout=30)
            except subprocess.TimeoutExpired:
                srv.kill()
        if a.keep:
            print("kept", st)
        else:
            shutil.rmtree(st, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
