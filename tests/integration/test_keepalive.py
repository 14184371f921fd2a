"""
test_keepalive.py: casusd's own keepalive (server.c ka_tick; libwebsockets'
per-frame validity timers are off because they cost O(connections) per frame).
An idle connection that answers pings stays open past hangup_s; one that
never answers is closed after hangup_s.
"""
import asyncio
import base64
import os
import socket
import time

import harness
import rawws


class Keepalive(harness.CasusTest):
    users = harness.DEFAULT_USERS[:1]
    config = {"limits": {"ping_s": 1, "hangup_s": 3, "auth_timeout_s": 60}}

    def test_answering_peer_stays_open(self):
        async def script(ws):
            # python-websockets answers pings by itself; idle well past hangup_s
            await asyncio.sleep(5)
            return await rawws.request(ws, {"id": 7, "type": "ping"})
        r = rawws.run(self.dep.url, script, timeout=30)
        self.assertEqual(r.get("id"), 7)
        self.assertTrue(r.get("ok"))

    def test_silent_peer_is_closed(self):
        s = socket.create_connection(("127.0.0.1", self.dep.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: casus.v1\r\n\r\n" % key).encode())
        head = s.recv(4096)
        self.assertIn(b" 101 ", head.split(b"\r\n")[0])
        t0 = time.time()
        pings = 0
        closed = False
        while time.time() - t0 < 12:
            try:
                b = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                closed = True
                break
            if not b:
                closed = True
                break
            pings += b.count(b"\x89")  # ping opcode, never answered
        s.close()
        self.assertTrue(closed, "a peer that never answers pings was not closed")
        self.assertGreaterEqual(time.time() - t0, 2.5)
        self.assertGreaterEqual(pings, 1)


if __name__ == "__main__":
    harness.main()
