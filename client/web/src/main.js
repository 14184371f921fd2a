// main.js: the casus web client's screens (enrolment, certificate, login,
// casus list) on top of the wasm crypto, the WebSocket transport and the
// IndexedDB storage. The screens decide nothing about trust: they show what
// wasm verified, and the server's word only where it is labelled as such.
import * as cw from './wasm.js';
import { Transport, NetworkError, ServerError, b64decode, b64encode } from './transport.js';
import { loadProfile, saveProfile, forgetProfile } from './storage.js';
import { t, getLang, setLang } from './i18n.js';
import { el, field, show, alertBox, download } from './ui.js';

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
  for (const b of form.querySelectorAll('button, input')) b.disabled = on;
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
  show(main, el('h1', { text: t('enrolTitle') }), el('p', { text: t('enrolIntro') }), form);
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
      await forgetProfile();
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
  const pol = await tr.request('policy.get');
  let policy;
  try {
    policy = cw.policyCheck(profile.root, b64decode(pol.policy), profile.policyNumber || 0);
  } catch (e) {
    throw new Error(`${t('errPolicy')}: ${errorText(e)}`);
  }
  if (policy.number > (profile.policyNumber || 0)) {
    profile.policyNumber = policy.number;
    await saveProfile(profile);
  }
  return { auth, policy };
}

async function login(profile, passphrase) {
  cw.open(profile.keystore, passphrase);
  const url = `wss://${location.host}/`;
  const transport = new Transport(url, {
    onState: (s) => setStatus(s),
    onOpen: async (tr) => {
      const r = await authenticate(tr, profile);
      if (session) {
        session.auth = r.auth;
        session.policy = r.policy;
        if (current === listScreen) refreshList();
      }
      return r;
    },
    onPush: (m) => {
      if ((m.push === 'notice' || m.push === 'commit' || m.push === 'msg') && current === listScreen) refreshList();
    },
  });
  session = { transport, profile, policy: null, auth: null, list: null };
  await transport.start();
}

// ---- casus list --------------------------------------------------------------
async function refreshList() {
  if (!session) return;
  try {
    session.list = await session.transport.request('casus.list');
    renderList();
  } catch (e) {
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
  return JSON.stringify(n);
}

function renderList() {
  const region = document.getElementById('list-region');
  if (!region || !session || !session.list) return;
  const rows = Array.isArray(session.list.casus) ? session.list.casus : [];
  const notices = Array.isArray(session.list.notices) ? session.list.notices : [];
  const kids = [];
  if (notices.length) {
    kids.push(el('section', { 'aria-labelledby': 'notices-h', class: 'notices' },
      el('h2', { id: 'notices-h', text: t('notices') }),
      el('ul', {}, notices.map((n) => el('li', { class: 'notice', text: noticeText(n) })))));
  }
  if (!rows.length) kids.push(el('p', { class: 'empty', text: t('none') }));
  else {
    kids.push(el('table', { class: 'casus' },
      el('caption', { class: 'visually-hidden', text: t('listTitle') }),
      el('thead', {}, el('tr', {}, ['colPurpose', 'colBasis', 'colLevel', 'colUnread', 'colMembers', 'colState']
        .map((k) => el('th', { scope: 'col', text: t(k) })))),
      el('tbody', {}, rows.map((c) => el('tr', { 'data-casus': String(c.casus) },
        el('th', { scope: 'row', text: String(c.purpose ?? '') }),
        el('td', { text: String(c.basis ?? '') }),
        el('td', { class: 'level', text: `${c.level} ${levelName(c.level)}` }),
        el('td', { class: 'unread', text: String(c.unread ?? 0) }),
        el('td', { text: String(c.members ?? '') }),
        el('td', { text: c.closed_at ? t('closed') : t('open') }))))));
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
    el('div', { id: 'list-msg', 'aria-live': 'polite' }),
    el('div', { id: 'list-region', 'aria-live': 'polite' }),
    el('p', { class: 'actions' },
      el('button', { type: 'button', id: 'refresh', text: t('refresh'), onclick: refreshList }),
      ' ',
      el('button', { type: 'button', class: 'secondary', id: 'logout', text: t('logout'), onclick: logout })));
  if (session.list) renderList();
  await refreshList();
}

function logout() {
  if (session) session.transport.stop();
  session = null;
  cw.close();
  setStatus('offline');
  loginScreen();
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
  const p = await loadProfile();
  if (!p) enrolScreen();
  else if (!p.certified) installScreen();
  else loginScreen();
  document.body.dataset.ready = '1';
}

boot();
