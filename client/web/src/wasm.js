// wasm.js: the only door to casus' cryptography in the browser.
//
// Loads crypto/ compiled to WebAssembly (client/web/wasm/cw.c) with the
// bytes' Subresource Integrity hash fixed at build time, and wraps its
// functions. Nothing here signs, verifies, seals or decides by itself: every
// such step is one call into wasm. Secret keys stay inside wasm memory; this
// side only ever sees the sealed keystore image, public data and signatures.
// Inputs copied into wasm memory (passphrases included) are wiped there after
// each call.
import createCasusWasm from 'casus-wasm-gen';

/* global CASUS_WASM_SRI */
const OUT_BIN = 0;
const OUT_AUX = 1;
const OUT_JSON = 2;

export class CryptoError extends Error {
  constructor(code, name, message) {
    super(message);
    this.code = code;
    this.errname = name;
  }
}

let M = null;

export async function loadWasm(url = 'casus-wasm.wasm') {
  if (M) return M;
  // fetch with integrity: the browser refuses bytes whose hash differs from
  // the one this bundle was built with (the bundle itself is pinned by SRI).
  const resp = await fetch(url, { integrity: CASUS_WASM_SRI, credentials: 'omit', cache: 'no-cache' });
  if (!resp.ok) throw new Error(`wasm: HTTP ${resp.status}`);
  const bytes = await resp.arrayBuffer();
  M = await createCasusWasm({
    instantiateWasm(imports, done) {
      WebAssembly.instantiate(bytes, imports).then((r) => done(r.instance));
      return {};
    },
  });
  const rc = M._cw_init();
  if (rc !== 0) throw fail(rc);
  return M;
}

function fail(rc) {
  return new CryptoError(rc, M.UTF8ToString(M._cw_errname(rc)), M.UTF8ToString(M._cw_strerror(rc)));
}

// A block of wasm memory holding bytes or a NUL-terminated UTF-8 string;
// wiped and freed by free().
class Arg {
  constructor(bytes) {
    this.len = bytes.length;
    this.ptr = M._malloc(this.len + 1);
    if (!this.ptr) throw new Error('wasm: out of memory');
    M.HEAPU8.set(bytes, this.ptr);
    M.HEAPU8[this.ptr + this.len] = 0;
  }
  free() {
    M.HEAPU8.fill(0, this.ptr, this.ptr + this.len + 1);
    M._free(this.ptr);
  }
}

const enc = new TextEncoder();
function str(s) {
  return new Arg(enc.encode(String(s)));
}

function out(slot) {
  const p = M._cw_out_ptr(slot);
  const n = M._cw_out_len(slot);
  return p ? M.HEAPU8.slice(p, p + n) : null;
}

function outJson() {
  const b = out(OUT_JSON);
  return b ? JSON.parse(new TextDecoder().decode(b)) : null;
}

// Runs f(args) with the given Args, wipes them, turns an error code into a
// CryptoError and collects the output slots.
function call(args, f) {
  let rc;
  try {
    rc = f(...args);
  } finally {
    for (const a of args) a.free();
  }
  if (rc !== 0) {
    M._cw_out_release();
    throw fail(rc);
  }
  const r = { bin: out(OUT_BIN), aux: out(OUT_AUX), info: outJson() };
  M._cw_out_release();
  return r;
}

// New device keys and certificate request; returns {keystore, request, info}.
export function enrol({ user, name, org, role }, passphrase) {
  const pass = str(passphrase);
  const r = call([str(user), str(name), str(org), str(role), pass], (u, n, o, ro, p) =>
    M._cw_enrol(u.ptr, n.ptr, o.ptr, ro.ptr, p.ptr, p.len));
  return { keystore: r.bin, request: r.aux, info: r.info };
}

// Opens the sealed keystore (Argon2id); the device stays open inside wasm.
export function open(keystore, passphrase) {
  return call([new Arg(keystore), str(passphrase)], (k, p) => M._cw_open(k.ptr, k.len, p.ptr, p.len)).info;
}

export function close() {
  if (M) M._cw_close();
}

// Checks the certificate against the root and this device, re-seals the
// keystore; returns {keystore, cert}.
export function installCert(rootHex, certBytes, passphrase) {
  const r = call([str(rootHex), new Arg(certBytes), str(passphrase)], (h, c, p) =>
    M._cw_install_cert(h.ptr, c.ptr, c.len, p.ptr, p.len));
  return { keystore: r.bin, cert: r.info };
}

export function certBytes() {
  return call([], () => M._cw_cert()).bin;
}

export function authSign(challenge) {
  return call([new Arg(challenge)], (c) => M._cw_auth_sign(c.ptr, c.len)).bin;
}

// Verifies a signed policy against the root; refuses one older than held.
export function policyCheck(rootHex, policyBytes, held) {
  return call([str(rootHex), new Arg(policyBytes)], (h, p) =>
    M._cw_policy_check(h.ptr, p.ptr, p.len, held || 0)).info;
}

export function certCheck(rootHex, cert) {
  return call([str(rootHex), new Arg(cert)], (h, c) => M._cw_cert_check(h.ptr, c.ptr, c.len)).info;
}

// ---- the client core (cw_core.c): the case conference ---------------------------
// A refusal of the core: code is its stable contract code ("revoked",
// "withheld_commit", "ground_required", ...), info the whole JSON answer
// (for a message: its header fields), warnings what the core adds.
export class CoreError extends Error {
  constructor(info) {
    super(String(info.message || info.code || 'refused'));
    this.code = String(info.code || info.error || 'refused');
    this.info = info;
    this.warnings = Array.isArray(info.warnings) ? info.warnings : [];
  }
}

function coreCall(args, f) {
  let rc;
  try {
    rc = f(...args);
  } finally {
    for (const a of args) a.free();
  }
  const r = { bin: out(OUT_BIN), info: outJson() };
  M._cw_out_release();
  if (rc === -1 && r.info) throw new CoreError(r.info);
  if (rc !== 0) throw fail(rc);
  return r;
}

// A core for the open device, pinned to the deployment root.
export function coreStart(rootHex) {
  return coreCall([str(rootHex)], (h) => M._cw_core_start(h.ptr)).info;
}

// The open device's own certificate as `casus install-cert` checks it.
export function ownCertCheck(rootHex) {
  return coreCall([str(rootHex)], (h) => M._cw_core_own_cert(h.ptr)).info;
}

export function corePolicy(bytes) {
  return coreCall([new Arg(bytes)], (p) => M._cw_core_policy(p.ptr, p.len, 0)).info;
}

// bytes null: the server says there is no revocation list
export function coreRevlist(bytes) {
  if (!bytes) return coreCall([], () => M._cw_core_revlist(0, 0, 0)).info;
  return coreCall([new Arg(bytes)], (p) => M._cw_core_revlist(p.ptr, p.len, 0)).info;
}

export function casusFollow(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_follow(h.ptr)).info;
}

export function casusForget(hex) {
  const h = str(hex);
  try {
    M._cw_casus_forget(h.ptr);
  } finally {
    h.free();
  }
}

export function casusCommit(hex, bytes, head) {
  return coreCall([str(hex), new Arg(bytes)], (h, c) => M._cw_casus_commit(h.ptr, c.ptr, c.len, head ? 1 : 0)).info;
}

export function casusDone(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_done(h.ptr)).info;
}

export function casusState(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_state(h.ptr)).info;
}

// One message judged and opened by the core; throws CoreError (with the
// message's fields in .info) for a refusal that must be shown as one.
export function casusMessage(hex, seq, bytes, live) {
  return coreCall([str(hex), new Arg(bytes)], (h, m) => M._cw_casus_message(h.ptr, seq, m.ptr, m.len, live ? 1 : 0)).info;
}

// A note encrypted for the current epoch; returns {msg: bytes, info}.
export function casusEncrypt(hex, audience, ground, text) {
  const r = coreCall([str(hex), str(audience), str(ground || ''), str(text)], (h, a, g, t) =>
    M._cw_casus_encrypt(h.ptr, a.ptr, g.ptr, t.ptr));
  return { msg: r.bin, info: r.info };
}

// ---- cw_admin.c: changes, shares, pairing, the audit trail --------------------------
// Descriptions go in as JSON text (parsed by jansson in wasm); bytes received
// from the server go in as they came (base64 inside it).
function spec(o) {
  return new Arg(enc.encode(JSON.stringify(o)));
}

// A change built and signed by the core ({op:'add'|'remove'|'level'|'add_own', ...});
// returns {commit: bytes, info: {type, level, sealed}}. The core now expects it at the head.
export function casusBuild(hex, change) {
  const r = coreCall([str(hex), spec(change)], (h, s) => M._cw_casus_build(h.ptr, s.ptr, s.len));
  return { commit: r.bin, info: r.info };
}

// The server did not take the commit: the core expects nothing at the head.
export function casusExpectClear(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_expect_clear(h.ptr)).info;
}

// The verified chain's changes with the reasons this device may read.
export function casusChanges(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_changes(h.ptr)).info;
}

// A grant of earlier messages ({user, ground, reason, msgs: [base64]}); returns {grant, info}.
export function casusGrant(hex, share) {
  const r = coreCall([str(hex), spec(share)], (h, s) => M._cw_casus_grant(h.ptr, s.ptr, s.len));
  return { grant: r.bin, info: r.info };
}

// One grant of grant.fetch ({grant, messages: [{seq, msg}]}), judged by the core.
export function casusAcceptGrant(hex, g) {
  return coreCall([str(hex), spec({ grant: g.grant, messages: g.messages })], (h, s) =>
    M._cw_casus_accept_grant(h.ptr, s.ptr, s.len)).info;
}

// This device's keys sealed to the user's other devices in the roster.
export function casusTransfers(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_transfers(h.ptr)).info;
}

export function casusAcceptTransfer(hex, bytes) {
  return coreCall([str(hex), new Arg(bytes)], (h, t) => M._cw_casus_accept_transfer(h.ptr, t.ptr, t.len)).info;
}

export function pairingCode() {
  return coreCall([], () => M._cw_pairing_code()).info;
}

// audit.query pages verified in wasm (the whole chain when whole, the
// privacy officer's unfiltered trail); the entries of casusHex and its report.
export function auditVerify(pages, pinnedHex, casusHex, whole) {
  return coreCall([new Arg(enc.encode(JSON.stringify(pages))), str(pinnedHex || ''), str(casusHex || '')],
    (p, k, c) => M._cw_audit_verify(p.ptr, p.len, k.ptr, c.ptr, whole ? 1 : 0)).info;
}

// ---- the local copy and the outbox (cw_core.c, docs/WEB.md "Offline") ------------
// stored = true: bytes this device kept from an earlier session (profile.policy /
// profile.revlist); the core verifies them again and then refuses anything older.
export function corePolicyStored(bytes) {
  return coreCall([new Arg(bytes)], (p) => M._cw_core_policy(p.ptr, p.len, 1)).info;
}

export function coreRevlistStored(bytes) {
  return coreCall([new Arg(bytes)], (p) => M._cw_core_revlist(p.ptr, p.len, 1)).info;
}

const utf8 = new TextDecoder();

// an object sealed under the keystore's cache key for purpose ('cache' | 'outbox') and name
export function localSeal(purpose, name, obj) {
  return coreCall([str(purpose), str(name), str(JSON.stringify(obj))], (p, b, t) =>
    M._cw_local_seal(p.ptr, b.ptr, t.ptr, t.len)).bin;
}

export function localOpen(purpose, name, bytes) {
  const r = coreCall([str(purpose), str(name), new Arg(bytes)], (p, b, x) => M._cw_local_open(p.ptr, b.ptr, x.ptr, x.len));
  return JSON.parse(utf8.decode(r.bin));
}

export function casusSave(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_save(h.ptr)).info.core;
}

export function casusRestore(hex, core) {
  return coreCall([str(hex), str(JSON.stringify({ core }))], (h, t) => M._cw_casus_restore(h.ptr, t.ptr)).info;
}

export function casusHistoryBegin(hex, fromStart) {
  return coreCall([str(hex)], (h) => M._cw_casus_history_begin(h.ptr, fromStart ? 1 : 0)).info;
}

export function casusHistoryDone(hex) {
  return coreCall([str(hex)], (h) => M._cw_casus_history_done(h.ptr)).info;
}

export function casusRecipients(hex, audience) {
  return coreCall([str(hex), str(audience)], (h, a) => M._cw_casus_recipients(h.ptr, a.ptr)).info.recipients;
}

// throws CoreError 'audience_widened' when the audience now reaches a device outside `recipients`
export function casusOutboxCheck(hex, audience, recipients) {
  return coreCall([str(hex), str(audience), str(recipients ? JSON.stringify(recipients) : '')], (h, a, q) =>
    M._cw_casus_outbox_check(h.ptr, a.ptr, q.ptr)).info;
}

// ---- agenda and agreed actions (cw_core.c, ccore_notes.h), the server going back ----
// the history as the core opened it, trimmed to what the fold reads
function histText(notes) {
  return JSON.stringify((notes || []).filter((n) => n.verified === true && n.data).map((n) => ({
    seq: n.seq, time: n.time, kind: n.kind, data: n.data, verified: true, sender: n.sender ? { user: n.sender.user } : null,
  })));
}

// {kind, data, text}: a new agenda entry ({date, place}), a new action
// ({what, who, due, disclosed}) or an action marked done ({action}), made and checked in wasm
export function noteMake(hex, kind, spec, notes) {
  return coreCall([str(hex), str(kind), str(JSON.stringify(spec)), str(histText(notes))], (h, k, s, n) =>
    M._cw_note_make(h.ptr, k.ptr, s.ptr, n.ptr)).info;
}

// like casusEncrypt, for a structured note (kind, data from noteMake)
export function casusEncryptNote(hex, audience, ground, kind, data) {
  const r = coreCall([str(hex), str(audience), str(ground || ''), str(kind), str(JSON.stringify(data))],
    (h, a, g, k, d) => M._cw_casus_encrypt_note(h.ptr, a.ptr, g.ptr, k.ptr, d.ptr));
  return { msg: r.bin, info: r.info };
}

// {actions: [{action, what, who, due, done, overdue, disclosed, by}], agenda: [{agenda, date, place, past, by}]}
export function casusRegie(notes) {
  return coreCall([str(histText(notes))], (n) => M._cw_casus_regie(n.ptr)).info;
}

// 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM' (UTC) -> UTC seconds; CoreError 'invalid' otherwise
export function dateParse(s) {
  return coreCall([str(s)], (p) => M._cw_date_parse(p.ptr)).info.time;
}

// {held, changed}
export function coreStoreEpoch(epoch, stored) {
  return coreCall([str(epoch)], (e) => M._cw_core_store_epoch(e.ptr, stored ? 1 : 0)).info;
}

// {rollback, diverged, high, warnings}; head: casus.list's last_seq, or null after loading a copy
export function casusRollback(hex, head) {
  const have = Number.isSafeInteger(head) && head >= 0;
  return coreCall([str(hex)], (h) => M._cw_casus_rollback(h.ptr, have ? 1 : 0, have ? head : 0)).info;
}

// ---- this device's wrap keys (cw.c, ccore_wrapks.h; docs/WEB.md "Device key") ------
// A new one when due (force: at once). keystore: the new sealed image, only
// when a key was made (store it before publishing); record: the signed
// publication for dir.publish; info: {made, version, created, published, held, due}.
export function wrapRotate(force) {
  const r = call([], () => M._cw_wrap_rotate(force ? 1 : 0));
  return { keystore: r.bin, record: r.aux, info: r.info };
}

// The server accepted version: {keystore (image to store, or null), info: {..., wiped}}.
export function wrapAccepted(version) {
  const r = call([], () => M._cw_wrap_accepted(version));
  return { keystore: r.bin, info: r.info };
}

export function wrapInfo() {
  return call([], () => M._cw_wrap_info()).info;
}

// The keystore image another tab stored, opened with the passphrase held in wasm.
export function keystoreReload(image) {
  return call([new Arg(image)], (k) => M._cw_keystore_reload(k.ptr, k.len)).info;
}
