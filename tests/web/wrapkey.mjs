// wrapkey.mjs: the browser device's rotating key (its wrap key, issue 17)
// against the real casusd and the casus command (test_wrapkey.py tells the
// story). The box versions are read by the thief tool of the security suite
// (tests/security/wrap_steal.c) from the server's LMDB, with the keystore
// this browser stored in IndexedDB (the same cc_keystore format as
// keys.casusks) or anna's keys.casusks. At the end the hostile-server proxy
// in front of casusd swaps the wrap keys it serves (phase "swap"), then strips
// the browser's boxes of a commit it needs (phase "strip": withheld_box).
//
//   node wrapkey.mjs CONFIG.json     (exit 0 = every check passed)
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, until } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;

function run(argv, casus, text) {
  const a = argv.map((x) => x.replace('{casus}', casus || '').replace('{text}', text || ''));
  return execFileSync(a[0], a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}
const lastJson = (s) => JSON.parse(s.trim().split('\n').pop());

// the boxes addressed to a keystore's device in casus, from the server's disk
function boxes(keystore, passfile, casus) {
  const out = run([cfg.steal, cfg.data, keystore, passfile]);
  return out.trim().split('\n').map((l) => JSON.parse(l)).filter((b) => b.casus === casus);
}

// the sealed keystore image this browser stored (IndexedDB casus/profile/device)
async function browserKeystore(page, name) {
  const b64 = await page.evaluate(() => new Promise((resolve, reject) => {
    const r = indexedDB.open('casus');
    r.onerror = () => reject(r.error);
    r.onsuccess = () => {
      const g = r.result.transaction('profile').objectStore('profile').get('device');
      g.onsuccess = () => {
        let s = '';
        for (const x of g.result.keystore) s += String.fromCharCode(x);
        r.result.close();
        resolve(btoa(s));
      };
      g.onerror = () => reject(g.error);
    };
  }));
  const path = join(cfg.outdir, name);
  writeFileSync(path, Buffer.from(b64, 'base64'));
  return path;
}

const note = (page, text) => page.locator('#notes li.note[data-verified="1"]').filter({ hasText: text });

try {
  const B = await t.newPage('bente');
  const u = cfg.users[0];
  await t.enrolAndLogin(B, u);
  // 1. the first connect publishes wrap key 1 (made, stored, published)
  await B.locator('#devkey-state').filter({ hasText: 'nummer 1' }).waitFor();
  check(true, 'the browser device made and published its wrap key 1 at its first connect');
  await t.axe(B, 'casus list with the device key section');
  await t.shot(B, 'wrapkey-01-list');
  const bpass = join(cfg.outdir, 'bente.pass');
  writeFileSync(bpass, cfg.passphrase);

  // 2. a commit by the casus command seals the browser's box to wrap key 1
  const casus = run(cfg.make_casus).trim().split('\n').pop();
  check(/^[0-9a-f]{32}$/.test(casus), `anna (casus command) made casus ${casus} with bente and wrote a note`);
  await B.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
  await B.getByRole('button', { name: `Casus ${cfg.purpose} openen` }).click();
  await B.getByRole('heading', { name: `Casus: ${cfg.purpose}` }).waitFor();
  await note(B, cfg.anna_text).waitFor();
  let ks = await browserKeystore(B, 'bente-1.casusks');
  let bb = boxes(ks, bpass, casus);
  check(bb.length > 0 && bb.every((b) => b.epoch === 0 && b.wrap === 1 && b.opened && b.with === 'wrap 1'),
    `anna's commit sealed every box of the browser device to its wrap key 1, opened with it: ${JSON.stringify(bb)}`);
  check(true, 'the browser reads anna\'s note (its epoch key came through its wrap key)');

  // 3. renew at once: wrap key 2, the old one kept for its grace period
  await B.goto(cfg.url); // back to the list (a reload: login again)
  await B.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.passphrase);
  await B.getByRole('button', { name: 'Inloggen' }).click();
  await B.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  await B.locator('#status[data-state="online"]').waitFor();
  await B.getByRole('button', { name: 'Apparaatsleutel nu vernieuwen' }).click();
  await B.locator('#devkey-msg').filter({ hasText: 'Apparaatsleutel vernieuwd (nummer 2)' }).waitFor();
  check(await B.getByRole('button', { name: 'Apparaatsleutel nu vernieuwen' }).evaluate((e) => e === document.activeElement),
    'after renewing, focus is back on the button and the result is in a status region');
  await B.locator('#devkey-state').filter({ hasText: 'nummer 2' }).waitFor();
  check(true, 'the user renewed the device key at once: wrap key 2 published');
  await t.axe(B, 'casus list after renewing the device key');

  // 4. a commit built in the browser seals the native member's box to its wrap key
  const annaKeys = lastJson(run(cfg.anna_keys));
  check(annaKeys.version >= 1 && annaKeys.published === annaKeys.version, `anna's device published wrap key ${annaKeys.version}`);
  await B.getByRole('button', { name: `Casus ${cfg.purpose} openen` }).click();
  await B.getByRole('heading', { name: `Casus: ${cfg.purpose}` }).waitFor();
  await note(B, cfg.anna_text).waitFor();
  await B.getByLabel('Nieuw niveau').selectOption('2');
  await B.locator('#level-form').getByLabel('Reden').fill('meer partners nodig (browser)');
  await B.getByRole('button', { name: 'Niveau wijzigen' }).click();
  await B.locator('#admin-msg p.ok').filter({ hasText: /Niveau gewijzigd/ }).waitFor();
  const ab = boxes(cfg.anna_keystore, cfg.anna_passfile, casus).filter((b) => b.epoch === 1);
  check(ab.length > 0 && ab.every((b) => b.wrap === annaKeys.version && b.opened && b.with === `wrap ${annaKeys.version}`),
    `the browser's commit sealed anna's boxes to her wrap key ${annaKeys.version}: ${JSON.stringify(ab)}`);
  ks = await browserKeystore(B, 'bente-2.casusks');
  bb = boxes(ks, bpass, casus).filter((b) => b.epoch === 1);
  check(bb.length > 0 && bb.every((b) => b.wrap === 2 && b.opened),
    `the browser's commit sealed its own boxes to its new wrap key 2: ${JSON.stringify(bb)}`);

  // 5. a note of the new epoch from the browser is read by the casus command
  await B.getByLabel('Publiek').selectOption(cfg.audience);
  await B.getByLabel('Bericht', { exact: true }).fill(cfg.browser_text);
  await B.getByRole('button', { name: 'Versturen' }).click();
  await note(B, cfg.browser_text).waitFor();
  let texts = [];
  await until('anna reads the browser note', () => {
    texts = (lastJson(run(cfg.cli_history, casus)).messages || []).map((m) => m.text);
    return texts.includes(cfg.browser_text);
  });
  check(texts.includes(cfg.browser_text), 'anna (casus command) reads the browser\'s note of the epoch the browser sealed');

  // 6. a server that swaps the wrap keys it serves: the change is refused in wasm, nothing is posted
  await t.phase('swap');
  await B.getByLabel('Nieuw niveau').selectOption('3');
  await B.locator('#level-form').getByLabel('Reden').fill('zorgen over veiligheid (browser)');
  await B.getByRole('button', { name: 'Niveau wijzigen' }).click();
  await B.locator('#admin-msg [role="alert"]').filter({ hasText: 'bad_signature' }).waitFor();
  check(true, 'a wrap key the server swapped (not signed by its device) refuses the browser\'s change: bad_signature');
  await t.axe(B, 'conference with the refused change');
  await t.shot(B, 'wrapkey-02-swap-refused');

  // 7. a server that strips the browser device's boxes of anna's rotation (sealed
  // to the browser's newest wrap key 2, which box retention never deletes)
  await t.phase('strip');
  run(cfg.anna_rotate, casus);
  await B.locator('#conf-msg [role="alert"]').filter({ hasText: 'withheld_box' }).waitFor();
  check(true, 'a server that withholds the browser\'s box of anna\'s rotation gets the conference refused: withheld_box');
  await t.shot(B, 'wrapkey-03-withheld-box');
  const hits = await t.phase('done');
  check(hits.box_stripped > 0, `the proxy stripped the browser's boxes of ${hits.box_stripped} commit(s)`);
  check(hits.wrap_swapped > 0 && !hits.commit_post_after_swap,
    `the proxy swapped ${hits.wrap_swapped} wrap key(s) and the browser posted no commit (${hits.commit_post_after_swap || 0})`);
  t.originAndCsp();
} catch (e) {
  console.log(`FAIL ${e.stack || e}`);
  t.failures++;
  await t.failureShots('wrapkey-failure');
}
await t.finish('all wrap-key checks passed');
