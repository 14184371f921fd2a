// audit_witness.mjs: the privacy officer's audit view against a rewritten
// trail (started by test_audit_witness.py). fenna's `casus` profile is
// imported into the browser: the same device key that countersigned the
// checkpoints with `casus audit witness`, so its cosignatures count here.
//
//   phase 1: the honest trail verifies in wasm, its checkpoints witnessed by fenna;
//   phase "rewrite": the operator stops casusd, rewrites one entry with the
//     audit key (chain recomputed, every checkpoint re-signed), and starts it;
//   phase 2: the browser refuses the trail: the kept cosignatures do not match
//     (witness_mismatch), as `casus audit verify` says.
//
//   node audit_witness.mjs CONFIG.json     (exit 0 = every check passed)
import { start, until } from './lib.mjs';

const t = await start(process.argv[2]);
const { cfg, check } = t;

try {
  const imp = cfg.imports.fenna;
  const F = await t.newPage('fenna');
  await F.goto(cfg.url);
  await F.waitForSelector('body[data-ready="1"]');
  await F.getByLabel('Sleutelbestand (keys.casusks)').setInputFiles(imp.keystore);
  await F.getByLabel('Installatiesleutel van het profiel').fill(cfg.root_hex);
  await F.getByLabel('Wachtwoordzin van het profiel').fill(imp.passphrase);
  await F.getByRole('button', { name: 'Profiel gebruiken' }).click();
  await F.getByRole('heading', { name: 'Inloggen' }).waitFor();
  await F.getByLabel('Wachtwoordzin', { exact: true }).fill(imp.passphrase);
  await F.getByRole('button', { name: 'Inloggen' }).click();
  await F.getByRole('heading', { name: 'Mijn casussen' }).waitFor();
  await F.locator('#status[data-state="online"]').waitFor();

  // ---- the honest trail, witnessed ---------------------------------------------
  await F.getByRole('button', { name: 'Auditspoor' }).click();
  await F.getByRole('heading', { name: 'Auditspoor' }).waitFor();
  await F.getByLabel('Casus (32 tekens)').fill(cfg.casus);
  await F.getByLabel('Auditsleutel van de installatie (optioneel)').fill(cfg.audit_key);
  await F.getByRole('button', { name: 'Spoor ophalen en controleren' }).click();
  await F.locator('#audit-verdict[data-verified="1"]').waitFor();
  const w = F.locator('#audit-witness');
  const witnessed = Number(await w.getAttribute('data-witnessed'));
  const wtext = (await w.textContent()).trim();
  check(witnessed >= cfg.cosigned && wtext.includes('fenna'),
    `the whole trail verified in wasm, ${witnessed} checkpoints witnessed by this device: ${wtext}`);
  await t.axe(F, 'audit view (witnessed)');
  await t.shot(F, 'witness-01-verified');

  // ---- the operator rewrites the trail and re-signs every checkpoint ----------------
  await t.phase('rewrite');
  // the page may still be reconnecting to the new casusd: ask again until an answer is judged
  await until('the browser to judge the rewritten trail', async () => {
    await F.locator('#status[data-state="online"]').waitFor();
    await F.getByRole('button', { name: 'Spoor ophalen en controleren' }).click();
    await F.locator('#audit-msg [role="alert"], #audit-verdict').first().waitFor();
    return (await F.locator('#audit-msg').textContent()).includes('witness_mismatch') ||
      (await F.locator('#audit-verdict').count()) > 0;
  });
  const alert = F.getByRole('alert').filter({ hasText: 'witness_mismatch' });
  check((await F.locator('#audit-verdict').count()) === 0 && (await alert.count()) === 1,
    `the rewritten, re-signed trail is refused in the browser: ${(await F.locator('#audit-msg').textContent()).trim()}`);
  await t.axe(F, 'audit view (rewritten trail)');
  await t.shot(F, 'witness-02-rewritten');

  t.originAndCsp();
} catch (e) {
  t.failures++;
  console.log(`FAIL ${e.stack || e}`);
  await t.failureShots('witness-99-failure');
}
await t.finish('all audit witness checks passed');
