// build-site.mjs: assembles the web client's install folder.
//
//   node build-site.mjs --src client/web --gen GEN --out SITE --esbuild PATH
//
// GEN holds casus-wasm.mjs/.wasm (emcc). The bundle app.js is made with
// esbuild from src/main.js with the wasm's SHA-384 (Subresource Integrity)
// compiled in; index.html gets the SRI of app.js and style.css. Then
// SITE/web-digest.txt lists the SHA-256 of every served file (sha256sum
// format, so `sha256sum -c web-digest.txt` checks a folder or a download),
// and the bundle digest, the SHA-256 of web-digest.txt itself, is printed and
// written to SITE/../web-digest (beside the install folder, for the release
// notes). Output is deterministic for the same inputs.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['src', 'gen', 'out', 'esbuild'])
  if (!args[k]) {
    console.error(`build-site: --${k} is missing`);
    process.exit(2);
  }
const { build } = await import(resolve(args.esbuild));
const out = resolve(args.out);
const sri = (buf) => `sha384-${createHash('sha384').update(buf).digest('base64')}`;
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(join(args.gen, 'casus-wasm.wasm'), join(out, 'casus-wasm.wasm'));
const wasmSri = sri(readFileSync(join(out, 'casus-wasm.wasm')));

await build({
  entryPoints: [join(args.src, 'src', 'main.js')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  minify: false,
  legalComments: 'none',
  outfile: join(out, 'app.js'),
  alias: { 'casus-wasm-gen': resolve(args.gen, 'casus-wasm.mjs') },
  define: { CASUS_WASM_SRI: JSON.stringify(wasmSri) },
  logLevel: 'warning',
});
copyFileSync(join(args.src, 'static', 'style.css'), join(out, 'style.css'));

const assets = ['app.js', 'style.css', 'casus-wasm.wasm'];
const buildId = sha256(assets.map((f) => `${sha256(readFileSync(join(out, f)))}  ${f}\n`).join('')).slice(0, 16);
let html = readFileSync(join(args.src, 'static', 'index.html'), 'utf8');
html = html.replace(/@SRI:([a-z.-]+)@/g, (_, f) => sri(readFileSync(join(out, f)))).replace('@BUILD@', buildId);
if (/@[A-Z]+[:@]/.test(html)) throw new Error('index.html: placeholder left');
writeFileSync(join(out, 'index.html'), html);
// the service worker that keeps these files for a reload while offline (docs/WEB.md "Offline")
writeFileSync(join(out, 'sw.js'), readFileSync(join(args.src, 'static', 'sw.js'), 'utf8').replace('@BUILD@', buildId));

const files = readdirSync(out).filter((f) => f !== 'web-digest.txt').sort();
const manifest = files.map((f) => `${sha256(readFileSync(join(out, f)))}  ${f}\n`).join('');
writeFileSync(join(out, 'web-digest.txt'), manifest);
const digest = sha256(manifest);
writeFileSync(join(dirname(out), 'web-digest'), `${digest}  web-digest.txt\n`);
console.log(`casus web: ${files.length} files, build ${buildId}, bundle digest ${digest}`);
