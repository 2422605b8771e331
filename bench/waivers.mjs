// Scenario "waivers": waiver decisions per second over HTTP, POST /v1/waivers/decisions { policyId }
// with BENCH_WAIVERS_USERS users (64), each with its own token (scope waivers:request) on its own
// connection; next to the guarded GET /v1/principal on the same service, with the same tokens and
// connections, as the baseline. Real PostgreSQL (fsync on), a fresh database each run.
//
// Setup, over the API, not measured: the platform client creates the merchant, its backend and a
// public mini-program; the merchant backend creates the bike-rental policy (RMB 99 waived at 650 or
// more, verified identity, adult, one open agreement, no debt); the users sign up, sign in through the
// authorization code flow with PKCE on the real pages, and verify their identity, each with its own
// valid resident ID number. A decision consumes nothing, so the users ask again and again.
//
// Then, on the same service and database, the decisions are offered at a constant rate, BENCH_WAIVERS_RATE
// a second (2,000, the goal), on a fixed schedule over the same connections, each request's latency
// counted from its scheduled send time (lib.mjs runConstantRate): the goal, at least 2,000 a second with
// p99 under 30 ms, is met only if the saturation run reaches the rate and the constant-rate run answers
// it (within 1%) with its p99 under 30 ms. At saturation, p99 is the latency with every connection busy.
//
// After the runs the stored decisions and their `waiver.decision.made` audit events are counted: each
// must equal the number of 2xx answers (warm-ups and the constant-rate runs included).
// It also prints the CPU a decision took in the service and in its PostgreSQL backends (from /proc, so
// on Linux with the server on this machine): on a shared machine a steadier figure than throughput.
//
//   node bench/run.mjs --only waivers          (after npm run build)
// Settings: BENCH_WAIVERS_USERS (64), BENCH_WAIVERS_RATE (2,000 a second), BENCH_WAIVERS_POOL_SIZE (the service's DATABASE_POOL_SIZE; its
// default when unset), BENCH_SERVICE_NODE_ARGS (node options for the service, space-separated, e.g.
// `--cpu-prof --cpu-prof-dir=/tmp/prof`; NODE_OPTIONS refuses --cpu-prof),
// BENCH_DURATION_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_ADMIN_DATABASE_URL.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
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
import { residentIdNumber } from './identity.mjs';
import { clientToken, inBatches, REDIRECT_URI, userToken } from './payments.mjs';

export const name = 'waivers';

const PLATFORM_CLIENT_ID = 'platform_benchmark03';
const PASSWORD = 'benchmark-password-for-waivers';
const GOALS = { goalPerSec: 2000, goalP99Ms: 30 };

/** The story's bike-rental policy. */
const BIKE_POLICY = {
  name: 'Benchmark bike deposit',
  version: {
    deposit: { amountMinor: '9900', currency: 'CNY' },
    tiers: [{ minScore: 650, waivePercent: 100 }],
    conditions: { requireVerifiedIdentity: true, minimumAge: 18, maxActiveAgreements: 1, allowOutstandingDebt: false },
    agreementLifetimeSeconds: 86_400,
  },
};

/** CPU seconds (user + system) a process has used, from /proc; undefined where there is no /proc. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** CPU seconds used by the PostgreSQL backends connected to `databaseName` (the server on this machine). */
function backendCpuSeconds(databaseName) {
  let total = 0;
  let found = false;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let command;
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (!command.startsWith('postgres:') || !command.includes(` ${databaseName} `)) continue;
      const seconds = cpuSeconds(pid);
      if (seconds === undefined) continue;
      total += seconds;
      found = true;
    }
  } catch {
    return undefined;
  }
  return found ? total : undefined;
}

/** Linux's USER_HZ, what /proc/<pid>/stat counts in. */
const CLOCK_TICKS_PER_SECOND = 100;

async function benchHttp(settings) {
  const database = await createBenchDatabase();
  const platformSecret = randomBytes(24).toString('base64url');
  let service;
  const figures = {};
  try {
    service = await startService({
      label: 'creditgate (waivers)',
      env: {
        DATABASE_URL: database.url,
        PLATFORM_CLIENT_ID,
        PLATFORM_CLIENT_SECRET: platformSecret,
        RATE_LIMIT_LOGIN_PER_MINUTE: '10000',
        RATE_LIMIT_SIGN_UP_PER_MINUTE: '10000',
        RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
        ...(settings.poolSize === undefined ? {} : { DATABASE_POOL_SIZE: String(settings.poolSize) }),
      },
      nodeArgs: settings.serviceNodeArgs,
    });
    const { url } = service;
    progress(`${name}: setting up a merchant, its mini-program, a policy and ${settings.users} verified users`);
    const admin = { authorization: `Bearer ${await clientToken(url, basicAuthorization(PLATFORM_CLIENT_ID, platformSecret), 'admin')}` };
    const post = (headers, path, body) =>
      call(`${url}${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify(body),
      });
    const merchant = await post(admin, '/v1/admin/merchants', { name: 'Benchmark bikes' });
    expectStatus('create merchant', merchant, 201);
    const miniProgram = await post(admin, '/v1/admin/clients', {
      clientType: 'mini_program',
      merchantId: merchant.body.id,
      name: 'Benchmark mini-program',
      tokenEndpointAuthMethod: 'none',
      redirectUris: [REDIRECT_URI],
    });
    expectStatus('create mini-program', miniProgram, 201);
    const backend = await post(admin, '/v1/admin/clients', {
      clientType: 'merchant',
      merchantId: merchant.body.id,
      name: 'Benchmark backend',
    });
    expectStatus('create merchant backend', backend, 201);
    const merchantToken = await clientToken(url, basicAuthorization(backend.body.clientId, backend.body.clientSecret), 'policies:manage');
    const policy = await post({ authorization: `Bearer ${merchantToken}` }, '/v1/waiver-policies', BIKE_POLICY);
    expectStatus('create waiver policy', policy, 201);
    const policyId = policy.body.id;
    if (typeof policyId !== 'string') throw new Error(`create waiver policy: no id in ${policy.text.slice(0, 300)}`);

    const emails = Array.from({ length: settings.users }, (_, index) => `bench-${index}-${randomUUID().slice(0, 8)}@bench.invalid`);
    await inBatches(emails, 8, async (email) => {
      const signUp = await call(`${url}/v1/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD, displayName: 'Bench' }),
      });
      if (signUp.status >= 300) throw new Error(`sign-up answered ${signUp.status}: ${signUp.text.slice(0, 200)}`);
    });
    const tokens = await inBatches(emails, 8, (email) =>
      userToken(url, miniProgram.body.clientId, email, 'waivers:request identity:verify', PASSWORD),
    );
    await inBatches(
      tokens.map((token, index) => ({ token, index })),
      8,
      async ({ token, index }) => {
        const verified = await post({ authorization: `Bearer ${token}` }, '/v1/identity/verifications', {
          fullName: '骑车人',
          idNumber: residentIdNumber(index),
        });
        expectStatus('identity verification', verified, 201);
      },
    );
    // One decision each before the load: every user's first credit report is made here, not measured,
    // and the answer is checked once (a verified adult at the user's own score).
    const first = await inBatches(tokens, 8, async (token) => {
      const decision = await post({ authorization: `Bearer ${token}` }, '/v1/waivers/decisions', { policyId });
      expectStatus('first decision', decision, 201);
      const identity = decision.body.reasons?.find((reason) => reason.code === 'IDENTITY_VERIFIED');
      if (identity?.passed !== true) throw new Error(`first decision: identity not verified: ${decision.text.slice(0, 300)}`);
      return decision.body.outcome;
    });
    const outcomes = {};
    for (const outcome of first) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    figures.outcomes = outcomes;

    // `sent` counts requests handed to the connections: when autocannon stops, those still in flight
    // get no answer here, but the service still decides them (it drains before it exits).
    const tally = { ok: first.length, non2xx: 0, sent: first.length, samples: new Map() };
    const body = JSON.stringify({ policyId });
    let userIndex = 0;
    const decisionRequest = {
      method: 'POST',
      setupRequest: (req, context) => {
        if (context.token === undefined) context.token = tokens[userIndex++ % tokens.length];
        req.path = '/v1/waivers/decisions';
        req.headers = { authorization: `Bearer ${context.token}`, 'content-type': 'application/json' };
        req.body = body;
        tally.sent += 1;
        return req;
      },
      onResponse: (status, responseBody) => {
        if (status >= 200 && status < 300) tally.ok += 1;
        else {
          tally.non2xx += 1;
          const key = `HTTP ${status}: ${String(responseBody).slice(0, 100)}`;
          tally.samples.set(key, (tally.samples.get(key) ?? 0) + 1);
        }
      },
    };
    let principalIndex = 0;
    const principalRequest = {
      method: 'GET',
      setupRequest: (req, context) => {
        if (context.token === undefined) context.token = tokens[principalIndex++ % tokens.length];
        req.path = '/v1/principal';
        req.headers = { authorization: `Bearer ${context.token}` };
        return req;
      },
    };
    const measureRoute = async (what, request) => {
      const base = { url, connections: settings.users, requests: [request] };
      progress(
        `${name}: ${what}: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s at ${settings.users} connections`,
      );
      if (settings.warmupSeconds > 0) await runAutocannon({ ...base, durationSeconds: settings.warmupSeconds });
      return runAutocannon({ ...base, durationSeconds: settings.durationSeconds });
    };
    // CPU a decision, over the measured run (warm-up included: both sides of the ratio count it):
    // the service's own, and its PostgreSQL backends' (a backend that ends meanwhile is not counted).
    const okBefore = tally.ok;
    const cpuBefore = { service: cpuSeconds(service.pid), backends: backendCpuSeconds(database.name) };
    figures.load = await measureRoute('POST /v1/waivers/decisions', decisionRequest);
    const answered = tally.ok - okBefore;
    const perDecisionMs = (before, after) =>
      before === undefined || after === undefined || answered === 0 ? undefined : ((after - before) * 1000) / answered;
    figures.cpu = {
      serviceMs: perDecisionMs(cpuBefore.service, cpuSeconds(service.pid)),
      backendsMs: perDecisionMs(cpuBefore.backends, backendCpuSeconds(database.name)),
    };
    progress(
      `${name}: POST /v1/waivers/decisions at ${settings.ratePerSec}/s offered: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`,
    );
    figures.constantRate = await measureConstantRate({
      url,
      request: decisionRequest,
      connections: settings.users,
      ratePerSec: settings.ratePerSec,
      durationSeconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
    });
    figures.peakRssBytes = peakRssBytes(service.pid);
    figures.tally = tally;
    figures.baseline = await measureRoute('GET /v1/principal', principalRequest);
    // Counted after the service drained and stopped: every decision it began is written or failed.
    figures.stopped = await stopService(service).catch((error) => ({ forced: true, error }));
    service = undefined;
    const check = new pg.Client({ connectionString: database.url });
    await check.connect();
    try {
      const { rows } = await check.query(
        `SELECT (SELECT count(*)::int FROM waiver_decisions WHERE policy_id = $1) AS decisions,
                (SELECT count(*)::int FROM audit_events WHERE action = 'waiver.decision.made' AND resource_id IN
                   (SELECT id::text FROM waiver_decisions WHERE policy_id = $1)) AS events`,
        [policyId],
      );
      figures.stored = rows[0];
    } finally {
      await check.end();
    }
  } finally {
    if (service !== undefined) figures.stopped = await stopService(service).catch((error) => ({ forced: true, error }));
    await database.drop();
  }
  return figures;
}

const formatCpu = (ms) => (ms === undefined ? 'not measured (no /proc)' : `${ms.toFixed(2)} ms`);

export async function run(options = {}) {
  const shared = loadSettings(options);
  const poolRaw = options.waiversPoolSize ?? process.env.BENCH_WAIVERS_POOL_SIZE;
  const settings = {
    durationSeconds: shared.durationSeconds,
    warmupSeconds: shared.warmupSeconds,
    users: positiveInteger(options.waiversUsers, 'BENCH_WAIVERS_USERS', 64),
    ratePerSec: positiveInteger(options.waiversRate, 'BENCH_WAIVERS_RATE', GOALS.goalPerSec),
    serviceNodeArgs: (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((argument) => argument !== ''),
    poolSize: poolRaw === undefined || poolRaw === '' ? undefined : positiveInteger(poolRaw, 'BENCH_WAIVERS_POOL_SIZE', 10),
  };
  if (settings.users > 990) throw new Error('BENCH_WAIVERS_USERS must be at most 990 (one benchmark ID number each)');
  const http = await benchHttp(settings);
  const { load, baseline, constantRate, tally, stored = {} } = http;
  const verdict = serviceLevelVerdict(load, constantRate, GOALS);
  // Each 2xx answer is a stored decision with its audit event; beyond those, only requests cut off in
  // flight when a run stopped (at most one a connection a run) may have been decided unanswered.
  const inFlight = tally.sent - tally.ok - tally.non2xx;
  const consistent = stored.events === stored.decisions && stored.decisions >= tally.ok && stored.decisions <= tally.ok + inFlight;
  const problems = [
    ...loadProblems(load),
    ...constantRateProblems(constantRate).map((problem) => `constant rate: ${problem}`),
    ...(http.stopped?.error ? [`stop failed: ${http.stopped.error.message}`] : stopProblems(http.stopped)),
    ...[...tally.samples].slice(0, 3).map(([key, count]) => `${count} x ${key}`),
    ...(consistent
      ? []
      : [
          `stored ${stored.decisions} decisions and ${stored.events} audit events for ${tally.ok} 2xx answers (${inFlight} cut off in flight)`,
        ]),
  ];
  const conditions = {
    connections: settings.users,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    decisions: `${settings.users} verified users (own token each, one per connection) ask for a decision under one policy (RMB 99, 100% at 650+); each decision stored with its audit event`,
    saturation: `autocannon in this process, ${settings.users} connections each sending its next request when the last is answered`,
    'constant rate': constantRateConditions({ ...settings, connections: settings.users }),
    pool: settings.poolSize === undefined ? 'DATABASE_POOL_SIZE: service default' : `DATABASE_POOL_SIZE=${settings.poolSize}`,
    outcomes: Object.entries(http.outcomes ?? {})
      .map(([outcome, count]) => `${count} ${outcome}`)
      .join(', '),
  };
  const table = formatTable(
    [
      { key: 'target', title: 'target', align: 'left' },
      { key: 'throughput', title: 'per second', align: 'right' },
      { key: 'p50', title: 'p50', align: 'right' },
      { key: 'p99', title: 'p99', align: 'right' },
      { key: 'notes', title: 'notes', align: 'left' },
    ],
    [
      {
        target: 'POST /v1/waivers/decisions',
        throughput: formatNumber(load.requestsPerSec),
        p50: formatMs(load.latencyP50Ms),
        p99: formatMs(load.latencyP99Ms),
        notes: saturationVerdict(load, GOALS),
      },
      {
        target: `at ${formatNumber(settings.ratePerSec)}/s offered (constant rate, ${settings.users} connections)`,
        throughput: formatNumber(constantRate.achievedPerSec),
        p50: formatMs(constantRate.latencyP50Ms),
        p99: formatMs(constantRate.latencyP99Ms),
        notes: verdict,
      },
      {
        target: 'GET /v1/principal (same tokens)',
        throughput: formatNumber(baseline.requestsPerSec),
        p50: formatMs(baseline.latencyP50Ms),
        p99: formatMs(baseline.latencyP99Ms),
        notes: `baseline; decisions: ${formatRatio(load.requestsPerSec / baseline.requestsPerSec)} req/s, ${formatRatio(load.latencyP99Ms / baseline.latencyP99Ms)} p99`,
      },
    ],
  );
  const detail = [
    `== ${name}: waiver decisions over HTTP ==`,
    formatConditions(conditions),
    '',
    table,
    '',
    `constant rate: ${describeConstantRate(constantRate)}`,
    `CPU a decision (warm-up included): service ${formatCpu(http.cpu?.serviceMs)}, its PostgreSQL backends ${formatCpu(http.cpu?.backendsMs)}`,
    `2xx answers (warm-ups, first decisions and constant-rate runs included): ${tally.ok}, and ${inFlight} requests cut off in flight when a run stopped; stored: ${stored.decisions} decisions, ${stored.events} waiver.decision.made audit events for them: ${consistent ? `consistent (${stored.decisions - tally.ok} of the cut-off requests were decided)` : 'NOT CONSISTENT'}`,
    problems.length > 0 ? `problems: ${problems.join('; ')}` : 'problems: none',
  ].join('\n');
  return {
    detail,
    settings: { users: settings.users, rate: settings.ratePerSec },
    rows: [
      {
        scenario: `POST /v1/waivers/decisions, ${settings.users} users`,
        requestsPerSec: load.requestsPerSec,
        latencyP50Ms: load.latencyP50Ms,
        latencyP99Ms: load.latencyP99Ms,
        peakRssBytes: http.peakRssBytes,
        baseline: `GET /v1/principal: ${formatNumber(baseline.requestsPerSec)} req/s`,
        ratio: formatRatio(load.requestsPerSec / baseline.requestsPerSec),
        notes: problems.join('; ') || undefined,
      },
      {
        scenario: `POST /v1/waivers/decisions at ${formatNumber(settings.ratePerSec)}/s offered (constant rate, ${settings.users} connections)`,
        requestsPerSec: constantRate.achievedPerSec,
        latencyP50Ms: constantRate.latencyP50Ms,
        latencyP99Ms: constantRate.latencyP99Ms,
        notes: verdict,
      },
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
