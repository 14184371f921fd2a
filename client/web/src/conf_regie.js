// conf_regie.js: the case conference's agreed actions (afspraken) and agenda
// (issue 20), the notices of the list screen with their dismiss button, and
// the warning that the server went back in time (issue 16).
//
// What was agreed, by whom, by when, and where the meeting is, are notes of
// the casus, end-to-end encrypted like any other (client/core/ccore_notes.h).
// wasm makes and checks every structured note (cw_note_make, a fresh random
// id made there), encrypts it (cw_casus_encrypt_note), folds the history into
// the actions and the agenda (cw_casus_regie: the newest version of an
// action counts, overdue decided against the clock there) and reads dates
// (cw_date_parse). This file only draws. The server learns only what the
// author discloses: an action's opaque id, due date and done flag
// (action.disclose), a casus's meeting date (agenda.plan).
import * as cw from './wasm.js';
import { t, getLang, addWords } from './i18n.js';
import { el, field, alertBox } from './ui.js';

addWords({
  regieConf: 'Afspraken en agenda',
  regieConfIntro: 'Afspraken en de plaats van het overleg staan versleuteld in de casus. De server kent alleen de datum, als u die deelt.',
  actionsTitle: 'Afspraken',
  actionsNone: 'Nog geen afspraken in deze casus.',
  colWhat: 'Wat', colWho: 'Wie', colDue: 'Uiterlijk', colStatus: 'Status', colDo: 'Actie',
  actDone: 'gedaan', actOverdue: 'over tijd', actOpen: 'open',
  actMarkDone: 'Gedaan', actMarkDoneLabel: 'Afspraak "{what}" als gedaan markeren',
  actAddTitle: 'Nieuwe afspraak', actWhat: 'Wat is afgesproken', actWho: 'Wie voert het uit', actDue: 'Uiterlijk op (datum)',
  actDisclose: 'De uiterste datum met de server delen (voor het signaal "afspraak over tijd"; de inhoud blijft versleuteld)',
  actAdd: 'Afspraak vastleggen', actAdded: 'Afspraak vastgelegd in de casus.', actMarked: 'Afspraak als gedaan gemarkeerd.',
  agendaTitle: 'Agenda', agendaNone: 'Deze casus staat nog niet op de agenda.',
  colDate: 'Datum', colPlace: 'Plaats', colBy: 'Door',
  agendaPast: '(geweest)',
  agendaAddTitle: 'Op de agenda zetten', agendaDate: 'Datum van het overleg', agendaTime: 'Tijd (UTC, optioneel)',
  agendaPlace: 'Plaats', agendaPlaceHelp: 'Alleen de leden kunnen de plaats lezen; de server kent alleen de datum.',
  agendaAdd: 'Op de agenda zetten', agendaAdded: 'De casus staat op de agenda; {n} leden kregen een melding.',
  regieAudience: 'Wie mag de notitie lezen',
  regieGround: 'Rechtsgrond om te delen',
  errRegie2: 'Niet gelukt',
  errNotOnline: 'Niet verbonden met de server: probeer het opnieuw als de verbinding terug is.',
  noticeAgenda: 'Casus {casus} staat op de agenda van {date}.',
  noticeDismiss: 'Weghalen',
  noticeDismissLabel: 'Melding weghalen: {text}',
  noticeDismissed: 'Melding weggehaald.',
  rollbackTitle: 'De server is terug in de tijd gegaan',
  rollbackList: 'De server is terug in de tijd gegaan voor: {list}. Berichten kunnen ontbreken of opnieuw genummerd zijn. Uw eigen kopie blijft bewaard; meld het de beheerder.',
  rollbackConf: 'De server is terug in de tijd gegaan voor deze casus: berichten kunnen ontbreken of opnieuw genummerd zijn. Uw eigen kopie blijft bewaard; meld het de beheerder.',
}, {
  regieConf: 'Agreed actions and agenda',
  regieConfIntro: 'Agreed actions and the meeting place are encrypted in the casus. The server knows only the date, if you share it.',
  actionsTitle: 'Agreed actions',
  actionsNone: 'No agreed actions in this casus yet.',
  colWhat: 'What', colWho: 'Who', colDue: 'Due', colStatus: 'Status', colDo: 'Action',
  actDone: 'done', actOverdue: 'overdue', actOpen: 'open',
  actMarkDone: 'Done', actMarkDoneLabel: 'Mark action "{what}" as done',
  actAddTitle: 'New agreed action', actWhat: 'What was agreed', actWho: 'Who carries it out', actDue: 'Due by (date)',
  actDisclose: 'Share the due date with the server (for the "action overdue" signal; the content stays encrypted)',
  actAdd: 'Record action', actAdded: 'Action recorded in the casus.', actMarked: 'Action marked as done.',
  agendaTitle: 'Agenda', agendaNone: 'This casus is not on the agenda yet.',
  colDate: 'Date', colPlace: 'Place', colBy: 'By',
  agendaPast: '(past)',
  agendaAddTitle: 'Put on the agenda', agendaDate: 'Date of the meeting', agendaTime: 'Time (UTC, optional)',
  agendaPlace: 'Place', agendaPlaceHelp: 'Only the members can read the place; the server knows only the date.',
  agendaAdd: 'Put on the agenda', agendaAdded: 'The casus is on the agenda; {n} members were noticed.',
  regieAudience: 'Who may read the note',
  regieGround: 'Legal ground for sharing',
  errRegie2: 'Failed',
  errNotOnline: 'Not connected to the server: try again once the connection is back.',
  noticeAgenda: 'Casus {casus} is on the agenda of {date}.',
  noticeDismiss: 'Dismiss',
  noticeDismissLabel: 'Dismiss notice: {text}',
  noticeDismissed: 'Notice dismissed.',
  rollbackTitle: 'The server went back in time',
  rollbackList: 'The server went back in time for: {list}. Messages may be missing or numbered again. Your local copy is kept; tell the administrator.',
  rollbackConf: 'The server went back in time for this casus: messages may be missing or numbered again. Your local copy is kept; tell the administrator.',
});

let X = null; // session(), coreText, errorText, confRun, confSyncHistory, confPostNote, saveCopy, refreshList

export function init(ctx) {
  X = ctx;
}

function day(sec, withTime) {
  if (!Number.isFinite(sec)) return '';
  const d = new Date(sec * 1000);
  const loc = getLang() === 'nl' ? 'nl-NL' : 'en-GB';
  const o = { timeZone: 'UTC', year: 'numeric', month: 'long', day: 'numeric' };
  const s = d.toLocaleDateString(loc, o);
  return withTime && sec % 86400 ? `${s} ${d.toLocaleTimeString(loc, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' })} UTC` : s;
}

// ---- the conference section -----------------------------------------------------
export function section() {
  return el('section', { 'aria-labelledby': 'regie-conf-h', id: 'regie-conf' },
    el('h2', { id: 'regie-conf-h', text: t('regieConf') }),
    el('p', { class: 'help', text: t('regieConfIntro') }),
    el('div', { id: 'regie-conf-msg', 'aria-live': 'polite' }),
    el('div', { id: 'regie-conf-region' }));
}

function say(ok, text) {
  const box = document.getElementById('regie-conf-msg');
  if (box) box.replaceChildren(ok ? el('p', { class: 'ok', role: 'status', text }) : alertBox(text));
}

// the audiences this device may write to, with a ground where the policy asks one
function audienceFields(conf, idp) {
  const mine = conf.state.audiences.filter((a) => a.mine);
  const aud = el('select', { name: `${idp}-audience` }, mine.map((a) => el('option', { value: a.name, text: a.name })));
  const keep = conf.draft && conf.draft.audience;
  if (keep && mine.some((a) => a.name === keep)) aud.value = keep;
  const ground = el('select', { name: `${idp}-ground` }, el('option', { value: '', text: t('groundChoose') }),
    ['consent', 'legal_duty', 'conflict_of_duties', 'right_to_report', 'no_care_info'].map((g) => el('option', { value: g, text: t(`ground_${g}`) })));
  const gf = field(t('regieGround'), ground, t('groundHelp'));
  const upd = () => {
    const a = mine.find((x) => x.name === aud.value);
    gf.hidden = !(a && a.ground_required);
  };
  aud.addEventListener('change', upd);
  upd();
  return { mine, aud, ground, nodes: [field(t('regieAudience'), aud), gf] };
}

// posts a structured note (kind, data from wasm), then the disclosure
async function postNote(conf, form, af, made, disclose) {
  const s = X.session();
  if (!s || s.offline) {
    say(false, t('errNotOnline'));
    return false;
  }
  for (const b of form.querySelectorAll('button, input, select, textarea')) b.disabled = true;
  try {
    await X.confPostNote(conf, af.aud.value, af.ground.value, made);
    let r = null;
    if (disclose) r = await s.transport.request(disclose.type, disclose.body);
    await X.confSyncHistory(conf);
    await X.saveCopy(conf);
    return r || {};
  } catch (e) {
    say(false, `${t('errRegie2')}: ${X.coreText(e)}`);
    return false;
  } finally {
    for (const b of form.querySelectorAll('button, input, select, textarea')) b.disabled = false;
  }
}

function markDone(conf, a) {
  return X.confRun(async (c) => {
    let made;
    try {
      made = cw.noteMake(c.hex, 'afspraak', { action: a.action }, c.notes);
    } catch (e) {
      say(false, `${t('errRegie2')}: ${X.coreText(e)}`);
      return;
    }
    const form = document.getElementById('regie-conf-region');
    // the done mark goes to the audience (and ground) of the action's newest note, so its readers see it
    const last = c.notes.filter((n) => n.verified === true && n.kind === 'afspraak' && n.data && n.data.action === a.action).pop();
    const mine = c.state.audiences.filter((x) => x.mine).map((x) => x.name);
    const useLast = last && mine.includes(last.audience);
    const af = { aud: { value: useLast ? last.audience : firstAudience(c) }, ground: { value: useLast ? last.ground || '' : '' } };
    const d = made.data;
    const ok = await postNote(c, form, af, made, d.disclosed
      ? { type: 'action.disclose', body: { casus: c.hex, action: d.action, due: d.due, done: true } } : null);
    if (ok) say(true, t('actMarked'));
    render(c);
  });
}

function firstAudience(conf) {
  const a = conf.state.audiences.find((x) => x.mine);
  return a ? a.name : '';
}

function actionsTable(conf, actions) {
  if (!actions.length) return el('p', { id: 'actions-empty', class: 'empty', text: t('actionsNone') });
  const who = (u) => {
    const m = conf.state.members.find((x) => x.user === u);
    return m ? `${m.name} (${u})` : u;
  };
  return el('table', { id: 'actions', class: 'members' },
    el('caption', { text: t('actionsTitle') }),
    el('thead', {}, el('tr', {}, ['colWhat', 'colWho', 'colDue', 'colStatus', 'colDo'].map((k) => el('th', { scope: 'col', text: t(k) })))),
    el('tbody', {}, actions.map((a) => {
      const st = a.done ? 'done' : a.overdue ? 'overdue' : 'open';
      return el('tr', { 'data-action': a.action, 'data-state': st, class: st === 'overdue' ? 'overdue' : null },
        el('th', { scope: 'row', class: 'what', text: a.what }),
        el('td', { class: 'who', text: who(a.who) }),
        el('td', { class: 'due', text: day(a.due, true) }),
        el('td', { class: 'status' }, st === 'overdue' ? el('strong', { text: t('actOverdue') }) : t(st === 'done' ? 'actDone' : 'actOpen')),
        el('td', {}, a.done || !conf.state.member ? null : el('button', {
          type: 'button', class: 'secondary mark-done', text: t('actMarkDone'),
          'aria-label': t('actMarkDoneLabel', { what: a.what }), onclick: () => markDone(conf, a),
        })));
    })));
}

function agendaTable(agenda) {
  if (!agenda.length) return el('p', { id: 'agenda-empty', class: 'empty', text: t('agendaNone') });
  return el('table', { id: 'agenda', class: 'members' },
    el('caption', { text: t('agendaTitle') }),
    el('thead', {}, el('tr', {}, ['colDate', 'colPlace', 'colBy'].map((k) => el('th', { scope: 'col', text: t(k) })))),
    el('tbody', {}, agenda.map((a) => el('tr', { 'data-agenda': a.agenda },
      el('th', { scope: 'row', text: `${day(a.date, true)}${a.past ? ` ${t('agendaPast')}` : ''}` }),
      el('td', { class: 'place', text: a.place }),
      el('td', { text: a.by })))));
}

function actionForm(conf) {
  const af = audienceFields(conf, 'act');
  const what = el('textarea', { name: 'act-what', rows: 2, maxlength: 500, required: true });
  const who = el('select', { name: 'act-who' }, conf.state.members.map((m) => el('option', { value: m.user, text: `${m.name} (${m.user})` })));
  const due = el('input', { type: 'date', name: 'act-due', required: true });
  const disc = el('input', { type: 'checkbox', name: 'act-disclose', checked: true });
  const discLabel = el('div', { class: 'field check' }, disc, ' ', el('label', { text: t('actDisclose') }));
  disc.id = 'act-disclose';
  discLabel.querySelector('label').setAttribute('for', 'act-disclose');
  const form = el('form', { novalidate: true, id: 'action-form', 'aria-labelledby': 'act-add-h' },
    field(t('actWhat'), what), field(t('actWho'), who), field(t('actDue'), due), discLabel, ...af.nodes,
    el('button', { type: 'submit', text: t('actAdd') }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    X.confRun(async (c) => {
      let made;
      try {
        const dueT = cw.dateParse(due.value);
        made = cw.noteMake(c.hex, 'afspraak', { what: what.value.trim(), who: who.value, due: dueT, disclosed: disc.checked }, c.notes);
      } catch (e) {
        say(false, `${t('errRegie2')}: ${X.coreText(e)}`);
        (due.value ? what : due).focus();
        return;
      }
      const d = made.data;
      const ok = await postNote(c, form, af, made, d.disclosed
        ? { type: 'action.disclose', body: { casus: c.hex, action: d.action, due: d.due, done: false } } : null);
      if (!ok) return;
      render(c);
      say(true, t('actAdded'));
    });
  });
  return el('div', {}, el('h3', { id: 'act-add-h', text: t('actAddTitle') }), form);
}

function agendaForm(conf) {
  const af = audienceFields(conf, 'ag');
  const date = el('input', { type: 'date', name: 'ag-date', required: true });
  const time = el('input', { type: 'time', name: 'ag-time' });
  const place = el('input', { type: 'text', name: 'ag-place', maxlength: 200, required: true, autocomplete: 'off' });
  const form = el('form', { novalidate: true, id: 'agenda-form', 'aria-labelledby': 'ag-add-h' },
    field(t('agendaDate'), date), field(t('agendaTime'), time), field(t('agendaPlace'), place, t('agendaPlaceHelp')), ...af.nodes,
    el('button', { type: 'submit', text: t('agendaAdd') }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    X.confRun(async (c) => {
      let made;
      try {
        const when = cw.dateParse(time.value ? `${date.value}T${time.value}` : date.value);
        made = cw.noteMake(c.hex, 'agenda', { date: when, place: place.value.trim() }, c.notes);
      } catch (e) {
        say(false, `${t('errRegie2')}: ${X.coreText(e)}`);
        (date.value ? place : date).focus();
        return;
      }
      const d = made.data;
      const r = await postNote(c, form, af, made, { type: 'agenda.plan', body: { casus: c.hex, agenda: d.agenda, date: d.date } });
      if (!r) return;
      render(c);
      say(true, t('agendaAdded', { n: Number.isFinite(r.noticed) ? r.noticed : 0 }));
    });
  });
  return el('div', {}, el('h3', { id: 'ag-add-h', text: t('agendaAddTitle') }), form);
}

// draws the actions and the agenda from what wasm folded out of the history
export function render(conf) {
  const region = document.getElementById('regie-conf-region');
  const s = X.session();
  if (!region || !s || s.conf !== conf || !conf.state) return;
  let r;
  try {
    r = cw.casusRegie(conf.notes);
  } catch (e) {
    region.replaceChildren(alertBox(X.coreText(e)));
    return;
  }
  const canWrite = conf.state.member && conf.state.audiences.some((a) => a.mine);
  region.replaceChildren(
    el('h3', { id: 'actions-h', text: t('actionsTitle') }), actionsTable(conf, r.actions || []),
    el('h3', { id: 'agenda-h', text: t('agendaTitle') }), agendaTable(r.agenda || []),
    canWrite ? actionForm(conf) : null,
    canWrite ? agendaForm(conf) : null);
}

// ---- the list screen: notices and the server going back in time -----------------------
function purposeOf(list, hex) {
  const c = (Array.isArray(list.casus) ? list.casus : []).find((x) => String(x.casus) === hex);
  return c && c.purpose ? `${String(c.purpose)} (${hex.slice(0, 8)})` : hex.slice(0, 8);
}

export function agendaNoticeText(list, n) {
  return t('noticeAgenda', { casus: purposeOf(list, String(n.casus || '')), date: day(Number(n.date), true) });
}

// one notice with its dismiss button (notice.dismiss)
export function noticeItem(n, text) {
  const id = Number(n.id);
  return el('li', { class: 'notice', 'data-notice': Number.isSafeInteger(id) ? String(id) : '', 'data-kind': String(n.notice || '') },
    el('span', { text }), ' ',
    Number.isSafeInteger(id) && id > 0 ? el('button', {
      type: 'button', class: 'secondary dismiss', text: t('noticeDismiss'), 'aria-label': t('noticeDismissLabel', { text }),
      onclick: async (ev) => {
        ev.target.disabled = true;
        const msg = document.getElementById('list-msg');
        try {
          await X.session().transport.request('notice.dismiss', { notices: [id] });
          if (msg) msg.replaceChildren(el('p', { class: 'ok', role: 'status', text: t('noticeDismissed') }));
          await X.refreshList();
        } catch (e) {
          ev.target.disabled = false;
          if (msg) msg.replaceChildren(alertBox(X.errorText(e)));
        }
      },
    }) : null);
}

// the list's last_seq against each local copy (ccore_rollback_check in wasm);
// returns the casus the server went back in time for
export async function rollbackList(list) {
  const hit = [];
  for (const c of Array.isArray(list.casus) ? list.casus : []) {
    const hex = String(c.casus || '');
    if (!/^[0-9a-f]{32}$/.test(hex)) continue;
    const conf = await X.confRecord(hex, String(c.purpose ?? ''));
    if (!conf.state) continue; // no local copy: nothing of the old store at stake
    const head = Number(c.last_seq);
    if (check(conf, Number.isSafeInteger(head) ? head : null)) hit.push(purposeOf(list, hex));
  }
  return hit;
}

// true when this copy diverged (now or before); the copy is saved with the mark
export function check(conf, head) {
  let r;
  try {
    r = cw.casusRollback(conf.hex, head);
  } catch {
    return false;
  }
  if (r.rollback) {
    conf.diverged = true;
    X.confWarn(conf, r.warnings);
    X.saveCopy(conf).catch(() => {});
    const box = document.getElementById('rollback');
    const s = X.session();
    if (box && s && s.conf === conf) box.replaceWith(rollbackBanner(t('rollbackConf')));
  }
  if (r.diverged) conf.diverged = true;
  return conf.diverged === true;
}

export function rollbackBanner(text) {
  return el('div', { id: 'rollback', class: 'alert rollback', role: 'alert' },
    el('h2', { text: t('rollbackTitle') }), el('p', { text }));
}
