// storage.js: the browser's local copy in IndexedDB (database "casus").
//
// Object store "profile", key "device": {user, role, device, root,
// keystore, request, policyNumber}. keystore is the sealed keystore image
// made in wasm (cc_keystore: Argon2id + XChaCha20-Poly1305, the C client's
// keys.casusks format): without the passphrase it is ciphertext. request is
// the certificate request (public). root is the pinned deployment root key
// (public), policyNumber the newest verified policy seen, so that an older
// one is refused. The local history and outbox of the client core will live
// in further stores of the same database, sealed under the keystore's
// "cache" key.

const DB = 'casus';
const VERSION = 1;
const PROFILE = 'profile';

function openDb() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, VERSION);
    r.onupgradeneeded = () => {
      if (!r.result.objectStoreNames.contains(PROFILE)) r.result.createObjectStore(PROFILE);
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function tx(mode, f) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(PROFILE, mode, { durability: 'strict' });
      const req = f(t.objectStore(PROFILE));
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

// Resolves once the transaction is committed.
export async function saveProfile(p) {
  await tx('readwrite', (s) => s.put(p, 'device'));
}

export async function forgetProfile() {
  await tx('readwrite', (s) => s.delete('device'));
}
