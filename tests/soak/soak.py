#!/usr/bin/python3
"""
soak.py: an opt-in long mixed load against the real casusd (issue 19), with
stated bounds. Not part of the test command (it runs for CASUS_SOAK_SECONDS,
default 1800); run it by hand, niced, on a machine others share:

    cd tests/soak && CASUS_BUILD=$PWD/../../build CASUS_SRC=$PWD/../.. \\
        nice -n 10 /usr/bin/python3 soak.py [--out samples.jsonl]

The load, all at once for the whole run (moderate, so that it can share a
2-core machine):
- posts: casus-bench latency, one sender at --rate SOAK_RATE (default 40/s)
  into 2 casus with two receiving devices (every post is pushed);
- history reads: every 20 s a device reads 8 pages (~1 MiB each) of a big
  casus and a `dump` pages through all of it;
- hostile: every 60 s a device asks 16 pages and stops reading (dropped as a
  stalled reader after slow_reader_s = 30 s);
- connection churn: every 10 s 20 WebSocket connections open, ping and close.

Every SAMPLE_S (15 s) it records casusd's VmRSS (split into RssAnon, the
process's own memory, and RssFile, mostly pages of the memory-mapped LMDB file
that the kernel may drop at any time), VmHWM, open descriptors,
connections, the time /healthz takes, and from /metrics the interval's loop
turns (casusd_turn_commit_seconds) and posts (casusd_post_ack_seconds): count,
mean and the bucket bound under which 99% fell.

Bounds (checked at the end; the run fails if one is broken):
- anonymous memory (RssAnon) at the end (load stopped, clients gone) <=
  RSS_END_BOUND_MIB (96), and at most RSS_GROWTH_MIB (32) above the first sample
  after warm-up; file-backed RSS at most the store's data.mdb plus FILE_SLACK_MIB
  (16, the binary and its libraries): it grows with the store that the history
  reads map in, which is page cache, not casusd's memory (a first 30-minute run
  bounded VmRSS and broke the bound at 75 MiB of which 5 MiB were anonymous);
- open descriptors at the end <= the count before the load + FD_SLACK (4);
- every /healthz answered under HEALTHZ_BOUND_S (5 s), and ready (200);
- per interval, 99% of loop turns under TURN_P99_BOUND_S (1 s) and 99% of
  posts acknowledged under POST_P99_BOUND_S (2.5 s);
- the posting load ran to its end (the bench exits 0) and casusd exits
  cleanly on SIGTERM with no sanitizer report.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

import websockets  # noqa: E402

SECONDS = int(os.environ.get("CASUS_SOAK_SECONDS", "1800"))
RATE = int(os.environ.get("SOAK_RATE", "40"))
SAMPLE_S = 15
# the stalling device is dropped after this; not shorter: on a loaded machine
# the (niced) posting load itself can pause for seconds, and a drop ends it
SLOW_READER_S = 30
WARMUP_S = 60
RSS_END_BOUND_MIB = 96
RSS_GROWTH_MIB = 32
FILE_SLACK_MIB = 16
FD_SLACK = 4
HEALTHZ_BOUND_S = 5.0
TURN_P99_BOUND_S = 1.0
POST_P99_BOUND_S = 2.5

BENCH = os.path.join(harness.BUILD, "bench", "casus-bench")
USERS = [("bs0", "casemanager", "Bench Sender", "Bench"),
         ("br0", "ggd", "Bench Receiver", "Bench"),
         ("br1", "ervaringsdeskundige", "Bench Receiver", "Bench")]
BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf")]


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def metrics_raw(srv):
    r = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=60)
    return r.read().decode()


def histo(body, fam):
    b = [int(v) for v in re.findall(r'(?m)^%s_bucket\{le="[^"]+"\} (\d+)$' % fam, body)]
    s = float(re.search(r"(?m)^%s_sum (\S+)$" % fam, body).group(1))
    return b, s


def interval(h0, h1):
    """Count, mean and the bound under which 99% fell, between two scrapes."""
    b = [x - y for x, y in zip(h1[0], h0[0])]
    n = b[-1] if b else 0
    if n <= 0:
        return 0, 0.0, 0.0
    p99 = next(BOUNDS[i] for i, c in enumerate(b) if c >= 0.99 * n)
    return n, (h1[1] - h0[1]) / n, p99


def healthz(port):
    """Seconds /healthz took to answer, and its reason if not ready (503)."""
    t = time.monotonic()
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=60).read()
        why = None
    except urllib.error.HTTPError as e:
        why = "%d %s" % (e.code, e.read().decode(errors="replace").strip())
    return time.monotonic() - t, why


async def churn(url, n=20):
    async def one():
        try:
            async with websockets.connect(url, subprotocols=["casus.v1"], open_timeout=20,
                                          ping_interval=None) as ws:
                await ws.send('{"id":1,"type":"ping"}')
                await asyncio.wait_for(ws.recv(), 20)
                return 1
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
            return 0
    return sum(await asyncio.gather(*[one() for _ in range(n)]))


class Soak:
    def __init__(self, out):
        self.dep = harness.Deployment(USERS)
        self.dep.set_server_url()
        self.srv = harness.Server(self.dep, {"log_level": "warn", "limits": {
            "slow_reader_s": SLOW_READER_S, "req_per_s": 100000, "req_burst": 100000, "conn_per_device": 64}}).start()
        self.out = open(out, "w") if out else None
        self.procs = []

    def bench(self, mode, *args):
        path = os.path.join(self.dep.dir, "bench-%s-%d.txt" % (mode, int(time.time() * 1000)))
        f = open(path, "w")
        p = subprocess.Popen([BENCH, mode, "--url", self.dep.url, "--state", self.dep.dir, "--sender", "bs0-d1",
                              "--receivers", "br0-d1,br1-d1", *args], stdout=f, stderr=subprocess.DEVNULL,
                             env=self.dep.env)
        p.path, p.f = path, f
        self.procs.append(p)
        return p

    @staticmethod
    def lines(p):
        with open(p.path) as f:
            return [line.split() for line in f if line.strip()]

    def fill(self):
        """A casus of ~60 messages of ~160 KB (base64) for the history reads."""
        p = self.bench("durable-check", "--senders", "1", "--window", "8", "--size", "120000", "--seconds", "300")
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and \
                sum(1 for line in self.lines(p) if line[0] == "ACK") < 60:
            time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        return [line for line in self.lines(p) if line[0] == "CASUS"][0][1]

    def sample(self, t0, prev):
        pid = self.srv.proc.pid
        t_scrape = time.monotonic()
        body = metrics_raw(self.srv)
        t_scrape = time.monotonic() - t_scrape
        hz = healthz(self.dep.port)
        turn = histo(body, "casusd_turn_commit_seconds")
        post = histo(body, "casusd_post_ack_seconds")
        s = {"t": round(time.time() - t0), "rss_kib": proc_status(pid, "VmRSS"), "hwm_kib": proc_status(pid, "VmHWM"),
             "anon_kib": proc_status(pid, "RssAnon"), "file_kib": proc_status(pid, "RssFile"),
             "store_kib": os.path.getsize(os.path.join(self.srv.data, "data.mdb")) // 1024,
             "fds": fds(pid), "healthz_s": round(hz[0], 4), "not_ready": hz[1], "metrics_s": round(t_scrape, 4),
             "conns": int(re.search(r"(?m)^casusd_connections_open (\S+)$", body).group(1).split(".")[0]),
             "slow_closed": int(float(re.search(r"(?m)^casusd_slow_readers_closed_total (\S+)$", body).group(1))),
             "load1": float(open("/proc/loadavg").read().split()[0])}
        if prev:
            s["turns"], s["turn_mean_s"], s["turn_p99_le_s"] = interval(prev[0], turn)
            s["posts"], s["post_mean_s"], s["post_p99_le_s"] = interval(prev[1], post)
        if self.out:
            self.out.write(json.dumps(s) + "\n")
            self.out.flush()
        print(json.dumps(s), flush=True)
        return s, (turn, post)

    def run(self):
        cid = self.fill()
        pid = self.srv.proc.pid
        fds_before = fds(pid)
        t0 = time.time()
        load = self.bench("latency", "--senders", "1", "--window", "16", "--casus", "2", "--rate", str(RATE),
                          "--seconds", str(SECONDS))
        samples, prev = [], None
        next_sample = next_churn = next_read = next_stall = time.time()
        stalls = []
        while time.time() - t0 < SECONDS:
            now = time.time()
            if now >= next_churn:
                asyncio.run(churn(self.dep.url))
                next_churn = now + 10
            if now >= next_read:
                self.bench("history-burst", "--casus-id", cid, "--messages", "8", "--seconds", "60")
                self.bench("dump", "--casus-id", cid)
                next_read = now + 20
            if now >= next_stall:
                stalls.append((self.bench("history-burst", "--casus-id", cid, "--messages", "16", "--stall", "1",
                                          "--seconds", "30"), now))
                next_stall = now + 60
            if now >= next_sample:
                s, prev = self.sample(t0, prev)
                samples.append(s)
                next_sample = now + SAMPLE_S
            for p in [p for p in self.procs if p is not load and p.poll() is None]:
                if any(p is q for q, started in stalls if time.time() - started > SLOW_READER_S + 15):
                    p.kill()
            for p in [p for p in self.procs if p.poll() is not None]:
                p.f.close()
                self.procs.remove(p)
            time.sleep(0.5)
        try:
            rc = load.wait(timeout=600)  # its --seconds start after its own set-up
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
            rc = "timeout"
        for p in self.procs:
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        deadline = time.time() + 60
        while time.time() < deadline and metrics_raw(self.srv).find("\ncasusd_connections_open 0\n") < 0:
            time.sleep(0.2)
        time.sleep(2)  # one tick for malloc_trim (a window, not a wait for a condition)
        end, _ = self.sample(t0, prev)
        end["phase"] = "end"
        stats = self.lines(load)
        return samples, end, fds_before, rc, stats

    def stop(self):
        self.srv.stop()
        if self.out:
            self.out.close()
        self.dep.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="write the samples as JSON lines")
    a = ap.parse_args()
    soak = Soak(a.out)
    try:
        samples, end, fds_before, rc, stats = soak.run()
    finally:
        soak.stop()
    warm = next((s for s in samples if s["t"] >= WARMUP_S), samples[0])
    failures = []
    if end["anon_kib"] > RSS_END_BOUND_MIB * 1024:
        failures.append("anonymous RSS at the end %d KiB > %d MiB" % (end["anon_kib"], RSS_END_BOUND_MIB))
    if end["anon_kib"] > warm["anon_kib"] + RSS_GROWTH_MIB * 1024:
        failures.append("anonymous RSS grew from %d KiB to %d KiB" % (warm["anon_kib"], end["anon_kib"]))
    for s in samples + [end]:
        if s["file_kib"] > s["store_kib"] + FILE_SLACK_MIB * 1024:
            failures.append("file-backed RSS %d KiB beyond the store's %d KiB at t=%d"
                            % (s["file_kib"], s["store_kib"], s["t"]))
    if end["fds"] > fds_before + FD_SLACK:
        failures.append("descriptors %d at the end, %d before" % (end["fds"], fds_before))
    for s in samples + [end]:
        if s["not_ready"]:
            failures.append("/healthz not ready at t=%d: %s" % (s["t"], s["not_ready"]))
        if s["healthz_s"] >= HEALTHZ_BOUND_S or s["metrics_s"] >= HEALTHZ_BOUND_S:
            failures.append("/healthz took %.2f s, /metrics %.2f s at t=%d" % (s["healthz_s"], s["metrics_s"], s["t"]))
        if s.get("turns") and s["turn_p99_le_s"] > TURN_P99_BOUND_S:
            failures.append("turn p99 <= %g s at t=%d" % (s["turn_p99_le_s"], s["t"]))
        if s.get("posts") and s["post_p99_le_s"] > POST_P99_BOUND_S:
            failures.append("post p99 <= %g s at t=%d" % (s["post_p99_le_s"], s["t"]))
    if rc != 0:
        failures.append("the posting load exited %s" % rc)
    if any(s.get("posts") == 0 for s in samples[2:]):
        failures.append("an interval without an acknowledged post (the posting load stopped)")
    print("SOAK seconds=%d rate=%d samples=%d rss_start_kib=%d rss_warm_kib=%d rss_end_kib=%d hwm_kib=%d "
          "anon_start_kib=%d anon_warm_kib=%d anon_end_kib=%d anon_max_kib=%d file_end_kib=%d store_end_kib=%d "
          "fds_before=%d fds_end=%d worst_healthz_s=%.3f"
          % (SECONDS, RATE, len(samples), samples[0]["rss_kib"], warm["rss_kib"], end["rss_kib"], end["hwm_kib"],
             samples[0]["anon_kib"], warm["anon_kib"], end["anon_kib"], max(s["anon_kib"] for s in samples + [end]),
             end["file_kib"], end["store_kib"],
             fds_before, end["fds"], max(s["healthz_s"] for s in samples + [end])))
    for line in stats:
        print("BENCH " + " ".join(line))
    for f in failures:
        print("BOUND BROKEN: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
