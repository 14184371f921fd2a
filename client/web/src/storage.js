// storage.js: the browser's local copy in IndexedDB (database "casus").
//
// Object store "profile", key "device": {user, role, device, root,
// keystore, keystoreGen, request, policyNumber}. keystore is the sealed keystore image
// made in wasm (cc_keystore: Argon2id + XChaCha20-Poly1305, the C client's
// keys.casusks format): without the passphrase it is ciphertext. request is
// the certificate request (public). root is the pinned deployment root key
// (public), policyNumber the newest verified policy seen, so that an older
// one is refused. policy and revlist are the newest signed policy and
// revocation list the client core accepted (public, signed by the root; as
// the C client's policy.bin and revlist.bin): offered to the core again with
// stored = 1 at every login, so a server can never make it go back, not even
// across sessions. The keystore also holds this device's wrap keys
// (devicekey.js): keystoreGen grows with every save of a new image, so that
// a tab never puts back an older keystore (which would lose a wrap secret).
//
// Object store "cache", key = casus id (32 hex) or "list": the local copy of
// a casus (the C client's cache/<casus>.bin) and the last casus list, each a
// record sealed in wasm under the keystore's "cache" key (cw_local_seal:
// XChaCha20-Poly1305, bound to the record's name and the device). Object
// store "outbox", key = entry name: a post not yet acknowledged, sealed the
// same way. Without the passphrase nothing in either store can be read.

const DB = 'casus';
const VERSION = 2;
const PROFILE = 'profile';
export const CACHE = 'cache';
export const OUTBOX = 'outbox';

function openDb() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, VERSION);
    r.onupgradeneeded = () => {
      for (const name of [PROFILE, CACHE, OUTBOX])
        if (!r.result.objectStoreNames.contains(name)) r.result.createObjectStore(name);
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function tx(mode, f, store = PROFILE) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(store, mode, { durability: 'strict' });
      const req = f(t.objectStore(store));
      t.oncomplete = () => resolve(req ? req.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export async function loadProfile() {
  return (await tx('readonly', (s) => s.get('device'))) || null;
}

// Resolves once the transaction is committed. The keystore changes on its
// own (a wrap key made or wiped: devicekey.js), and another tab of the same
// profile may have stored a newer one: keystoreGen counts the keystore's
// saves, and a save never puts back an older keystore than the stored one
// (read and write in one transaction); p then takes the stored keystore.
export async function saveProfile(p) {
  const db = await openDb();
  try {
    await new Promise((resolve, reject) => {
      const t = db.transaction(PROFILE, 'readwrite', { durability: 'strict' });
      const s = t.objectStore(PROFILE);
      const g = s.get('device');
      g.onsuccess = () => {
        const cur = g.result;
        if (cur && cur.keystore instanceof Uint8Array && (cur.keystoreGen || 0) > (p.keystoreGen || 0)) {
          p.keystore = cur.keystore;
          p.keystoreGen = cur.keystoreGen;
        }
        s.put(p, 'device');
      };
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export async function forgetProfile() {
  await tx('readwrite', (s) => s.delete('device'));
}

// ---- sealed records (bytes made by cw_local_seal) -----------------------------------
export async function loadRecord(store, key) {
  const v = await tx('readonly', (s) => s.get(key), store);
  return v instanceof Uint8Array ? v : null;
}

// Resolves once the transaction is committed (an outbox entry is stored before it is sent).
export async function saveRecord(store, key, bytes) {
  await tx('readwrite', (s) => s.put(bytes, key), store);
}

export async function deleteRecord(store, key) {
  await tx('readwrite', (s) => s.delete(key), store);
}

// [{key, bytes}] in key order (outbox entry names start with the time they were queued)
export async function listRecords(store) {
  const keys = (await tx('readonly', (s) => s.getAllKeys(), store)) || [];
  const vals = (await tx('readonly', (s) => s.getAll(), store)) || [];
  return keys.map((key, i) => ({ key: String(key), bytes: vals[i] })).filter((r) => r.bytes instanceof Uint8Array);
}

// everything local goes with the profile
export async function forgetAll() {
  await tx('readwrite', (s) => s.clear(), CACHE);
  await tx('readwrite', (s) => s.clear(), OUTBOX);
  await forgetProfile();
}
