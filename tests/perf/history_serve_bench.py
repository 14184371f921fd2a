#!/usr/bin/python3
"""
history_serve_bench.py: casusd's CPU for serving a long history (issue 15:
"casusd serves 10,000 messages of history in at most 200 ms of CPU"). A
measurement, not a test.

    /usr/bin/python3 tests/perf/history_serve_bench.py [--build BUILD] [--compare OTHER_CASUSD] [--messages 10000] [--runs 3]

A deployment of its own (harness.py: root key, policy, devices bs0 and br0),
casusd on loopback with its own LMDB folder; `casus-bench durable-check`
posts notes of 1 KiB until at least N are stored; then, per run, casusd is
started on that store and `casus-bench history-burst` asks for N/500 pages of
500 messages (each page from the start of the casus: the same pages a cold
`casus history` reads, as far as the server's work goes) and reads every
answer. casusd's CPU is utime+stime from /proc/PID/stat before and after the
burst (connect and authentication included). With --compare the other binary
serves the same store in alternate runs, and the answers' byte counts must be
equal.
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--compare", help="another casusd binary, timed in alternate runs on the same store")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    os.environ["CASUS_BUILD"] = os.path.abspath(a.build)
    os.environ.setdefault("CASUS_SRC", ROOT)
    import harness
    bench = os.path.join(a.build, "bench", "casus-bench")
    users = [("bs0", "casemanager", "Bench Sender", "Bench"), ("br0", "ggd", "Bench Receiver", "Bench")]
    dep = harness.Deployment(users)
    url = "ws://127.0.0.1:%d" % dep.port
    extra = {"limits": {"req_per_s": 100000, "req_burst": 100000}}
    try:
        srv = harness.Server(dep, extra_config=extra).start()
        out, cid, stored = os.path.join(dep.dir, "fill.txt"), None, 0
        while stored < a.messages:
            args = [bench, "durable-check", "--url", url, "--state", dep.dir, "--sender", "bs0-d1",
                    "--receivers", "br0-d1", "--senders", "1", "--window", "64", "--seconds", "2", "--size", "1024"]
            if cid:
                args += ["--casus-id", cid]
            with open(out, "w") as f:
                p = subprocess.run(args, stdout=f, stderr=subprocess.PIPE, env=dep.env, timeout=300)
            if p.returncode != 0:
                raise SystemExit("casus-bench durable-check: " + p.stderr.decode(errors="replace"))
            lines = [line.split() for line in open(out) if line.strip()]
            cid = cid or [x for x in lines if x[0] == "CASUS"][0][1]
            stored += sum(1 for x in lines if x[0] == "ACK")
        srv.stop()
        pages = max(1, a.messages // 500)
        print("store: %d notes of 1 KiB in one casus; %d pages of 500 per run; load %s" %
              (stored, pages, open("/proc/loadavg").read().split()[:3]))
        builds = [("this", os.path.join(a.build, "server", "casusd"))]
        if a.compare:
            builds.append(("other", os.path.abspath(a.compare)))
        got = {}
        for run in range(a.runs):
            for name, binary in builds:
                harness.CASUSD = binary
                srv = harness.Server(dep, extra_config=extra).start()
                c0 = cpu_of(srv.proc.pid)
                p = subprocess.run([bench, "history-burst", "--url", url, "--state", dep.dir, "--sender", "br0-d1",
                                    "--receivers", "bs0-d1", "--casus-id", cid, "--messages", str(pages)],
                                   capture_output=True, text=True, env=dep.env, timeout=600)
                c1 = cpu_of(srv.proc.pid)
                srv.stop()
                line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr
                if p.returncode != 0 or "replies=%d " % pages not in line:
                    raise SystemExit("history-burst (%s): %s %s" % (name, p.stdout, p.stderr))
                got.setdefault(name, []).append((c1 - c0, line))
                print("run %d %-5s casusd CPU %.3f s  %s" % (run + 1, name, c1 - c0, line), flush=True)
        sizes = {line.split("bytes=")[1].split()[0] for runs in got.values() for _, line in runs}
        if len(sizes) != 1:
            raise SystemExit("the builds answered with different byte counts: %s" % sizes)
        for name, runs in got.items():
            cpus = sorted(c for c, _ in runs)
            print("median %-5s casusd CPU %.3f s for %d messages" % (name, cpus[len(cpus) // 2], pages * 500))
    finally:
        dep.cleanup()


if __name__ == "__main__":
    main()
