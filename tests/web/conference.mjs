// conference.mjs: two browser users and one CLI user in one casus, through the
// real casusd (started by test_conference.py), in Debian's Chromium driven by
// playwright-core. Each browser user enrols in its own browser context (own
// IndexedDB), is certified by casus-admin and logs in; the CLI user anna makes
// a casus with both. Checked: both browsers open the casus and see anna's note
// verified by the client core in wasm, with the members and their device
// fingerprints; a note posted in one browser appears live in the other (and
// the reverse) and in the CLI's history; a CLI note appears live in both
// browsers; an escalation by the CLI is verified live in both; the
// disclosure-ground prompt then appears for the audience whose policy asks
// for it and the note carries the ground; a third browser, a police user
// added at level 4 by the process director, is offered overleg and never sees
// zorg, and after the de-escalation verifies its own removal and gets no new
// notes; keyboard order; axe-core on the
// conference screen in Dutch and English; no CSP/SRI/Trusted Types violation
// and no request to another origin. Screenshots in cfg.outdir (conf-*.png).
//
//   node conference.mjs CONFIG.json     (exit 0 = every check passed)
//
// Start-up (Chromium, TLS pin, pages, axe, screenshots): lib.mjs.
//
// CONFIG: {url, spki, chromium, node_modules, outdir, root_hex, passphrase,
//          users: [{user, role, name, org}, {…}], certify: [argv with {req} {cert}],
//          make_casus: [argv] printing the casus id, purpose, anna_text,
//          cli_post: [argv with {casus} {text}], cli_history: [argv with {casus}],
//          cli_escalate, cli_police_in, cli_police_out: [argv with {casus}],
//          import: {user, keystore, passphrase}: a casus profile to bring into a browser}
import { execFileSync } from 'node:child_process';
import { start } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;
const newPage = (label) => t.newPage(label);
const axe = (page, screen) => t.axe(page, screen);
const shot = (page, name) => t.shot(page, name);
const enrolAndLogin = (page, u) => t.enrolAndLogin(page, u);

function note(page, text) {
  return page.locator('#notes li.note[data-verified="1"]').filter({ hasText: text });
}

// posts in one page; returns the milliseconds until it shows in the others
async function postAndSee(from, audience, text, ground, others) {
  await from.getByLabel('Publiek').selectOption(audience);
  if (ground) await from.getByLabel('Grondslag voor het delen').selectOption(ground);
  await from.getByLabel('Bericht', { exact: true }).fill(text);
  const t0 = Date.now();
  await from.getByRole('button', { name: 'Versturen' }).click();
  await note(from, text).waitFor();
  await Promise.all(others.map((p) => note(p, text).waitFor()));
  return Date.now() - t0;
}

function cli(argv, casus, text) {
  const a = argv.map((x) => x.replace('{casus}', casus).replace('{text}', text || ''));
  return execFileSync(a[0], a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

try {
  const [ua, ub, uc] = cfg.users;
  const A = await newPage(ua.user);
  const B = await newPage(ub.user);
  const C = await newPage(uc.user);
  await enrolAndLogin(A, ua);
  await enrolAndLogin(B, ub);
  await enrolAndLogin(C, uc);

  // the CLI user makes the casus with both browser users and writes a note
  const casus = execFileSync(cfg.make_casus[0], cfg.make_casus.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
  check(/^[0-9a-f]{32}$/.test(casus), `the CLI made casus ${casus}`);

  for (const [p, u] of [[A, ua], [B, ub]]) {
    await p.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
    await p.getByRole('button', { name: `Casus ${cfg.purpose} openen` }).click();
    await p.getByRole('heading', { name: `Casus: ${cfg.purpose}` }).waitFor();
    await note(p, cfg.anna_text).waitFor();
    const meta = (await note(p, cfg.anna_text).locator('.meta').textContent()).trim();
    check(/Anna Jansen/.test(meta) && /Geverifieerd/.test(meta), `${u.user} sees anna's note, verified in wasm: ${meta}`);
    await p.locator('#conf-level').filter({ hasText: 'geverifieerd' }).waitFor();
    const members = await p.locator('#members tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.user).sort());
    check(JSON.stringify(members) === JSON.stringify(['anna', ua.user, ub.user].sort()), `members of the verified roster: ${members}`);
    const fp = (await p.locator(`#members tr[data-user="${u.user}"] td.mono`).textContent()).trim();
    check(/^[0-9a-f]{4}( [0-9a-f]{4}){3}$/.test(fp), `the device fingerprint is shown (${fp})`);
  }
  check(await A.evaluate(() => document.activeElement && document.activeElement.tagName) === 'H1',
    'keyboard: the conference screen puts the focus on its heading');
  await A.keyboard.press('Tab');
  check(await A.evaluate(() => document.activeElement && document.activeElement.id) === 'back',
    'keyboard: Tab from the heading reaches the way back first');

  // the audience picker says who will read it; zorg has no ground prompt
  await A.getByLabel('Publiek').selectOption('zorg');
  const readers = (await A.locator('#readers').textContent()).trim();
  check(readers.includes(ub.name) && readers.includes('Anna Jansen') && !readers.includes(ua.name),
    `the picker names who will read it: ${readers}`);
  check(!(await A.getByLabel('Grondslag voor het delen').isVisible()), 'no ground prompt for zorg');
  await axe(A, 'conference');
  await shot(A, 'conf-01-conference-a');

  // live, both ways
  const ms1 = await postAndSee(A, 'zorg', `Notitie van ${ua.user}: huisbezoek dinsdag`, null, [B]);
  console.log(`measured: a note from ${ua.user} showed in ${ub.user}'s browser after ${ms1} ms`);
  const ms2 = await postAndSee(B, 'zorg', `Notitie van ${ub.user}: medicatie besproken`, null, [A]);
  console.log(`measured: a note from ${ub.user} showed in ${ua.user}'s browser after ${ms2} ms`);

  // the CLI escalates to level 3 (the process director's level): the commit
  // push makes both browsers verify the new head; at this level overleg holds
  // a role outside the care circle, so the policy asks a care role for a ground
  cli(cfg.cli_escalate, casus);
  await Promise.all([A, B].map((p) => p.locator('#conf-level').filter({ hasText: /Niveau 3 .*epoch 1\b/ }).waitFor()));
  check(true, 'the escalation arrives live and is verified in both browsers (level 3, epoch 1)');
  await A.getByLabel('Publiek').selectOption('overleg');
  await A.getByLabel('Grondslag voor het delen').waitFor();
  check(await A.getByLabel('Grondslag voor het delen').isVisible(), 'the ground prompt appears for overleg');
  await A.getByLabel('Bericht', { exact: true }).fill('Zonder grondslag');
  await A.getByRole('button', { name: 'Versturen' }).click();
  await A.getByRole('alert').filter({ hasText: 'Kies een grondslag' }).waitFor();
  check(true, 'a note to overleg without a ground is not sent');
  await shot(A, 'conf-02-ground-prompt');
  const groundText = `Notitie met grondslag van ${ua.user}`;
  await postAndSee(A, 'overleg', groundText, 'consent', [B]);
  const gmeta = (await note(B, groundText).locator('.meta').textContent()).trim();
  check(/overleg/.test(gmeta) && /Toestemming/.test(gmeta), `the other browser shows audience and ground: ${gmeta}`);

  // the CLI sees the browsers' notes; a CLI note appears live in both browsers
  const hist = JSON.parse(cli(cfg.cli_history, casus).trim().split('\n').pop());
  const texts = (hist.messages || []).map((m) => m.text);
  check([`Notitie van ${ua.user}: huisbezoek dinsdag`, `Notitie van ${ub.user}: medicatie besproken`, groundText]
    .every((x) => texts.includes(x)), 'the CLI decrypts and verifies the browsers\' notes');
  const cliText = 'Van anna op de terminal';
  const t0 = Date.now();
  cli(cfg.cli_post, casus, cliText);
  await Promise.all([note(A, cliText).waitFor(), note(B, cliText).waitFor()]);
  console.log(`measured: a CLI note showed in both browsers ${Date.now() - t0} ms after the CLI started (process start included)`);
  check(true, 'a note from the CLI appears live in both browsers');
  check(await B.locator('#notes li.note[data-verified="0"]').count() === 0, 'every note in the other browser is verified');
  await shot(B, 'conf-03-conference-b');

  // the police user: paula (process director) escalates to level 4 and adds
  // the police browser. It gets overleg, never zorg.
  cli(cfg.cli_police_in, casus);
  await Promise.all([A, B].map((p) => p.locator('#conf-level').filter({ hasText: /Niveau 4 / }).waitFor()));
  await C.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
  await C.getByRole('button', { name: `Casus ${cfg.purpose} openen` }).click();
  await C.getByRole('heading', { name: `Casus: ${cfg.purpose}` }).waitFor();
  await C.locator('#conf-level').filter({ hasText: /Niveau 4 / }).waitFor();
  const cAud = await C.getByLabel('Publiek').locator('option').evaluateAll((os) => os.map((o) => o.value));
  check(cAud.includes('overleg') && !cAud.includes('zorg'), `the police browser may write to ${cAud}, not zorg`);
  const zorgAfter = `Zorgnotitie na opschaling van ${ua.user}`;
  const overlegAfter = `Overlegnotitie na opschaling van ${ua.user}`;
  await postAndSee(A, 'zorg', zorgAfter, null, [B]);
  await postAndSee(A, 'overleg', overlegAfter, 'legal_duty', [B, C]);
  // the server stores in order: once the later overleg note is shown, the zorg note was never given to the police
  check(!(await C.locator('#notes').textContent()).includes(zorgAfter), 'the police browser never sees the zorg note');
  check(await C.locator('#notes li.note[data-verified="0"]').count() === 0, 'the police browser shows only notes it may read');
  const ms3 = await postAndSee(C, 'overleg', `Notitie van ${uc.user} (politie)`, null, [A, B]);
  console.log(`measured: a note from the police browser showed in both others after ${ms3} ms`);
  await axe(C, 'conference (police)');
  await shot(C, 'conf-05-conference-police');
  // de-escalation removes the police user; new notes are not for it
  cli(cfg.cli_police_out, casus);
  await C.locator('#not-member').waitFor();
  await C.locator('#conf-level').filter({ hasText: /Niveau 3 / }).waitFor();
  check(true, 'after the de-escalation the police browser verified its removal (level 3, no longer a member)');
  const afterOut = `Overlegnotitie na de-escalatie van ${ua.user}`;
  await A.locator('#conf-level').filter({ hasText: /Niveau 3 / }).waitFor();
  await postAndSee(A, 'overleg', afterOut, 'legal_duty', [B]);
  check(!(await C.locator('#notes').textContent()).includes(afterOut), 'a note after the de-escalation does not reach the police browser');
  await shot(C, 'conf-06-police-removed');

  // a profile made by the casus command (keys.casusks) brought into a browser
  const D = await newPage(cfg.import.user);
  await D.goto(cfg.url);
  await D.waitForSelector('body[data-ready="1"]');
  await D.getByLabel('Sleutelbestand (keys.casusks)').setInputFiles(cfg.import.keystore);
  await D.getByLabel('Installatiesleutel van het profiel').fill(cfg.root_hex);
  await D.getByLabel('Wachtwoordzin van het profiel').fill('not the passphrase');
  await D.getByRole('button', { name: 'Profiel gebruiken' }).click();
  await D.getByRole('alert').filter({ hasText: 'Verkeerde wachtwoordzin' }).waitFor();
  await D.getByLabel('Installatiesleutel van het profiel').fill('0'.repeat(64));
  await D.getByLabel('Wachtwoordzin van het profiel').fill(cfg.import.passphrase);
  await D.getByRole('button', { name: 'Profiel gebruiken' }).click();
  await D.getByRole('alert').filter({ hasText: 'Certificaat geweigerd' }).waitFor();
  check(true, 'importing a profile refuses a wrong passphrase and a certificate of another deployment');
  await D.getByLabel('Installatiesleutel van het profiel').fill(cfg.root_hex);
  await D.getByRole('button', { name: 'Profiel gebruiken' }).click();
  await D.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await D.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.import.passphrase);
  await D.getByRole('button', { name: 'Inloggen' }).click();
  await D.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  await D.locator('#status[data-state="online"]').waitFor();
  check((await D.locator('.who').textContent()).includes(cfg.import.user), `a casus profile imported into the browser logs in as ${cfg.import.user}`);

  // English second
  await A.getByRole('button', { name: 'Switch to English' }).click();
  await A.getByRole('heading', { name: `Case: ${cfg.purpose}` }).waitFor();
  check((await note(A, cliText).locator('.meta').textContent()).includes('Verified'), 'the notes are shown in English');
  await axe(A, 'conference (English)');
  await shot(A, 'conf-04-conference-en');

  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('conf-99-failure');
}
await t.finish('all conference checks passed');
