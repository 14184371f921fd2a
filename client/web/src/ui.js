// ui.js: building the DOM without HTML strings (no innerHTML anywhere, so
// text from the server or a peer can never become markup; the CSP also asks
// for Trusted Types).
let uid = 0;

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// A labelled input with optional help text wired to aria-describedby.
export function field(label, input, help) {
  const id = `f${++uid}`;
  input.id = id;
  const kids = [el('label', { for: id, text: label }), input];
  if (help) {
    const hid = `${id}-help`;
    input.setAttribute('aria-describedby', hid);
    kids.push(el('p', { class: 'help', id: hid, text: help }));
  }
  return el('div', { class: 'field' }, kids);
}

// Replaces the main region and moves focus to its heading, so keyboard and
// screen-reader users land on the new screen.
export function show(main, ...children) {
  main.replaceChildren(...children);
  const h = main.querySelector('h1');
  if (h) {
    h.setAttribute('tabindex', '-1');
    h.focus();
  }
}

export function alertBox(text) {
  return el('p', { class: 'alert', role: 'alert', text });
}

export function download(bytes, filename) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
