// screens.mjs: the browser's remaining screens against the real casusd
// (started by test_screens.py), in Debian's Chromium driven by playwright-core.
// See test_screens.py for the story. Every browser user is either a `casus`
// profile imported into the browser (paula, peter, fenna) or a new device
// enrolled in it (anna's second device, paired).
//
//   node screens.mjs CONFIG.json     (exit 0 = every check passed)
import { execFileSync } from 'node:child_process';
import { start } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;
const axe = (page, screen) => t.axe(page, screen);
const shot = (page, name) => t.shot(page, name);

async function newPage(label) {
  const page = await t.newPage(label);
  page.on('dialog', (d) => d.accept()); // the close confirmation
  return page;
}

function run(argv, casus, text) {
  const a = argv.map((x) => x.replace('{casus}', casus || '').replace('{text}', text || ''));
  return execFileSync(a[0], a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}
const lastJson = (s) => JSON.parse(s.trim().split('\n').pop());

// a casus profile (keys.casusks) brought into a fresh browser, then login
async function importAndLogin(page, user) {
  const imp = cfg.imports[user];
  await page.goto(cfg.url);
  await page.waitForSelector('body[data-ready="1"]');
  await page.getByLabel('Sleutelbestand (keys.casusks)').setInputFiles(imp.keystore);
  await page.getByLabel('Installatiesleutel van het profiel').fill(cfg.root_hex);
  await page.getByLabel('Wachtwoordzin van het profiel').fill(imp.passphrase);
  await page.getByRole('button', { name: 'Profiel gebruiken' }).click();
  await page.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill(imp.passphrase);
  await page.getByRole('button', { name: 'Inloggen' }).click();
  await page.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  await page.locator('#status[data-state="online"]').waitFor();
}

async function openCasus(page) {
  await page.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
  await page.getByRole('button', { name: `Casus ${cfg.purpose} openen` }).click();
  await page.getByRole('heading', { name: `Casus: ${cfg.purpose}` }).waitFor();
  await page.locator('#conf-level').filter({ hasText: 'geverifieerd' }).waitFor();
}

function note(page, text) {
  return page.locator('#notes li.note[data-verified="1"]').filter({ hasText: text });
}

async function adminOk(page, re) {
  await page.locator('#admin-msg p.ok').filter({ hasText: re }).waitFor();
}

try {
  const P = await newPage('paula');
  const Q = await newPage('peter');
  const F = await newPage('fenna');
  const N = await newPage('anna-new');
  await importAndLogin(P, 'paula');
  await importAndLogin(Q, 'peter');
  await importAndLogin(F, 'fenna');
  check(true, 'paula, peter and fenna (casus profiles) logged in in their own browsers');

  const casus = run(cfg.make_casus).trim().split('\n').pop();
  check(/^[0-9a-f]{32}$/.test(casus), `the CLI made casus ${casus} at level 3 with paula`);

  // ---- the process director's conference: escalate with a reason -------------
  await openCasus(P);
  await note(P, cfg.overleg_text).waitFor();
  await P.locator('#conf-level').filter({ hasText: /Niveau 3 / }).waitFor();
  await P.getByRole('heading', { name: 'Casus beheren' }).waitFor();
  await axe(P, 'conference with management (process director)');
  await shot(P, 'screens-01-manage');
  // a level change without a reason is not built
  await P.getByLabel('Nieuw niveau').selectOption('4');
  await P.getByRole('button', { name: 'Niveau wijzigen' }).click();
  await P.getByRole('alert').filter({ hasText: 'Geef een reden' }).waitFor();
  check(true, 'a level change without a reason is refused in the browser');
  const escReason = 'dreiging van geweld (browser)';
  await P.getByLabel('Nieuw niveau').selectOption('4');
  await P.locator('#level-form').getByLabel('Reden').fill(escReason);
  await P.getByRole('button', { name: 'Niveau wijzigen' }).click();
  await adminOk(P, /Niveau gewijzigd/);
  await P.locator('#conf-level').filter({ hasText: /Niveau 4 / }).waitFor();
  await P.locator('#changes li[data-type="escalate"]').filter({ hasText: escReason }).waitFor();
  check(true, 'the browser escalated to 4 and shows the verified change with its reason');
  let mem = lastJson(run(cfg.cli_members, casus));
  check(mem.level === 4 && (mem.changes || []).some((c) => c.type === 'escalate' && c.level === 4 && c.reason === escReason),
    'the CLI verifies the escalation and opens its end-to-end reason');

  // ---- add the police user; he gets overleg, never zorg -------------------------
  await P.locator('#add-form').getByLabel('Gebruikersnaam van het nieuwe lid').fill('peter');
  await P.getByRole('button', { name: 'Toevoegen' }).click();
  await adminOk(P, /peter toegevoegd/);
  await P.locator('#members tr[data-user="peter"]').waitFor();
  check(true, 'the browser added peter (the directory\'s certificate checked in wasm)');
  await openCasus(Q);
  await Q.locator('#conf-level').filter({ hasText: /Niveau 4 / }).waitFor();
  const qAud = await Q.getByLabel('Publiek').locator('option').evaluateAll((os) => os.map((o) => o.value));
  check(qAud.includes('overleg') && !qAud.includes('zorg'), `the police browser may write to ${qAud}, not zorg`);
  check(!(await Q.locator('#notes').textContent()).includes(cfg.overleg_text), 'the police browser cannot read anna\'s earlier overleg note');

  // ---- share anna's earlier overleg note with peter (grant v2) -----------------
  const shareVal = await P.locator('#share-form select[name="note"] option').filter({ hasText: cfg.overleg_text.slice(0, 30) }).getAttribute('value');
  await P.locator('#share-form select[name="note"]').selectOption(shareVal);
  await P.locator('#share-form').getByLabel('Delen met').selectOption('peter');
  await P.locator('#share-form').getByLabel('Grondslag om te delen').selectOption('legal_duty');
  await P.locator('#share-form').getByLabel('Reden').fill('politie moet dit weten (browser)');
  await P.getByRole('button', { name: 'Delen', exact: true }).click();
  await adminOk(P, /Gedeeld met peter/);
  await note(Q, cfg.overleg_text).locator('.granted').waitFor();
  const shared = (await note(Q, cfg.overleg_text).locator('.shared').textContent()).trim();
  check(/Paula Visser/.test(shared) && /Wettelijke plicht/.test(shared) && shared.includes('politie moet dit weten (browser)'),
    `the shared note arrives in the police browser, verified, with who shared it, the ground and the reason opened in wasm: ${shared}`);
  await axe(Q, 'conference (police, shared note)');
  await shot(Q, 'screens-02-police-shared');

  // ---- de-escalate with a reason: the police browser loses overleg --------------
  const deReason = 'situatie stabiel (browser)';
  await P.getByLabel('Nieuw niveau').selectOption('3');
  await P.locator('#level-form').getByLabel('Reden').fill(deReason);
  await P.getByRole('button', { name: 'Niveau wijzigen' }).click();
  await adminOk(P, /Niveau gewijzigd/);
  await P.locator('#conf-level').filter({ hasText: /Niveau 3 / }).waitFor();
  await Q.locator('#not-member').waitFor();
  check(true, 'after the browser\'s de-escalation the police browser verified its removal');
  mem = lastJson(run(cfg.cli_members, casus));
  check(mem.level === 3 && !(mem.members || []).some((m) => m.user === 'peter') &&
    (mem.changes || []).some((c) => c.type === 'deescalate' && c.reason === deReason),
    'the CLI sees level 3 without peter and reads the de-escalation reason');
  const after = 'Overlegnotitie na de-escalatie (paula)';
  await P.getByLabel('Publiek').selectOption('overleg');
  await P.locator('#post-region').getByLabel('Bericht', { exact: true }).fill(after);
  await P.getByRole('button', { name: 'Versturen' }).click();
  await note(P, after).waitFor();
  const hist = lastJson(run(cfg.cli_history, casus));
  check((hist.messages || []).some((m) => m.text === after), 'the CLI reads the note posted after the de-escalation');
  check(!(await Q.locator('#notes').textContent()).includes(after), 'the note after the de-escalation does not reach the police browser');

  // ---- remove a member -----------------------------------------------------------
  await P.locator('#remove-form').getByLabel('Lid', { exact: true }).selectOption('gijs');
  await P.getByRole('button', { name: 'Verwijderen' }).click();
  await adminOk(P, /gijs verwijderd/);
  mem = lastJson(run(cfg.cli_members, casus));
  check(!(mem.members || []).some((m) => m.user === 'gijs') && (mem.changes || []).some((c) => c.type === 'remove'),
    'the browser removed gijs; the CLI verifies the roster without him');

  // ---- pairing: a new browser device of anna -----------------------------------
  await t.enrolAndLogin(N, cfg.new_device);
  const code = (await N.locator('#pairing-code').textContent()).trim();
  check(/^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/.test(code), `the new device shows its pairing code ${code}`);
  await axe(N, 'casus list with pairing code');
  await shot(N, 'screens-03-pairing-code');
  run(cfg.cli_add_device, casus, code);
  await openCasus(N);
  await note(N, cfg.note_marker).waitFor();
  check(true, 'anna\'s CLI paired the browser; it reads anna\'s earlier note with the keys passed on');
  await shot(N, 'screens-04-paired');
  // the browser as the approving device: anna's third device (a CLI profile)
  // shows its pairing code; the browser adds exactly that device and passes its keys on
  const code2 = lastJson(run(cfg.cli2_whoami)).pairing;
  await N.locator('#pair-form').getByLabel('Koppelcode van het nieuwe apparaat').fill('0000-0000-0000-0000');
  await N.getByRole('button', { name: 'Apparaat koppelen' }).click();
  await N.locator('#admin-msg [role="alert"]').filter({ hasText: 'koppelcode' }).waitFor();
  check(true, 'a pairing code no new device of anna shows is refused in wasm');
  await N.locator('#pair-form').getByLabel('Koppelcode van het nieuwe apparaat').fill(code2);
  await N.getByRole('button', { name: 'Apparaat koppelen' }).click();
  await adminOk(N, /Apparaat toegevoegd/);
  const h3 = lastJson(run(cfg.cli2_history, casus));
  check((h3.messages || []).some((m) => m.text === cfg.note_marker),
    'the browser paired anna\'s CLI device: it reads anna\'s earliest note with the keys the browser passed on');

  // ---- the overview and the monitor (content-free) ------------------------------
  await P.getByRole('button', { name: 'Terug naar mijn casussen' }).click();
  await P.getByRole('button', { name: 'Overzicht procesregie' }).click();
  await P.locator(`#overview tr[data-casus="${casus}"]`).waitFor();
  const row = (await P.locator(`#overview tr[data-casus="${casus}"]`).textContent());
  check(/3 Procesregie/.test(row) && /casemanager/.test(row) && /procesregisseur/.test(row),
    `the overview shows level and members' roles: ${row.replace(/\s+/g, ' ')}`);
  const page = await P.locator('main').textContent();
  check(!page.includes(cfg.title_marker) && !page.includes(cfg.note_marker) && !page.includes(cfg.overleg_text) && !page.includes(after),
    'the overview never shows a title or a note');
  await axe(P, 'process director\'s overview');
  await shot(P, 'screens-05-overview');
  await P.getByRole('button', { name: 'Terug naar mijn casussen' }).click();
  await P.getByRole('button', { name: 'Monitor' }).click();
  await P.locator('#mon-levels').waitFor();
  check((await P.locator('#mon-levels').textContent()).includes('<5'), 'the monitor shows small counts suppressed as <5');
  await axe(P, 'monitor');
  await shot(P, 'screens-06-monitor');

  // ---- a de-escalation below the actor's own level removes the actor ----------
  await P.getByRole('button', { name: 'Terug naar mijn casussen' }).click();
  await openCasus(P);
  const selfReason = 'regie niet meer nodig (browser)';
  await P.getByLabel('Nieuw niveau').selectOption('2');
  await P.locator('#level-form').getByLabel('Reden').fill(selfReason);
  await P.getByRole('button', { name: 'Niveau wijzigen' }).click();
  await P.locator('#not-member').waitFor();
  check(await P.locator('#admin-msg [role="alert"]').count() === 0,
    'de-escalating below her own level, the process director\'s browser verifies her own removal (no error)');
  mem = lastJson(run(cfg.cli_members, casus));
  check(mem.level === 2 && !(mem.members || []).some((m) => m.user === 'paula') &&
    (mem.changes || []).some((c) => c.type === 'deescalate' && c.reason === selfReason),
    'the CLI sees level 2 without paula and reads her reason');

  // ---- close with a reason (an end-to-end note), from anna's browser ---------------
  const closeReason = 'afgerond, hulp loopt via wijkteam (browser)';
  await N.locator('#close-form').getByLabel('Reden van sluiten').fill(closeReason);
  await N.getByRole('button', { name: 'Casus sluiten' }).click();
  await adminOk(N, /gesloten/);
  await note(N, `Casus gesloten / closed: ${closeReason}`).waitFor();
  await shot(N, 'screens-08-closed');
  const h2 = lastJson(run(cfg.cli_history, casus));
  check((h2.messages || []).some((m) => m.text === `Casus gesloten / closed: ${closeReason}`),
    'the closing reason reaches the CLI as an end-to-end note');
  const list = lastJson(run(cfg.cli_list));
  const row2 = (list.casus || []).find((c) => c.casus === casus);
  check(row2 && row2.closed_at, 'the server holds the casus as closed');

  // ---- the privacy officer's audit view ---------------------------------------
  await F.getByRole('button', { name: 'Auditspoor' }).click();
  await F.getByRole('heading', { name: 'Auditspoor' }).waitFor();
  await F.getByLabel('Casus (32 tekens)').fill(casus);
  await F.getByRole('button', { name: 'Spoor ophalen en controleren' }).click();
  await F.locator('#audit-verdict[data-verified="1"]').waitFor();
  check(true, `the whole audit trail verified in wasm: ${(await F.locator('#audit-verdict').textContent()).trim()}`);
  const rep = await F.locator('#report').textContent();
  check(/Paula Visser/.test(rep) && /Peter Smit/.test(rep), 'the data-subject report names who looked (Paula Visser, Peter Smit)');
  const ent = await F.locator('#audit-entries tbody tr').count();
  check(ent > 5, `the casus's audit entries are listed (${ent})`);
  check(!(await F.locator('main').textContent()).includes(escReason), 'the audit view holds no reason (the trail keeps none of the members\' text)');
  await axe(F, 'audit view');
  await shot(F, 'screens-07-audit');
  await F.getByRole('button', { name: 'Switch to English' }).click();
  await F.getByRole('button', { name: 'Fetch and check the trail' }).click();
  await F.locator('#audit-verdict[data-verified="1"]').waitFor();
  check(/Access report/.test(await F.locator('#report').textContent()), 'the audit view and the report in English');
  await axe(F, 'audit view (English)');
  await F.getByRole('button', { name: 'Schakel naar Nederlands' }).click();
  await F.getByLabel('Casus (32 tekens)').fill(casus);
  // a wrong pinned audit key: the trail is not trusted
  await F.getByLabel('Auditsleutel van de installatie (optioneel)').fill('0'.repeat(64));
  await F.getByRole('button', { name: 'Spoor ophalen en controleren' }).click();
  await F.getByRole('alert').filter({ hasText: 'wijkt af' }).waitFor();
  check(true, 'a pinned audit key that differs from the server\'s refuses the trail');

  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('screens-99-failure');
}
await t.finish('all screen checks passed');
