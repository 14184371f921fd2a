// lib.mjs: the browser start-up shared by the web tests (browser.mjs,
// conference.mjs, offline.mjs, hostile.mjs): the test's JSON config, Debian's
// Chromium launched through playwright-core with the deployment's TLS
// certificate trusted by its SPKI hash only (--ignore-certificate-errors-spki-list,
// no global TLS bypass), pages that record CSP/SRI/Trusted Types violations and
// every request, axe-core, screenshots, waiting for a condition, and the
// enrolment + certification + login every browser user goes through.
//
//   const t = await start(process.argv[2]);            // a browser (contexts per user)
//   const t = await start(process.argv[2], {persistent: true}); // one persistent profile
//   const page = await t.newPage('bente');  ...  t.check(cond, 'what');
//   await t.finish('all … checks passed');             // closes, exits 0 only if every check passed
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

export const T = 120000; // generous: Argon2id in wasm on a loaded 2-core machine

export function chromiumArgs(spki) {
  return ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${spki}`];
}

export function portOpen(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// waits for f() to be true, polling; a generous deadline, never a fixed sleep
export async function until(what, f, ms = T) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100)))
    if (await f()) return;
  throw new Error(`timed out waiting for ${what}`);
}

// opts: {persistent: one persistent Chromium profile (browser.mjs), viewport, clean: remove cfg.outdir first}
export async function start(configPath, opts = {}) {
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  const require = createRequire(join(cfg.node_modules, 'x.js'));
  const { chromium } = require('playwright-core');
  const axeSource = readFileSync(join(cfg.node_modules, 'axe-core', 'axe.min.js'), 'utf8');
  if (opts.clean !== false) rmSync(cfg.outdir, { recursive: true, force: true }); // no screenshot of an earlier run survives
  mkdirSync(cfg.outdir, { recursive: true });

  const t = { cfg, violations: [], requests: [], failures: 0, inAxe: false, browser: null, ctx: null, profileDir: null };
  const launch = { executablePath: cfg.chromium, headless: true, args: chromiumArgs(cfg.spki) };
  if (opts.persistent) {
    t.profileDir = mkdtempSync(join(tmpdir(), 'casus-chromium-'));
    t.ctx = await chromium.launchPersistentContext(t.profileDir, {
      ...launch, acceptDownloads: true, viewport: opts.viewport || { width: 1100, height: 800 } });
  } else {
    t.browser = await chromium.launch(launch);
  }

  t.check = (cond, what) => {
    console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
    if (!cond) t.failures++;
  };

  // a page that records CSP/SRI violations, page errors and every request
  t.watch = (page, label) => {
    page.setDefaultTimeout(T);
    const pre = label ? `${label}: ` : '';
    page.on('console', (m) => {
      const s = m.text();
      // axe-core itself injects styles, which the CSP rightly refuses
      if (!t.inAxe && /Content Security Policy|Refused to|integrity|Trusted Type/i.test(s)) t.violations.push(`${pre}${s}`);
      if (m.type() === 'error') console.log(`console ${label || ''}: ${s}`);
    });
    page.on('pageerror', (e) => t.violations.push(`${pre}pageerror: ${e.message}`));
    page.on('request', (r) => t.requests.push(r.url()));
    return page;
  };

  // persistent: the profile's first page; otherwise a new context (own IndexedDB) per user
  t.newPage = async (label, viewport) => {
    if (t.ctx) return t.watch(t.ctx.pages()[0] || (await t.ctx.newPage()), label);
    const ctx = await t.browser.newContext({ acceptDownloads: true, viewport: viewport || { width: 1100, height: 900 } });
    return t.watch(await ctx.newPage(), label);
  };

  t.axe = async (page, screen) => {
    // Runtime.evaluate is not subject to the page's CSP, so axe-core needs no exception in it
    t.inAxe = true;
    const res = await page.evaluate(`${axeSource}\n;axe.run(document, {runOnly: ['wcag2a','wcag2aa','wcag21a','wcag21aa']})
      .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, n: v.nodes.length, help: v.help})))`);
    await page.evaluate('0'); // let console messages from the run arrive before inAxe drops
    t.inAxe = false;
    const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of res) console.log(`  axe ${screen}: ${v.impact} ${v.id} (${v.n}): ${v.help}`);
    t.check(bad.length === 0, `axe-core: no serious or critical violations on ${screen}`);
  };

  t.shot = (page, name) => page.screenshot({ path: join(cfg.outdir, `${name}.png`), fullPage: true });

  // the screenshot of every open page after a failure
  t.failureShots = async (prefix) => {
    const pages = t.ctx ? t.ctx.pages() : t.browser.contexts().map((c) => c.pages()[0]);
    for (const [i, p] of pages.entries()) {
      try {
        await p.screenshot({ path: join(cfg.outdir, `${prefix}${pages.length > 1 ? `-${i}` : ''}.png`), fullPage: true });
      } catch {
        /* ignore */
      }
    }
  };

  // the closing checks every web test makes
  t.originAndCsp = () => {
    const origin = new URL(cfg.url).origin;
    const foreign = t.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
    t.check(foreign.length === 0, `no request leaves the casusd origin (${foreign.join(' ') || 'none'})`);
    t.check(t.violations.length === 0, `no CSP, SRI or Trusted Types violation (${t.violations.join(' | ') || 'none'})`);
  };

  // enrolment, certification by casus-admin (cfg.certify), certificate, login
  t.enrolAndLogin = async (page, u, passphrase = cfg.passphrase) => {
    await page.goto(cfg.url);
    await page.waitForSelector('body[data-ready="1"]');
    await page.getByRole('heading', { name: 'Dit apparaat aanmelden' }).waitFor();
    await page.getByLabel('Gebruikersnaam').fill(u.user);
    await page.getByLabel('Volledige naam').fill(u.name);
    await page.getByLabel('Organisatie').fill(u.org);
    await page.getByLabel('Rol', { exact: true }).fill(u.role);
    await page.getByLabel('Sleutel van de installatie').fill(cfg.root_hex);
    await page.getByLabel('Wachtwoordzin', { exact: true }).fill(passphrase);
    await page.getByLabel('Wachtwoordzin herhalen').fill(passphrase);
    await page.getByRole('button', { name: 'Sleutels maken' }).click();
    await page.getByRole('heading', { name: 'Certificaat installeren' }).waitFor();
    const [dl] = await Promise.all([page.waitForEvent('download'),
      page.getByRole('button', { name: 'Certificaatverzoek downloaden' }).click()]);
    const req = join(cfg.outdir, `${u.user}.casusreq`);
    const cert = join(cfg.outdir, `${u.user}.cert`);
    await dl.saveAs(req);
    execFileSync(cfg.certify[0], cfg.certify.slice(1).map((a) => a.replace('{req}', req).replace('{cert}', cert)),
      { stdio: 'inherit' });
    await page.getByLabel('Certificaat van de beheerder').setInputFiles(cert);
    await page.getByLabel('Wachtwoordzin', { exact: true }).fill(passphrase);
    await page.getByRole('button', { name: 'Certificaat installeren' }).click();
    await page.getByRole('heading', { name: 'Inloggen' }).waitFor();
    await page.getByLabel('Wachtwoordzin', { exact: true }).fill(passphrase);
    await page.getByRole('button', { name: 'Inloggen' }).click();
    await page.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
    await page.locator('#status[data-state="online"]').waitFor();
    t.check(true, `${u.user} (${u.role}) enrolled, certified and logged in`);
  };

  // A step the driving test takes between two browser steps (test_hostile.py:
  // make casus, install the proxy's hooks): prints "phase NAME", resolves with
  // the JSON line the test answers on stdin.
  let lines = null;
  const waiting = [];
  t.phase = (name) => {
    if (!lines) {
      lines = createInterface({ input: process.stdin });
      lines.on('line', (l) => waiting.length && waiting.shift()(l));
    }
    console.log(`phase ${name}`);
    return new Promise((resolve) => waiting.push((l) => resolve(JSON.parse(l))));
  };

  t.close = async () => {
    if (lines) lines.close();
    if (t.ctx) await t.ctx.close();
    if (t.browser) await t.browser.close();
    if (t.profileDir) rmSync(t.profileDir, { recursive: true, force: true });
  };

  // closes the browser, prints the verdict and exits (0 only if every check passed)
  t.finish = async (passed) => {
    await t.close();
    console.log(t.failures ? `${t.failures} check(s) failed` : passed);
    process.exit(t.failures ? 1 : 0);
  };
  return t;
}
