// offline.js: the browser's local copy and outbox, as the C client keeps them
// (docs/CLIENT.md "Sealed files", docs/WEB.md "Offline").
//
// Local copy of a casus (IndexedDB store "cache", key = casus id): {v, casus,
// purpose, saved, upto, commits: [base64 commit], hist: [note as the core
// opened it], core: the client core's state (ccore_casus_save: per-sender
// stream positions and counters, message ids seen, a pending own commit)}.
// The commits are public and are applied by the core again every time the
// copy is loaded (a copy that no longer verifies is dropped); the notes are
// exactly what this device decrypted; no key is stored (epoch keys are not
// kept), so nothing new can be read from the copy alone.
//
// Outbox entry (store "outbox", key = entry name, oldest first): {v, casus,
// purpose, audience, ground, kind, data (an agenda entry's or agreed action's,
// ccore_notes.h), text, queued, after, recipients, msg, id,
// failed}. recipients: the devices the audience reached when the post was
// written; it is never encrypted for a device outside them
// (ccore_outbox_may_encrypt). msg/id: the encrypted message and its id, stored
// before it is sent, so a lost acknowledgement ends as "duplicate" (delivered)
// and never as a second note.
//
// Every record is sealed in wasm (cw_local_seal) under the keystore's "cache"
// key, bound to its name and this device: without the passphrase IndexedDB
// holds nothing readable.
import * as cw from './wasm.js';
import { CACHE, OUTBOX, loadRecord, saveRecord, deleteRecord, listRecords } from './storage.js';
import { b64decode } from './transport.js';

const now = () => Math.floor(Date.now() / 1000);

export async function saveCopy(conf) {
  if (!conf.commits || !conf.commits.length || conf.withheldBox) return;
  const rec = {
    v: 1, casus: conf.hex, purpose: conf.purpose, saved: now(), upto: conf.last, commits: conf.commits,
    hist: conf.notes.filter((n) => !n.queued).map((n) => ({ ...n, warnings: undefined })),
    core: cw.casusSave(conf.hex),
  };
  await saveRecord(CACHE, conf.hex, cw.localSeal('cache', conf.hex, rec));
}

// Loads the copy into conf (a fresh record, its casus not yet followed):
// true when there was one that still verifies.
export async function loadCopy(conf) {
  const bytes = await loadRecord(CACHE, conf.hex);
  if (!bytes) return false;
  let rec;
  try {
    rec = cw.localOpen('cache', conf.hex, bytes);
  } catch {
    return false; // not this device's, or damaged: the server's chain decides
  }
  if (!rec || rec.v !== 1 || rec.casus !== conf.hex || !Array.isArray(rec.commits) || !Array.isArray(rec.hist)) return false;
  cw.casusFollow(conf.hex);
  try {
    for (const c of rec.commits) cw.casusCommit(conf.hex, b64decode(c), false);
    cw.casusRestore(conf.hex, rec.core);
    conf.state = cw.casusState(conf.hex);
  } catch {
    // a copy that no longer verifies is dropped
    cw.casusForget(conf.hex);
    await deleteRecord(CACHE, conf.hex);
    return false;
  }
  conf.commits = rec.commits.slice();
  conf.notes = rec.hist;
  conf.last = Number(rec.upto) || 0;
  conf.saved = Number(rec.saved) || 0;
  return true;
}

export async function dropCopy(hex) {
  await deleteRecord(CACHE, hex);
}

// the last casus list (the server's clear metadata), shown while offline
export async function saveList(list) {
  await saveRecord(CACHE, 'list', cw.localSeal('cache', 'list', { v: 1, saved: now(), list }));
}

export async function loadList() {
  const bytes = await loadRecord(CACHE, 'list');
  if (!bytes) return null;
  try {
    const r = cw.localOpen('cache', 'list', bytes);
    return r && r.v === 1 ? r : null;
  } catch {
    return null;
  }
}

// ---- outbox ---------------------------------------------------------------------------
export async function queuePost(conf, audience, ground, text, recipients, kind, data) {
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('');
  const name = `${Date.now().toString(36).padStart(10, '0')}-${conf.hex}-${rand}`;
  const entry = {
    v: 1, casus: conf.hex, purpose: conf.purpose, audience, ground: ground || '', kind: kind || 'note', data: data || undefined, text, queued: now(),
    after: conf.last, recipients: recipients || null, msg: null, id: null, failed: null,
  };
  await saveEntry(name, entry);
  return { name, ...entry };
}

export async function saveEntry(name, entry) {
  const { name: _n, ...rest } = entry;
  await saveRecord(OUTBOX, name, cw.localSeal('outbox', name, rest));
}

export async function removeEntry(name) {
  await deleteRecord(OUTBOX, name);
}

// every entry that opens, oldest first: [{name, ...entry}]
export async function outboxEntries() {
  const out = [];
  for (const r of await listRecords(OUTBOX)) {
    try {
      const e = cw.localOpen('outbox', r.key, r.bytes);
      if (e && e.v === 1) out.push({ ...e, name: r.key });
    } catch {
      /* not this device's entry: left alone */
    }
  }
  return out;
}
