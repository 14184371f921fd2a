// regie.js: the process director's overview (regie.overview) and the
// monitoring figures (regie.monitor), server/h_regie.c, as `casus overzicht`
// and `casus monitor` show them. Both are content-free by construction: the
// server computes them from clear metadata (level, times, roles and
// organisations) and this screen draws only those named fields, never a
// title or a note (the browser holds none for casus it is not in, and does
// not look them up here). Counts the server suppressed (null, under the small
// cell) are shown as "<5". Every read is audited by the server.
import { t, getLang } from './i18n.js';
import { el, show, alertBox } from './ui.js';
import './screens_words.js';

let X = null; // session(), errorText, setCurrent, back, main

export function init(ctx) {
  X = ctx;
}

function day(sec) {
  if (!Number.isFinite(sec) || !sec) return t('never');
  return new Date(sec * 1000).toLocaleDateString(getLang() === 'nl' ? 'nl-NL' : 'en-GB');
}

function table(id, caption, cols, rows) {
  return el('table', { id, class: 'members' }, el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, cols.map((k) => el('th', { scope: 'col', text: t(k) })))),
    el('tbody', {}, rows));
}

export async function overviewScreen() {
  X.setCurrent(overviewScreen);
  const msg = el('div', { id: 'regie-msg', 'aria-live': 'polite' });
  const region = el('div', { id: 'regie-region' });
  show(X.main(),
    el('h1', { text: t('regieTitle') }),
    el('p', {}, el('button', { type: 'button', class: 'secondary', id: 'back', text: t('back'), onclick: () => X.back() })),
    el('p', { class: 'help', text: t('regieIntro') }), msg, region);
  let r;
  try {
    r = await X.session().transport.request('regie.overview');
  } catch (e) {
    msg.replaceChildren(alertBox(`${t('errRegie')}: ${X.errorText(e)}`));
    return;
  }
  const list = Array.isArray(r.casus) ? r.casus : [];
  if (!list.length) {
    region.replaceChildren(el('p', { text: t('regieNone') }));
    return;
  }
  region.replaceChildren(table('overview', t('regieTitle'),
    ['colCasus', 'colLevel', 'colDays', 'colMembers', 'colLastNote', 'colLastChange', 'colEsc', 'colSignals', 'colState'],
    list.map((c) => el('tr', { 'data-casus': String(c.casus) },
      el('th', { scope: 'row', class: 'mono', text: String(c.casus).slice(0, 8) }),
      el('td', { text: `${c.level} ${String(c.level_name || '')}` }),
      el('td', { text: String(c.days_at_level ?? '') }),
      el('td', { class: 'roles', text: (Array.isArray(c.members) ? c.members : []).map((m) => `${m.role} (${m.organisation})${m.users > 1 ? ` ×${m.users}` : ''}`).join(', ') }),
      el('td', { text: day(c.last_note) }),
      el('td', { text: day(c.last_member_change) }),
      el('td', { text: c.open_escalation ? t('yes') : t('no') }),
      el('td', { class: 'signals', text: (Array.isArray(c.signals) ? c.signals : []).map((s) => t(`signal_${s}`)).join(', ') }),
      el('td', { text: c.closed ? t('closed') : t('open') })))));
}

export async function monitorScreen() {
  X.setCurrent(monitorScreen);
  const msg = el('div', { id: 'monitor-msg', 'aria-live': 'polite' });
  const region = el('div', { id: 'monitor-region' });
  show(X.main(),
    el('h1', { text: t('monitorTitle') }),
    el('p', {}, el('button', { type: 'button', class: 'secondary', id: 'back', text: t('back'), onclick: () => X.back() })),
    msg, region);
  let r;
  try {
    r = await X.session().transport.request('regie.monitor');
  } catch (e) {
    msg.replaceChildren(alertBox(`${t('errRegie')}: ${X.errorText(e)}`));
    return;
  }
  const n = Number.isFinite(r.small_cell) ? r.small_cell : 5;
  const cell = (v) => (v === null || v === undefined ? t('small', { n }) : String(v));
  const tt = r.time_to_deescalation || {};
  region.replaceChildren(
    el('p', { class: 'help', text: t('monitorIntro', { n }) }),
    table('mon-levels', t('monLevels'), ['colLevel', 'colOpenCount'],
      (Array.isArray(r.levels) ? r.levels : []).map((l) => el('tr', {}, el('th', { scope: 'row', text: `${l.level} ${l.name}` }), el('td', { text: cell(l.open) })))),
    el('h2', { text: t('monTotals') }),
    el('p', { text: `${t('colEscalations')}: ${cell(r.escalations)} · ${t('colDeesc')}: ${cell(r.deescalations)} · ${t('monOpenEsc', { n: cell(r.open_escalations) })}` }),
    el('p', { text: t('monMedian', { d: tt.median_days === null || tt.median_days === undefined ? t('small', { n }) : Number(tt.median_days).toFixed(1) }) }),
    table('mon-months', t('monMonths'), ['colMonth', 'colOpened', 'colClosed', 'colEscalations', 'colDeesc'],
      (Array.isArray(r.months) ? r.months : []).map((m) => el('tr', {}, el('th', { scope: 'row', text: String(m.month) }),
        el('td', { text: cell(m.opened) }), el('td', { text: cell(m.closed) }), el('td', { text: cell(m.escalations) }), el('td', { text: cell(m.deescalations) })))),
    table('mon-orgs', t('monOrgs'), ['colOrgName', 'colCount'],
      (Array.isArray(r.organisations) ? r.organisations : []).map((o) => el('tr', {}, el('th', { scope: 'row', text: String(o.organisation) }), el('td', { text: cell(o.casus) })))));
}
