"""rawws.py: raw casus.v1 WebSocket frames for bad-input tests (python3-websockets)."""
import asyncio
import json

import websockets


async def _session(url, script):
    async with websockets.connect(url, subprotocols=["casus.v1"], max_size=None, open_timeout=10,
                                  ping_interval=None) as ws:
        return await script(ws)


def run(url, script, timeout=30):
    """Run an async script(ws) against a fresh connection; returns its result."""
    return asyncio.run(asyncio.wait_for(_session(url, script), timeout))


async def request(ws, obj):
    await ws.send(json.dumps(obj))
    return json.loads(await ws.recv())


async def closed_with(ws, timeout=15):
    """Wait until the server closes; return (close code, reason, frames received before)."""
    frames = []
    try:
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), timeout))
    except websockets.exceptions.ConnectionClosed as e:
        return e.code, e.reason, frames
