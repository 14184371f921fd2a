// regie.mjs: agreed actions, the agenda and notices in the browser against the
// real casusd (started by test_regie.py), in Debian's Chromium driven by
// playwright-core, with anna's `casus` CLI on the other side. See
// test_regie.py for the story.
//
//   node regie.mjs CONFIG.json     (exit 0 = every check passed)
import { execFileSync } from 'node:child_process';
import { start, until, T } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;

function run(argv, casus) {
  const a = argv.map((x) => x.replace('{casus}', casus || ''));
  return execFileSync(a[0], a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}
const lastJson = (s) => JSON.parse(s.trim().split('\n').pop());

async function login(page, pass) {
  await page.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await page.getByLabel('Wachtwoordzin', { exact: true }).fill(pass);
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

// the note's audience: overleg, with the ground the policy asks there
async function audience(form) {
  await form.getByLabel('Wie mag de notitie lezen').selectOption('overleg');
  const g = form.getByLabel('Rechtsgrond om te delen');
  if (await g.isVisible()) await g.selectOption('consent');
}

try {
  const imp = cfg.imports.paula;
  const P = await t.newPage('paula');
  await P.goto(cfg.url);
  await P.waitForSelector('body[data-ready="1"]');
  await P.getByLabel('Sleutelbestand (keys.casusks)').setInputFiles(imp.keystore);
  await P.getByLabel('Installatiesleutel van het profiel').fill(cfg.root_hex);
  await P.getByLabel('Wachtwoordzin van het profiel').fill(imp.passphrase);
  await P.getByRole('button', { name: 'Profiel gebruiken' }).click();
  await login(P, imp.passphrase);
  const casus = run(cfg.make_casus).trim().split('\n').pop();
  check(/^[0-9a-f]{32}$/.test(casus), `the CLI made casus ${casus} at level 3 with paula`);
  await t.phase('backup'); // the store as it is now, before any note: restored at the end

  // ---- an action made in the browser, read by the CLI ----------------------------
  await openCasus(P);
  await P.getByRole('heading', { name: 'Afspraken en agenda' }).waitFor();
  await P.locator('#actions-empty').waitFor();
  const af = P.locator('#action-form');
  // an empty form is refused in wasm, nothing is sent
  await af.getByRole('button', { name: 'Afspraak vastleggen' }).click();
  await P.locator('#regie-conf-msg [role="alert"]').waitFor();
  check(true, 'an action without a date or text is refused before anything is sent');
  await af.getByLabel('Wat is afgesproken').fill('Huisbezoek plannen met het wijkteam');
  await af.getByLabel('Wie voert het uit').selectOption('anna');
  await af.getByLabel('Uiterlijk op (datum)').fill(cfg.later);
  await audience(af);
  await af.getByRole('button', { name: 'Afspraak vastleggen' }).click();
  await P.locator('#regie-conf-msg p.ok').filter({ hasText: 'Afspraak vastgelegd' }).waitFor();
  await P.locator('#actions tr[data-state="open"]').filter({ hasText: 'Huisbezoek plannen' }).waitFor();
  let acts = lastJson(run(cfg.cli_actions, casus)).actions;
  const mine = acts.find((x) => x.what === 'Huisbezoek plannen met het wijkteam');
  check(mine && mine.who === 'anna' && mine.by === 'paula' && mine.disclosed === true && mine.done === false,
    `the CLI reads the browser's action (who anna, by paula, due date disclosed): ${JSON.stringify(mine)}`);

  // ---- an action made by the CLI, shown in the browser, marked done there -----------
  const added = lastJson(run(cfg.cli_action_add, casus));
  check(added.ok === true && /^[0-9a-f]{32}$/.test(added.action), 'anna\'s CLI recorded an action for paula (due 2020-01-06, not disclosed)');
  const row = P.locator(`#actions tr[data-action="${added.action}"]`);
  await row.and(P.locator('[data-state="overdue"]')).waitFor();
  check(/Gesprek met school/.test(await row.textContent()) && /over tijd/.test(await row.textContent()),
    'the browser shows the CLI\'s action, marked overdue (over tijd)');
  await t.axe(P, 'conference with actions (overdue) and the forms');
  await t.shot(P, 'regie-01-actions');
  await row.getByRole('button', { name: 'Afspraak "Gesprek met school" als gedaan markeren' }).click();
  await P.locator(`#actions tr[data-action="${added.action}"][data-state="done"]`).waitFor();
  acts = lastJson(run(cfg.cli_actions, casus)).actions;
  const done = acts.find((x) => x.action === added.action);
  check(done && done.done === true && done.overdue === false && done.by === 'paula',
    `marked done in the browser, the CLI reads it done: ${JSON.stringify(done)}`);
  check(acts.length === 2, `still two actions (a later version replaces the earlier): ${acts.length}`);

  // ---- the agenda: planned by the CLI, the notice in words, dismissed -------------------
  const plan = lastJson(run(cfg.cli_agenda_plan, casus));
  check(plan.ok === true && plan.note === true, 'anna\'s CLI put the casus on the agenda (place in the casus)');
  await P.locator('#agenda tr').filter({ hasText: 'Stadhuis, kamer 4' }).waitFor();
  check(true, 'the browser shows the meeting\'s place, read from the encrypted note');
  // a meeting planned in the browser, read by the CLI
  const gf = P.locator('#agenda-form');
  await gf.getByLabel('Datum van het overleg').fill(cfg.later);
  await gf.getByLabel('Tijd (UTC, optioneel)').fill('09:30');
  await gf.getByLabel('Plaats', { exact: true }).fill('Zorg- en Veiligheidshuis, zaal 2');
  await audience(gf);
  await gf.getByRole('button', { name: 'Op de agenda zetten' }).click();
  await P.locator('#regie-conf-msg p.ok').filter({ hasText: 'op de agenda' }).waitFor();
  await P.locator('#agenda tr').filter({ hasText: 'zaal 2' }).waitFor();
  const ag = lastJson(run(cfg.cli_agenda)).agenda;
  check(ag.some((x) => x.casus === casus && x.place === 'Zorg- en Veiligheidshuis, zaal 2'),
    `the CLI lists the browser's meeting with its place: ${JSON.stringify(ag)}`);
  await t.axe(P, 'conference with the agenda');
  await t.shot(P, 'regie-02-agenda');

  await P.getByRole('button', { name: 'Terug' }).click();
  await P.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  const notice = P.locator('#notices li[data-kind="agenda"]');
  await notice.first().waitFor();
  const ntext = await notice.first().textContent();
  check(/staat op de agenda van/.test(ntext) && ntext.includes(cfg.purpose), `the agenda notice in words: ${ntext.trim()}`);
  await t.axe(P, 'list with notices');
  await t.shot(P, 'regie-03-notices');
  const count = await P.locator('#notices li').count();
  await notice.first().getByRole('button', { name: /^Melding weghalen: / }).click();
  await P.locator('#list-msg p.ok').filter({ hasText: 'Melding weggehaald' }).waitFor();
  await until('the notice to go', async () => (await P.locator('#notices li').count()) === count - 1);
  await P.reload();
  await P.waitForSelector('body[data-ready="1"]');
  await login(P, imp.passphrase);
  await P.locator('#list-region table').waitFor();
  check((await P.locator('#notices li[data-kind="agenda"]').count()) === 0, 'after a reload and a new login the dismissed notice is not shown');

  // ---- the server goes back in time (issue 16) ------------------------------------
  await t.phase('restore');
  const rb = P.locator('#rollback[role="alert"]');
  await rb.waitFor({ timeout: T });
  const rbText = await rb.textContent();
  check(/De server is terug in de tijd gegaan/.test(rbText) && rbText.includes(cfg.purpose) && /kopie blijft bewaard/.test(rbText),
    `back online with the restored server, the list says so: ${rbText.trim()}`);
  await t.axe(P, 'list with the rollback warning');
  await t.shot(P, 'regie-04-rollback-list');
  await openCasus(P);
  await P.locator('#rollback[role="alert"]').filter({ hasText: 'terug in de tijd' }).waitFor();
  await P.locator('#conf-warnings li[data-code="rollback"]').waitFor();
  check((await P.locator('#notes li.note[data-verified="1"]').filter({ hasText: 'Huisbezoek plannen' }).count()) === 1 &&
    (await P.locator('#actions tr').filter({ hasText: 'Gesprek met school' }).count()) === 1,
  'the conference warns too, and the notes and actions read before stay shown from the local copy');
  await P.getByRole('button', { name: 'Switch to English' }).click();
  await P.locator('#rollback').filter({ hasText: 'The server went back in time' }).waitFor();
  check(true, 'the warning in English: the server went back in time');
  await t.axe(P, 'conference with the rollback warning (English)');
  await t.shot(P, 'regie-05-rollback-conf');

  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('regie-99-failure');
}
await t.finish('all agenda and action checks passed');
