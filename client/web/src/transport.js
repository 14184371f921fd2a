// transport.js: casus.v1 over the browser's WebSocket (docs/PROTOCOL.md).
//
// One JSON object per text frame; requests carry an integer id and their
// responses are matched by it (a msg.post may be answered after a later,
// cheaper request). Server pushes go to the onPush listener. When the
// connection drops, it reconnects with exponential backoff (0.5 s doubling
// to 30 s, with jitter) and calls onOpen again, where the caller
// authenticates anew; requests in flight fail with a NetworkError. The first
// connection is not retried: start() rejects, so the login screen can say so;
// a page that then works offline from its local copy calls retry().
// This layer trusts nothing it receives: it only frames and routes.

export class NetworkError extends Error {}
export class ServerError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

const BACKOFF_MIN = 500;
const BACKOFF_MAX = 30000;
const REQUEST_TIMEOUT = 30000;
const MAX_FRAME = 256 * 1024;

export class Transport {
  constructor(url, { onOpen, onPush, onState } = {}) {
    this.url = url;
    this.onOpen = onOpen || (async () => {});
    this.onPush = onPush || (() => {});
    this.onState = onState || (() => {});
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
    this.stopped = false;
    this.backoff = BACKOFF_MIN;
    this.timer = null;
    this.state = 'offline';
  }

  setState(s, detail) {
    this.state = s;
    this.onState(s, detail);
  }

  // Connects and resolves after onOpen (hello/auth) has succeeded once.
  start() {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      this.firstOpen = { resolve, reject };
      this.connect();
    });
  }

  connect() {
    clearTimeout(this.timer);
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url, 'casus.v1');
    } catch (e) {
      this.scheduleReconnect(e);
      return;
    }
    this.ws = ws;
    ws.onopen = async () => {
      try {
        await this.onOpen(this);
        this.backoff = BACKOFF_MIN;
        this.setState('online');
        if (this.firstOpen) {
          this.firstOpen.resolve();
          this.firstOpen = null;
        }
      } catch (e) {
        // authentication or verification refused: do not hammer the server
        if (this.firstOpen) {
          this.firstOpen.reject(e);
          this.firstOpen = null;
          this.stop();
        } else {
          this.setState('error', e);
          ws.close();
        }
      }
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, p] of this.pending) p.reject(new NetworkError(`connection closed (${ev.code})`));
      this.pending.clear();
      if (this.stopped) {
        this.setState('offline');
        return;
      }
      if (this.firstOpen) {
        // never got in: report it to the login screen instead of retrying behind its back
        this.firstOpen.reject(new NetworkError(`connection closed (${ev.code})`));
        this.firstOpen = null;
        this.stop();
        return;
      }
      this.scheduleReconnect(new NetworkError(`connection closed (${ev.code})`));
    };
  }

  scheduleReconnect(err) {
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_MAX, this.backoff) * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(BACKOFF_MAX, this.backoff * 2);
    this.setState('reconnecting', err);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // After a first connection that failed (start() rejected): keep trying in
  // the background with the same backoff, the page working from its local
  // copy meanwhile; onOpen authenticates when casusd is back.
  retry() {
    this.stopped = false;
    this.firstOpen = null;
    this.backoff = BACKOFF_MIN;
    this.scheduleReconnect(new NetworkError('offline'));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
    this.setState('offline');
  }

  receive(data) {
    if (typeof data !== 'string' || data.length > MAX_FRAME) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return;
    if (typeof msg.push === 'string') {
      this.onPush(msg);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok === true) p.resolve(msg);
    else {
      const e = msg.error && typeof msg.error === 'object' ? msg.error : {};
      p.reject(new ServerError(String(e.code || 'error'), String(e.message || '')));
    }
  }

  // Sends {id, type, ...fields}; resolves with the response object.
  request(type, fields = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new NetworkError('not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new NetworkError(`no answer to ${type}`));
      }, REQUEST_TIMEOUT);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...fields, id, type }));
    });
  }
}

// base64 <-> bytes (the wire's binary fields are standard base64 with padding)
export function b64decode(s) {
  if (typeof s !== 'string') throw new ServerError('bad_response', 'expected base64');
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
