"""
test_foundation.py: the first path end to end, and bad input against the real server.

casus -> casusd over TLS with the development-style certificate; then a raw
WebSocket client sends what a broken or hostile client would, while a
well-behaved client keeps working.
"""
import asyncio
import json
import threading

import harness
import rawws
import websockets
from websockets.frames import OP_TEXT, Frame


class TLSPath(harness.CasusTest):
    tls = True

    def test_post_and_read_back_over_tls(self):
        cid = self.new_casus()
        out = self.dep.ok("anna", "post", cid, "Eerste notitie over tls")
        self.assertGreater(out["seq"], 0)
        self.assertIn("Eerste notitie over tls", self.texts("gijs", cid))
        self.assertIn("Eerste notitie over tls", self.texts("anna", cid))

    def test_wrong_ca_is_refused(self):
        # a client that pins another CA must not talk to this server
        import os
        import subprocess
        other = os.path.join(self.dep.dir, "other.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", other + ".key",
                        "-out", other], check=True, capture_output=True)
        prof = self.dep.users["anna"]
        pj = os.path.join(prof, "profile.json")
        with open(pj) as f:
            data = json.load(f)
        good = data["ca"]
        data["ca"] = other
        with open(pj, "w") as f:
            json.dump(data, f)
        try:
            rc, out, err = self.dep.cli("anna", "list")
            self.assertEqual(rc, 4, (out, err))
            self.assertEqual(out["error"]["code"], "network")
        finally:
            data["ca"] = good
            with open(pj, "w") as f:
                json.dump(data, f)


class BadInput(harness.CasusTest):
    # The bucket refills at 1 request/s: a flood of 150 in one write gets the
    # excess refused unless the server needs 50 s to read it, so a slow,
    # sanitized casusd on a busy machine still sees the burst as a burst
    # (at 50/s one second of scheduling delay refilled the whole excess).
    config = {"limits": {"auth_timeout_s": 2, "max_frame_preauth": 4096, "max_frame": 65536,
                         "req_per_s": 1, "req_burst": 100}}

    def setUp(self):
        super().setUp()
        self.cid = self.new_casus()
        self.url = self.dep.url

    def well_behaved(self, text):
        """A real client posting and reading while the bad input goes on."""
        self.dep.ok("anna", "post", self.cid, text)
        self.assertIn(text, self.texts("gijs", self.cid))

    def test_invalid_json_gets_error_and_close(self):
        async def script(ws):
            await ws.send("{this is not json")
            return await rawws.closed_with(ws)
        code, reason, frames = rawws.run(self.url, script)
        self.assertEqual(code, 1007)
        self.assertEqual(len(frames), 1)
        err = json.loads(frames[0])
        self.assertFalse(err["ok"])
        self.assertEqual(err["error"]["code"], "bad_request")
        self.well_behaved("na kapotte json")

    def test_not_an_object_and_missing_fields(self):
        async def script(ws):
            out = []
            out.append(await rawws.request(ws, {"type": "ping"}))            # no id
            out.append(await rawws.request(ws, {"id": 1}))                   # no type
            out.append(await rawws.request(ws, {"id": "x", "type": "ping"})) # wrong type
            out.append(await rawws.request(ws, {"id": 2, "type": "no.such.thing"}))
            out.append(await rawws.request(ws, {"id": 3, "type": "hello", "version": 99}))
            out.append(await rawws.request(ws, {"id": 4, "type": "hello", "version": "1"}))
            out.append(await rawws.request(ws, {"id": 5, "type": "ping", "type2": [1] * 10}))
            return out
        out = rawws.run(self.url, script)
        codes = [o.get("error", {}).get("code") for o in out]
        self.assertEqual(codes, ["bad_request", "bad_request", "bad_request", "unknown_type",
                                 "unsupported_version", "bad_request", None])
        self.assertTrue(out[-1]["ok"])
        self.well_behaved("na foute velden")

    def test_request_before_authentication(self):
        async def script(ws):
            out = []
            for i, t in enumerate(["casus.list", "msg.post", "history", "commit.post", "audit.query"]):
                out.append(await rawws.request(ws, {"id": i + 1, "type": t}))
            out.append(await rawws.request(ws, {"id": 9, "type": "auth", "cert": "AAAA", "sig": "AAAA"}))
            return out
        out = rawws.run(self.url, script)
        for o in out[:5]:
            self.assertEqual(o["error"]["code"], "unauthenticated", o)
        self.assertEqual(out[5]["error"]["code"], "unauthenticated")  # auth before hello

    def test_forged_auth_is_refused(self):
        async def script(ws):
            hello = await rawws.request(ws, {"id": 1, "type": "hello", "version": 1})
            cert = open(self.dep.users["anna"] + "/device.cert", "rb").read()
            import base64
            return hello, await rawws.request(ws, {"id": 2, "type": "auth",
                                                   "cert": base64.b64encode(cert).decode(),
                                                   "sig": base64.b64encode(b"\0" * 64).decode()})
        hello, auth = rawws.run(self.url, script)
        self.assertTrue(hello["ok"])
        self.assertEqual(auth["error"]["code"], "auth_failed")

    def test_frame_over_the_limit_is_closed(self):
        async def script(ws):
            await ws.send(json.dumps({"id": 1, "type": "ping", "pad": "x" * 10000}))
            return await rawws.closed_with(ws)
        code, reason, frames = rawws.run(self.url, script)
        self.assertEqual(code, 1009)
        self.well_behaved("na te groot frame")

    def test_binary_frame_is_closed(self):
        async def script(ws):
            await ws.send(b"\x00\x01binary")
            return await rawws.closed_with(ws)
        code, reason, frames = rawws.run(self.url, script)
        self.assertEqual(code, 1003)

    def test_silent_client_times_out(self):
        async def script(ws):
            return await rawws.closed_with(ws, timeout=10)
        import time
        t0 = time.time()
        code, reason, frames = rawws.run(self.url, script)
        self.assertEqual(code, 1008)
        self.assertIn("authentication timeout", reason)
        self.assertLess(time.time() - t0, 8)

    def test_flood_is_limited_and_others_keep_working(self):
        result = {}

        def flood(n, key):
            # All n requests leave in ONE write, so the server sees them back to back
            # however slowly this process runs: the bucket (1/s, 100 deep) cannot refill
            # between them, and the outcome depends on the count alone, not on timing.
            frames = b"".join(Frame(OP_TEXT, json.dumps({"id": i + 1, "type": "ping"}).encode())
                              .serialize(mask=True) for i in range(n))

            async def script(ws):
                codes = []
                ws.transport.write(frames)
                try:
                    for i in range(n):
                        m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        codes.append(m.get("error", {}).get("code", "ok"))
                except websockets.exceptions.ConnectionClosed as e:
                    codes.append("closed:%d" % e.code)
                return codes
            result[key] = rawws.run(self.url, script, timeout=120)

        # a burst over the bucket: the excess is refused, the connection stays
        t = threading.Thread(target=flood, args=(150, "burst"))
        t.start()
        self.well_behaved("tijdens een flood")
        t.join()
        codes = result["burst"]
        self.assertEqual(len(codes), 150, codes[-5:])
        self.assertGreaterEqual(codes.count("ok"), 100)
        self.assertIn("rate_limited", codes)
        self.assertFalse([c for c in codes if c.startswith("closed")])
        # a sustained flood (more refusals in a row than the burst): the server hangs up on it
        flood(1000, "sustained")
        self.assertTrue(result["sustained"][-1].startswith("closed:"), result["sustained"][-5:])
        self.assertGreater(self.srv.metrics()["casusd_rate_limited_total"], 0)
        self.well_behaved("na een flood")


if __name__ == "__main__":
    harness.main()
