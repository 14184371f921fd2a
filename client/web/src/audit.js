// audit.js: the privacy officer's audit view. audit.query pages are fetched
// (bounded paging) and handed to wasm as they came: every entry decoded, the
// checkpoints' signatures checked, and for the privacy officer's whole trail
// the hash chain verified from genesis or the signed anchor, exactly as
// `casus audit` does (client/cli_audit.c, crypto/cc_audit, audit/audit_report).
// The data-subject report of a casus is made in wasm from the verified entries.
import * as cw from './wasm.js';
import { t } from './i18n.js';
import { el, field, show, alertBox } from './ui.js';
import './screens_words.js';

let X = null; // session(), coreText, setCurrent, back

export function init(ctx) {
  X = ctx;
}

async function fetchPages(tr, query) {
  const pages = [];
  let after = 0;
  for (let idle = 0, n = 0; n < 100000; n++) {
    const r = await tr.request('audit.query', { ...query, after, limit: 1000 });
    pages.push(r);
    let last = after;
    for (const e of Array.isArray(r.entries) ? r.entries : []) {
      // the place only drives paging; wasm decodes every entry itself
      const s = Number(e.seq);
      if (Number.isSafeInteger(s) && s > last) last = s;
    }
    if (r.more !== true) break;
    idle = last > after ? 0 : idle + 1;
    if (idle >= 3) throw new Error('paging: the server keeps saying "more" without sending anything');
    after = last;
  }
  return pages;
}

function entriesTable(entries) {
  return el('table', { id: 'audit-entries', class: 'members' },
    el('caption', { text: t('auditEntries') }),
    el('thead', {}, el('tr', {}, ['colSeq', 'colTime', 'colEvent', 'colWho', 'colLevel', 'colOutcome', 'colObject'].map((k) => el('th', { scope: 'col', text: t(k) })))),
    el('tbody', {}, entries.map((e) => el('tr', {},
      el('td', { text: String(e.seq) }), el('td', { text: e.time }), el('td', { text: e.event }),
      el('td', { text: `${e.name || e.user}${e.role ? ` (${e.role}, ${e.org})` : ''}` }),
      el('td', { text: e.level_prev && e.level_prev !== e.level ? `${e.level_prev}→${e.level}` : e.level ? String(e.level) : '' }),
      el('td', { text: `${e.outcome}${e.error ? ` ${e.error}` : ''}` }), el('td', { text: e.object })))));
}

function reportSection(rep, nl) {
  const rows = Array.isArray(rep.rows) ? rep.rows : [];
  return el('section', { id: 'report', 'aria-labelledby': 'report-h' },
    el('h2', { id: 'report-h', text: t('reportTitle') }),
    el('p', { class: 'help', text: t('reportIntro') }),
    rows.length ? el('ol', { class: 'report-rows' }, rows.map((r) => el('li', { class: `report-row kind-${r.kind}`, text: nl ? r.text_nl : r.text_en })))
      : el('p', { text: t('reportNone') }),
    el('h3', { text: t('legend') }),
    el('dl', { class: 'legend' }, (Array.isArray(rep.legend) ? rep.legend : []).flatMap((l) => [
      el('dt', { text: l.kind }), el('dd', { text: nl ? l.nl : l.en })])));
}

export function auditScreen(casusHex) {
  X.setCurrent(() => auditScreen(casusHex));
  const s = X.session();
  const rights = (s.policy || {}).rights || {};
  const casus = el('input', { type: 'text', name: 'casus', class: 'mono', pattern: '[0-9a-f]{32}', spellcheck: 'false', autocomplete: 'off' });
  casus.value = casusHex || '';
  const key = el('input', { type: 'text', name: 'key', class: 'mono', pattern: '[0-9a-f]{64}', spellcheck: 'false', autocomplete: 'off' });
  const msg = el('div', { id: 'audit-msg', 'aria-live': 'polite' });
  const result = el('div', { id: 'audit-result' });
  const submit = el('button', { type: 'submit', text: t('auditBtn') });
  const form = el('form', { novalidate: true, 'aria-labelledby': 'audit-h' },
    field(t('auditCasus'), casus), field(t('auditKey'), key, t('auditKeyHelp')), msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    result.replaceChildren();
    const hex = casus.value.trim().toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(hex)) {
      msg.replaceChildren(alertBox(t('auditCasus')));
      casus.focus();
      return;
    }
    submit.disabled = true;
    X.setCurrent(() => auditScreen(hex)); // a language switch keeps the casus
    try {
      // the privacy officer reads the whole trail (verified as a chain) and
      // keeps the casus here; other roles get the casus's entries only
      const whole = rights.audit_scope === 'all';
      const pages = await fetchPages(s.transport, whole ? {} : { casus: hex });
      const v = cw.auditVerify(pages, key.value.trim().toLowerCase(), hex, whole);
      msg.replaceChildren(...[
        el('p', { class: 'ok', role: 'status', id: 'audit-verdict', 'data-verified': v.verified ? '1' : '0',
          text: v.verified ? t('auditOk', { entries: v.entries_verified, cps: v.checkpoints_verified }) : t('auditPartial') }),
        el('p', { class: v.key_pinned ? 'help' : 'warning', text: v.key_pinned ? t('auditPinned') : t('auditNotPinned') }),
        // the witnesses' cosignatures (this device's key counts), as `casus audit` reports them
        v.verified ? el('p', { class: 'help', id: 'audit-witness', 'data-witnessed': String(v.witnessed || 0),
          text: v.witnessed ? t('auditWitnessed', { n: v.witnessed, seq: v.last_witnessed_seq, who: v.last_witness })
            : t('auditNotWitnessed') }) : null].filter(Boolean));
      result.replaceChildren(
        v.report ? reportSection(v.report, document.documentElement.lang !== 'en') : null,
        el('section', { 'aria-labelledby': 'entries-h' }, el('h2', { id: 'entries-h', text: t('auditEntries') }), entriesTable(v.entries)));
    } catch (e) {
      msg.replaceChildren(alertBox(`${t('auditFault')}: ${X.coreText(e)}`));
    } finally {
      submit.disabled = false;
    }
  });
  show(X.main(),
    el('h1', { id: 'audit-h', text: t('auditTitle') }),
    el('p', {}, el('button', { type: 'button', class: 'secondary', id: 'back', text: t('back'), onclick: () => X.back() })),
    el('p', { class: 'help', text: t('auditIntro') }),
    form, result);
}
