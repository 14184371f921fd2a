// conf_admin.js: managing a casus from the conference screen, as the casus
// command does it (client/libcasus_membership.c): escalate and de-escalate
// with a reason, add and remove members, share earlier messages (grant v2),
// close with the reason as an end-to-end note, pair a new device of one's own
// (the approving side) and receive keys and shared messages (the new side).
// Every change is built, signed and judged in wasm by the client core; the
// server's directory is only a hint the core checks. This module moves bytes
// and draws.
import * as cw from './wasm.js';
import { ServerError, b64decode, b64encode } from './transport.js';
import { t } from './i18n.js';
import { el, field, alertBox } from './ui.js';
import './screens_words.js';

const GROUNDS = ['consent', 'legal_duty', 'conflict_of_duties', 'right_to_report', 'no_care_info'];
let X = null; // what main.js lends: session(), confRun, confSyncChain, renderConfState, coreText, appendNote

export function init(ctx) {
  X = ctx;
}

// results go to #admin-msg, outside the forms: a change re-draws them
function statusBox(box) {
  return document.getElementById('admin-msg') || box;
}

function ok(box, text) {
  statusBox(box).replaceChildren(el('p', { class: 'ok', role: 'status', text }));
}

function busy(form, on) {
  for (const b of form.querySelectorAll('button, input, select, textarea')) b.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
}

// The directory's certificates of a user (base64 as served) and the wrap-key
// records served with them; the core judges both.
async function directory(user) {
  const r = await X.session().transport.request('dir.lookup', { user });
  const devs = Array.isArray(r.devices) ? r.devices : [];
  return {
    certs: devs.map((d) => String(d.cert || '')),
    wrapkeys: devs.filter((d) => d && d.wrapkey).map((d) => String(d.wrapkey)),
  };
}

// Device wrap keys (issue 17): the directory's newest wrap key of every
// device in the verified roster (dir.lookup "devices", at most 256 a
// request), as libcasus's wrap_fetch_for. The core verifies each against the
// device's certificate when it builds (cw_casus_build): one not signed by
// its device refuses the change, and nothing is posted.
async function rosterWrapKeys(conf) {
  const tr = X.session().transport;
  const devices = [...new Set(((conf.state && conf.state.members) || []).map((m) => String(m.device)))];
  const recs = [];
  for (let i = 0; i < devices.length; i += 256) {
    const r = await tr.request('dir.lookup', { devices: devices.slice(i, i + 256) });
    for (const d of Array.isArray(r.devices) ? r.devices : []) if (d && d.wrapkey) recs.push(String(d.wrapkey));
  }
  return recs;
}

// Build, post, verify: the change is done only when the fetched chain's
// verified head is this very commit (the core says withheld_commit
// otherwise). A conflict (someone committed first) builds again on the new head.
async function commitChange(conf, makeChange) {
  const tr = X.session().transport;
  for (let attempt = 0; attempt < 5; attempt++) {
    await X.confSyncChain(conf);
    const change = await makeChange(conf);
    change.wrapkeys = [...(change.wrapkeys || []), ...(await rosterWrapKeys(conf))];
    const { commit, info } = cw.casusBuild(conf.hex, change);
    try {
      await tr.request('commit.post', { casus: conf.hex, commit: b64encode(commit) });
    } catch (e) {
      cw.casusExpectClear(conf.hex);
      if (e instanceof ServerError && e.code === 'conflict') continue;
      throw e;
    }
    await X.confSyncChain(conf);
    X.renderConfState(conf);
    return info;
  }
  throw new Error(t('errBusy'));
}

function formBox(id, title, intro, fields, button, onSubmit) {
  const msg = el('div', { class: 'form-msg', 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', text: button });
  const form = el('form', { novalidate: true, id, 'aria-labelledby': `${id}-h` }, fields, msg, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    const st = document.getElementById('admin-msg');
    if (st) st.replaceChildren();
    const run = onSubmit(msg);
    if (!run) return;
    busy(form, true);
    X.confRun(async (conf) => {
      try {
        await run(conf);
      } catch (e) {
        statusBox(msg).replaceChildren(alertBox(`${t('errChange')}: ${X.coreText(e)}`));
      } finally {
        busy(form, false);
      }
    });
  });
  return el('section', { class: 'admin-box', 'aria-labelledby': `${id}-h` },
    el('h3', { id: `${id}-h`, text: title }), intro ? el('p', { class: 'help', text: intro }) : null, form);
}

function need(input, box, text) {
  if (input.value.trim()) return false;
  input.setAttribute('aria-invalid', 'true');
  box.replaceChildren(alertBox(text));
  input.focus();
  return true;
}

function levelForm(conf) {
  const s = X.session();
  const levels = (s.policy ? s.policy.levels : []).filter((l) => l.level !== conf.state.level);
  const sel = el('select', { name: 'level' }, levels.map((l) => el('option', { value: String(l.level), text: `${l.level} ${l.name}` })));
  const reason = el('textarea', { name: 'reason', rows: 2, maxlength: 4000 });
  return formBox('level-form', t('levelTitle'), null,
    [field(t('newLevel'), sel), field(t('reason'), reason, t('reasonHelp'))], t('levelBtn'), (msg) => {
      if (need(reason, msg, t('errReason'))) return null;
      const level = Number(sel.value);
      return async (c) => {
        await commitChange(c, () => ({ op: 'level', level, reason: reason.value.trim() }));
        reason.value = '';
        ok(msg, t('levelDone', { level: `${c.state.level} ${c.state.level_name}` }));
      };
    });
}

function addForm() {
  const user = el('input', { type: 'text', name: 'user', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none' });
  return formBox('add-form', t('addTitle'), null, [field(t('addUser'), user)], t('addBtn'), (msg) => {
    if (need(user, msg, t('errUser'))) return null;
    const u = user.value.trim();
    return async (c) => {
      const { certs, wrapkeys } = await directory(u);
      const info = await commitChange(c, () => ({ op: 'add', user: u, certs, wrapkeys }));
      user.value = '';
      ok(msg, t('addDone', { user: u, list: info.sealed.map((d) => `${d.user} (${d.role}) ${d.code}`).join(', ') }));
    };
  });
}

function removeForm(conf) {
  const me = X.session().profile.user;
  const users = [...new Map(conf.state.members.filter((m) => m.user !== me).map((m) => [m.user, m])).values()];
  const sel = el('select', { name: 'user' }, users.map((m) => el('option', { value: m.user, text: `${m.name} (${m.user}, ${m.role})` })));
  const reason = el('input', { type: 'text', name: 'reason', maxlength: 4000 });
  return formBox('remove-form', t('removeTitle'), null,
    [field(t('removeUser'), sel), field(t('removeReason'), reason)], t('removeBtn'), (msg) => {
      if (!sel.value) return null;
      const u = sel.value;
      return async (c) => {
        await commitChange(c, () => ({ op: 'remove', user: u, reason: reason.value.trim() }));
        reason.value = '';
        ok(msg, t('removeDone', { user: u }));
      };
    });
}

function shareForm(conf) {
  const me = X.session().profile.user;
  const notes = conf.notes.filter((n) => n.verified && n.id && n.raw && n.kind !== 'title');
  if (!notes.length) return el('section', { class: 'admin-box', 'aria-labelledby': 'share-form-h' },
    el('h3', { id: 'share-form-h', text: t('shareTitle') }), el('p', { class: 'help', text: t('shareNone') }));
  const noteSel = el('select', { name: 'note' }, notes.map((n) => el('option', {
    value: n.id, text: `#${n.seq} ${n.audience}: ${String(n.text).slice(0, 60)}`,
  })));
  const users = [...new Map(conf.state.members.filter((m) => m.user !== me).map((m) => [m.user, m])).values()];
  const userSel = el('select', { name: 'user' }, users.map((m) => el('option', { value: m.user, text: `${m.name} (${m.role})` })));
  const ground = el('select', { name: 'ground' }, GROUNDS.map((g) => el('option', { value: g, text: t(`ground_${g}`) })));
  const reason = el('textarea', { name: 'reason', rows: 2, maxlength: 4000 });
  return formBox('share-form', t('shareTitle'), null,
    [field(t('shareNote'), noteSel), field(t('shareUser'), userSel), field(t('shareGround'), ground),
      field(t('reason'), reason, t('reasonHelp'))], t('shareBtn'), (msg) => {
      if (need(reason, msg, t('errReason'))) return null;
      const n = notes.find((x) => x.id === noteSel.value);
      const u = userSel.value;
      return async (c) => {
        // the roster's wrap keys, verified by the core: the grant seals to them
        const wrapkeys = await rosterWrapKeys(c);
        const { grant } = cw.casusGrant(c.hex, { user: u, ground: ground.value, reason: reason.value.trim(), msgs: [n.raw], wrapkeys });
        await X.session().transport.request('grant.post', { casus: c.hex, grant: b64encode(grant) });
        reason.value = '';
        ok(msg, t('shareDone', { user: u }));
      };
    });
}

// the reason goes to the members as an ordinary end-to-end note first (the
// default audience: the first this device may write to), then casus.close
function closeForm(conf) {
  const reason = el('textarea', { name: 'reason', rows: 2, maxlength: 4000 });
  const rights = (X.session().policy || {}).rights || {};
  return formBox('close-form', t('closeTitle'), t('closeHelp'), [field(t('closeReason'), reason)], t('closeBtn'), (msg) => {
    if (need(reason, msg, t('errReason'))) return null;
    if (!window.confirm(t('closeConfirm'))) return null;
    return async (c) => {
      if (rights.may_create || rights.may_deescalate) {
        const aud = c.state.audiences.find((a) => a.mine);
        if (!aud) throw new Error(t('noAudience'));
        await X.confPost(c, aud.name, aud.ground_required ? 'legal_duty' : '', `${t('closeMark')}${reason.value.trim()}`);
      }
      await X.session().transport.request('casus.close', { casus: c.hex });
      reason.value = '';
      ok(msg, t('closeDone'));
      await X.confSyncHistory(c);
    };
  });
}

// the approving side of pairing: the own new device found by the code the
// user typed, added by a commit, then this device's keys sealed to it
function pairForm() {
  const code = el('input', { type: 'text', name: 'code', autocomplete: 'off', spellcheck: 'false', class: 'mono', pattern: '[0-9a-f]{4}(-[0-9a-f]{4}){3}' });
  return formBox('pair-form', t('pairTitle'), t('pairIntro'), [field(t('pairCode'), code, t('pairCodeHelp'))], t('pairBtn'), (msg) => {
    if (need(code, msg, t('pairCode'))) return null;
    const pc = code.value.trim().toLowerCase();
    return async (c) => {
      const { certs, wrapkeys } = await directory(X.session().profile.user);
      await commitChange(c, () => ({ op: 'add_own', code: pc, certs, wrapkeys }));
      const { transfers } = cw.casusTransfers(c.hex);
      for (const x of transfers) await X.session().transport.request('transfer.post', { casus: c.hex, transfer: x.transfer });
      code.value = '';
      ok(msg, t('pairDone', { n: transfers.length }));
    };
  });
}

function changeItem(ch) {
  const by = ch.by ? `${ch.by.name} (${ch.by.role})` : '?';
  return el('li', { class: `change change-${ch.type}`, 'data-type': ch.type, 'data-epoch': String(ch.epoch) },
    el('span', { text: t('changeLine', { time: X.timeText(ch.time), what: t(`change_${ch.type}`), by, level: ch.level }) }),
    ch.reason ? el('span', { class: 'reason', text: ` · ${t('reasonShown', { reason: ch.reason })}` }) : null);
}

// The verified changes (with the reasons this device may read) and the forms
// the verified policy lets this role use.
export function renderAdmin(conf) {
  const region = document.getElementById('admin-region');
  const s = X.session();
  if (!region || !s || s.conf !== conf || !conf.state) return;
  let changes = [];
  try {
    changes = cw.casusChanges(conf.hex).changes;
  } catch {
    changes = [];
  }
  const list = el('ol', { id: 'changes', class: 'changes' },
    changes.length ? changes.map(changeItem) : el('li', { text: t('changesNone') }));
  const kids = [el('h3', { id: 'changes-h', text: t('changes') }), list];
  const r = (s.policy || {}).rights || {};
  if (conf.state.member && !conf.closed) {
    if (r.escalate_max > conf.state.level || r.may_deescalate) kids.push(levelForm(conf));
    if (r.may_add) kids.push(addForm());
    if (r.may_remove) kids.push(removeForm(conf));
    if (r.may_grant) kids.push(shareForm(conf));
    kids.push(pairForm());
    kids.push(closeForm(conf));
  }
  region.replaceChildren(...kids);
}

// New notes arrived: the share form offers them too (not while it is in use).
export function refreshShare(conf) {
  const old = document.getElementById('share-form-h');
  const box = old && old.closest('section');
  if (!box || box.contains(document.activeElement) || X.session().conf !== conf) return;
  box.replaceWith(shareForm(conf));
}

// Keys from the user's other device (transfer.fetch) and messages shared with
// this device (grant.fetch), each judged by the core. Returns true when keys
// arrived (the history is then read again from the start).
export async function syncKeys(conf) {
  const tr = X.session().transport;
  let imported = 0;
  try {
    const r = await tr.request('transfer.fetch', { casus: conf.hex });
    for (const x of Array.isArray(r.transfers) ? r.transfers : []) {
      try {
        imported += cw.casusAcceptTransfer(conf.hex, b64decode(String(x.transfer))).imported;
      } catch (e) {
        X.confWarn(conf, [{ code: String(e.code || 'tampered'), message: String(e.message) }]);
      }
    }
  } catch (e) {
    if (!(e instanceof ServerError)) throw e;
  }
  return imported;
}

export async function syncGrants(conf) {
  const tr = X.session().transport;
  const r = await tr.request('grant.fetch', { casus: conf.hex });
  conf.granted = conf.granted || new Set();
  for (const g of Array.isArray(r.grants) ? r.grants : []) {
    const messages = Array.isArray(g.messages) ? g.messages : [];
    let acc;
    try {
      acc = cw.casusAcceptGrant(conf.hex, { grant: String(g.grant), messages });
    } catch (e) {
      X.confWarn(conf, [{ code: String(e.code), message: String(e.message) }]);
      continue;
    }
    for (const m of messages) {
      const seq = Number(m.seq);
      if (!Number.isSafeInteger(seq) || conf.granted.has(seq) || conf.notes.some((n) => n.seq === seq && n.verified)) continue;
      let note;
      try {
        note = cw.casusMessage(conf.hex, seq, b64decode(String(m.msg)), false);
      } catch (e) {
        note = { ...e.info, refused: true };
      }
      note.granted = true;
      note.share = { by: acc.by, ground: acc.ground, reason: acc.reason };
      conf.granted.add(seq);
      conf.notes.push(note);
      X.appendNote(conf, note);
    }
  }
}

// Who shared a note with this device, on which ground and why (verified in wasm).
export function sharedLine(n) {
  const sh = n.share || {};
  const by = sh.by ? `${sh.by.name} (${sh.by.role}, ${sh.by.org})` : '?';
  return el('p', { class: 'help shared', text: t('sharedBy', {
    by, ground: sh.ground ? t(`ground_${sh.ground}`) : '?', reason: sh.reason || t('reasonHidden') }) });
}

// This device's pairing code (the new side shows it; `casus add-device CASUS --code` there).
export function pairingBox() {
  let code = '';
  try {
    code = cw.pairingCode().code;
  } catch {
    return null;
  }
  return el('section', { class: 'pairing', 'aria-labelledby': 'mycode-h' },
    el('h2', { id: 'mycode-h', text: t('myCode') }),
    el('p', { class: 'mono pairing-code', id: 'pairing-code', text: code }),
    el('p', { class: 'help', text: t('myCodeHelp') }));
}
