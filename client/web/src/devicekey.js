// devicekey.js: this browser device's rotating key (its "wrap key", issue 17;
// docs/CRYPTO.md "Device wrap keys", docs/WEB.md "Device key"), kept as the
// casus command keeps it (client/libcasus_profile.c), with the same core
// functions (client/core/ccore_wrapks.h) in wasm:
//   at every connect (and at once on the user's request): a new wrap key
//   when the newest is 7 days old; the new keystore image stored in
//   IndexedDB BEFORE it is published (dir.publish with "wrapkey"); then the
//   server's yes noted and every secret past its 14-day grace period wiped
//   from the keystore (stored again).
// One tab at a time changes the keystore (Web Locks); a tab that finds an
// image another tab stored opens that one first (wasm, with the passphrase
// it holds), so two tabs never make two keys of one version.
import * as cw from './wasm.js';
import { b64encode } from './transport.js';
import { loadProfile, saveProfile } from './storage.js';
import { addWords, t, getLang } from './i18n.js';
import { el } from './ui.js';

addWords({
  devKey: 'Apparaatsleutel',
  devKeyHelp: 'Dit apparaat krijgt elke week vanzelf een nieuwe sleutel; oude sleutels worden na twee weken gewist. Zo kan iemand die later een sleutel van dit apparaat steelt, eerdere berichten niet lezen. Vernieuw de sleutel nu als u denkt dat iemand bij dit apparaat is geweest.',
  devKeyLine: 'Huidige sleutel: nummer {version}, gemaakt op {created}.',
  devKeyNone: 'Dit apparaat heeft nog geen eigen sleutel gepubliceerd.',
  devKeyBtn: 'Apparaatsleutel nu vernieuwen',
  devKeyBusy: 'Bezig met vernieuwen…',
  devKeyDone: 'Apparaatsleutel vernieuwd (nummer {version}). Nieuwe berichten worden voortaan voor deze sleutel versleuteld.',
  devKeyFail: 'Vernieuwen is niet gelukt: {error}',
}, {
  devKey: 'Device key',
  devKeyHelp: 'This device gets a new key every week by itself; old keys are wiped after two weeks. So someone who steals a key of this device later cannot read earlier messages. Renew the key now if you think someone had access to this device.',
  devKeyLine: 'Current key: number {version}, made on {created}.',
  devKeyNone: 'This device has not published a key of its own yet.',
  devKeyBtn: 'Renew the device key now',
  devKeyBusy: 'Renewing…',
  devKeyDone: 'Device key renewed (number {version}). New messages are encrypted for this key from now on.',
  devKeyFail: 'Renewing failed: {error}',
});

function same(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// one tab at a time (Web Locks; a browser without them runs it directly)
function locked(f) {
  if (typeof navigator !== 'undefined' && navigator.locks && navigator.locks.request)
    return navigator.locks.request('casus-keystore', f);
  return f();
}

// wasm may hold a key that never reached IndexedDB (sealing or storing
// failed): the next run opens the stored image first, so that key is never
// published
let stale = false;

async function store(profile, image) {
  profile.keystore = image;
  profile.keystoreGen = (profile.keystoreGen || 0) + 1;
  await saveProfile(profile); // committed (durability strict) before anything is published
}

// Rotate when due (force: at once), publish the newest, wipe what is past its
// grace period. Returns the device key's state ({version, created, published,
// held, due, made, wiped}). Throws on failure: the caller decides (at connect
// it only logs and the next connect tries again, as the casus command does).
export function maintain(tr, profile, force) {
  return locked(async () => {
    const stored = await loadProfile();
    if (stored && stored.keystore instanceof Uint8Array && (stale || !same(stored.keystore, profile.keystore))) {
      cw.keystoreReload(stored.keystore);
      profile.keystore = stored.keystore;
      profile.keystoreGen = stored.keystoreGen || 0;
      stale = false;
    }
    let r;
    try {
      r = cw.wrapRotate(force);
      if (r.keystore) await store(profile, r.keystore);
    } catch (e) {
      stale = true;
      throw e;
    }
    await tr.request('dir.publish', { wrapkey: b64encode(r.record) });
    const a = cw.wrapAccepted(r.info.version);
    if (a.keystore) await store(profile, a.keystore);
    return { ...a.info, made: r.info.made };
  });
}

function stateLine(info) {
  if (!info || !info.version || !info.published) return t('devKeyNone');
  const created = new Date(info.created * 1000).toLocaleDateString(getLang() === 'en' ? 'en-GB' : 'nl-NL',
    { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' });
  return t('devKeyLine', { version: info.version, created });
}

// The device section of the casus list: the key's state and "renew now".
// session(): the current session ({transport, profile, offline}).
export function deviceKeyBox(session) {
  let info = null;
  try {
    info = cw.wrapInfo();
  } catch {
    return null;
  }
  const line = el('p', { id: 'devkey-state', text: stateLine(info) });
  const status = el('div', { id: 'devkey-msg', role: 'status', 'aria-live': 'polite' });
  const btn = el('button', { type: 'button', id: 'devkey-renew', 'aria-describedby': 'devkey-help', text: t('devKeyBtn') });
  btn.addEventListener('click', async () => {
    const s = session();
    if (!s) return;
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    status.replaceChildren(el('p', { text: t('devKeyBusy') }));
    try {
      const r = await maintain(s.transport, s.profile, true);
      line.textContent = stateLine(r);
      status.replaceChildren(el('p', { class: 'ok', text: t('devKeyDone', { version: r.version }) }));
    } catch (e) {
      status.replaceChildren(el('p', { class: 'alert', role: 'alert', text: t('devKeyFail', { error: e && e.message ? e.message : String(e) }) }));
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
      btn.focus();
    }
  });
  return el('section', { class: 'pairing devkey', 'aria-labelledby': 'devkey-h' },
    el('h2', { id: 'devkey-h', text: t('devKey') }),
    line,
    el('p', { class: 'help', id: 'devkey-help', text: t('devKeyHelp') }),
    el('p', {}, btn),
    status);
}
