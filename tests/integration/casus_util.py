"""
casus_util.py: helpers shared by the server, policy and scenario tests.

Watch   a background `casus --json watch` that collects pushes line by line.
raw()   `casus --json raw`: one request per line over an authenticated session.
header  the clear header of a message (casus id, audience, epoch, sender, id).
"""
import base64
import json
import struct
import subprocess
import threading
import time

import harness


class Watch:
    """`casus --json watch [CASUS] --seconds S` in the background; pushes in .pushes
    (connection state events of the client are left out). Without a casus (cid None)
    it follows whatever the server pushes to the device: for users who are not (yet)
    members, e.g. to receive a notice."""

    def __init__(self, dep, user, cid, seconds=60, count=100000):
        self.user = user
        self.proc = subprocess.Popen(
            [harness.CASUS, "--profile", dep.users[user], "--json", "watch"] + ([cid] if cid else []) +
            ["--count", str(count), "--seconds", str(seconds)],
            env=dep.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.ready = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.ready or self.proc.poll() is not None, timeout=60):
                raise AssertionError("watch as %s never became ready" % user)
        if not self.ready:
            raise AssertionError("watch as %s exited: %s %s" % (user, self.lines, self.proc.stderr.read()))

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            with self.cond:
                if obj.get("ready"):
                    self.ready = True
                elif obj.get("push") != "connection":
                    self.lines.append(obj)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    @property
    def pushes(self):
        with self.cond:
            return list(self.lines)

    def msgs(self):
        return [p for p in self.pushes if p.get("push") == "msg"]

    def wait_for(self, pred, timeout=30):
        """Wait until pred(pushes) is true; returns the pushes (the caller asserts)."""
        deadline = time.time() + timeout
        with self.cond:
            while not pred(list(self.lines)) and time.time() < deadline and self.proc.poll() is None:
                self.cond.wait(timeout=0.2)
            return list(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        return self.pushes


def raw(dep, user, requests, timeout=120):
    """Send requests (dicts or raw strings) over one authenticated session as user.
    Returns (exit code, responses, pushes)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in requests]
    p = subprocess.run([harness.CASUS, "--profile", dep.users[user], "--json", "raw"], env=dep.env,
                       input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=timeout)
    resps, pushes = [], []
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        (pushes if "push" in obj else resps).append(obj)
    return p.returncode, resps, pushes


def code(resp):
    """The wire error code of a response, or "ok"."""
    if resp.get("ok"):
        return "ok"
    return resp.get("error", {}).get("code")


def header(msg_b64):
    """The clear header fields of a message (cc_message.h byte layout)."""
    b = base64.b64decode(msg_b64)
    if len(b) < 107:
        raise AssertionError("message shorter than its header: %d bytes" % len(b))
    epoch = struct.unpack(">Q", b[18:26])[0]
    return {"version": b[0], "casus": b[1:17].hex(), "audience": b[17], "epoch": epoch,
            "sender": b[58:74].hex(), "id": b[82:98].hex(), "ground": b[106]}


def raw_history(dep, user, cid, after=0, limit=None):
    req = {"type": "history", "casus": cid, "after": after}
    if limit:
        req["limit"] = limit
    rc, resps, _ = raw(dep, user, [req])
    assert resps, "no response to history as %s (rc %d)" % (user, rc)
    return resps[0]
