// The frontend's flow in a real browser (tests/integration/browser.rs runs it).
//
//   node flow.mjs OUT.json '{"targets": [{"name": "django", "api": "http://127.0.0.1:8001", "ledgers": true}, …]}'
//
// For each target, in a fresh browser context of one headless Chromium
// (the system's /usr/bin/chromium, or $CHROMIUM; never a downloaded one):
//
// - a counting proxy on 127.0.0.1 (a free port) stands for the API: it
//   forwards every byte both ways to the target and reads the request heads
//   on the way, so it knows every request the server saw, preflights
//   (OPTIONS with Access-Control-Request-Method) included;
// - the page is served from another origin, http://127.0.0.2:PORT (a static
//   server of this script), and runs the frontend's requests with fetch();
// - each step's observation: resolved or blocked (fetch's TypeError), the
//   status, the body text, the headers JS can see (iterating
//   response.headers), and the requests the server saw meanwhile (method
//   and path) with the number of preflights among them.
//
// It writes one JSON object, {"<name>": [observation, …], …}, to OUT.json
// (the page's own origin written as "PAGE": its port changes from run to
// run); progress and errors go to stderr. A missing Chromium or playwright-core is an
// error (exit 1), never a skip.

import http from 'node:http';
import net from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PAGE_HOST = '127.0.0.2';
const PASSWORD = 'Passw0rd!';
const EMAIL = 'browser@example.com';
const STEP_TIMEOUT_MS = 30_000;

function fail(message) {
  process.stderr.write(`flow.mjs: ${message}\n`);
  process.exit(1);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  fail(`playwright-core is not installed (run \`npm ci\` in tests/browser): ${e.message}`);
}
if (!existsSync(CHROMIUM)) {
  fail(`no Chromium at ${CHROMIUM} (Debian's chromium package; scripts/services.sh installs it)`);
}

// --- the counting proxy -----------------------------------------------------

// Reads HTTP/1.1 request heads out of one connection's client-to-server
// bytes: after each head it skips the body (Content-Length; a browser's
// fetch with a string body never sends chunked).
class RequestReader {
  constructor(onRequest) {
    this.buf = Buffer.alloc(0);
    this.skip = 0;
    this.onRequest = onRequest;
  }

  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        this.buf = this.buf.subarray(n);
        this.skip -= n;
        if (this.skip > 0) return;
      }
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
      const [requestLine, ...fields] = head.split('\r\n');
      const [method, target] = requestLine.split(' ');
      const headers = {};
      for (const f of fields) {
        const i = f.indexOf(':');
        if (i > 0) headers[f.slice(0, i).trim().toLowerCase()] = f.slice(i + 1).trim();
      }
      if (headers['transfer-encoding']) {
        throw new Error(`a chunked request (${method} ${target}): the proxy cannot count past it`);
      }
      this.skip = Number(headers['content-length'] || 0);
      this.onRequest({ method, target, headers });
    }
  }
}

function startProxy(upstream) {
  const url = new URL(upstream);
  const seen = [];
  const server = net.createServer((client) => {
    const reader = new RequestReader((req) => seen.push(req));
    const up = net.connect(Number(url.port), url.hostname);
    client.on('data', (chunk) => {
      try {
        reader.push(chunk);
      } catch (e) {
        process.stderr.write(`flow.mjs: proxy: ${e.message}\n`);
        seen.push({ method: 'UNPARSEABLE', target: '', headers: {} });
      }
      up.write(chunk);
    });
    up.on('data', (chunk) => client.write(chunk));
    client.on('end', () => up.end());
    up.on('end', () => client.end());
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, seen, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

// --- the page and its origin ------------------------------------------------

// The page's own script: `observe` runs one request the way the frontend
// does and describes what JS could see of it; `observeInFrame` runs it in
// a sandboxed srcdoc iframe (an opaque origin: the browser sends
// `Origin: null`) and gets the description back by postMessage.
const PAGE_SCRIPT = `
async function observe(req) {
  const init = { method: req.method, headers: req.headers || {}, mode: 'cors' };
  if (req.body !== undefined) init.body = req.body;
  if (req.credentials) init.credentials = req.credentials;
  try {
    const r = await fetch(req.url, init);
    const body = await r.text();
    const headers = [];
    for (const [name, value] of r.headers) headers.push([name, value]);
    return { outcome: 'resolved', status: r.status, body, headers, type: r.type };
  } catch (e) {
    return { outcome: 'blocked', error: e.name };
  }
}
function observeInFrame(req) {
  return new Promise((resolve) => {
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', 'allow-scripts');
    const id = Math.random().toString(36).slice(2);
    window.addEventListener('message', function onMessage(ev) {
      if (!ev.data || ev.data.id !== id) return;
      window.removeEventListener('message', onMessage);
      frame.remove();
      resolve(ev.data.observation);
    });
    frame.srcdoc = '<script>' + observe.toString() +
      ';observe(' + JSON.stringify(req) + ').then((o) => parent.postMessage({ id: ' + JSON.stringify(id) +
      ', observation: Object.assign({ origin: String(self.origin) }, o) }, "*"));<\\/script>';
    document.body.appendChild(frame);
  });
}
`;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>ledger frontend</title>
<link rel="icon" href="data:,">
<script>${PAGE_SCRIPT}</script></head>
<body><h1>ledger frontend</h1></body></html>`;

function startPageServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(PAGE);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, PAGE_HOST, () => resolve({ server, origin: `http://${PAGE_HOST}:${server.address().port}` }));
  });
}

// --- the flow ---------------------------------------------------------------

const json = (o) => JSON.stringify(o);
const JSON_TYPE = { 'Content-Type': 'application/json' };
const creds = json({ email: EMAIL, password: PASSWORD });

function tokenOf(observation) {
  try {
    return JSON.parse(observation.body).access_token;
  } catch {
    return undefined;
  }
}

// A token with a valid header and claims but a signature no key made.
const FORGED = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.c2lnbmVkIGJ5IG5vYm9keSBhdCBhbGwgaGVyZQ';

// Each step: a name, and the request it makes (a function of the state so
// far: the tokens of earlier logins), optionally in the Origin-null frame.
// `keep` names the state a successful answer's token is kept under.
function steps(withLedgers) {
  const list = [
    // the signup form posts JSON: a preflight (application/json is not a simple type)
    { name: 'signup', req: () => ({ path: '/users/signup', method: 'POST', headers: JSON_TYPE, body: creds }) },
    // the same again: EMAIL_ALREADY_EXISTS; the preflight is cached (Access-Control-Max-Age)
    { name: 'signup again', req: () => ({ path: '/users/signup', method: 'POST', headers: JSON_TYPE, body: creds }) },
    // a login as a simple request (text/plain body): no preflight
    { name: 'login', keep: 'a', req: () => ({ path: '/users/login', method: 'POST', body: creds }) },
    { name: 'login, wrong password', req: () => ({ path: '/users/login', method: 'POST', body: json({ email: EMAIL, password: 'Wrong0pass!' }) }) },
    // Authorization is not safelisted: a preflight
    { name: 'logout', req: (s) => ({ path: '/users/logout', method: 'POST', headers: { Authorization: s.a } }) },
    { name: 'second logout', req: (s) => ({ path: '/users/logout', method: 'POST', headers: { Authorization: s.a } }) },
    { name: 'login 1 of 2', keep: 'b', req: () => ({ path: '/users/login', method: 'POST', headers: JSON_TYPE, body: creds }) },
    { name: 'login 2 of 2', keep: 'c', req: () => ({ path: '/users/login', method: 'POST', headers: JSON_TYPE, body: creds }) },
    { name: 'logout after two logins', req: (s) => ({ path: '/users/logout', method: 'POST', headers: { Authorization: s.c } }) },
    { name: 'logout of the other login', req: (s) => ({ path: '/users/logout', method: 'POST', headers: { Authorization: s.b } }) },
    { name: 'logout, garbage token', req: () => ({ path: '/users/logout', method: 'POST', headers: { Authorization: 'not-a-token' } }) },
    { name: 'logout, forged token', req: () => ({ path: '/users/logout', method: 'POST', headers: { Authorization: FORGED } }) },
    { name: 'logout, no token', req: () => ({ path: '/users/logout', method: 'POST' }) },
    // credentials: 'include' needs the exact origin and Allow-Credentials; a new preflight (another credentials mode)
    { name: 'login, credentials include', keep: 'd', req: () => ({ path: '/users/login', method: 'POST', headers: JSON_TYPE, body: creds, credentials: 'include' }) },
    { name: 'logout, credentials include', req: (s) => ({ path: '/users/logout', method: 'POST', headers: { Authorization: s.d }, credentials: 'include' }) },
    // other methods on the users routes
    { name: 'PUT signup', req: () => ({ path: '/users/signup', method: 'PUT', headers: JSON_TYPE, body: creds }) },
    { name: 'DELETE logout', req: (s) => ({ path: '/users/logout', method: 'DELETE', headers: { Authorization: s.d } }) },
    { name: 'PATCH login', req: () => ({ path: '/users/login', method: 'PATCH', headers: JSON_TYPE, body: creds }) },
    { name: 'GET login', req: () => ({ path: '/users/login', method: 'GET' }) },
    { name: 'GET unknown path', req: () => ({ path: '/users/unknown', method: 'GET' }) },
    // a header the CORS policy does not allow: the preflight's answer refuses it, fetch rejects
    { name: 'login, refused header', req: () => ({ path: '/users/login', method: 'POST', headers: { ...JSON_TYPE, 'X-Evil': '1' }, body: creds }) },
    // an opaque origin (a sandboxed srcdoc frame): Origin: null
    { name: 'null origin: login', frame: true, keep: 'e', req: () => ({ path: '/users/login', method: 'POST', headers: JSON_TYPE, body: creds }) },
    { name: 'null origin: logout', frame: true, req: (s) => ({ path: '/users/logout', method: 'POST', headers: { Authorization: s.e } }) },
    { name: 'null origin: simple login', frame: true, req: () => ({ path: '/users/login', method: 'POST', body: creds }) },
  ];
  if (withLedgers) {
    // Django's /ledgers (through the front door: forwarded), with a fresh login's token
    list.push(
      { name: 'ledgers: login', keep: 'f', req: () => ({ path: '/users/login', method: 'POST', body: creds }) },
      { name: 'ledgers: create', req: (s) => ({ path: '/ledgers', method: 'POST', headers: { Authorization: s.f, ...JSON_TYPE }, body: json({ amount: 1200, memo: '커피' }) }) },
      { name: 'ledgers: list', req: (s) => ({ path: '/ledgers', method: 'GET', headers: { Authorization: s.f } }) },
      { name: 'ledgers: edit', req: (s) => ({ path: '/ledgers/1', method: 'PATCH', headers: { Authorization: s.f, ...JSON_TYPE }, body: json({ memo: 'tea' }) }) },
      { name: 'ledgers: delete', req: (s) => ({ path: '/ledgers/1', method: 'DELETE', headers: { Authorization: s.f } }) },
      { name: 'ledgers: bad token', req: () => ({ path: '/ledgers', method: 'GET', headers: { Authorization: FORGED } }) },
    );
  }
  return list;
}

// A step that does not settle (an iframe that never reports back, a server
// that never answers) fails the run, naming the step.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no observation within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runTarget(browser, pageOrigin, target) {
  const proxy = await startProxy(target.api);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => process.stderr.write(`flow.mjs: page error: ${e.message}\n`));
    await page.goto(`${pageOrigin}/`);
    const state = {};
    const observations = [];
    for (const step of steps(target.ledgers)) {
      const { path, ...rest } = step.req(state);
      const req = { url: proxy.origin + path, ...rest };
      const before = proxy.seen.length;
      const o = await withTimeout(
        page.evaluate(([r, inFrame]) => (inFrame ? observeInFrame(r) : observe(r)), [req, Boolean(step.frame)]),
        STEP_TIMEOUT_MS,
        `${target.name}: step ${JSON.stringify(step.name)} (${req.method} ${path})`,
      );
      // the proxy reads a request head before it forwards it, and fetch settles only after the answer
      const seen = proxy.seen.slice(before);
      const observation = {
        step: step.name,
        request: `${req.method} ${path}`,
        ...o,
        preflights: seen.filter((r) => r.method === 'OPTIONS' && r.headers['access-control-request-method']).length,
        server_saw: seen.map((r) => `${r.method} ${r.target}`),
        origins_sent: [...new Set(seen.map((r) => (r.headers.origin === pageOrigin ? 'PAGE' : r.headers.origin ?? '(none)')))],
      };
      if (step.keep && o.outcome === 'resolved' && o.status === 200) state[step.keep] = tokenOf(o);
      observations.push(observation);
    }
    return observations;
  } finally {
    await context.close();
    proxy.server.close();
  }
}

async function main() {
  const [outPath, configText] = process.argv.slice(2);
  const config = JSON.parse(configText || '{}');
  if (!outPath || !Array.isArray(config.targets) || config.targets.length === 0) {
    fail('usage: node flow.mjs OUT.json \'{"targets": [{"name": …, "api": "http://HOST:PORT", "ledgers": false}]}\'');
  }
  const pageServer = await startPageServer();
  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000 });
  } catch (e) {
    fail(`cannot start ${CHROMIUM}: ${e.message}`);
  }
  const out = {};
  try {
    for (const target of config.targets) {
      const started = Date.now();
      out[target.name] = await runTarget(browser, pageServer.origin, target);
      process.stderr.write(`flow.mjs: ${target.name}: ${out[target.name].length} steps in ${Date.now() - started} ms\n`);
    }
  } finally {
    await browser.close();
    pageServer.server.close();
  }
  writeFileSync(outPath, `${JSON.stringify(out, null, 1)}\n`);
}

main().catch((e) => fail(e.stack || String(e)));
