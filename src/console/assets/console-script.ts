/**
 * The console's script, served as /console/console.js (an ES module, same origin, so `script-src 'self'`
 * allows it). Kept here as a string so that it ships inside dist/ with the compiled service; it holds
 * no backtick and no dollar-brace, so String.raw keeps it byte for byte. console-script.spec.ts parses it.
 */
// prettier-ignore
export const CONSOLE_SCRIPT = String.raw`// creditgate compliance console. Vanilla JS, no dependencies: the authorization code flow with PKCE
// (WebCrypto), then the audit:read API. The access token lives in sessionStorage, gone with the tab.
const meta = (name) => document.querySelector('meta[name="' + name + '"]').getAttribute('content');
const CLIENT_ID = meta('creditgate-console-client-id');
const REDIRECT_URI = meta('creditgate-console-redirect-uri');
const TOKEN_KEY = 'creditgate.console.token';
const PKCE_KEY = 'creditgate.console.pkce';

const $ = (id) => document.getElementById(id);

function el(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of [].concat(children || [])) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function status(message, kind) {
  const node = $('status');
  node.textContent = message || '';
  node.className = 'status' + (kind ? ' ' + kind : '');
}

function base64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function signIn() {
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const url = new URL('/oauth/authorize', location.origin);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'audit:read',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** Back from the authorization server: check the state, redeem the code with the PKCE verifier. */
async function completeSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null');
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, '', '/console' + location.hash);
  if (params.get('error')) throw new Error(params.get('error_description') || params.get('error'));
  if (!saved || params.get('state') !== saved.state) throw new Error('This sign-in response does not match a sign-in started here.');
  const response = await fetch('/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: REDIRECT_URI,
      client_id: CLIENT_ID,
      code_verifier: saved.verifier,
    }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error_description || body.error || 'The token request failed.');
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 }));
}

function token() {
  const saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null');
  return saved && saved.expiresAt > Date.now() + 5000 ? saved.token : null;
}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
    this.status = status;
  }
}

async function api(path, options) {
  const response = await fetch(path, {
    ...(options || {}),
    headers: { authorization: 'Bearer ' + token(), accept: 'application/json' },
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    render();
    throw new ApiError(401, { detail: 'Your session ended. Sign in again.' });
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const money = (minor, currency) => {
  const value = BigInt(minor);
  const negative = value < 0n;
  const absolute = negative ? -value : value;
  const whole = (absolute / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (absolute % 100n).toString().padStart(2, '0');
  return (negative ? '-' : '') + whole + '.' + cents + (currency ? ' ' + currency : '');
};
const time = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '');
const short = (hash) => (hash ? hash.slice(0, 12) + '…' : '');
const localToIso = (value) => (value ? new Date(value).toISOString() : undefined);

function table(caption, headers, rows) {
  return el('table', {}, [
    el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, headers.map((header) => el('th', { scope: 'col', text: header })))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell) => el('td', {}, cell))))),
  ]);
}

// ---- Overview ---------------------------------------------------------------------------------

async function showOverview() {
  const [trial, checkpoints, verifications] = await Promise.all([
    api('/v1/ledger/trial-balance'),
    api('/v1/ledger/checkpoints?limit=1'),
    api('/v1/audit/events?action=ledger.verification.run&limit=1'),
  ]);
  $('trial-balance').replaceChildren(
    table(
      trial.balanced ? 'Debits equal credits in every currency' : 'NOT BALANCED',
      ['Currency', 'Accounts', 'Debits posted', 'Credits posted', 'Debits pending', 'Credits pending', 'Balanced'],
      trial.data.map((row) => [
        row.currency,
        String(row.accounts),
        money(row.debitsPosted),
        money(row.creditsPosted),
        money(row.debitsPending),
        money(row.creditsPending),
        row.balanced ? 'yes' : 'NO',
      ]),
    ),
  );
  const checkpoint = checkpoints.data[0];
  $('checkpoint').replaceChildren(
    checkpoint
      ? el('dl', {}, [
          el('dt', { text: 'Number' }), el('dd', { text: checkpoint.number }),
          el('dt', { text: 'Made' }), el('dd', { text: time(checkpoint.createdAt) }),
          el('dt', { text: 'Accounts, entries' }), el('dd', { text: checkpoint.accountCount + ', ' + checkpoint.entryCount }),
          el('dt', { text: 'Merkle root' }), el('dd', {}, el('code', { text: checkpoint.merkleRoot })),
        ])
      : el('p', { text: 'No checkpoint yet.' }),
  );
  const last = verifications.data[0];
  $('last-verification').replaceChildren(
    last
      ? el('p', {}, [
          'Last verification ',
          el('strong', { text: last.outcome === 'success' ? 'passed' : 'FAILED' }),
          ' at ' + time(last.occurredAt) + ': ' + (last.details ? last.details.entriesChecked + ' entries, ' + last.details.problemCount + ' problems.' : ''),
        ])
      : el('p', { text: 'The ledger has not been verified yet.' }),
  );
}

function renderLedgerReport(report) {
  const head = el('p', { class: report.ok ? 'ok' : 'bad', id: 'verification-outcome' }, [
    el('strong', { text: report.ok ? 'The ledger verifies.' : 'The ledger does NOT verify.' }),
    ' ' + report.entriesChecked + ' entries, ' + report.transfersChecked + ' transfers, ' + report.checkpointsChecked +
      ' checkpoints checked in ' + report.durationMs + ' ms; ' + report.problemCount + ' problems.',
  ]);
  const broken = report.firstBrokenEntryByAccount.length === 0
    ? null
    : table(
        'First broken entry of each account',
        ['Account', 'Entry seq', 'Reason', 'Detail', 'Later broken entries'],
        report.firstBrokenEntryByAccount.map((row) => [
          el('span', {}, [row.accountCode, el('br'), el('code', { class: 'id', text: row.accountId })]),
          row.seq,
          row.reason,
          row.detail,
          String(row.laterBrokenEntries),
        ]),
      );
  const problems = report.problems.length === 0
    ? null
    : table('Problems', ['Kind', 'Where', 'Detail'], report.problems.map((problem) => [
        problem.kind,
        [problem.accountId && 'account ' + problem.accountId, problem.seq && 'seq ' + problem.seq, problem.transferId && 'transfer ' + problem.transferId,
          problem.checkpointNumber && 'checkpoint ' + problem.checkpointNumber, problem.currency].filter(Boolean).join(', '),
        problem.detail,
      ]));
  $('verification-report').replaceChildren(...[head, broken, problems].filter(Boolean));
}

async function runVerification() {
  const button = $('run-verification');
  button.disabled = true;
  status('Verifying the whole ledger…');
  try {
    const report = await api('/v1/ledger/verifications', { method: 'POST' });
    renderLedgerReport(report);
    status(report.ok ? 'Verification finished: no problems.' : 'Verification finished: problems found.', report.ok ? 'ok' : 'bad');
    await showOverview();
  } finally {
    button.disabled = false;
  }
}

async function runAuditVerification() {
  status('Verifying the audit chain…');
  const report = await api('/v1/audit/verifications', { method: 'POST' });
  const broken = report.firstBrokenEvent;
  $('verification-report').replaceChildren(
    el('p', { class: report.ok ? 'ok' : 'bad' }, [
      el('strong', { text: report.ok ? 'The audit chain verifies.' : 'The audit chain is BROKEN.' }),
      ' ' + report.eventsChecked + ' sealed events checked (head seq ' + (report.headSeq || '-') + '); ' +
        report.sealing.unsealedEvents + ' not sealed yet (lag ' + report.sealing.lagSeconds.toFixed(1) + ' s).',
      broken ? ' First broken event: seq ' + broken.seq + ' (' + broken.kind + '), id ' + broken.eventId + '.' : '',
    ]),
  );
  status('Audit chain verification finished.', report.ok ? 'ok' : 'bad');
}

// ---- Journal ----------------------------------------------------------------------------------

async function searchJournal(cursor) {
  const form = new FormData($('journal-form'));
  const query = new URLSearchParams({ limit: '50' });
  for (const name of ['accountId', 'status']) if (form.get(name)) query.set(name, String(form.get(name)).trim());
  for (const name of ['from', 'to']) if (form.get(name)) query.set(name, localToIso(form.get(name)));
  if (cursor) query.set('cursor', cursor);
  const page = await api('/v1/ledger/transfers?' + query);
  const rows = page.data.map((transfer) => [
    el('button', { type: 'button', class: 'link', text: transfer.id, onclick: () => openTransfer(transfer.id).catch(fail) }),
    time(transfer.createdAt),
    transfer.kind,
    transfer.status,
    transfer.code,
    money(transfer.amountMinor, transfer.currency),
  ]);
  const results = $('journal-results');
  const more = page.nextCursor
    ? el('button', { type: 'button', class: 'quiet', text: 'More', onclick: () => searchJournal(page.nextCursor).catch(fail) })
    : null;
  results.replaceChildren(
    table(page.data.length + ' transfers, newest first', ['Transfer', 'Created', 'Kind', 'Status', 'Code', 'Amount'], rows),
    ...(more ? [more] : []),
  );
  status(page.data.length === 0 ? 'No transfers match.' : '');
}

async function openTransfer(id) {
  const transfer = await api('/v1/compliance/transfers/' + encodeURIComponent(id));
  const detail = $('transfer-detail');
  detail.replaceChildren(
    el('h3', { text: 'Transfer ' + transfer.id }),
    el('dl', {}, [
      el('dt', { text: 'Amount' }), el('dd', { text: money(transfer.amountMinor, transfer.currency) }),
      el('dt', { text: 'Kind, status' }), el('dd', { text: transfer.kind + ', ' + transfer.status }),
      el('dt', { text: 'Debit account' }), el('dd', {}, el('code', { text: transfer.debitAccountId })),
      el('dt', { text: 'Credit account' }), el('dd', {}, el('code', { text: transfer.creditAccountId })),
      el('dt', { text: 'Digest' }), el('dd', {}, el('code', { text: transfer.digest })),
    ]),
    table('Its entries and their hashes', ['Side', 'Account', 'Seq', 'Posted Δ', 'Pending Δ', 'Prev hash', 'Hash'], transfer.entries.map((entry) => [
      entry.side,
      el('code', { text: entry.accountId }),
      entry.seq,
      money(entry.postedDelta),
      money(entry.pendingDelta),
      el('code', { title: entry.prevHash, text: short(entry.prevHash) }),
      el('code', { title: entry.hash, text: short(entry.hash) }),
    ])),
  );
  detail.focus();
}

// ---- Balance over time (an SVG drawn here) ------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attributes, children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
  for (const child of [].concat(children || [])) node.append(child);
  return node;
}

async function drawBalance() {
  const form = new FormData($('balance-form'));
  const accountId = String(form.get('accountId')).trim();
  const query = new URLSearchParams({ from: localToIso(form.get('from')), to: localToIso(form.get('to')), points: '120' });
  const [history, account] = await Promise.all([
    api('/v1/compliance/accounts/' + encodeURIComponent(accountId) + '/balance-history?' + query),
    api('/v1/ledger/accounts/' + encodeURIComponent(accountId)),
  ]);
  const values = history.data.map((point) => Number(BigInt(point.balancePosted)) / 100);
  const width = 720, height = 260, pad = 48;
  const min = Math.min(0, ...values), max = Math.max(0, ...values);
  const span = max - min || 1;
  const x = (index) => pad + (index * (width - 2 * pad)) / Math.max(1, values.length - 1);
  const y = (value) => height - pad - ((value - min) * (height - 2 * pad)) / span;
  const line = values.map((value, index) => (index === 0 ? 'M' : 'L') + x(index).toFixed(1) + ' ' + y(value).toFixed(1)).join(' ');
  const ticks = [min, (min + max) / 2, max].map((value) =>
    svg('g', {}, [
      svg('line', { x1: pad, x2: width - pad, y1: y(value), y2: y(value), class: 'grid' }),
      svg('text', { x: pad - 6, y: y(value) + 4, 'text-anchor': 'end' }, [document.createTextNode(value.toFixed(2))]),
    ]),
  );
  const first = history.data[0], last = history.data[history.data.length - 1];
  const title = 'Posted balance of ' + account.code + ' (' + account.currency + ') from ' + time(first.at) + ' to ' + time(last.at) +
    ': from ' + money(first.balancePosted) + ' to ' + money(last.balancePosted);
  const chart = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': title, class: 'chart' }, [
    svg('title', {}, [document.createTextNode(title)]),
    ...ticks,
    svg('path', { d: line, class: 'series' }),
    svg('text', { x: pad, y: height - 16 }, [document.createTextNode(time(first.at))]),
    svg('text', { x: width - pad, y: height - 16, 'text-anchor': 'end' }, [document.createTextNode(time(last.at))]),
  ]);
  $('balance-chart').replaceChildren(chart, el('figcaption', { text: title }));
}

// ---- Audit events -------------------------------------------------------------------------------

async function searchAudit(cursor) {
  const form = new FormData($('audit-form'));
  const query = new URLSearchParams({ limit: '50' });
  for (const name of ['action', 'userId', 'clientId', 'resourceId', 'outcome']) if (form.get(name)) query.set(name, String(form.get(name)).trim());
  for (const name of ['from', 'to']) if (form.get(name)) query.set(name, localToIso(form.get(name)));
  if (cursor) query.set('cursor', cursor);
  const page = await api('/v1/audit/events?' + query);
  const rows = page.data.map((event) => [
    time(event.occurredAt),
    event.action,
    event.outcome + (event.problemCode ? ' (' + event.problemCode + ')' : ''),
    [event.actor.clientId, event.actor.userId && 'user ' + event.actor.userId].filter(Boolean).join(', ') || '-',
    event.resource.type + (event.resource.id ? ' ' + event.resource.id : ''),
    event.purpose || '',
    event.seal ? el('code', { title: event.seal.hash, text: '#' + event.seal.seq }) : 'unsealed',
  ]);
  const more = page.nextCursor
    ? el('button', { type: 'button', class: 'quiet', text: 'More', onclick: () => searchAudit(page.nextCursor).catch(fail) })
    : null;
  $('audit-results').replaceChildren(
    table(page.data.length + ' events, newest first', ['When', 'Action', 'Outcome', 'Who', 'Resource', 'Purpose', 'Seal'], rows),
    ...(more ? [more] : []),
  );
}

// ---- Exports --------------------------------------------------------------------------------------

async function download() {
  const form = new FormData($('export-form'));
  const query = new URLSearchParams({ format: String(form.get('format')) });
  for (const name of ['from', 'to']) if (form.get(name)) query.set(name, localToIso(form.get(name)));
  status('Preparing the export…');
  const response = await fetch('/v1/ledger/export?' + query, { headers: { authorization: 'Bearer ' + token() } });
  if (!response.ok) throw new ApiError(response.status, await response.json());
  const blob = await response.blob();
  const name = (/filename="([^"]+)"/.exec(response.headers.get('content-disposition') || '') || [])[1] || 'ledger-export';
  const link = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  status('Downloaded ' + name + ' (' + blob.size.toLocaleString() + ' bytes).', 'ok');
}

// ---- Shell --------------------------------------------------------------------------------------

const VIEWS = { overview: showOverview, journal: null, balance: null, audit: () => searchAudit(), exports: null };

function fail(error) {
  status(error.message || String(error), 'bad');
}

function render() {
  const signedIn = token() !== null;
  $('sign-in').hidden = signedIn;
  $('sign-out').hidden = !signedIn;
  $('views').hidden = !signedIn;
  $('signed-out').hidden = signedIn;
  const name = (location.hash || '#overview').slice(1);
  const view = Object.prototype.hasOwnProperty.call(VIEWS, name) ? name : 'overview';
  for (const section of document.querySelectorAll('section.view')) section.hidden = !signedIn || section.id !== view;
  for (const link of document.querySelectorAll('nav a'))
    if (link.getAttribute('href') === '#' + view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  if (signedIn && VIEWS[view]) VIEWS[view]().catch(fail);
}

function onSubmit(id, action) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    action().catch(fail);
  });
}

async function start() {
  $('sign-in').addEventListener('click', () => signIn().catch(fail));
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    status('Signed out.');
    render();
  });
  $('run-verification').addEventListener('click', () => runVerification().catch(fail));
  $('run-audit-verification').addEventListener('click', () => runAuditVerification().catch(fail));
  onSubmit('journal-form', () => searchJournal());
  onSubmit('balance-form', drawBalance);
  onSubmit('audit-form', () => searchAudit());
  onSubmit('export-form', download);
  window.addEventListener('hashchange', () => {
    render();
    $('main').focus();
  });
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) {
    try {
      await completeSignIn(params);
      status('Signed in.', 'ok');
    } catch (error) {
      fail(error);
    }
  }
  render();
}

start().catch(fail);
`;
