/* global AbortSignal, URLSearchParams */
// Scenario "payments": confirmed automatic payments per second into one hot merchant, over HTTP, with
// BENCH_PAYMENTS_USERS users (64) each on its own connection, POST /v1/payment-intents/{id}/confirm with
// a user token and a fresh Idempotency-Key; next to the ledger bench's naive baseline (one transaction a
// transfer, in-process) measured in the same run. Real PostgreSQL (fsync on), a fresh database each.
//
// Auditing's cost (issue 8): a second service, on its own fresh database, is measured the same way with
// BENCHMARK_AUDIT_OFF=true (a benchmark-only switch that configuration refuses in production: events are
// checked but not written). Reported: audit events written per second during the measured run with
// auditing on, and the throughput with auditing on over off. Set BENCH_PAYMENTS_AUDIT_OFF_RUN=0 to skip
// that second run (a build without the switch would audit anyway: the run checks that no event was written).
// Both runs also report the database's commits per confirmed payment (pg_stat_database, from before the
// warm-up to after the service stopped: every commit of the service, its background timers included).
//
// With auditing on, after the saturation run and on the same service and database, the confirms are
// offered at a constant rate, BENCH_PAYMENTS_RATE a second (1,500, the goal), on a fixed schedule over
// the same connections, each request's latency counted from its scheduled send time (lib.mjs
// runConstantRate), one fresh intent each (inserted for it beforehand, like the others). The goal, at
// least 1,500 a second with p99 under 50 ms, is met only if the saturation run reaches the rate and the
// constant-rate run answers it (within 1%) with its p99 under 50 ms. At saturation, p99 is the latency
// with every connection busy.
//
// Setup, not measured: the platform client creates the merchant, its backend and a public mini-program
// over the admin API; the users sign up and go through the authorization code flow with PKCE on the
// real sign-in and consent pages; each tops up its wallet over the API; the intents to confirm
// (automatic capture, 100 fen, addressed to nobody) are inserted in one SQL statement, since creating
// them is not what is measured.
//
//   node bench/run.mjs --only payments          (after npm run build)
// Settings: BENCH_PAYMENTS_USERS (64), BENCH_PAYMENTS_INTENTS (60,000: for the saturation runs; the
// constant-rate run gets its own), BENCH_PAYMENTS_RATE (1,500 a second), BENCH_PAYMENTS_AUDIT_OFF_RUN (1),
// BENCH_DURATION_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_ADMIN_DATABASE_URL.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { benchNaive, cpuMeter, cpuPerRequest, postgresPids } from './ledger.mjs';
import {
  constantRateConditions,
  constantRateProblems,
  createBenchDatabase,
  describeConstantRate,
  formatConditions,
  formatMs,
  formatNumber,
  formatRatio,
  formatTable,
  isMainModule,
  loadProblems,
  loadSettings,
  measureConstantRate,
  peakRssBytes,
  positiveInteger,
  progress,
  runAutocannon,
  saturationVerdict,
  serviceLevelVerdict,
  startService,
  stopProblems,
  stopService,
  basicAuthorization,
  call,
  expectStatus,
} from './lib.mjs';

export const name = 'payments';

const PLATFORM_CLIENT_ID = 'platform_benchmark02';
export const REDIRECT_URI = 'http://127.0.0.1:8787/callback';
const PASSWORD = 'benchmark-password-for-payments';
const AMOUNT_MINOR = 100;
const TOP_UP_MINOR = 100_000_000;
const REQUEST_TIMEOUT_MS = 10_000;
const GOALS = { goalPerSec: 1500, goalP99Ms: 50 };

export async function clientToken(baseUrl, authorization, scope) {
  const result = await call(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  expectStatus(`token (${scope})`, result, 200);
  return result.body.access_token;
}

/** A browser for the sign-in and consent pages: a cookie jar, no automatic redirects. */
class Browser {
  cookies = new Map();
  async request(url, init = {}) {
    const cookie = [...this.cookies].map(([key, value]) => `${key}=${value}`).join('; ');
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers ?? {}), cookie },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const at = pair.indexOf('=');
      const key = pair.slice(0, at).trim();
      if (/max-age=0|expires=Thu, 01 Jan 1970/i.test(header)) this.cookies.delete(key);
      else this.cookies.set(key, pair.slice(at + 1));
    }
    return response;
  }
}

/** The authorization code flow with PKCE through the real pages: returns the user's access token. */
export async function userToken(baseUrl, clientId, email, scope, password = PASSWORD) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(8).toString('hex');
  const browser = new Browser();
  const authorize = new URL(`${baseUrl}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  let response = await browser.request(authorize.toString());
  for (let step = 0; step < 12; step += 1) {
    if (response.status === 302 || response.status === 303) {
      const next = new URL(response.headers.get('location'), baseUrl).toString();
      await response.arrayBuffer();
      if (next.startsWith(REDIRECT_URI)) {
        const code = new URL(next).searchParams.get('code');
        const token = await call(`${baseUrl}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: REDIRECT_URI,
            client_id: clientId,
            code_verifier: verifier,
          }).toString(),
        });
        expectStatus('token (authorization code)', token, 200);
        return token.body.access_token;
      }
      response = await browser.request(next);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`sign-in flow: ${response.status} ${html.slice(0, 200)}`);
    const uid = /action="\/interaction\/([^/"]+)\//.exec(html)?.[1];
    const csrfToken = /name="csrfToken" value="([^"]+)"/.exec(html)?.[1];
    if (!uid || !csrfToken) throw new Error(`sign-in flow: not an interaction page: ${html.slice(0, 200)}`);
    const form = html.includes('name="password"')
      ? { path: 'login', fields: { csrfToken, login: email, password } }
      : { path: 'consent', fields: { csrfToken, decision: 'approve' } };
    response = await browser.request(`${baseUrl}/interaction/${uid}/${form.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form.fields).toString(),
    });
  }
  throw new Error('sign-in flow did not reach the redirect URI');
}

export async function inBatches(items, size, work) {
  const results = [];
  for (let start = 0; start < items.length; start += size) results.push(...(await Promise.all(items.slice(start, start + size).map(work))));
  return results;
}

/** Counts, on the bench database, that the figures are computed from. */
async function databaseCounts(client) {
  const { rows } = await client.query(
    `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::bigint::text AS commits,
            (SELECT count(*) FROM audit_events)::int AS audit_events,
            (SELECT count(*) FROM payment_intents WHERE status = 'succeeded')::int AS succeeded`,
  );
  return { commits: Number(rows[0].commits), auditEvents: rows[0].audit_events, succeeded: rows[0].succeeded };
}

/** Inserts `count` intents to confirm (automatic capture, AMOUNT_MINOR, addressed to nobody); returns their ids. */
async function insertIntents(client, merchantId, backendClientId, count) {
  const { rows } = await client.query(
    `INSERT INTO payment_intents (id, merchant_id, amount, currency, capture_method, status, fee_basis_points, created_by_client_id, created_at, updated_at)
     SELECT gen_random_uuid(), $1, $2, 'CNY', 'automatic', 'requires_confirmation', 60, $3, now(), now() FROM generate_series(1, $4)
     RETURNING id`,
    [merchantId, AMOUNT_MINOR, backendClientId, count],
  );
  return rows.map((row) => row.id);
}

/** With `constantRate`, the saturation run is followed by a constant-rate run on the same service and database. */
async function benchHttp(settings, { auditOff = false, constantRate = false } = {}) {
  const database = await createBenchDatabase();
  const platformSecret = randomBytes(24).toString('base64url');
  let service;
  const figures = {};
  try {
    service = await startService({
      label: 'creditgate (payments)',
      env: {
        DATABASE_URL: database.url,
        PLATFORM_CLIENT_ID,
        PLATFORM_CLIENT_SECRET: platformSecret,
        RATE_LIMIT_LOGIN_PER_MINUTE: '10000',
        RATE_LIMIT_SIGN_UP_PER_MINUTE: '10000',
        RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
        ...(auditOff ? { BENCHMARK_AUDIT_OFF: 'true' } : {}),
      },
    });
    const { url } = service;
    progress(`${name}: setting up a merchant, its mini-program and ${settings.users} signed-in users`);
    const admin = { authorization: `Bearer ${await clientToken(url, basicAuthorization(PLATFORM_CLIENT_ID, platformSecret), 'admin')}` };
    const adminPost = (path, body) =>
      call(`${url}${path}`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify(body),
      });
    const merchant = await adminPost('/v1/admin/merchants', { name: 'Benchmark bikes' });
    expectStatus('create merchant', merchant, 201);
    const miniProgram = await adminPost('/v1/admin/clients', {
      clientType: 'mini_program',
      merchantId: merchant.body.id,
      name: 'Benchmark mini-program',
      tokenEndpointAuthMethod: 'none',
      redirectUris: [REDIRECT_URI],
    });
    expectStatus('create mini-program', miniProgram, 201);
    const backend = await adminPost('/v1/admin/clients', {
      clientType: 'merchant',
      merchantId: merchant.body.id,
      name: 'Benchmark backend',
    });
    expectStatus('create merchant backend', backend, 201);
    const emails = Array.from({ length: settings.users }, (_, index) => `bench-${index}-${randomUUID().slice(0, 8)}@bench.invalid`);
    await inBatches(emails, 8, async (email) => {
      const signUp = await call(`${url}/v1/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD, displayName: 'Bench' }),
      });
      if (signUp.status >= 300) throw new Error(`sign-up answered ${signUp.status}: ${signUp.text.slice(0, 200)}`);
    });
    const tokens = await inBatches(emails, 8, (email) => userToken(url, miniProgram.body.clientId, email, 'payments:pay wallet:read'));
    await inBatches(tokens, 8, async (token) => {
      const topUp = await call(`${url}/v1/wallet/top-ups`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify({ amountMinor: TOP_UP_MINOR, currency: 'CNY' }),
      });
      expectStatus('top-up', topUp, 201);
    });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    let intentIds;
    try {
      intentIds = await insertIntents(client, merchant.body.id, backend.body.clientId, settings.intents);
    } finally {
      await client.end();
    }
    let next = 0;
    let userIndex = 0;
    const tally = { succeeded: 0, non2xx: 0, samples: new Map() };
    const request = {
      method: 'POST',
      setupRequest: (req, context) => {
        if (context.token === undefined) context.token = tokens[userIndex++ % tokens.length];
        const id = intentIds[next++];
        if (id === undefined) throw new Error('ran out of intents: raise BENCH_PAYMENTS_INTENTS');
        req.path = `/v1/payment-intents/${id}/confirm`;
        req.headers = { authorization: `Bearer ${context.token}`, 'idempotency-key': randomUUID(), 'content-type': 'application/json' };
        req.body = '{}';
        return req;
      },
      onResponse: (status, body) => {
        if (status === 200) tally.succeeded += 1;
        else {
          tally.non2xx += 1;
          const key = `HTTP ${status}: ${String(body).slice(0, 100)}`;
          tally.samples.set(key, (tally.samples.get(key) ?? 0) + 1);
        }
      },
    };
    const base = { url, connections: settings.users, requests: [request] };
    const check = new pg.Client({ connectionString: database.url });
    await check.connect();
    try {
      progress(
        `${name}: http${auditOff ? ' (auditing off)' : ''}: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s at ${settings.users} connections`,
      );
      figures.beforeWarmup = await databaseCounts(check);
      if (settings.warmupSeconds > 0) figures.warmup = await runAutocannon({ ...base, durationSeconds: settings.warmupSeconds });
      figures.beforeLoad = await databaseCounts(check);
      const stopMeter = cpuMeter(service.pid, await postgresPids(database.name));
      figures.load = await runAutocannon({ ...base, durationSeconds: settings.durationSeconds });
      figures.cpu = stopMeter();
      figures.afterLoad = await databaseCounts(check);
      figures.peakRssBytes = peakRssBytes(service.pid);
      if (constantRate) {
        // One intent for every request the constant-rate runs will send (warm-up included), not counting
        // those the saturation runs left unconfirmed.
        const needed = Math.ceil(settings.ratePerSec * (settings.warmupSeconds + settings.durationSeconds));
        for (const id of await insertIntents(check, merchant.body.id, backend.body.clientId, needed)) intentIds.push(id);
        progress(
          `${name}: http: ${settings.ratePerSec}/s offered: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`,
        );
        figures.constantRate = await measureConstantRate({
          url,
          request,
          connections: settings.users,
          ratePerSec: settings.ratePerSec,
          durationSeconds: settings.durationSeconds,
          warmupSeconds: settings.warmupSeconds,
        });
      }
      figures.tally = tally;
      const { rows } = await check.query(
        `SELECT (SELECT count(*)::int FROM payment_intents WHERE status = 'succeeded') AS succeeded,
                (SELECT count(*)::int FROM ledger_transfers WHERE code = 'payment') AS payments,
                (SELECT count(*)::int FROM ledger_transfers WHERE code = 'payment_fee') AS fees,
                (SELECT count(*)::int FROM webhook_events) AS events,
                (SELECT bool_and(debits = credits) FROM (SELECT sum(debits_posted) AS debits, sum(credits_posted) AS credits FROM ledger_accounts GROUP BY currency) s) AS balanced`,
      );
      figures.stored = rows[0];
      // Audit events committed while the measured run lasted (the requests autocannon cut off in flight are answered after it).
      figures.auditEventsPerSec = (figures.afterLoad.auditEvents - figures.beforeLoad.auditEvents) / settings.durationSeconds;
      if (service !== undefined) {
        figures.stopped = await stopService(service).catch((error) => ({ forced: true, error }));
        service = undefined;
      }
      // The service's connections are closed: their statistics are flushed.
      const after = await databaseCounts(check);
      const confirmed = after.succeeded - figures.beforeWarmup.succeeded;
      figures.commitsPerPayment = confirmed > 0 ? (after.commits - figures.beforeWarmup.commits) / confirmed : undefined;
    } finally {
      await check.end();
    }
  } finally {
    if (service !== undefined) figures.stopped = await stopService(service).catch((error) => ({ forced: true, error }));
    await database.drop();
  }
  return figures;
}

export async function run(options = {}) {
  const shared = loadSettings(options);
  const settings = {
    durationSeconds: shared.durationSeconds,
    warmupSeconds: shared.warmupSeconds,
    users: positiveInteger(options.paymentsUsers, 'BENCH_PAYMENTS_USERS', 64),
    intents: positiveInteger(options.paymentsIntents, 'BENCH_PAYMENTS_INTENTS', 60_000),
    ratePerSec: positiveInteger(options.paymentsRate, 'BENCH_PAYMENTS_RATE', GOALS.goalPerSec),
    auditOffRun: (options.paymentsAuditOffRun ?? process.env.BENCH_PAYMENTS_AUDIT_OFF_RUN ?? '1') !== '0',
  };
  progress(`${name}: part 1: the ledger's naive baseline (one transaction a transfer)`);
  const naive = await benchNaive({
    callers: settings.users,
    accounts: 1000,
    naivePool: 60,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
  });
  progress(`${name}: part 2: POST /v1/payment-intents/{id}/confirm over HTTP`);
  const http = await benchHttp(settings, { constantRate: true });
  let quiet;
  if (settings.auditOffRun) {
    progress(`${name}: part 3: the same with auditing off (BENCHMARK_AUDIT_OFF=true), on a fresh database`);
    quiet = await benchHttp(settings, { auditOff: true });
  }
  const { load, constantRate } = http;
  const verdict = serviceLevelVerdict(load, constantRate, GOALS);
  const runProblems = (figures, label) => [
    ...loadProblems(figures.load).map((problem) => `${label}: ${problem}`),
    ...(figures.stopped?.error ? [`${label}: stop failed: ${figures.stopped.error.message}`] : stopProblems(figures.stopped)),
    ...[...figures.tally.samples].slice(0, 3).map(([key, count]) => `${label}: ${count} x ${key}`),
  ];
  const problems = [
    ...runProblems(http, 'audit on'),
    ...constantRateProblems(constantRate).map((problem) => `constant rate: ${problem}`),
    ...(quiet ? runProblems(quiet, 'audit off') : []),
    ...(quiet && quiet.afterLoad.auditEvents > quiet.beforeLoad.auditEvents
      ? [
          `audit off: ${quiet.afterLoad.auditEvents - quiet.beforeLoad.auditEvents} audit events were written (a build without BENCHMARK_AUDIT_OFF?)`,
        ]
      : []),
  ];
  const auditRatio = quiet ? load.requestsPerSec / quiet.load.requestsPerSec : undefined;
  const conditions = {
    connections: settings.users,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    payments: `${settings.users} users (own token each, one per connection) confirm automatic intents of ${AMOUNT_MINOR} fen to one merchant; fee 60 bps (1 fen) as a linked transfer; audit event and webhook outbox row in the same transaction`,
    saturation: `autocannon in this process, ${settings.users} connections each sending its next request when the last is answered`,
    'constant rate': `auditing on: ${constantRateConditions({ ...settings, connections: settings.users })}`,
    naive: `ledger bench's naive baseline: ${settings.users} callers, pg pool 60, one transaction a transfer into one hot account`,
    auditing: quiet
      ? 'measured twice, each on a fresh database: auditing on, then off (BENCHMARK_AUDIT_OFF=true, benchmark only)'
      : 'on (the run with auditing off was skipped)',
  };
  const table = formatTable(
    [
      { key: 'target', title: 'target', align: 'left' },
      { key: 'throughput', title: 'per second', align: 'right' },
      { key: 'p50', title: 'p50', align: 'right' },
      { key: 'p99', title: 'p99', align: 'right' },
      { key: 'commits', title: 'commits/payment', align: 'right' },
      { key: 'notes', title: 'notes', align: 'left' },
    ],
    [
      {
        target: 'HTTP confirm (automatic capture)',
        throughput: formatNumber(load.requestsPerSec),
        p50: formatMs(load.latencyP50Ms),
        p99: formatMs(load.latencyP99Ms),
        commits: formatNumber(http.commitsPerPayment, 2),
        notes: `${saturationVerdict(load, GOALS)}; audit events written: ${formatNumber(http.auditEventsPerSec)}/s`,
      },
      {
        target: `at ${formatNumber(settings.ratePerSec)}/s offered (constant rate, ${settings.users} connections)`,
        throughput: formatNumber(constantRate.achievedPerSec),
        p50: formatMs(constantRate.latencyP50Ms),
        p99: formatMs(constantRate.latencyP99Ms),
        commits: '-',
        notes: verdict,
      },
      ...(quiet
        ? [
            {
              target: 'HTTP confirm, auditing off (benchmark only)',
              throughput: formatNumber(quiet.load.requestsPerSec),
              p50: formatMs(quiet.load.latencyP50Ms),
              p99: formatMs(quiet.load.latencyP99Ms),
              commits: formatNumber(quiet.commitsPerPayment, 2),
              notes: `auditing on / off: ${formatRatio(auditRatio)} payments/s, ${formatRatio(load.latencyP99Ms / quiet.load.latencyP99Ms)} p99`,
            },
          ]
        : []),
      {
        target: 'naive ledger baseline (in-process)',
        throughput: formatNumber(naive.perSec),
        p50: formatMs(naive.p50Ms),
        p99: formatMs(naive.p99Ms),
        commits: '1.00',
        notes: 'baseline',
      },
    ],
  );
  const stored = http.stored ?? {};
  const detail = [
    `== ${name}: confirmed automatic payments into one hot merchant ==`,
    formatConditions(conditions),
    '',
    table,
    '',
    `constant rate: ${describeConstantRate(constantRate)}`,
    `CPU a payment in the saturation run's measured window (shares of one cpu over the payments answered a second: a figure to compare across runs when the machine's load varies): service ${cpuPerRequest(http.cpu?.childPercent, load.requestsPerSec)}, its database's PostgreSQL processes ${cpuPerRequest(http.cpu?.postgresPercent, load.requestsPerSec)}${quiet ? `; auditing off: service ${cpuPerRequest(quiet.cpu?.childPercent, quiet.load.requestsPerSec)}, PostgreSQL ${cpuPerRequest(quiet.cpu?.postgresPercent, quiet.load.requestsPerSec)}` : ''}`,
    `stored after the runs (the constant-rate runs included): ${stored.succeeded} succeeded intents, ${stored.payments} payment transfers, ${stored.fees} fee transfers, ${stored.events} webhook events; books balanced: ${stored.balanced}`,
    ...(quiet
      ? [
          `stored after the run with auditing off: ${quiet.stored.succeeded} succeeded intents, ${quiet.stored.payments} payment transfers, ${quiet.stored.fees} fee transfers, ${quiet.stored.events} webhook events; books balanced: ${quiet.stored.balanced}`,
        ]
      : []),
    problems.length > 0 ? `problems: ${problems.join('; ')}` : 'problems: none',
  ].join('\n');
  return {
    detail,
    settings: { users: settings.users, rate: settings.ratePerSec },
    rows: [
      {
        scenario: `POST /v1/payment-intents/{id}/confirm, 1 hot merchant, ${settings.users} users`,
        requestsPerSec: load.requestsPerSec,
        latencyP50Ms: load.latencyP50Ms,
        latencyP99Ms: load.latencyP99Ms,
        peakRssBytes: http.peakRssBytes,
        baseline: `naive ledger: ${formatNumber(naive.perSec)} /s`,
        ratio: formatRatio(load.requestsPerSec / naive.perSec),
        notes: problems.join('; ') || undefined,
      },
      {
        scenario: `POST /v1/payment-intents/{id}/confirm at ${formatNumber(settings.ratePerSec)}/s offered (constant rate, ${settings.users} connections)`,
        requestsPerSec: constantRate.achievedPerSec,
        latencyP50Ms: constantRate.latencyP50Ms,
        latencyP99Ms: constantRate.latencyP99Ms,
        notes: verdict,
      },
      ...(quiet
        ? [
            {
              scenario: `the same, auditing off (audit events on: ${formatNumber(http.auditEventsPerSec)}/s)`,
              requestsPerSec: quiet.load.requestsPerSec,
              latencyP50Ms: quiet.load.latencyP50Ms,
              latencyP99Ms: quiet.load.latencyP99Ms,
              peakRssBytes: quiet.peakRssBytes,
              baseline: 'auditing on',
              ratio: `on/off ${formatRatio(auditRatio)}`,
            },
          ]
        : []),
    ],
  };
}

if (isMainModule(import.meta.url)) {
  run().then(
    (result) => {
      process.stdout.write(`${result.detail}\n`);
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`bench: ${error.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
