#!/usr/bin/env python3
"""bench/summarise.py OUTDIR RESULTS.md: medians, ratios and the latency plot of one bench/run.sh run.

Reads OUTDIR/raw.txt (every line casus-bench printed, plus run.sh's MACHINE, ROUND,
LOAD, SKIP and FAILED lines), writes OUTDIR/summary.md, OUTDIR/latency-*.dat and
OUTDIR/latency.svg (gnuplot), and puts summary.md into RESULTS.md between the
markers below (the rest of RESULTS.md is left as it is, so other sections can be
appended by hand). Only run.sh's own output is parsed; nothing here faces a user.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys

BEGIN = "<!-- bench/run.sh: generated section, begin (bench/summarise.py rewrites it) -->"
END = "<!-- bench/run.sh: generated section, end -->"
LABELS = ["casus", "casus-tls", "mosquitto", "ejabberd"]
TITLE = {"casus": "casus (ws://)", "casus-tls": "casus (wss://, TLS)", "mosquitto": "mosquitto 2.0 QoS 1",
         "ejabberd": "ejabberd 23.01 MUC+MAM"}


def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med(vals):
    vals = [v for v in vals if v is not None and v >= 0]
    return statistics.median(vals) if vals else None


def fmt(v, d=0):
    if v is None:
        return "–"
    if d == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, d)


def main():
    outdir, results_md = sys.argv[1], sys.argv[2]
    raw = open(os.path.join(outdir, "raw.txt")).read().splitlines()
    machine, rounds, results, skips, failed, conns, ejroom = {}, [], [], [], [], [], []
    load_start = load_end = ""
    for ln in raw:
        if ln.startswith("MACHINE "):
            machine.update(kv(ln))
        elif ln.startswith("ROUND "):
            rounds.append(ln)
        elif ln.startswith("LOAD start"):
            load_start = ln[len("LOAD start "):]
        elif ln.startswith("LOAD end"):
            load_end = " ".join(ln.split()[2:5])
            fs = kv(ln)
            if "p50" in fs:
                load_end += " (fdatasync then p50 %s ms, p99 %s ms)" % (fs.get("p50"), fs.get("p99"))
        elif ln.startswith("RESULT "):
            results.append(kv(ln))
        elif ln.startswith("SKIP "):
            skips.append(ln[5:])
        elif ln.startswith("FAILED "):
            failed.append(ln[7:])
        elif ln.startswith("connections: "):
            conns.append(ln[len("connections: "):])
        elif ln.startswith("EJROOM "):
            ejroom.append(ln[7:])

    def pick(label, mode, members=None, size=None, rate=None):
        out = []
        for r in results:
            if r.get("label") != label or r.get("mode") != mode or r.get("round") == "0":
                continue
            if members is not None and r.get("members") != str(members):
                continue
            if size is not None and r.get("size") != str(size):
                continue
            if rate is not None and r.get("rate") != str(rate):
                continue
            out.append(r)
        return out

    L = []
    w = L.append
    w(BEGIN)
    w("")
    stamp = os.path.basename(os.path.normpath(outdir))
    w("## Beside the peers: run %s (`%sbench/run.sh`)" % (stamp, "QUICK=1 " if machine.get("quick") == "1" else ""))
    w("")
    w("Raw output: `bench/results/%s/raw.txt`; this section is written by `bench/summarise.py` from it." % stamp)
    w("Every figure is the **median of %s round(s)**; each round runs casus (TLS off), mosquitto, ejabberd, "
      "then casus with TLS, back to back. One publisher, window 256 unacknowledged when flat out; "
      "open-loop (scheduled) sending at fixed rates for latency. Load generator: `casus-bench` on the same "
      "two cores for every system." % machine.get("rounds", "?"))
    w("")
    w("### Conditions")
    w("")
    w("- Machine: %s CPUs (%s), %s MiB, %s; commit %s." % (
        machine.get("nproc", "?"), machine.get("cpu", "?").replace("_", " "), machine.get("mem_mib", "?"),
        machine.get("kernel", "?").replace("_", " "), machine.get("commit", "?")))
    w("- mosquitto %s, ejabberd %s, libwebsockets %s (Debian packages)." % (
        machine.get("mosquitto", "?"), machine.get("ejabberd", "?"), machine.get("lws", "?")))
    w("- Shared machine: load average (1, 5, 15 min) at the start %s, at the end %s." % (load_start, load_end))
    for rd in rounds:
        d = kv(rd)
        m = re.match(r"ROUND (\d+) (\S+) LOAD (\S+ \S+ \S+)", rd)
        if m:
            w("- Round %s at %s UTC: load %s; fdatasync of a 4 KiB page p50 %s ms, p90 %s ms, p99 %s ms." % (
                m.group(1), m.group(2), m.group(3), d.get("p50"), d.get("p90"), d.get("p99")))
    w("- Flat-out runs last %s s each, latency points %s s each." % (machine.get("flat_s", "?"), machine.get("lat_s", "?")))
    if ejroom:
        w("- ejabberd room options as the server reports them: `%s`." % ejroom[0].strip())
    w("")

    # ---- flat out
    w("### Flat out: durable deliveries per second")
    w("")
    w("Deliveries/s = messages acknowledged by the server per second × members that received them "
      "(all were). In brackets: messages/s. casus acknowledges after the LMDB commit (fsync); mosquitto "
      "acknowledges a QoS 1 PUBLISH once the message is in its memory (persistence writes the store "
      "periodically); ejabberd's ack is the room's reflection of the message to the publisher (after MAM "
      "stored it in mnesia, no fsync).")
    w("")
    w("| members | payload | " + " | ".join(TITLE[x] for x in LABELS) + " | casus / mosquitto | casus / ejabberd |")
    w("|---|---|" + "---|" * len(LABELS) + "---|---|")
    flat = {}
    members_seen = sorted({int(r["members"]) for r in results if r.get("mode") == "throughput"})
    sizes_seen = sorted({int(r["size"]) for r in results if r.get("mode") == "throughput"})
    for m in members_seen:
        for s in sizes_seen:
            cells = []
            for lab in LABELS:
                rs = pick(lab, "throughput", m, s)
                d = med([num(r.get("deliv_s")) for r in rs])
                ms = med([num(r.get("msg_s")) for r in rs])
                flat[(lab, m, s)] = (d, ms, rs)
                cells.append("%s (%s)" % (fmt(d), fmt(ms)) if d is not None else "–")
            c = flat[("casus", m, s)][0]
            rq = flat[("mosquitto", m, s)][0]
            rx = flat[("ejabberd", m, s)][0]
            w("| %d | %d B | %s | %s | %s |" % (m, s, " | ".join(cells),
                                               ("%.2f×" % (c / rq)) if c and rq else "–",
                                               ("%.1f×" % (c / rx)) if c and rx else "–"))
    w("")
    w("Server CPU per 1,000 messages (s) and wire bytes per delivery (protocol framing included: WebSocket "
      "frame, MQTT PUBLISH, XMPP stanza re-serialised by libstrophe; TCP/IP and TLS records not counted):")
    w("")
    w("| members | payload | " + " | ".join(TITLE[x] for x in LABELS) + " |")
    w("|---|---|" + "---|" * len(LABELS))
    for m in members_seen:
        for s in sizes_seen:
            cells = []
            for lab in LABELS:
                rs = flat[(lab, m, s)][2]
                cpu = med([1000.0 * num(r["srv_cpu_s"]) / num(r["acked"]) for r in rs if num(r.get("acked"))])
                wire = med([num(r.get("push_wire")) for r in rs])
                cells.append("%s s, %s B" % (fmt(cpu, 2), fmt(wire)) if cpu is not None else "–")
            w("| %d | %d B | %s |" % (m, s, " | ".join(cells)))
    w("")

    # ---- latency sweep
    rates = sorted({int(float(r["rate"])) for r in results if r.get("mode") == "latency"})
    w("### Latency against offered rate (open-loop, 1 KiB, 10 members)")
    w("")
    w("Post-to-delivery: from the time a message was due (open-loop schedule) to its arrival at a member, "
      "one clock. p50 / p99 in ms; in brackets the rate the server acknowledged. A rate is skipped for a "
      "system when it is more than twice what that system did flat out in the same round.")
    w("")
    w("| offered msg/s | " + " | ".join(TITLE[x] for x in LABELS) + " |")
    w("|---|" + "---|" * len(LABELS))
    plotdata = {lab: [] for lab in LABELS}
    for rate in rates:
        cells = []
        for lab in LABELS:
            rs = pick(lab, "latency", rate=rate)
            p50 = med([num(r.get("p50")) for r in rs])
            p99 = med([num(r.get("p99")) for r in rs])
            got = med([num(r.get("msg_s")) for r in rs])
            if p50 is None:
                cells.append("–")
                continue
            plotdata[lab].append((rate, p50, p99))
            cells.append("%s / %s (%s)" % (fmt(p50, 2), fmt(p99, 2), fmt(got)))
        w("| %s | %s |" % (fmt(rate), " | ".join(cells)))
    w("")
    if skips:
        w("Skipped: " + "; ".join(sorted(set(re.sub(r"round=\d+ ", "", x) for x in skips))) + ".")
        w("")
    # plot
    plot_ok = False
    for lab in LABELS:
        with open(os.path.join(outdir, "latency-%s.dat" % lab), "w") as f:
            f.write("# offered_msg_s p50_ms p99_ms\n")
            for rate, p50, p99 in plotdata[lab]:
                f.write("%d %.3f %.3f\n" % (rate, p50, p99))
    if shutil.which("gnuplot") and any(plotdata.values()):
        colours = {"casus": "#1f77b4", "casus-tls": "#2ca02c", "mosquitto": "#ff7f0e", "ejabberd": "#d62728"}
        plots = []
        for lab in LABELS:
            if not plotdata[lab]:
                continue
            dat = "latency-%s.dat" % lab  # gnuplot runs in outdir: the script names no absolute path
            plots.append("'%s' using 1:2 with linespoints lw 2 pt 7 lc rgb '%s' title '%s p50'" % (dat, colours[lab], TITLE[lab]))
            plots.append("'%s' using 1:3 with linespoints lw 2 pt 5 dt 2 lc rgb '%s' title '%s p99'" % (dat, colours[lab], TITLE[lab]))
        script = "\n".join([
            "set terminal svg size 900,560 dynamic font 'sans,12' background '#ffffff'",
            "set output 'latency.svg'",
            "set title 'post-to-delivery latency, 1 KiB, 10 members, open-loop (%s)'" % stamp,
            "set xlabel 'offered messages/s'", "set ylabel 'latency (ms)'",
            "set logscale xy", "set grid", "set key outside right top",
            "plot " + ", ".join(plots), ""])
        with open(os.path.join(outdir, "latency.gp"), "w") as f:
            f.write(script)
        plot_ok = subprocess.run(["gnuplot", "latency.gp"], cwd=outdir).returncode == 0
    if plot_ok:
        w("![p50 and p99 latency against offered rate](results/%s/latency.svg)" % stamp)
        w("")

    # ---- connections
    if conns:
        w("### Idle TLS connections (casusd memory)")
        w("")
        for c in conns:
            w("- " + c)
        w("")

    # ---- targets
    w("### Targets (issue 15)")
    w("")
    w("| target | figure (this run) | status |")
    w("|---|---|---|")

    def ratio_line(peer, need):
        rows = []
        for m in members_seen:
            for s in sizes_seen:
                c, p = flat[("casus", m, s)][0], flat[(peer, m, s)][0]
                if c and p:
                    rows.append((m, s, c / p))
        if not rows:
            return "–", "not measured"
        head = [r for r in rows if r[0] == 10 and r[1] == 1024] or rows
        txt = ", ".join("%.2f× (%d members, %d B)" % (r[2], r[0], r[1]) for r in rows)
        return txt, "**met**" if head[0][2] >= need else "**missed**"

    t, st = ratio_line("mosquitto", 1.0)
    w("| flat out ≥ 1.0× mosquitto QoS 1 (judged on 10 members, 1 KiB) | %s | %s |" % (t, st))
    t, st = ratio_line("ejabberd", 30.0)
    w("| flat out ≥ 30× ejabberd MUC+MAM (judged on 10 members, 1 KiB) | %s | %s |" % (t, st))
    rs = pick("casus-tls", "latency", rate=2000)
    p99 = med([num(r.get("p99")) for r in rs])
    w("| p99 ≤ 5 ms at 2,000 msg/s with TLS (open-loop, 1 KiB, 10 members) | %s | %s |" % (
        ("p99 %s ms (p50 %s ms)" % (fmt(p99, 2), fmt(med([num(r.get('p50')) for r in rs]), 2))) if p99 is not None else "–",
        "not measured" if p99 is None else ("**met**" if p99 <= 5 else "**missed**")))
    rss = None
    nconn = None
    for c in conns:
        m = re.search(r"(\d+) of (\d+) idle connections still open after the run; casusd RSS (\d+) KiB", c)
        if m:
            nconn, rss = int(m.group(1)), int(m.group(3))
    if rss is not None:
        w("| 10,000 idle TLS connections in ≤ 500 MiB of casusd | %d connections open, casusd RSS %.0f MiB | %s |" % (
            nconn, rss / 1024.0, "**met**" if rss / 1024.0 <= 500 and nconn >= 10000 else
            ("**missed**" if nconn >= 10000 else "not reached: fewer than 10,000 were open (see above)")))
    w("")
    if failed:
        w("Failed runs (no result): " + "; ".join(failed) + ".")
        w("")

    # ---- every figure
    w("<details><summary>Every run of this section (round by round)</summary>")
    w("")
    w("| round | system | mode | members | payload | rate | msg/s | deliveries/s | server CPU s | p50 ms | p99 ms | ack p99 ms | wire B/delivery |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r.get("round"), r.get("label"), r.get("mode"), r.get("members"), r.get("size"),
            r.get("rate") if r.get("rate") != "0" else "flat out", fmt(num(r.get("msg_s"))),
            fmt(num(r.get("deliv_s"))), r.get("srv_cpu_s"),
            r.get("p50") if r.get("p50") != "-1.000" else "", r.get("p99") if r.get("p99") != "-1.000" else "",
            r.get("ack_p99") if r.get("ack_p99") != "-1.000" else "", r.get("push_wire")))
    w("")
    w("</details>")
    w("")
    w(END)
    section = "\n".join(L) + "\n"
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(section)

    doc = open(results_md).read() if os.path.exists(results_md) else "# casus-bench results\n"
    if BEGIN in doc and END in doc:
        a = doc.index(BEGIN)
        b = doc.index(END) + len(END)
        doc = doc[:a] + section.rstrip("\n") + doc[b:]
    else:
        # first time: after the title and intro paragraph, before the first "## "
        i = doc.find("\n## ")
        doc = (doc[:i + 1] + section + "\n" + doc[i + 1:]) if i >= 0 else doc + "\n" + section
    with open(results_md, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
