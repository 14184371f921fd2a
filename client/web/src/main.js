// main.js: the casus web client's screens (enrolment, certificate, login,
// casus list) on top of the wasm crypto, the WebSocket transport and the
// IndexedDB storage. The screens decide nothing about trust: they show what
// wasm verified, and the server's word only where it is labelled as such.
import * as cw from './wasm.js';
import { Transport, NetworkError, ServerError, b64decode, b64encode } from './transport.js';
import { loadProfile, saveProfile, forgetAll } from './storage.js';
import * as off from './offline.js';
import { t, getLang, setLang } from './i18n.js';
import { el, field, show, alertBox, download } from './ui.js';
import * as adm from './conf_admin.js';
import * as audit from './audit.js';
import * as regie from './regie.js';
import * as creg from './conf_regie.js';
import * as devkey from './devicekey.js';

const main = document.getElementById('main');
const statusEl = document.getElementById('status');
const langBtn = document.getElementById('lang');
let current = null; // re-renders the current screen (language switch)
let session = null; // {transport, profile, policy, auth, list}

function renderChrome() {
  document.title = `${t('app')}: ${t('tagline')}`;
  document.getElementById('tagline').textContent = t('tagline');
  document.getElementById('skip').textContent = t('skip');
  langBtn.textContent = t('switchLang');
  langBtn.setAttribute('aria-label', t('switchLangLabel'));
  langBtn.setAttribute('lang', getLang() === 'nl' ? 'en' : 'nl');
  setStatus(session ? session.transport.state : 'offline');
}

function setStatus(state) {
  statusEl.dataset.state = state;
  statusEl.textContent = t(`status_${state}`);
}

langBtn.addEventListener('click', () => {
  setLang(getLang() === 'nl' ? 'en' : 'nl');
  renderChrome();
  if (current) current();
});

function busy(form, on) {
  for (const b of form.querySelectorAll('button, input, select, textarea')) b.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
}

function errorText(e) {
  if (e instanceof cw.CryptoError) {
    if (e.errname === 'CC_ERR_PASSPHRASE') return t('errPass');
    return `${e.message} (${e.errname})`;
  }
  if (e instanceof ServerError) return `${t('errAuth')}: ${e.code} ${e.message}`;
  if (e instanceof NetworkError) return `${t('errNet')}: ${e.message}`;
  return String(e && e.message ? e.message : e);
}

function reqFilename(p) {
  return `${p.user}-${p.device.slice(0, 8)}.casusreq`;
}

// ---- enrolment ---------------------------------------------------------------
function enrolScreen() {
  current = enrolScreen;
  const inp = (attrs) => el('input', { type: 'text', required: true, autocomplete: 'off', ...attrs });
  const user = inp({ name: 'user', pattern: '[a-z0-9._@\\-]{1,64}', spellcheck: 'false', autocapitalize: 'none' });
  const name = inp({ name: 'name', autocomplete: 'name', maxlength: 128 });
  const org = inp({ name: 'org', autocomplete: 'organization', maxlength: 128 });
  const role = inp({ name: 'role', pattern: '[a-z0-9._@\\-]{1,32}', spellcheck: 'false', autocapitalize: 'none' });
  const root = inp({ name: 'root', pattern: '[0-9a-f]{64}', spellcheck: 'false', class: 'mono' });
  const pass = el('input', { type: 'password', name: 'pass', required: true, autocomplete: 'new-password', minlength: 10 });
  const pass2 = el('input', { type: 'password', name: 'pass2', required: true, autocomplete: 'new-password' });
  const msg = el('div', { 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', text: t('makeKeys') });
  const form = el('form', { novalidate: true },
    field(t('user'), user, t('userHelp')), field(t('name'), name), field(t('org'), org),
    field(t('role'), role, t('roleHelp')), field(t('root'), root, t('rootHelp')),
    field(t('pass'), pass, t('passHelp')), field(t('pass2'), pass2), msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    const fail = (text, input) => {
      msg.replaceChildren(alertBox(text));
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    };
    if (!/^[0-9a-f]{64}$/.test(root.value.trim())) return fail(t('errRoot'), root);
    if ([...pass.value].length < 10) return fail(t('errPassShort'), pass);
    if (pass.value !== pass2.value) return fail(t('errPassDiffer'), pass2);
    busy(form, true);
    submit.textContent = t('working');
    await new Promise((r) => setTimeout(r, 0)); // let the busy state paint before Argon2id
    try {
      const r = cw.enrol({ user: user.value.trim(), name: name.value.trim(), org: org.value.trim(), role: role.value.trim() }, pass.value);
      await saveProfile({
        user: r.info.user, role: r.info.role, device: r.info.device, root: root.value.trim(),
        keystore: r.keystore, request: r.request, policyNumber: 0, certified: false,
      });
      pass.value = '';
      pass2.value = '';
      installScreen();
    } catch (e) {
      busy(form, false);
      submit.textContent = t('makeKeys');
      fail(e instanceof cw.CryptoError && e.errname !== 'CC_ERR_PASSPHRASE' ? `${t('errFields')} (${e.errname})` : errorText(e), user);
    }
  });
  show(main, el('h1', { text: t('enrolTitle') }), el('p', { text: t('enrolIntro') }), form, importForm());
}

// ---- a profile made by the casus command ------------------------------------------
// keys.casusks is the same sealed format (cc_keystore) as the browser's own.
// Opened in wasm and its certificate checked as `casus install-cert` does
// (the pinned root, valid now, this device); stored sealed as it came. The
// quick start's browser demo users come this way (docs/WEB.md).
function importForm() {
  const file = el('input', { type: 'file', name: 'keystore', accept: '.casusks,application/octet-stream' });
  const root = el('input', { type: 'text', name: 'root', required: true, autocomplete: 'off', pattern: '[0-9a-f]{64}', spellcheck: 'false', class: 'mono' });
  const pass = el('input', { type: 'password', name: 'pass', required: true, autocomplete: 'current-password' });
  const msg = el('div', { 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', class: 'secondary', text: t('importBtn') });
  const form = el('form', { novalidate: true, 'aria-labelledby': 'import-h' },
    field(t('importFile'), file, t('importFileHelp')), field(t('importRoot'), root, t('rootHelp')), field(t('importPass'), pass), msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    if (!file.files || !file.files[0]) {
      msg.replaceChildren(alertBox(t('errNoFile')));
      file.focus();
      return;
    }
    if (!/^[0-9a-f]{64}$/.test(root.value.trim())) {
      msg.replaceChildren(alertBox(t('errRoot')));
      root.focus();
      return;
    }
    busy(form, true);
    await new Promise((r) => setTimeout(r, 0));
    try {
      const bytes = new Uint8Array(await file.files[0].slice(0, 1024 * 1024).arrayBuffer());
      const info = cw.open(bytes, pass.value);
      let c;
      try {
        c = cw.ownCertCheck(root.value.trim());
      } finally {
        cw.close();
      }
      await saveProfile({
        user: c.user, role: c.role, device: info.device, root: root.value.trim(), keystore: bytes, request: null,
        policyNumber: 0, certified: true, fingerprint: c.fingerprint,
      });
      pass.value = '';
      loginScreen(t('imported', { user: c.user }));
    } catch (e) {
      busy(form, false);
      msg.replaceChildren(alertBox(e instanceof cw.CoreError ? `${t('errCert')}: ${coreText(e)}` : errorText(e)));
    }
  });
  return el('section', { 'aria-labelledby': 'import-h' },
    el('h2', { id: 'import-h', text: t('importTitle') }), el('p', { class: 'help', text: t('importIntro') }), form);
}

// ---- certificate -----------------------------------------------------------------
async function installScreen() {
  current = installScreen;
  const p = await loadProfile();
  const file = el('input', { type: 'file', name: 'cert', accept: '.cert,application/octet-stream' });
  const pass = el('input', { type: 'password', name: 'pass', required: true, autocomplete: 'current-password' });
  const msg = el('div', { 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', text: t('install') });
  const form = el('form', { novalidate: true }, field(t('certFile'), file), field(t('pass'), pass), msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    if (!file.files || !file.files[0]) {
      msg.replaceChildren(alertBox(t('errNoFile')));
      file.focus();
      return;
    }
    busy(form, true);
    try {
      const bytes = new Uint8Array(await file.files[0].slice(0, 4096).arrayBuffer());
      const prof = await loadProfile();
      cw.open(prof.keystore, pass.value);
      let r;
      try {
        r = cw.installCert(prof.root, bytes, pass.value);
      } finally {
        cw.close();
      }
      prof.keystore = r.keystore;
      prof.certified = true;
      prof.fingerprint = r.cert.fingerprint;
      await saveProfile(prof);
      pass.value = '';
      loginScreen(t('installed'));
    } catch (e) {
      busy(form, false);
      let text = errorText(e);
      if (e instanceof cw.CryptoError && e.errname !== 'CC_ERR_PASSPHRASE')
        text = e.errname === 'CC_ERR_NOT_MEMBER' ? t('errCertOther') : `${t('errCert')}: ${e.message} (${e.errname})`;
      msg.replaceChildren(alertBox(text));
    }
  });
  show(main,
    el('h1', { text: t('installTitle') }),
    el('p', { text: t('installIntro') }),
    el('dl', {}, el('dt', { text: t('user') }), el('dd', { text: p.user }),
      el('dt', { text: t('role') }), el('dd', { text: p.role }),
      el('dt', { text: t('device') }), el('dd', { class: 'mono', text: p.device })),
    el('p', {}, el('button', { type: 'button', id: 'download-request', text: t('downloadReq'), onclick: () => download(p.request, reqFilename(p)) })),
    form,
    forgetButton());
}

function forgetButton() {
  return el('p', {}, el('button', {
    type: 'button', class: 'secondary', text: t('forget'),
    onclick: async () => {
      if (!window.confirm(t('forgetConfirm'))) return;
      cw.close();
      await forgetAll();
      enrolScreen();
    },
  }));
}

// ---- login -----------------------------------------------------------------------
async function loginScreen(note) {
  current = () => loginScreen();
  const p = await loadProfile();
  const pass = el('input', { type: 'password', name: 'pass', required: true, autocomplete: 'current-password' });
  const msg = el('div', { 'aria-live': 'polite' }, note ? el('p', { class: 'ok', role: 'status', text: note }) : null);
  const submit = el('button', { type: 'submit', text: t('login') });
  const form = el('form', { novalidate: true }, field(t('pass'), pass), msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    busy(form, true);
    try {
      await login(p, pass.value);
      pass.value = '';
      await listScreen();
    } catch (e) {
      cw.close();
      if (session) session.transport.stop();
      session = null;
      busy(form, false);
      msg.replaceChildren(alertBox(errorText(e)));
      pass.focus();
    }
  });
  show(main,
    el('h1', { text: t('loginTitle') }),
    el('p', {}, `${t('loginAs')} `, el('strong', { text: p.user }), ` (${p.role})`),
    form, forgetButton());
}

// hello, then auth with the device key signing the challenge (in wasm), then
// the signed policy verified against the pinned root (in wasm); as
// casus_client_connect in client/libcasus.c.
async function authenticate(tr, profile) {
  const hello = await tr.request('hello', { version: 1 });
  const sig = cw.authSign(b64decode(hello.challenge));
  const auth = await tr.request('auth', { cert: b64encode(cw.certBytes()), sig: b64encode(sig) });
  // the server's store epoch (renewed by a restore): the core judges each
  // local copy against it (issue 16); kept with the profile as the C client does
  let epochKept = false;
  const ep = auth.store_epoch || hello.store_epoch;
  if (typeof ep === 'string' && ep) {
    try {
      const se = cw.coreStoreEpoch(ep, false);
      if (se.held !== profile.storeEpoch) {
        profile.storeEpoch = se.held;
        epochKept = true;
      }
    } catch (e) {
      console.warn(`store epoch: ${coreText(e)}`);
    }
  }
  const pol = await tr.request('policy.get');
  let policy;
  try {
    policy = cw.policyCheck(profile.root, b64decode(pol.policy), profile.policyNumber || 0);
  } catch (e) {
    throw new Error(`${t('errPolicy')}: ${errorText(e)}`);
  }
  // the client core holds the same policy and the revocation list; it
  // refuses either going back (as casus_client_connect in libcasus)
  let kept = epochKept;
  try {
    const pb = b64decode(pol.policy);
    const cp = cw.corePolicy(pb);
    // what this role may do (conf_admin.js, audit.js, regie.js offer only that)
    policy.rights = cp.rights || {};
    if (cp.changed || !profile.policy) kept = keepTrust(profile, 'policy', pb);
    const rl = await tr.request('revlist.get');
    const rb = rl.revlist ? b64decode(rl.revlist) : null;
    if (cw.coreRevlist(rb).changed && rb) kept = keepTrust(profile, 'revlist', rb);
  } catch (e) {
    throw new Error(`${t('errPolicy')}: ${coreText(e)}`);
  }
  if (policy.number > (profile.policyNumber || 0)) {
    profile.policyNumber = policy.number;
    kept = true;
  }
  if (kept) await saveProfile(profile);
  return { auth, policy };
}

async function login(profile, passphrase) {
  cw.open(profile.keystore, passphrase);
  cw.coreStart(profile.root);
  if (typeof profile.storeEpoch === 'string' && profile.storeEpoch) {
    try {
      cw.coreStoreEpoch(profile.storeEpoch, true);
    } catch {
      /* a damaged value: none held, the server's is taken */
    }
  }
  const storedPolicy = loadTrust(profile);
  const url = `wss://${location.host}/`;
  const transport = new Transport(url, {
    onState: (s) => offlineState(s),
    onOpen: async (tr) => {
      const r = await authenticate(tr, profile);
      // this device's rotating key: made when due, stored, published, old
      // ones wiped after the grace period (devicekey.js); a failure waits for
      // the next connect, as in the casus command
      try {
        await devkey.maintain(tr, profile, false);
      } catch (e) {
        console.warn(`device key: ${errorText(e)}`);
      }
      if (session) {
        session.auth = r.auth;
        session.policy = r.policy;
        backOnline();
        if (current === listScreen) refreshList();
        // back online: what was missed while away is fetched and verified
        if (session.conf) confCatchUp();
      }
      return r;
    },
    onPush: (m) => {
      if ((m.push === 'notice' || m.push === 'commit' || m.push === 'msg') && current === listScreen) refreshList();
      if (session && session.conf && m.casus === session.conf.hex &&
          ['msg', 'commit', 'removed', 'grant', 'closed', 'transfer'].includes(m.push)) {
        if (m.push === 'grant') session.conf.wantGrants = true;
        if (m.push === 'transfer') session.conf.wantKeys = true;
        if (m.push === 'closed') session.conf.closed = true;
        confCatchUp();
      }
    },
  });
  session = { transport, profile, policy: null, auth: null, list: null, conf: null, confs: new Map(), offline: false, outbox: [] };
  session.outbox = await off.outboxEntries();
  try {
    await transport.start();
  } catch (e) {
    // casusd cannot be reached: work from the local copy with the policy kept
    // from an earlier session, and keep trying to connect in the background
    if (!(e instanceof NetworkError) || !storedPolicy) throw e;
    session.offline = true;
    session.policy = storedPolicy;
    session.offlineSince = Date.now();
    transport.retry();
    return;
  }
  outboxFlush();
}

// ---- casus list --------------------------------------------------------------
async function refreshList() {
  if (!session) return;
  try {
    if (session.offline) throw new NetworkError('offline');
    session.list = await session.transport.request('casus.list');
    session.rollback = await creg.rollbackList(session.list);
    renderList();
    off.saveList(session.list).catch((e) => console.warn(`local copy of the list not kept: ${e.message}`));
  } catch (e) {
    if (e instanceof NetworkError && (await offlineList())) return;
    const m = document.getElementById('list-msg');
    if (m) m.replaceChildren(alertBox(errorText(e)));
  }
}

function levelName(level) {
  const l = session.policy && session.policy.levels.find((x) => x.level === level);
  return l ? l.name : '';
}

function noticeText(n) {
  if (n && n.notice === 'escalation')
    // a notice names only the casus and its level: the reason is the members' text,
    // end-to-end encrypted, and never reaches someone who is not (yet) a member
    return t('noticeEscalation', { casus: String(n.casus || '').slice(0, 8), level: `${n.level} ${n.level_name || levelName(n.level)}` });
  if (n && n.notice === 'agenda') return creg.agendaNoticeText(session.list || {}, n);
  if (n && n.notice === 'stagnation')
    // content-free: which casus, its level, which signal and for how many days
    return t(n.signal === 'no_note' ? 'noticeStagnationNote'
      : n.signal === 'actions_overdue' ? 'noticeStagnationOverdue' : 'noticeStagnationLevel', {
      casus: String(n.casus || '').slice(0, 8),
      level: `${n.level} ${n.level_name || levelName(n.level)}`,
      days: String(Number.isFinite(n.days) ? n.days : '?'),
    });
  // a notice kind this client does not know: say so rather than show raw data
  return t('noticeUnknown', { casus: String((n && n.casus) || '').slice(0, 8) });
}

function renderList() {
  const region = document.getElementById('list-region');
  if (!region || !session || !session.list) return;
  const rows = Array.isArray(session.list.casus) ? session.list.casus : [];
  const notices = Array.isArray(session.list.notices) ? session.list.notices : [];
  const kids = [];
  if (session.rollback && session.rollback.length) kids.push(creg.rollbackBanner(t('rollbackList', { list: session.rollback.join(', ') })));
  if (notices.length) {
    kids.push(el('section', { 'aria-labelledby': 'notices-h', class: 'notices' },
      el('h2', { id: 'notices-h', text: t('notices') }),
      el('ul', { id: 'notices' }, notices.map((n) => creg.noticeItem(n, noticeText(n))))));
  }
  if (!rows.length) kids.push(el('p', { class: 'empty', text: t('none') }));
  else {
    kids.push(el('table', { class: 'casus' },
      el('caption', { class: 'visually-hidden', text: t('listTitle') }),
      el('thead', {}, el('tr', {}, ['colPurpose', 'colBasis', 'colLevel', 'colUnread', 'colMembers', 'colState', 'colOpen']
        .map((k) => el('th', { scope: 'col', text: t(k) })))),
      el('tbody', {}, rows.map((c) => el('tr', { 'data-casus': String(c.casus) },
        el('th', { scope: 'row', text: String(c.purpose ?? '') }),
        el('td', { text: String(c.basis ?? '') }),
        el('td', { class: 'level', text: `${c.level} ${levelName(c.level)}` }),
        el('td', { class: 'unread', text: String(c.unread ?? 0) }),
        el('td', { text: String(c.members ?? '') }),
        el('td', { text: c.closed_at ? t('closed') : t('open') }),
        el('td', {}, el('button', {
          type: 'button', class: 'open-casus', text: t('openCasus'),
          'aria-label': t('openCasusLabel', { purpose: String(c.purpose ?? '') }),
          onclick: () => confScreen(String(c.casus), String(c.purpose ?? '')),
        })))))));
  }
  region.replaceChildren(...kids);
}

async function listScreen() {
  current = listScreen;
  const a = session.auth || {};
  const pol = session.policy;
  show(main,
    el('h1', { text: t('listTitle') }),
    el('p', { class: 'who' }, `${t('loggedInAs')} `, el('strong', { text: String(a.user ?? session.profile.user) }),
      ` (${String(a.role ?? session.profile.role)})`),
    pol ? el('p', { class: 'policy', text: t('policyLine', { number: pol.number, deployment: pol.deployment }) }) : null,
    el('p', { class: 'help', text: t('unverifiedNote') }),
    el('div', { id: 'offline-banner', 'aria-live': 'polite' }),
    el('div', { id: 'list-msg', 'aria-live': 'polite' }),
    el('div', { id: 'list-region', 'aria-live': 'polite' }),
    adm.pairingBox(),
    devkey.deviceKeyBox(() => session),
    el('p', { class: 'actions' },
      rightsOf().audit_scope && rightsOf().audit_scope !== 'none'
        ? [el('button', { type: 'button', id: 'open-audit', text: t('auditOpen'), onclick: () => audit.auditScreen('') }), ' '] : null,
      rightsOf().may_overview ? [el('button', { type: 'button', id: 'open-overview', text: t('regieOpen'), onclick: () => regie.overviewScreen() }), ' '] : null,
      rightsOf().may_monitor ? [el('button', { type: 'button', id: 'open-monitor', text: t('monitorOpen'), onclick: () => regie.monitorScreen() }), ' '] : null,
      el('button', { type: 'button', id: 'refresh', text: t('refresh'), onclick: refreshList }),
      ' ',
      el('button', { type: 'button', class: 'secondary', id: 'logout', text: t('logout'), onclick: logout })));
  renderOffline();
  if (session.list) renderList();
  await refreshList();
}

// ---- the case conference ----------------------------------------------------
// Every step through the client core in wasm, as libcasus does it: the chain
// fetched from the verified copy's next epoch and each commit applied by the
// core (the newest as the head), then the history after the last place seen,
// each message judged and opened by the core in the server's order. A push
// (a new note, a commit, a removal) only says "look again": the page catches
// up the same way, so a live note is verified exactly like history. Work on
// one casus runs one step at a time (confQueue).
const GROUNDS = ['consent', 'legal_duty', 'conflict_of_duties', 'right_to_report', 'no_care_info'];

function coreText(e) {
  if (e instanceof cw.CoreError) return `${e.message} (${e.code})`;
  return errorText(e);
}

function confRun(f) {
  const conf = session && session.conf;
  if (!conf) return Promise.resolve();
  conf.queue = conf.queue.then(() => (session && session.conf === conf ? f(conf) : null)).catch((e) => confFail(conf, e));
  return conf.queue;
}

function confFail(conf, e) {
  if (e instanceof NetworkError) return renderOffline(); // shown by the offline banner, the copy stays
  const box = document.getElementById('conf-msg');
  if (box && session && session.conf === conf) box.replaceChildren(alertBox(`${t('errVerify')}: ${coreText(e)}`));
}

function confWarn(conf, list) {
  for (const w of list || []) {
    const key = `${w.code}:${w.message}`;
    if (!conf.warnings.some((x) => `${x.code}:${x.message}` === key)) conf.warnings.push(w);
  }
  renderConfWarnings(conf);
}

// commit.fetch from the next epoch, every commit applied by the core
async function confSyncChain(conf) {
  const tr = session.transport;
  let epochs = cw.casusFollow(conf.hex).epochs;
  const before = epochs;
  for (let idle = 0, pages = 0; pages < 100000; pages++) {
    const r = await tr.request('commit.fetch', { casus: conf.hex, from: epochs });
    const list = Array.isArray(r.commits) ? r.commits : [];
    const more = r.more === true;
    list.forEach((c, i) => {
      const res = cw.casusCommit(conf.hex, b64decode(c.commit), !more && i === list.length - 1);
      epochs = res.epochs;
      conf.commits.push(c.commit);
      confWarn(conf, res.warnings);
    });
    if (!more) break;
    idle = list.length ? 0 : idle + 1;
    if (idle >= 3) throw new Error('paging: the server keeps saying "more" without sending anything');
  }
  let done;
  try {
    done = cw.casusDone(conf.hex);
  } catch (e) {
    // a withheld box (docs/CRYPTO.md): the commits of this fetch are not
    // stored, so that a later honest fetch brings the box (as the C client)
    if (e instanceof cw.CoreError && e.code === 'withheld_box') conf.withheldBox = true;
    throw e;
  }
  confWarn(conf, done.warnings);
  conf.state = cw.casusState(conf.hex);
  confWarn(conf, conf.state.warnings);
  return epochs !== before;
}

// history after the last place seen, each message opened by the core
async function confSyncHistory(conf) {
  const tr = session.transport;
  let added = 0;
  confWarn(conf, cw.casusHistoryBegin(conf.hex, conf.last === 0).warnings);
  for (let idle = 0, pages = 0; pages < 100000; pages++) {
    const r = await tr.request('history', { casus: conf.hex, after: conf.last, limit: 500 });
    const msgs = Array.isArray(r.messages) ? r.messages : [];
    let got = 0;
    for (const m of msgs) {
      const seq = Number(m.seq);
      if (!Number.isSafeInteger(seq) || seq <= conf.last) continue;
      let note;
      try {
        note = cw.casusMessage(conf.hex, seq, b64decode(m.msg), false);
      } catch (e) {
        if (!(e instanceof cw.CoreError)) throw e;
        note = { ...e.info, refused: true };
        // as the C client refuses the listing: the refusal is shown where the user looks first
        confWarn(conf, [{ code: String(e.code), message: `#${seq}: ${e.message}` }]);
      }
      confWarn(conf, note.warnings);
      conf.last = seq;
      note.raw = String(m.msg); // as served: what a share (grant) names
      conf.notes.push(note);
      appendNote(conf, note);
      got++;
      added++;
    }
    if (r.more !== true) {
      // the listing is complete: a sender number it never delivered is a gap (as the C client)
      confWarn(conf, cw.casusHistoryDone(conf.hex).warnings);
      break;
    }
    idle = got ? 0 : idle + 1;
    if (idle >= 3) throw new Error('paging: the server keeps saying "more" without sending anything');
  }
  if (added && conf.last) tr.request('casus.read', { casus: conf.hex, seq: conf.last }).catch(() => {});
  if (added) creg.render(conf);
  return added;
}

function confCatchUp() {
  return confRun(async (conf) => {
    if (session.offline) return;
    await confSyncChain(conf);
    if (conf.shownEpoch !== conf.state.epoch) renderConfState(conf);
    // a verified commit removed this device: what it read stays on screen for
    // this session, nothing new comes, and the local copy goes (as the C client)
    if (!conf.state.member) return off.dropCopy(conf.hex);
    // this copy against the store the server names now (issue 16): warned and kept
    creg.check(conf, null);
    if (conf.wantKeys) {
      // keys from this user's other device (pairing): read the history again
      conf.wantKeys = false;
      const n = await adm.syncKeys(conf);
      if (n) {
        conf.last = 0;
        conf.notes = [];
        const list = document.getElementById('notes');
        if (list && session.conf === conf) list.replaceChildren();
        confWarn(conf, [{ code: 'transfer', message: t('transferred', { n }) }]);
      }
    }
    const added = await confSyncHistory(conf);
    if (conf.wantGrants) {
      conf.wantGrants = false;
      await adm.syncGrants(conf);
    }
    if (added) adm.refreshShare(conf);
    await off.saveCopy(conf);
    const box = document.getElementById('conf-msg');
    if (box && box.querySelector('.alert')) box.replaceChildren();
  });
}

function person(p) {
  return p ? `${p.name} (${p.role}, ${p.org})` : t('unknownSender');
}

function timeText(sec) {
  return new Date(Number(sec) * 1000).toLocaleString(getLang() === 'nl' ? 'nl-NL' : 'en-GB');
}

function noteItem(n) {
  const ok = n.verified === true;
  const state = ok ? t('verified') : n.refused ? t('refusedNote', { code: n.error || n.code }) : t('notReadable', { code: n.error || n.code });
  return el('li', { class: `note ${ok ? 'verified' : 'unverified'}`, 'data-seq': String(n.seq), 'data-verified': ok ? '1' : '0' },
    el('p', { class: 'meta' },
      el('strong', { class: 'sender', text: person(n.sender) }), ' ',
      el('span', { text: n.time ? timeText(n.time) : '' }), ' · ',
      el('span', { class: 'audience', text: t('toAudience', { audience: n.audience || '?' }) }),
      n.ground ? ` · ${t('groundShown', { ground: t(`ground_${n.ground}`) })}` : '',
      n.granted ? el('span', { class: 'granted', text: ` · ${t('granted')}` }) : null, ' · ',
      el('span', { class: `verif ${ok ? 'yes' : 'no'}`, text: state })),
    ok ? el('p', { class: 'text', text: n.text }) : (n.message ? el('p', { class: 'help', text: n.message }) : null),
    n.granted ? adm.sharedLine(n) : null);
}

function appendNote(conf, n) {
  const list = document.getElementById('notes');
  if (!list || session.conf !== conf) return;
  const empty = document.getElementById('notes-empty');
  if (empty) empty.remove();
  list.append(noteItem(n));
}

function renderConfWarnings(conf) {
  const box = document.getElementById('conf-warnings');
  if (!box || session.conf !== conf) return;
  box.replaceChildren(...(conf.warnings.length ? [
    el('h2', { id: 'warn-h', text: t('warnings') }),
    el('ul', {}, conf.warnings.map((w) => el('li', { class: 'warning', 'data-code': String(w.code), text: `${w.message} (${w.code})` }))),
  ] : []));
}

function renderConfState(conf) {
  const st = conf.state;
  const lvl = document.getElementById('conf-level');
  if (!lvl || !st || session.conf !== conf) return;
  conf.shownEpoch = st.epoch;
  lvl.textContent = t('levelVerified', { level: st.level, name: st.level_name, epoch: st.epoch });
  document.getElementById('members').replaceChildren(
    el('caption', { class: 'visually-hidden', text: t('members') }),
    el('thead', {}, el('tr', {}, ['colName', 'colUser', 'colRole', 'colOrg', 'colDevice'].map((k) => el('th', { scope: 'col', text: t(k) })))),
    el('tbody', {}, st.members.map((m) => el('tr', { 'data-user': m.user },
      el('th', { scope: 'row', text: m.name }), el('td', { text: m.user }), el('td', { text: m.role }),
      el('td', { text: m.org }),
      el('td', { class: 'mono', text: `${m.fingerprint.slice(0, 16).replace(/(.{4})(?!$)/g, '$1 ')}${m.revoked ? ` (${t('revoked')})` : ''}` })))));
  renderPostForm(conf);
  adm.renderAdmin(conf);
  creg.render(conf);
}

function renderPostForm(conf) {
  const region = document.getElementById('post-region');
  if (!region || session.conf !== conf) return;
  const mine = conf.state.audiences.filter((a) => a.mine || offlineWritable(a));
  if (!conf.state.member) {
    region.replaceChildren(el('p', { class: 'alert', id: 'not-member', role: 'alert', text: t('notMember') }));
    return;
  }
  if (!mine.length) {
    region.replaceChildren(el('p', { class: 'help', text: t('noAudience') }));
    return;
  }
  const keep = conf.draft || {};
  const aud = el('select', { name: 'audience' }, mine.map((a) => el('option', { value: a.name, text: a.name })));
  if (keep.audience && mine.some((a) => a.name === keep.audience)) aud.value = keep.audience;
  const readers = el('p', { class: 'help readers', id: 'readers', 'aria-live': 'polite' });
  const ground = el('select', { name: 'ground' }, el('option', { value: '', text: t('groundChoose') }),
    GROUNDS.map((g) => el('option', { value: g, text: t(`ground_${g}`) })));
  if (keep.ground) ground.value = keep.ground;
  const groundField = field(t('ground'), ground, t('groundHelp'));
  groundField.classList.add('ground-field');
  const text = el('textarea', { name: 'text', rows: 4, maxlength: 20000 });
  text.value = keep.text || '';
  const msg = el('div', { id: 'post-msg', 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', text: t('send') });
  const update = () => {
    const a = mine.find((x) => x.name === aud.value);
    const others = a.readers.filter((r) => r.user !== session.profile.user);
    readers.textContent = t('readers', { list: others.length ? others.map((r) => `${r.name} (${r.role})`).join(', ') : t('nobody') });
    groundField.hidden = !a.ground_required;
    ground.required = a.ground_required;
    conf.draft = { audience: aud.value, ground: ground.value, text: text.value };
  };
  aud.addEventListener('change', update);
  ground.addEventListener('change', update);
  text.addEventListener('input', update);
  const audField = field(t('audience'), aud);
  audField.append(readers);
  aud.setAttribute('aria-describedby', 'readers');
  const form = el('form', { novalidate: true, 'aria-labelledby': 'post-h' },
    audField, groundField, field(t('noteText'), text), msg, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    const a = mine.find((x) => x.name === aud.value);
    if (!text.value.trim()) {
      msg.replaceChildren(alertBox(t('errEmpty')));
      text.focus();
      return;
    }
    if (a.ground_required && !ground.value) {
      ground.setAttribute('aria-invalid', 'true');
      msg.replaceChildren(alertBox(t('errGround')));
      ground.focus();
      return;
    }
    busy(form, true);
    confRun(async (c) => {
      try {
        const queued = await confPostOrQueue(c, aud.value, ground.value, text.value);
        conf.draft = { audience: aud.value };
        text.value = '';
        ground.value = '';
        msg.replaceChildren(el('p', { class: 'ok', role: 'status', text: t(queued ? 'queuedMsg' : 'sent') }));
        if (!queued) {
          await confSyncHistory(c);
          await off.saveCopy(c);
        }
      } catch (e) {
        if (e instanceof cw.CoreError && e.code === 'ground_required') {
          groundField.hidden = false;
          ground.required = true;
          msg.replaceChildren(alertBox(t('errGround')));
        } else msg.replaceChildren(alertBox(`${t('errSend')}: ${coreText(e)}`));
      } finally {
        busy(form, false);
        update();
        text.focus();
      }
    });
  });
  region.replaceChildren(form);
  update();
}

async function confScreen(hex, purpose) {
  if (!session) return;
  // one record per casus for the session: what the core verified and opened stays shown
  const conf = await confRecord(hex, purpose);
  session.conf = conf;
  conf.shownEpoch = -1;
  current = () => confScreen(hex, purpose);
  show(main,
    el('h1', { text: t('confTitle', { purpose }) }),
    el('p', {}, el('button', { type: 'button', class: 'secondary', id: 'back', text: t('back'), onclick: () => { session.conf = null; listScreen(); } })),
    el('p', { id: 'conf-level', class: 'policy', text: t('loading') }),
    el('div', { id: 'offline-banner', 'aria-live': 'polite' }),
    conf.diverged ? creg.rollbackBanner(t('rollbackConf')) : el('div', { id: 'rollback' }),
    el('div', { id: 'conf-msg', 'aria-live': 'assertive' }),
    el('section', { id: 'conf-warnings', class: 'warnings', 'aria-live': 'polite' }),
    el('section', { 'aria-labelledby': 'notes-h' },
      el('h2', { id: 'notes-h', text: t('notes') }),
      el('ol', { id: 'notes', class: 'notes', 'aria-live': 'polite', 'aria-relevant': 'additions' },
        conf.notes.length ? conf.notes.map(noteItem) : el('li', { id: 'notes-empty', class: 'empty', text: t('noNotes') })),
      el('div', { id: 'outbox-region', 'aria-live': 'polite' })),
    creg.section(),
    el('section', { 'aria-labelledby': 'post-h' },
      el('h2', { id: 'post-h', text: t('postTitle') }),
      el('div', { id: 'post-region' })),
    el('section', { 'aria-labelledby': 'members-h' },
      el('h2', { id: 'members-h', text: t('members') }),
      el('table', { id: 'members', class: 'members' })),
    el('section', { 'aria-labelledby': 'manage-h' },
      el('h2', { id: 'manage-h', text: t('manage') }),
      el('p', { class: 'help', text: t('manageIntro') }),
      el('div', { id: 'admin-msg', 'aria-live': 'polite' }),
      el('div', { id: 'admin-region' })));
  renderConfWarnings(conf);
  renderOffline();
  renderOutbox(conf);
  if (conf.state) renderConfState(conf); // the local copy, until the server is reached
  await confCatchUp();
}

function rightsOf() {
  return (session && session.policy && session.policy.rights) || {};
}

// what the screen modules borrow from here
const lent = {
  session: () => session,
  main: () => main,
  setCurrent: (f) => { current = f; },
  back: () => { if (session) { session.conf = null; listScreen(); } },
  coreText, errorText, timeText, confRun, confSyncChain, confSyncHistory, renderConfState, appendNote, confWarn, confPost,
  confPostNote, confRecord, refreshList, saveCopy: (c) => off.saveCopy(c),
};
creg.init(lent);
adm.init(lent);
audit.init(lent);
regie.init(lent);

function logout() {
  if (session) session.transport.stop();
  session = null;
  cw.close();
  setStatus('offline');
  loginScreen();
}

// ---- offline: the local copy, the outbox, the policy kept (docs/WEB.md "Offline") ----
// As the C client: the newest policy and revocation list are kept with the
// profile and offered to the core again (stored = 1) at every login, so a
// server can never make them go back; the local copy of each casus and the
// outbox are sealed in wasm (offline.js). Without casusd the page shows the
// copy, marked offline, and posts wait in the outbox; the transport keeps
// reconnecting with backoff and the outbox is sent once it is back.
function loadTrust(profile) {
  if (!(profile.policy instanceof Uint8Array)) return null;
  try {
    const policy = cw.policyCheck(profile.root, profile.policy, 0); // verified again against the root
    cw.corePolicyStored(profile.policy);
    if (profile.revlist instanceof Uint8Array) cw.coreRevlistStored(profile.revlist);
    return policy;
  } catch {
    return null; // a stored copy that does not verify is not used: the server's is checked as on a first login
  }
}

function keepTrust(profile, key, bytes) {
  profile[key] = bytes;
  return true;
}

function offlineState(s) {
  setStatus(s);
  if (session && s === 'reconnecting' && !session.offline) {
    session.offline = true;
    session.offlineSince = Date.now();
    renderOffline();
  }
}

function backOnline() {
  if (!session.offline) return;
  session.offline = false;
  renderOffline();
  outboxFlush();
}

function renderOffline() {
  const box = document.getElementById('offline-banner');
  if (!box || !session) return;
  if (!session.offline) {
    box.replaceChildren();
    return;
  }
  const saved = session.conf ? session.conf.saved : session.listSaved;
  box.replaceChildren(el('p', {
    class: 'offline', id: 'offline', role: 'status',
    text: saved ? t('offlineCopy', { time: timeText(saved) }) : t('offlineNoCopy'),
  }));
}

async function offlineList() {
  const r = await off.loadList();
  if (!r || !session) return false;
  session.list = r.list;
  session.listSaved = r.saved;
  renderOffline();
  renderList();
  return true;
}

// offline the epoch keys may be missing; a post to an audience this device
// is a recipient of is queued as sealed text and encrypted when back
function offlineWritable(a) {
  return session.offline && a.readers.some((r) => r.user === session.profile.user);
}

// one record per casus for the session, started from the local copy
async function confRecord(hex, purpose) {
  let conf = session.confs.get(hex);
  if (conf) return conf;
  conf = { hex, purpose, state: null, last: 0, notes: [], warnings: [], queue: Promise.resolve(), draft: null, commits: [], saved: 0, wantKeys: true, wantGrants: true };
  session.confs.set(hex, conf);
  conf.queue = conf.queue.then(async () => {
    // a copy made from another store, or beyond what the server holds: warned, kept (issue 16)
    if (await off.loadCopy(conf)) creg.check(conf, null);
  }).catch(() => false);
  await conf.queue;
  return conf;
}

// The C client's order: encrypted first (its message id fixed), stored
// sealed, then sent; removed when the server acknowledges it or answers
// "duplicate" (an earlier attempt arrived). After stale_epoch the history is
// searched for its id before it is encrypted again, for the new epoch and
// never for a device outside the recipients it was written for.
async function sendEntry(conf, e) {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!e.msg) {
      cw.casusOutboxCheck(conf.hex, e.audience, e.recipients);
      const { msg, info } = e.kind && e.kind !== 'note' && e.data
        ? cw.casusEncryptNote(conf.hex, e.audience, e.ground, e.kind, e.data)
        : cw.casusEncrypt(conf.hex, e.audience, e.ground, e.text);
      e.msg = b64encode(msg);
      e.id = info.id;
      if (!e.recipients) e.recipients = info.recipients;
      await off.saveEntry(e.name, e);
    }
    try {
      await session.transport.request('msg.post', { casus: conf.hex, msg: e.msg });
    } catch (err) {
      if (!(err instanceof ServerError && (err.code === 'duplicate' || err.code === 'stale_epoch'))) throw err;
      if (err.code === 'stale_epoch') {
        await confSyncChain(conf);
        renderConfState(conf);
        await confSyncHistory(conf);
        if (!conf.notes.some((n) => n.id === e.id)) {
          e.msg = null;
          e.id = null;
          continue;
        }
      }
    }
    await off.removeEntry(e.name);
    return;
  }
  throw new ServerError('stale_epoch', 'the membership keeps changing');
}

// A note sent now or not at all, never queued: the close form's reason must be
// on the server before casus.close (conf_admin.js). Refused or unsent: the
// sealed entry is removed and the caller shows why.
async function confPost(conf, audience, ground, text) {
  if (session.offline) throw new NetworkError('offline');
  const e = await off.queuePost(conf, audience, ground, text, null);
  try {
    await sendEntry(conf, e);
  } catch (err) {
    await off.removeEntry(e.name);
    throw err;
  }
}

// An agenda entry or an agreed action (made in wasm, conf_regie.js), sent now
// or not at all: its disclosure to the server follows it.
async function confPostNote(conf, audience, ground, made) {
  if (session.offline) throw new NetworkError('offline');
  const e = await off.queuePost(conf, audience, ground, made.text, null, made.kind, made.data);
  try {
    await sendEntry(conf, e);
  } catch (err) {
    await off.removeEntry(e.name);
    throw err;
  }
}

// true: queued (offline), false: sent
async function confPostOrQueue(conf, audience, ground, text) {
  let recipients = null;
  try {
    recipients = cw.casusRecipients(conf.hex, audience);
  } catch {
    /* not known yet: decided when it is encrypted */
  }
  const e = await off.queuePost(conf, audience, ground, text, recipients);
  if (!session.offline) {
    try {
      await sendEntry(conf, e);
      return false;
    } catch (err) {
      if (!(err instanceof NetworkError)) {
        await off.removeEntry(e.name); // refused now: the user sees why and decides again
        throw err;
      }
    }
  }
  session.outbox.push(e);
  renderOutbox(conf);
  return true;
}

let flushing = null;
function outboxFlush() {
  if (!session || flushing) return flushing;
  const s = session;
  flushing = (async () => {
    for (const e of [...s.outbox]) {
      if (e.failed || session !== s || s.offline) continue;
      const conf = await confRecord(e.casus, e.purpose || e.casus.slice(0, 8));
      let done = false;
      conf.queue = conf.queue.then(async () => {
        try {
          await confSyncChain(conf); // the verified chain and this epoch's keys first
          if (session.conf === conf) renderConfState(conf);
          await sendEntry(conf, e);
          done = true;
          await confSyncHistory(conf);
          await off.saveCopy(conf);
        } catch (err) {
          if (err instanceof NetworkError) return;
          e.failed = err instanceof cw.CoreError || err instanceof ServerError ? err.code : String(err.message || err);
          await off.saveEntry(e.name, e);
          confWarn(conf, [{ code: 'outbox', message: t('outboxFailed', { code: e.failed }) }]);
        }
      });
      await conf.queue;
      if (done) s.outbox = s.outbox.filter((x) => x !== e);
      renderOutbox(conf);
    }
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

function renderOutbox(conf) {
  const region = document.getElementById('outbox-region');
  if (!region || !session || session.conf !== conf) return;
  const mine = session.outbox.filter((e) => e.casus === conf.hex);
  region.replaceChildren(...(mine.length ? [
    el('h3', { id: 'outbox-h', text: t('outboxTitle') }),
    el('ol', { id: 'outbox', class: 'notes', 'aria-labelledby': 'outbox-h' }, mine.map((e) =>
      el('li', { class: 'note queued', 'data-queued': '1', 'data-failed': e.failed ? '1' : '0' },
        el('p', { class: 'meta' },
          el('span', { class: 'audience', text: t('toAudience', { audience: e.audience }) }), ' · ',
          el('span', { class: 'verif no', text: e.failed ? t('outboxFailed', { code: e.failed }) : t('outboxQueued') })),
        el('p', { class: 'text', text: e.text })))),
  ] : []));
}

// The service worker (sw.js) keeps this page's own files for a reload while
// casusd cannot be reached. The CSP requires Trusted Types: the one URL it
// may register goes through a policy that allows only it.
function keepFilesOffline() {
  if (!('serviceWorker' in navigator)) return;
  let url = 'sw.js';
  if (window.trustedTypes) url = window.trustedTypes.createPolicy('casus-sw', {
    createScriptURL: (u) => {
      if (u !== 'sw.js') throw new Error('only sw.js');
      return u;
    },
  }).createScriptURL('sw.js');
  // without it the page works online as before; a reload offline then cannot open it
  navigator.serviceWorker.register(url, { scope: './' }).catch((e) => console.warn(`service worker: ${e.message}`));
}

// ---- start -----------------------------------------------------------------------
async function boot() {
  setLang(getLang());
  renderChrome();
  try {
    await cw.loadWasm();
  } catch (e) {
    show(main, el('h1', { text: 'casus' }), alertBox(`wasm: ${errorText(e)}`));
    return;
  }
  keepFilesOffline();
  const p = await loadProfile();
  if (!p) enrolScreen();
  else if (!p.certified) installScreen();
  else loginScreen();
  document.body.dataset.ready = '1';
}

boot();
