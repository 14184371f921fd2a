"""
proxy.py: a compromised casus server for the hostile-server suite.

HostileProxy terminates TLS with the deployment's own certificate and key (the
ones tests/integration/harness.py makes for a TLS deployment), accepts the
client's WebSocket (subprotocol casus.v1), opens its own TLS WebSocket to the
real casusd and relays every frame. It is what an attacker who holds the
server's TLS key, or runs the server, can do: each test installs hooks that
see every frame (decoded JSON) and decide what happens to it.

    proxy = HostileProxy(dep.tls_crt, dep.tls_key, upstream_port).start()
    proxy.on_request = fn(sess, req)            client -> server
    proxy.on_response = fn(sess, req, resp)     server -> client, answer to req
    proxy.on_push = fn(sess, push)              server -> client, no id

A hook returns what to do with the frame:
    PASS             relay it unchanged (also what returning None means)
    DROP             swallow it
    a dict           relay this object instead (modified or replaced)
    Reply(obj)       (on_request only) answer the client with obj, which gets
                     the request's id, and send nothing upstream
    Many([...])      (on_response / on_push) send these objects to the client
                     in this order (duplicate, inject before / after)
Hooks run on the proxy's thread; they may be plain functions or coroutines.
A coroutine hook may call `await sess.upstream(obj)` to make its own request
to casusd on that session's authenticated connection (the answer is not
relayed to the client). `sess.user` is the user the server authenticated
(from the `auth` answer), `sess.index` counts connections from 0.

`proxy.frames` records every frame as (index, user, direction, obj) with
direction "c2s", "s2c" (as received), "inj" (what the hook sent instead);
`proxy.hits` counts named events a hook records with `proxy.hit(name)`, so a
test can first prove its attack actually happened before it judges the
client. The WebSocket framing is python3-websockets (Debian 12: 10.4).

A browser loads the page from the origin it then opens its WebSocket to, so
plain HTTP requests (no WebSocket upgrade) are fetched from casusd and
relayed as they are (tests/web/test_hostile.py): the browser trusts the proxy
with the same certificate as casusd and runs the same files under the same
CSP, only every frame goes through the hooks.
"""
import asyncio
import http
import http.client
import itertools
import json
import ssl
import threading

import websockets

PASS = object()
DROP = object()


class Reply:
    def __init__(self, obj):
        self.obj = obj


class Many:
    def __init__(self, objs):
        self.objs = list(objs)


PROXY_ID_BASE = 1 << 50  # ids of the proxy's own requests to casusd


class Session:
    """One client connection and the proxy's own connection to casusd."""

    def __init__(self, proxy, index, client, server):
        self.proxy = proxy
        self.index = index
        self.client = client
        self.server = server
        self.user = None
        self.pending = {}  # request id -> request object
        self.own = {}  # proxy request id -> future
        self.ids = itertools.count(PROXY_ID_BASE)
        self.state = {}  # free for hooks

    async def upstream(self, obj, timeout=60):
        """Send a request of the proxy's own to casusd and return its answer."""
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.own[rid] = fut
        await self.server.send(json.dumps(dict(obj, id=rid)))
        return await asyncio.wait_for(fut, timeout)

    async def to_client(self, obj):
        self.proxy.record(self, "inj", obj)
        await self.client.send(json.dumps(obj))


async def _call(hook, *args):
    if hook is None:
        return PASS
    r = hook(*args)
    if asyncio.iscoroutine(r):
        r = await r
    return PASS if r is None else r


class HostileProxy:
    def __init__(self, tls_crt, tls_key, upstream_port, upstream_host="localhost"):
        self.tls_crt = tls_crt
        self.tls_key = tls_key
        self.upstream_url = "wss://%s:%d" % (upstream_host, upstream_port)
        self.upstream_host, self.upstream_port = upstream_host, upstream_port
        self.on_request = None
        self.on_response = None
        self.on_push = None
        self.frames = []
        self.hits = {}
        self.port = None
        self._lock = threading.Lock()
        self._count = itertools.count()
        self._loop = None
        self._thread = None
        self._stop = None
        self._ready = threading.Event()
        self._error = None

    # -- bookkeeping usable from hooks and tests --------------------------------
    def hit(self, name, n=1):
        with self._lock:
            self.hits[name] = self.hits.get(name, 0) + n

    def count(self, name):
        with self._lock:
            return self.hits.get(name, 0)

    def record(self, sess, direction, obj):
        with self._lock:
            self.frames.append((sess.index, sess.user, direction, obj))

    def sent(self, type_=None, user=None):
        """Requests clients sent (as received by the proxy), optionally filtered."""
        with self._lock:
            return [f[3] for f in self.frames if f[2] == "c2s" and (type_ is None or f[3].get("type") == type_)
                    and (user is None or f[1] == user)]

    def clear(self):
        with self._lock:
            self.frames.clear()
            self.hits.clear()
        self.on_request = self.on_response = self.on_push = None

    @property
    def url(self):
        return "wss://localhost:%d" % self.port

    # -- lifecycle --------------------------------------------------------------
    def start(self, timeout=30):
        self._thread = threading.Thread(target=self._run, name="hostile-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise AssertionError("hostile proxy did not start: %r" % (self._error,))
        return self

    def stop(self):
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        if self._thread:
            self._thread.join(30)

    def _run(self):
        try:
            asyncio.run(self._main())
        except Exception as e:  # reported through start()
            self._error = e
            self._ready.set()

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(self.tls_crt, self.tls_key)
        async with websockets.serve(self._handle, "127.0.0.1", 0, ssl=sctx, subprotocols=["casus.v1"],
                                    max_size=None, ping_interval=None, process_request=self._http) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    async def _http(self, path, headers):
        """A request without a WebSocket upgrade (a browser loading the page): casusd's answer, relayed."""
        if (headers.get("Upgrade") or "").lower() == "websocket":
            return None
        return await asyncio.get_running_loop().run_in_executor(None, self._fetch, path)

    def _fetch(self, path):
        conn = http.client.HTTPSConnection(self.upstream_host, self.upstream_port, timeout=30,
                                           context=ssl.create_default_context(cafile=self.tls_crt))
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            skip = ("connection", "keep-alive", "transfer-encoding", "content-length")
            return http.HTTPStatus(r.status), [(k, v) for k, v in r.getheaders() if k.lower() not in skip], body
        except OSError:
            return http.HTTPStatus.BAD_GATEWAY, [], b"upstream unreachable\n"
        finally:
            conn.close()

    async def _handle(self, client, path=None):
        cctx = ssl.create_default_context(cafile=self.tls_crt)
        try:
            server = await websockets.connect(self.upstream_url, ssl=cctx, subprotocols=["casus.v1"],
                                              max_size=None, ping_interval=None, open_timeout=30)
        except Exception:
            await client.close(1011, "upstream unreachable")
            return
        sess = Session(self, next(self._count), client, server)
        up = asyncio.ensure_future(self._c2s(sess))
        down = asyncio.ensure_future(self._s2c(sess))
        done, rest = await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        for t in rest:
            t.cancel()
        for t in done:
            if t.exception() and not isinstance(t.exception(), websockets.exceptions.ConnectionClosed):
                print("hostile proxy: relay error: %r" % (t.exception(),), flush=True)
        await server.close()
        await client.close()

    async def _c2s(self, sess):
        async for raw in sess.client:
            try:
                req = json.loads(raw)
            except ValueError:
                await sess.server.send(raw)  # not JSON: the server judges it
                continue
            self.record(sess, "c2s", req)
            if isinstance(req, dict) and "id" in req:
                sess.pending[req["id"]] = req
            act = await _call(self.on_request, sess, req) if isinstance(req, dict) else PASS
            if act is PASS:
                await sess.server.send(raw)
            elif act is DROP:
                continue
            elif isinstance(act, Reply):
                sess.pending.pop(req.get("id"), None)
                await sess.to_client(dict(act.obj, id=req.get("id")))
            elif isinstance(act, dict):
                self.record(sess, "inj", act)
                if "id" in act:
                    sess.pending[act["id"]] = act if req.get("id") != act["id"] else req
                await sess.server.send(json.dumps(act))
            else:
                raise TypeError("on_request returned %r" % (act,))

    async def _s2c(self, sess):
        async for raw in sess.server:
            try:
                obj = json.loads(raw)
            except ValueError:
                await sess.client.send(raw)
                continue
            self.record(sess, "s2c", obj)
            rid = obj.get("id") if isinstance(obj, dict) else None
            if rid is not None and rid in sess.own:
                fut = sess.own.pop(rid)
                if not fut.done():
                    fut.set_result(obj)
                continue
            if rid is not None and "push" not in obj:
                req = sess.pending.pop(rid, None)
                if req is not None and req.get("type") == "auth" and obj.get("ok"):
                    sess.user = obj.get("user")
                act = await _call(self.on_response, sess, req or {}, obj)
            else:
                act = await _call(self.on_push, sess, obj)
            if act is PASS:
                await sess.client.send(raw)
            elif act is DROP:
                continue
            elif isinstance(act, Many):
                for o in act.objs:
                    await sess.to_client(o)
            elif isinstance(act, dict):
                await sess.to_client(act)
            else:
                raise TypeError("hook returned %r" % (act,))
