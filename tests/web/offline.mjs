// offline.mjs: the browser without casusd (started by test_offline.py):
// the local copy, the outbox and the policy kept across sessions, in Debian's
// Chromium driven by playwright-core (start-up: lib.mjs).
//
// A browser user (bente) enrols and logs in; the CLI user anna makes a casus
// with her and writes a note; bente opens it and posts a note. Checked:
// IndexedDB holds none of the case content (texts, purpose) readable; then
// casusd is stopped: the page says so; a reload while casusd is stopped logs
// in with the passphrase alone, lists the casus and shows its history from the
// local copy, marked offline, with the policy kept from the earlier session;
// a post made offline is shown as queued, stays queued (sealed) across
// another reload, and once casusd is back the page reconnects by itself,
// sends it and shows it delivered (verified as it came back from the server);
// the CLI reads every browser note exactly once with no gap or duplicate
// warning (the sender counter continued across the reloads); axe-core on the
// offline screens; screenshots off-*.png.
//
//   node offline.mjs CONFIG.json     (exit 0 = every check passed)
//
// CONFIG: {url, spki, chromium, node_modules, outdir, root_hex, passphrase,
//          user: {user, role, name, org}, certify: [argv with {req} {cert}],
//          make_casus: [argv] printing the casus id, purpose, anna_text,
//          cli_history: [argv with {casus}],
//          restart: {pid, argv, log, port}: casusd to stop and start again}
import { execFileSync, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { portOpen, start, until } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;
let restarted = null;

function note(page, text) {
  return page.locator('#notes li.note[data-verified="1"]').filter({ hasText: text });
}

// every value in the page's IndexedDB as text (bytes as Latin-1), to look for case content
async function indexedDbDump(page) {
  return page.evaluate(async () => {
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open('casus');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const out = {};
    const flat = (v) => {
      if (v instanceof Uint8Array) return Array.from(v, (b) => String.fromCharCode(b)).join('');
      if (v && typeof v === 'object') return Object.values(v).map(flat).join('\u0000');
      return String(v);
    };
    for (const name of db.objectStoreNames) {
      const vals = await new Promise((res, rej) => {
        const r = db.transaction(name).objectStore(name).getAll();
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      out[name] = { count: vals.length, text: vals.map(flat).join('\u0000'), policy: name === 'profile' && vals[0] && vals[0].policy instanceof Uint8Array };
    }
    db.close();
    return out;
  });
}

async function login(page) {
  await page.reload();
  await page.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.passphrase);
  await page.getByRole('button', { name: 'Inloggen' }).click();
  await page.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
}

async function openCasus(page) {
  await page.getByRole('button', { name: `Casus ${cfg.purpose} openen` }).click();
  await page.getByRole('heading', { name: `Casus: ${cfg.purpose}` }).waitFor();
}

try {
  const B = await t.newPage(cfg.user.user);
  await t.enrolAndLogin(B, cfg.user);
  const casus = execFileSync(cfg.make_casus[0], cfg.make_casus.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
  check(/^[0-9a-f]{32}$/.test(casus), `the CLI made casus ${casus}`);
  await B.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
  await openCasus(B);
  await note(B, cfg.anna_text).waitFor();
  const online1 = `Notitie 1 van ${cfg.user.user} (online)`;
  await B.getByLabel('Publiek').selectOption('zorg');
  await B.getByLabel('Bericht', { exact: true }).fill(online1);
  await B.getByRole('button', { name: 'Versturen' }).click();
  await note(B, online1).waitFor();
  check(true, 'online: anna\'s note and the browser\'s own note are shown verified');

  // what IndexedDB holds: sealed records, no case content
  let db = await indexedDbDump(B);
  check(db.cache && db.cache.count >= 2, `IndexedDB holds the local copy of the casus and the list (${db.cache && db.cache.count} records)`);
  check(db.profile && db.profile.policy, 'the verified policy is kept with the profile');
  for (const secret of [cfg.anna_text, online1, cfg.purpose, 'Gezin'])
    check(!Object.values(db).some((s) => s.text.includes(secret)), `IndexedDB holds no readable "${secret}"`);

  // the page's own files are kept by its service worker (sw.js) for a reload offline
  await until('the service worker to control the page', () => B.evaluate(() => !!navigator.serviceWorker.controller));
  check(true, 'the service worker keeps the page\'s files');

  // casusd stops
  process.kill(cfg.restart.pid, 'SIGTERM');
  await B.locator('#status[data-state="reconnecting"]').waitFor();
  await until('the old casusd to release its port', async () => !(await portOpen(cfg.restart.port)));
  await B.locator('#offline').waitFor();
  check(true, 'casusd stopped: the page says it is offline');

  // a reload while casusd is stopped: login with the passphrase, the copy, marked offline
  await login(B);
  await B.locator('#offline').waitFor();
  check(await B.getByText(/Beleid \d+ van .*geverifieerd/).isVisible(),
    'offline login: the policy kept from the earlier session is verified and named');
  await B.locator('table.casus tbody tr').filter({ hasText: cfg.purpose }).waitFor();
  check(true, 'offline: the casus list comes from the local copy');
  await t.axe(B, 'casus list (offline)');
  await t.shot(B, 'off-01-list-offline');
  await openCasus(B);
  await note(B, cfg.anna_text).waitFor();
  await note(B, online1).waitFor();
  const banner = (await B.locator('#offline').textContent()).trim();
  check(/lokale kopie/.test(banner), `the cached history is shown, marked offline: "${banner}"`);
  check(await B.locator('#conf-level').filter({ hasText: 'geverifieerd' }).count() === 1, 'the level is the verified copy\'s');
  await t.axe(B, 'conference (offline)');
  await t.shot(B, 'off-02-conference-offline');

  // a post while offline: queued, sealed, kept across a reload
  const offline2 = `Notitie 2 van ${cfg.user.user} (offline geschreven)`;
  await B.getByLabel('Publiek').selectOption('zorg');
  await B.getByLabel('Bericht', { exact: true }).fill(offline2);
  await B.getByRole('button', { name: 'Versturen' }).click();
  await B.locator('#outbox li[data-queued="1"]').filter({ hasText: offline2 }).waitFor();
  check(await B.getByText('In de wachtrij', { exact: false }).first().isVisible(), 'the post is shown as queued');
  await t.axe(B, 'conference with a queued post');
  await t.shot(B, 'off-03-queued');
  db = await indexedDbDump(B);
  check(db.outbox && db.outbox.count === 1 && !db.outbox.text.includes(offline2), 'the outbox entry is stored sealed');
  await login(B);
  await openCasus(B);
  await B.locator('#outbox li[data-queued="1"]').filter({ hasText: offline2 }).waitFor();
  check(true, 'the queued post is still queued after another reload');

  // casusd comes back: reconnect (backoff), the outbox is sent, shown delivered
  const log = openSync(cfg.restart.log, 'a');
  restarted = spawn(cfg.restart.argv[0], cfg.restart.argv.slice(1), { stdio: ['ignore', log, log] });
  const t0 = Date.now();
  await B.locator('#status[data-state="online"]').waitFor();
  await note(B, offline2).waitFor();
  console.log(`measured: the queued post was delivered and shown verified ${Date.now() - t0} ms after casusd was started again`);
  await until('the outbox to empty', async () => (await B.locator('#outbox li').count()) === 0);
  check(await B.locator('#offline').count() === 0, 'back online: the offline banner is gone');
  check(await B.locator('#notes li.note[data-verified="0"]').count() === 0, 'every note is verified');
  await t.shot(B, 'off-04-delivered');

  // one more post online after the reloads; the CLI reads them all exactly once, no gap, no duplicate
  const online3 = `Notitie 3 van ${cfg.user.user} (weer online)`;
  await B.getByLabel('Bericht', { exact: true }).fill(online3);
  await B.getByRole('button', { name: 'Versturen' }).click();
  await note(B, online3).waitFor();
  const out = execFileSync(cfg.cli_history[0], cfg.cli_history.slice(1).map((a) => a.replace('{casus}', casus)),
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const hist = JSON.parse(out.trim().split('\n').pop());
  const texts = (hist.messages || []).map((m) => m.text);
  for (const x of [online1, offline2, online3])
    check(texts.filter((y) => y === x).length === 1, `the CLI reads "${x}" exactly once`);
  const warn = (hist.warnings || []).map((w) => w.code);
  check(!warn.some((c) => ['gap', 'duplicate', 'reorder'].includes(c)), `no gap, duplicate or reorder warning in the CLI (${warn.join(',') || 'none'})`);
  check((hist.messages || []).every((m) => m.verified !== false), 'the CLI verifies every note');
  db = await indexedDbDump(B);
  check(db.outbox.count === 0, 'the delivered entry left the outbox');

  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('off-99-failure');
} finally {
  if (restarted && restarted.exitCode === null) {
    const gone = new Promise((r) => restarted.on('exit', r));
    restarted.kill('SIGTERM');
    await gone;
    check(restarted.exitCode === 0, `the restarted casusd exited cleanly (${restarted.exitCode})`);
  }
}
await t.finish('all offline checks passed');
