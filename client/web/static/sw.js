// sw.js: the service worker that keeps the web client's own files
// (index.html, app.js, style.css, casus-wasm.wasm), so that a reload while
// casusd cannot be reached still opens the page, and with it the local copy
// and the outbox (docs/WEB.md "Offline").
//
// Network first: while casusd answers, its files are used (and kept); only
// when it cannot be reached are the files of the last successful load served.
// The browser checks them against index.html's Subresource Integrity as
// always (app.js, style.css; the wasm against the hash compiled into app.js).
// Nothing else goes through it: no request to another origin, no WebSocket,
// no data. A new build (another build id) replaces the kept files.
const CACHE = 'casus-@BUILD@';
const FILES = ['./', 'index.html', 'app.js', 'style.css', 'casus-wasm.wasm'];

function key(url) {
  return url.origin + url.pathname;
}

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== 'GET' || url.origin !== self.location.origin) return;
  const name = url.pathname === '/' ? './' : url.pathname.slice(1);
  if (!FILES.includes(name)) return;
  ev.respondWith(fetch(ev.request).then((resp) => {
    if (resp.ok) {
      const copy = resp.clone();
      ev.waitUntil(caches.open(CACHE).then((c) => c.put(key(url), copy)));
    }
    return resp;
  }).catch(() => caches.open(CACHE).then((c) => c.match(key(url))).then((r) => r || Response.error())));
});
