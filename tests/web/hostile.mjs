// hostile.mjs: the hostile-server proxy (tests/security/proxy.py, holding the
// deployment's TLS key) in front of a browser (started by test_hostile.py).
// The page is loaded from the proxy's origin and Chromium trusts it exactly
// as it trusts casusd: the same certificate, pinned by its SPKI hash
// (lib.mjs). Every frame goes through the proxy's hooks.
//
// A browser user (bente) enrols and logs in through the proxy; the test then
// makes four casus with the CLI and installs its attacks. Checked, as the
// CLI's hostile-server suite checks `casus` (docs/CLIENT.md codes):
//  - a message dropped from a history listing: the browser shows the "gap"
//    warning where the notes are (the notes that came are still shown);
//  - a casus swap (the chain and history of another casus of the same user
//    served for the one asked for): refused with wrong_casus, nothing of the
//    other casus shown under it;
//  - a forged commit (one byte of the newest commit changed): refused, no
//    note of that casus shown;
//  - a replayed old commit served as the next one of a casus the browser
//    already verified: refused, the verified copy stays;
//  - an older revocation list than the one accepted in an earlier session,
//    offered after a reload: the login is refused ("revoked"), as the CLI
//    refuses it with its revlist.bin.
// axe-core on each screen with a warning or refusal; screenshots hos-*.png.
//
//   node hostile.mjs CONFIG.json     (exit 0 = every check passed)
//
// CONFIG: {url (the proxy), spki, chromium, node_modules, outdir, root_hex,
//          passphrase, user: {user, role, name, org}, certify: [argv with {req} {cert}]}
import { start } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;

function verified(page, text) {
  return page.locator('#notes li.note[data-verified="1"]').filter({ hasText: text });
}

async function openCasus(page, purpose) {
  if (await page.locator('#back').count()) await page.locator('#back').click();
  await page.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  await page.getByRole('button', { name: 'Vernieuwen', exact: true }).click();
  await page.getByRole('button', { name: `Casus ${purpose} openen` }).click();
  await page.getByRole('heading', { name: `Casus: ${purpose}` }).waitFor();
}

async function refusal(page) {
  const box = page.locator('#conf-msg .alert');
  await box.waitFor();
  return (await box.textContent()).trim();
}

try {
  const B = await t.newPage(cfg.user.user);
  await t.enrolAndLogin(B, cfg.user);
  const k = await t.phase('enrolled'); // the CLI makes the casus, the proxy's hooks go in

  // 1. a dropped message: shown as a gap where the notes are
  await openCasus(B, k.a.purpose);
  await verified(B, k.a.notes[3]).waitFor();
  const gap = B.locator('#conf-warnings li.warning[data-code="gap"]');
  await gap.waitFor();
  check(!(await B.locator('#notes').textContent()).includes(k.a.notes[1]), 'the attack happened: the second note is not in the listing');
  check(await gap.isVisible(), `the dropped message is shown as a warning: ${(await gap.textContent()).trim()}`);
  check(await verified(B, k.a.notes[0]).count() === 1 && await verified(B, k.a.notes[2]).count() === 1,
    'the notes that did come are shown, verified');
  await t.axe(B, 'conference with a gap warning');
  await t.shot(B, 'hos-01-gap');

  // 2. a casus swap: refused, nothing of the other casus shown
  await openCasus(B, k.c.purpose);
  const swap = await refusal(B);
  check(/wrong_casus/.test(swap), `a chain of another casus is refused: ${swap}`);
  check(!(await B.locator('main').textContent()).includes(k.b.secret), 'nothing of the other casus is shown under this one');
  check(await B.locator('#notes li.note').filter({ hasText: k.c.note }).count() === 0, 'no note is shown from a refused chain');
  await t.axe(B, 'conference refused (casus swap)');
  await t.shot(B, 'hos-02-casus-swap');

  // 3. a forged commit: refused
  await openCasus(B, k.d.purpose);
  const forged = await refusal(B);
  check(/\((bad_signature|tampered|invalid|ghost_commit)\)/.test(forged), `a forged commit is refused: ${forged}`);
  check(await B.locator('#notes li.note[data-verified="1"]').count() === 0, 'no note of the casus with the forged commit is shown');
  await t.shot(B, 'hos-03-forged-commit');

  // 4. an old commit replayed as the next one of a verified chain: refused, the copy stays
  await openCasus(B, k.e.purpose);
  await verified(B, k.e.note).waitFor();
  const before = (await B.locator('#conf-level').textContent()).trim();
  await t.phase('replay'); // the CLI escalates e; the proxy answers the fetch with the old first commit
  await openCasus(B, k.e.purpose);
  const replay = await refusal(B);
  check(/\((replay|rollback|stale_policy|bad_signature|tampered|invalid)\)/.test(replay), `a replayed old commit is refused: ${replay}`);
  check((await B.locator('#conf-level').textContent()).trim() === before, `the verified level stays (${before})`);
  check(await verified(B, k.e.note).count() === 1, 'the verified notes stay');
  await t.axe(B, 'conference refused (replayed commit)');
  await t.shot(B, 'hos-04-replayed-commit');

  // 5. an older revocation list after a reload: the list kept from the earlier session wins
  await t.phase('older_revlist');
  await B.reload();
  await B.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await B.getByLabel('Wachtwoordzin', { exact: true }).fill(cfg.passphrase);
  await B.getByRole('button', { name: 'Inloggen' }).click();
  const refusedLogin = B.getByRole('alert');
  await refusedLogin.waitFor();
  const rtext = (await refusedLogin.textContent()).trim();
  check(/\(revoked\)/.test(rtext), `an older revocation list than the one kept is refused at login: ${rtext}`);
  check(await B.getByRole('heading', { name: 'Mijn casussen' }).count() === 0, 'the browser does not log in under the older list');
  await t.axe(B, 'login refused (older revocation list)');
  await t.shot(B, 'hos-05-older-revlist');

  const hits = await t.phase('done');
  for (const name of ['dropped', 'swap', 'forged', 'replayed', 'older_revlist'])
    check((hits[name] || 0) > 0, `the proxy made the attack "${name}" (${hits[name] || 0}x)`);
  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('hos-99-failure');
}
await t.finish('all hostile-server checks passed');
