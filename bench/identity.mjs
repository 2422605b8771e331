/* global URLSearchParams */
// Scenario "identity": real-name verifications and credit-score reads per second over HTTP (issue 5),
// against the built service on the local PostgreSQL server (a fresh bench database, dropped after),
// LOG_LEVEL=warn, CONNECTIONS connections:
//   1. POST /v1/identity/verifications: every request a distinct user, with a distinct valid resident
//      ID number (region 110105, a real birth date, a sequence code outside the mock authority's
//      990-992 test codes, the ISO 7064 MOD 11-2 check character) and its own Idempotency-Key;
//   2. GET /v1/credit/score: users whose identity part 1 verified, each user's token reused by its
//      requests (as a mini-program keeps its token), the first read of a user making its report;
//   3. the baseline, same server, same connections: GET /v1/principal with one of those user tokens
//      (the access guard and nothing else), so that the figures above read as a ratio.
//
// The user tokens are minted by this scenario, not obtained through the code flow. A verification
// needs a user no other request has verified, so a 10 s run needs thousands of users, and a sign-in
// through the real flow costs an argon2id hash each (about 50 ms of CPU on this machine's two cores):
// signing in a few hundred users would take longer than the measurement and starve the service of CPU
// while it ran, and a few hundred users would cap the run at a few hundred verifications. So the users
// are inserted with SQL (with a password hash no password matches: they cannot sign in), a
// mini-program client is made over the admin API, and each user's access token is signed with the
// service's own ES256 key read from `oauth_keys`, exactly as oidc-provider issues it (RFC 9068: header
// `typ: at+jwt`, `alg: ES256`, the key's `kid`; claims iss, sub, aud, iat, exp, jti, client_id, scope,
// and this service's extra claims client_type and merchant_id), so that every check of
// src/oauth/access-token.verifier.ts runs on it as on a real one. The token endpoint and the code flow
// are measured elsewhere (bench/oauth.mjs); here the figures are the identity and credit routes'.
//
//   node bench/identity.mjs                       (after npm run build)
//   BENCH_DURATION_SECONDS=5 node bench/identity.mjs
// Settings: BENCH_IDENTITY_CONNECTIONS (64), BENCH_IDENTITY_USERS (40,000: users made for part 1; the run
// reports it if they ran out), BENCH_IDENTITY_SCORE_USERS (2,000), BENCH_DURATION_SECONDS (10),
// BENCH_WARMUP_SECONDS (2), BENCH_ADMIN_DATABASE_URL.
import { randomBytes, randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import pg from 'pg';
import {
  adminDatabaseUrl,
  createBenchDatabase,
  formatBytes,
  formatMs,
  formatNumber,
  formatRatio,
  formatReport,
  isMainModule,
  loadProblems,
  loadSettings,
  peakRssBytes,
  positiveInteger,
  progress,
  runAutocannon,
  startService,
  stopProblems,
  stopService,
  withTimeout,
  basicAuthorization,
  call,
  expectStatus,
} from './lib.mjs';

export const name = 'identity';

const PLATFORM_CLIENT_ID = 'platform_benchmark01';
const SETUP_TIMEOUT_MS = 180_000;
/** Minted tokens live this long: longer than any run the settings allow (checked in run()). */
const TOKEN_TTL_SECONDS = 900;
/** The mock authority's test sequence codes (src/identity/identity-authority.ts): 990 name mismatch, 991 not found, 992 unavailable. */
const SEQUENCE_FIRST = 100;
const SEQUENCE_LAST = 989;
const BIRTH_FIRST_MS = Date.UTC(1960, 0, 1);
const BIRTH_DAYS = 14_000; // 1960-01-01 to 1998-04-30
const REGION = '110105';
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS = '10X98765432';
const FULL_NAMES = ['张伟', '王芳', '李娜', '刘洋', 'Ada Lovelace', '阿依古丽·买买提'];
/** Users cannot sign in: this is not an argon2 hash, so no password matches it. */
const NO_PASSWORD_HASH = '!bench-user:password-sign-in-disabled';

// ---------------------------------------------------------------------------------------------
// Resident ID numbers (GB 11643-1999)

/** ISO 7064 MOD 11-2 over seventeen digits, as src/identity/resident-id-number.ts computes it. */
export function checkCharacter(first17) {
  let sum = 0;
  for (let index = 0; index < 17; index += 1) sum += Number(first17[index]) * WEIGHTS[index];
  return CHECK_CHARACTERS[sum % 11];
}

/** The `index`-th distinct valid number: a birth date and a sequence code from the index, then its check character. */
export function residentIdNumber(index) {
  const sequences = SEQUENCE_LAST - SEQUENCE_FIRST + 1;
  if (!Number.isSafeInteger(index) || index < 0 || index >= BIRTH_DAYS * sequences) throw new Error(`no ID number ${index}`);
  const birth = new Date(BIRTH_FIRST_MS + (index % BIRTH_DAYS) * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  const sequence = String(SEQUENCE_FIRST + Math.floor(index / BIRTH_DAYS)).padStart(3, '0');
  const first17 = `${REGION}${birth}${sequence}`;
  return `${first17}${checkCharacter(first17)}`;
}

// ---------------------------------------------------------------------------------------------

async function adminToken(baseUrl, platformSecret) {
  const result = await call(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(PLATFORM_CLIENT_ID, platformSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin' }).toString(),
  });
  expectStatus('POST /oauth/token (scope admin)', result, 200);
  return result.body.access_token;
}

/** A merchant and its mini-program (a public client, as the demo's), made over the admin API. */
async function createMiniProgram(baseUrl, platformSecret) {
  const headers = { authorization: `Bearer ${await adminToken(baseUrl, platformSecret)}`, 'content-type': 'application/json' };
  const merchant = await call(`${baseUrl}/v1/admin/merchants`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': randomUUID() },
    body: JSON.stringify({ name: 'Benchmark bike rental' }),
  });
  expectStatus('POST /v1/admin/merchants', merchant, 201);
  const client = await call(`${baseUrl}/v1/admin/clients`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': randomUUID() },
    body: JSON.stringify({
      clientType: 'mini_program',
      merchantId: merchant.body.id,
      name: 'Benchmark mini-program',
      tokenEndpointAuthMethod: 'none',
      redirectUris: ['http://127.0.0.1:8787/callback'],
      scopes: ['identity:verify', 'identity:read', 'credit:score'],
    }),
  });
  expectStatus('POST /v1/admin/clients (mini_program)', client, 201);
  return { merchantId: merchant.body.id, clientId: client.body.clientId };
}

// ---------------------------------------------------------------------------------------------
// Users and their tokens

async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, query_timeout: 120_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `count` users inserted in one statement; returns their ids, in order. */
async function insertUsers(databaseUrl, count, label) {
  const ids = Array.from({ length: count }, () => randomUUID());
  await withClient(databaseUrl, (client) =>
    client.query(
      `INSERT INTO users (id, email, password_hash, display_name, created_at)
       SELECT id, 'bench-' || $2 || '-' || n || '@bench.invalid', $3, 'Bench user ' || n, now()
         FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, n)`,
      [ids, label, NO_PASSWORD_HASH],
    ),
  );
  return ids;
}

/** Signs access tokens with the service's own current signing key, as oidc-provider does for this client. */
async function tokenMinter(databaseUrl, issuer, client) {
  const { rows } = await withClient(databaseUrl, (db) =>
    db.query(`SELECT material FROM oauth_keys WHERE use = 'sig' AND retired_at IS NULL ORDER BY created_at DESC LIMIT 1`),
  );
  const jwk = rows[0]?.material?.jwk;
  if (jwk === undefined || jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new Error('the service has no ES256 signing key in oauth_keys');
  const key = await importJWK(jwk, 'ES256');
  return (userId, scope) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      client_id: client.clientId,
      scope,
      client_type: 'mini_program',
      merchant_id: client.merchantId,
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid })
      .setIssuer(issuer)
      .setSubject(userId)
      .setAudience(`${issuer}/v1`)
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_TTL_SECONDS)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key);
  };
}

async function mintAll(mint, userIds, scope) {
  const tokens = [];
  for (let start = 0; start < userIds.length; start += 500) {
    tokens.push(...(await Promise.all(userIds.slice(start, start + 500).map((id) => mint(id, scope)))));
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------

function tally() {
  const counts = { ok: 0, non2xx: 0, other: 0, samples: new Map() };
  const onResponse = (expectedStatus, accept) => (status, body) => {
    if (status !== expectedStatus) {
      counts.non2xx += 1;
      const key = `HTTP ${status}: ${String(body).slice(0, 100)}`;
      counts.samples.set(key, (counts.samples.get(key) ?? 0) + 1);
      return;
    }
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    if (accept(parsed)) counts.ok += 1;
    else {
      counts.other += 1;
      const key = `unexpected: ${String(body).slice(0, 100)}`;
      counts.samples.set(key, (counts.samples.get(key) ?? 0) + 1);
    }
  };
  return { counts, onResponse };
}

function describeTally({ ok, non2xx, other, samples }) {
  const listed = [...samples].map(([key, n]) => `${n} x ${key}`).join('; ');
  return `${formatNumber(ok)} as expected, ${non2xx} other statuses, ${other} unexpected bodies${listed ? ` (${listed})` : ''}`;
}

/** @param {{durationSeconds?: number, warmupSeconds?: number}} options */
export async function run(options = {}) {
  const shared = loadSettings({ durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds });
  const settings = {
    connections: positiveInteger(options.identityConnections, 'BENCH_IDENTITY_CONNECTIONS', 64),
    durationSeconds: shared.durationSeconds,
    warmupSeconds: shared.warmupSeconds,
    users: positiveInteger(options.identityUsers, 'BENCH_IDENTITY_USERS', 40_000),
    scoreUsers: positiveInteger(options.identityScoreUsers, 'BENCH_IDENTITY_SCORE_USERS', 2_000),
  };
  // Setup, three loads of warm-up plus measurement, and margins: the minted tokens must outlive them all.
  if (3 * (settings.durationSeconds + settings.warmupSeconds) + 300 >= TOKEN_TTL_SECONDS) {
    throw new Error(`runs this long would outlive the ${TOKEN_TTL_SECONDS} s tokens; keep BENCH_DURATION_SECONDS under 150`);
  }
  const postgres = await withClient(adminDatabaseUrl(), async (client) => {
    const setting = async (parameter) => (await client.query(`SHOW ${parameter}`)).rows[0][parameter];
    return `PostgreSQL ${(await setting('server_version')).split(' ')[0]}, fsync ${await setting('fsync')}, synchronous_commit ${await setting('synchronous_commit')}`;
  });
  const conditions = {
    connections: settings.connections,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    postgres: `${postgres} (fresh bench database, dropped after)`,
    service: 'the built service, LOG_LEVEL=warn, development PII keys, the mock identity authority and credit bureau',
    tokens: `user access tokens (ES256, RFC 9068) minted with the service's key from oauth_keys for a mini-program client; users inserted with SQL`,
    users: `${formatNumber(settings.users)} for verifications (one each), ${formatNumber(settings.scoreUsers)} verified ones for score reads`,
  };

  const platformSecret = randomBytes(32).toString('base64url');
  const database = await createBenchDatabase();
  let service;
  const figures = {};
  try {
    service = await startService({
      env: { DATABASE_URL: database.url, LOG_LEVEL: 'warn', PLATFORM_CLIENT_ID, PLATFORM_CLIENT_SECRET: platformSecret },
      label: 'creditgate (postgres)',
    });
    const { url } = service;
    const metadata = await call(`${url}/.well-known/oauth-authorization-server`);
    expectStatus('GET /.well-known/oauth-authorization-server', metadata, 200);
    const issuer = metadata.body.issuer;
    const client = await createMiniProgram(url, platformSecret);
    const mint = await tokenMinter(database.url, issuer, client);

    progress(`${name}: inserting ${formatNumber(settings.users)} users and minting their tokens`);
    const userIds = await withTimeout(insertUsers(database.url, settings.users, 'verify'), SETUP_TIMEOUT_MS, 'inserting users');
    const tokens = await withTimeout(mintAll(mint, userIds, 'identity:verify identity:read credit:score'), SETUP_TIMEOUT_MS, 'minting');

    // What the load gets back, checked once first (a fast 4xx is no result): user 0 verifies.
    let next = 0;
    const verification = (index) => ({
      headers: {
        authorization: `Bearer ${tokens[index]}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({ fullName: FULL_NAMES[index % FULL_NAMES.length], idNumber: residentIdNumber(index) }),
    });
    const probe = await call(`${url}/v1/identity/verifications`, { method: 'POST', ...verification(next++) });
    expectStatus('POST /v1/identity/verifications (probe)', probe, 201);
    if (probe.body?.status !== 'verified') throw new Error(`the probe verification did not verify: ${probe.text.slice(0, 300)}`);
    const principalProbe = await call(`${url}/v1/principal`, { headers: { authorization: `Bearer ${tokens[0]}` } });
    expectStatus('GET /v1/principal (probe)', principalProbe, 200);
    if (principalProbe.body?.userId !== userIds[0]) throw new Error(`GET /v1/principal: not user 0: ${principalProbe.text.slice(0, 300)}`);

    // 1. Verifications: each request the next user (a pool that ran out is reported, never reused).
    const verify = tally();
    let exhausted = 0;
    const verifyRequest = {
      method: 'POST',
      path: '/v1/identity/verifications',
      setupRequest: (request) => {
        if (next >= tokens.length) {
          exhausted += 1;
          return { ...request, ...verification(tokens.length - 1) }; // answered 409/200 and counted as not as expected
        }
        return { ...request, ...verification(next++) };
      },
      onResponse: verify.onResponse(201, (body) => body?.status === 'verified'),
    };
    progress(`${name}: POST /v1/identity/verifications: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`);
    const base = { url, connections: settings.connections };
    if (settings.warmupSeconds > 0) await runAutocannon({ ...base, durationSeconds: settings.warmupSeconds, requests: [verifyRequest] });
    const verifyCounts = { ...verify.counts, samples: new Map(verify.counts.samples) };
    const before = next;
    figures.verify = await runAutocannon({ ...base, durationSeconds: settings.durationSeconds, requests: [verifyRequest] });
    figures.verify.peakRssBytes = peakRssBytes(service.pid);
    figures.verifyTally = verify.counts;
    figures.verifyWarmTally = verifyCounts;
    figures.usersUsed = next;
    figures.usersMeasured = next - before;
    figures.exhausted = exhausted;

    // 2. Score reads: verified users, each user's token reused.
    const verified = await withClient(database.url, (db) =>
      db.query(`SELECT user_id FROM identity_records WHERE status = 'verified' ORDER BY verified_at LIMIT $1`, [settings.scoreUsers]),
    );
    figures.verifiedRows = await withClient(database.url, (db) =>
      db.query(`SELECT count(*)::int AS n FROM identity_records WHERE status = 'verified'`).then((result) => result.rows[0].n),
    );
    const scoreUsers = verified.rows.map((row) => row.user_id);
    if (scoreUsers.length === 0) throw new Error('no verified users to read scores for');
    const scoreTokens = await mintAll(mint, scoreUsers, 'credit:score');
    let turn = 0;
    const score = tally();
    const scoreRequest = {
      method: 'GET',
      path: '/v1/credit/score',
      setupRequest: (request) => ({ ...request, headers: { authorization: `Bearer ${scoreTokens[turn++ % scoreTokens.length]}` } }),
      onResponse: score.onResponse(200, (body) => Number.isInteger(body?.score) && typeof body?.reportId === 'string'),
    };
    const scoreProbe = await call(`${url}/v1/credit/score`, { headers: { authorization: `Bearer ${scoreTokens[0]}` } });
    expectStatus('GET /v1/credit/score (probe)', scoreProbe, 200);
    progress(
      `${name}: GET /v1/credit/score (${formatNumber(scoreUsers.length)} users): ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`,
    );
    if (settings.warmupSeconds > 0) await runAutocannon({ ...base, durationSeconds: settings.warmupSeconds, requests: [scoreRequest] });
    figures.score = await runAutocannon({ ...base, durationSeconds: settings.durationSeconds, requests: [scoreRequest] });
    figures.score.peakRssBytes = peakRssBytes(service.pid);
    figures.scoreTally = score.counts;
    figures.scoreUsers = scoreUsers.length;
    figures.reports = await withClient(database.url, (db) =>
      db.query(`SELECT count(*)::int AS n FROM credit_reports`).then((result) => result.rows[0].n),
    );

    // 3. Baseline: the access guard alone, with one of the same user tokens.
    const principalRequest = { method: 'GET', path: '/v1/principal', headers: { authorization: `Bearer ${scoreTokens[0]}` } };
    progress(`${name}: GET /v1/principal (baseline): ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`);
    if (settings.warmupSeconds > 0) await runAutocannon({ ...base, durationSeconds: settings.warmupSeconds, requests: [principalRequest] });
    figures.principal = await runAutocannon({ ...base, durationSeconds: settings.durationSeconds, requests: [principalRequest] });
    figures.peakRssBytes = peakRssBytes(service.pid);
  } finally {
    if (service !== undefined) figures.stopped = await stopService(service).catch((error) => ({ forced: true, error }));
    await database.drop();
  }

  const { verify, score, principal, stopped } = figures;
  const serviceProblems = stopped.error ? [`stop failed: ${stopped.error.message}`] : stopProblems(stopped);
  const verifyProblems = [
    ...loadProblems(verify),
    ...(figures.verifyTally.other > 0 ? [`${figures.verifyTally.other} answers not 'verified'`] : []),
    ...(figures.exhausted > 0
      ? [
          `the ${formatNumber(settings.users)} users ran out (${figures.exhausted} requests repeated the last one): raise BENCH_IDENTITY_USERS`,
        ]
      : []),
  ];
  const scoreProblems = [
    ...loadProblems(score),
    ...(figures.scoreTally.other > 0 ? [`${figures.scoreTally.other} answers without a score`] : []),
  ];
  const ratio = (figure) =>
    `req/s ${formatRatio(figure.requestsPerSec / principal.requestsPerSec)}, p99 ${formatRatio(figure.latencyP99Ms / principal.latencyP99Ms)}`;

  const detailRows = [
    { target: 'POST /v1/identity/verifications (a new user each)', ...verify, peak: verify.peakRssBytes, ratio: ratio(verify) },
    {
      target: `GET /v1/credit/score (${formatNumber(figures.scoreUsers)} verified users)`,
      ...score,
      peak: score.peakRssBytes,
      ratio: ratio(score),
    },
    { target: 'GET /v1/principal (baseline: the access guard)', ...principal, peak: figures.peakRssBytes, ratio: '1.00x' },
  ].map((row) => ({
    target: row.target,
    throughput: formatNumber(row.requestsPerSec),
    p50: formatMs(row.latencyP50Ms),
    p99: formatMs(row.latencyP99Ms),
    requests: formatNumber(row.totalRequests),
    failures: row.errors + row.timeouts + row.non2xx,
    peak: formatBytes(row.peak),
    ratio: row.ratio,
  }));
  const detail = [
    formatReport(
      `${name}: identity verifications and credit-score reads (PostgreSQL)`,
      conditions,
      [
        { key: 'target', title: 'target', align: 'left' },
        { key: 'throughput', title: 'req/s (mean)', align: 'right' },
        { key: 'p50', title: 'p50', align: 'right' },
        { key: 'p99', title: 'p99', align: 'right' },
        { key: 'requests', title: 'requests', align: 'right' },
        { key: 'failures', title: 'failures', align: 'right' },
        { key: 'peak', title: 'peak RSS so far', align: 'right' },
        { key: 'ratio', title: 'vs baseline', align: 'left' },
      ],
      detailRows,
    ),
    '',
    `verifications: ${describeTally(figures.verifyTally)} (warm-up and measured); ${formatNumber(figures.usersMeasured)} users in the measured run, ${formatNumber(figures.usersUsed)} of ${formatNumber(settings.users)} in all; ${formatNumber(figures.verifiedRows)} verified identity records in the database`,
    `score reads: ${describeTally(figures.scoreTally)}; ${formatNumber(figures.reports)} credit reports in the database`,
    `service: peak RSS ${formatBytes(figures.peakRssBytes)}; SIGTERM: ${serviceProblems.join('; ') || 'exit 0'}`,
  ].join('\n');

  const note = `${settings.connections} connections`;
  const rows = [
    {
      scenario: `${name}: POST /v1/identity/verifications (postgres)`,
      ...verify,
      peakRssBytes: verify.peakRssBytes,
      baseline: 'GET /v1/principal',
      ratio: ratio(verify),
      notes: [note, ...verifyProblems, ...serviceProblems].join('; '),
    },
    {
      scenario: `${name}: GET /v1/credit/score (postgres)`,
      ...score,
      peakRssBytes: score.peakRssBytes,
      baseline: 'GET /v1/principal',
      ratio: ratio(score),
      notes: [note, ...scoreProblems].join('; '),
    },
    {
      scenario: `${name}: GET /v1/principal, user token (baseline)`,
      ...principal,
      peakRssBytes: figures.peakRssBytes,
      notes: [note, ...loadProblems(principal)].join('; '),
    },
  ];
  return { name, settings: conditions, rows, detail };
}

// Every step above is bounded (start, setup, requests, loads, stop, database work), so the whole run is too.
if (isMainModule(import.meta.url)) {
  run().then(
    (result) => {
      process.stdout.write(`${result.detail}\n`);
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`bench ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
