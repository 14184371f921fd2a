// browser.mjs: drives Debian's Chromium through playwright-core against a real
// casusd (started by test_browser.py) and checks the web client end to end:
// enrolment in the browser, certification by casus-admin, certificate
// installation, login (hello/auth signed in wasm), the casus list with a casus a
// CLI user made, its level and escalation notice; the language switch; axe-core
// on every screen; no CSP or SRI violation; a screenshot of every screen.
//
//   node browser.mjs CONFIG.json     (exit 0 = every check passed)
//
// Start-up (Chromium, TLS pin, pages, axe, screenshots): lib.mjs.
//
// CONFIG: {url, spki, chromium, node_modules, outdir, root_hex, user, role,
//          name, org, passphrase, certify: [argv with {req} {cert}],
//          after_login: [[argv], ...] run once the browser user has logged in,
//          expect: {purpose, reason, level},
//          restart: {pid, argv, log, port}: casusd to stop and start again (reconnect)}
import { execFileSync, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { portOpen, start, until } from './lib.mjs';

const t = await start(process.argv[2], { persistent: true });
const { cfg, check } = t;
const page = await t.newPage();
const axe = (screen) => t.axe(page, screen);

let restarted = null; // the casusd this script started again

const shot = (name) => t.shot(page, name);

try {
  await page.goto(cfg.url);
  await page.waitForSelector('body[data-ready="1"]');
  // 1. enrolment
  await page.getByRole('heading', { name: 'Dit apparaat aanmelden' }).waitFor();
  check(await page.evaluate(() => document.documentElement.lang) === 'nl', 'the interface starts in Dutch');
  check(await page.evaluate(() => document.activeElement && document.activeElement.tagName) === 'H1',
    'keyboard: a new screen puts the focus on its heading');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement && document.activeElement.name) === 'user',
    'keyboard: Tab goes from the heading to the first field');
  await page.keyboard.press('Shift+Tab'); // back past the heading (not a tab stop) to the language switch
  check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'lang',
    'keyboard: the language switch is reachable');
  await page.keyboard.press('Shift+Tab'); // ... and the skip link, the first stop of the page
  check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'skip',
    'keyboard: the skip link is the first tab stop');
  await axe('enrolment');
  await page.getByLabel('Gebruikersnaam').fill(cfg.user);
  await page.getByLabel('Volledige naam').fill(cfg.name);
  await page.getByLabel('Organisatie').fill(cfg.org);
  await page.getByLabel('Rol', { exact: true }).fill(cfg.role);
  await page.getByLabel('Sleutel van de installatie').fill(cfg.root_hex);
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.passphrase);
  await page.getByLabel('Wachtwoordzin herhalen').fill(cfg.passphrase);
  await shot('01-enrolment');
  await page.getByRole('button', { name: 'Sleutels maken' }).click();

  // 2. the certificate request, certified by the administrator's casus-admin
  await page.getByRole('heading', { name: 'Certificaat installeren' }).waitFor();
  await axe('certificate');
  await shot('02-certificate');
  const [dl] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Certificaatverzoek downloaden' }).click()]);
  const req = join(cfg.outdir, 'browser.casusreq');
  const cert = join(cfg.outdir, 'browser.cert');
  await dl.saveAs(req);
  check(dl.suggestedFilename().endsWith('.casusreq'), `request downloaded as ${dl.suggestedFilename()}`);
  execFileSync(cfg.certify[0], cfg.certify.slice(1).map((a) => a.replace('{req}', req).replace('{cert}', cert)),
    { stdio: 'inherit' });
  // a wrong passphrase is refused before anything changes
  await page.getByLabel('Certificaat van de beheerder').setInputFiles(cert);
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill('not the passphrase');
  await page.getByRole('button', { name: 'Certificaat installeren' }).click();
  await page.getByRole('alert').filter({ hasText: 'Verkeerde wachtwoordzin' }).waitFor();
  check(true, 'a wrong passphrase is refused when installing the certificate');
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.passphrase);
  await page.getByRole('button', { name: 'Certificaat installeren' }).click();

  // 3. login
  await page.getByRole('heading', { name: 'Inloggen' }).waitFor();
  check(await page.getByText('Certificaat geïnstalleerd').isVisible(), 'the certificate was installed');
  await axe('login');
  await shot('03-login');
  // the keys survive a reload (IndexedDB), sealed: the passphrase is asked again
  await page.reload();
  await page.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.passphrase);
  await page.getByRole('button', { name: 'Inloggen' }).click();
  await page.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  await page.locator('#status[data-state="online"]').waitFor();
  check(true, 'logged in: hello, auth signed in wasm, policy verified in wasm');

  // 4. a CLI user makes a casus with this browser user in it, escalates it
  for (const argv of cfg.after_login) execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  await page.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
  const row = page.locator('table.casus tbody tr').filter({ hasText: cfg.expect.purpose });
  await row.waitFor();
  const level = (await row.locator('td.level').textContent()).trim();
  check(level.startsWith(String(cfg.expect.level)), `the casus is listed at level ${level}`);
  check(Number((await row.locator('td.unread').textContent()).trim()) >= 1, 'the unread count is shown');
  const notice = page.locator('li.notice').filter({ hasText: cfg.expect.notice });
  await notice.waitFor();
  check(true, `the escalation notice is shown: ${(await notice.textContent()).trim()}`);
  check(!(await page.content()).includes(cfg.expect.reason), 'the notice carries no reason (case content) to a non-member');
  check(await page.getByText(/Beleid \d+ van .*geverifieerd/).isVisible(), 'the verified policy is named');
  await axe('casus list');
  await shot('04-casus-list');

  // 5. reconnect: casusd goes away and comes back; the page re-authenticates by itself
  if (cfg.restart) {
    process.kill(cfg.restart.pid, 'SIGTERM');
    await page.locator('#status[data-state="reconnecting"]').waitFor();
    check(true, 'the page shows that the connection is lost');
    await until('the old casusd to release its port', async () => !(await portOpen(cfg.restart.port)));
    const log = openSync(cfg.restart.log, 'a');
    restarted = spawn(cfg.restart.argv[0], cfg.restart.argv.slice(1), { stdio: ['ignore', log, log] });
    await page.locator('#status[data-state="online"]').waitFor();
    await page.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
    await row.waitFor();
    check(!(await page.getByRole('alert').count()), 'after the restart the page reconnected, logged in again and lists the casus');
  }

  // 6. English second
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.getByRole('heading', { name: 'My cases' }).waitFor();
  check(await page.evaluate(() => document.documentElement.lang) === 'en', 'the language switch sets lang="en"');
  await axe('casus list (English)');
  await shot('05-casus-list-en');

  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('99-failure');
} finally {
  if (restarted && restarted.exitCode === null) {
    const gone = new Promise((r) => restarted.on('exit', r));
    restarted.kill('SIGTERM');
    await gone;
    check(restarted.exitCode === 0, `the restarted casusd exited cleanly (${restarted.exitCode})`);
  }
}
await t.finish('all browser checks passed');
