"""
phased.py: runs a browser script (a tests/web/*.mjs) that stops at "phase
NAME" lines (lib.mjs t.phase) for the driving test to act between two browser
steps: each phase's function runs, and its answer (a dict) goes back to the
script as one JSON line on its stdin. A watchdog kills a script that hangs.
"""
import json
import subprocess
import sys
import threading


def run_phased(argv, env, phases, errpath, watchdog=600):
    """Run argv, answer its phases; returns (returncode, stdout lines). The
    script's stderr goes to errpath and its tail to our stderr."""
    with open(errpath, "w") as err:
        p = subprocess.Popen(argv, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        timer = threading.Timer(watchdog, p.kill)
        timer.start()
        out = []
        try:
            for line in p.stdout:
                sys.stdout.write(line)
                out.append(line)
                if line.startswith("phase "):
                    reply = phases[line.split()[1]]()
                    p.stdin.write(json.dumps(reply) + "\n")
                    p.stdin.flush()
            p.wait(timeout=60)
        finally:
            timer.cancel()
    with open(errpath) as f:
        sys.stderr.write(f.read()[-4000:])
    return p.returncode, out
