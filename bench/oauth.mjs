/* global URLSearchParams */
// Scenario "oauth", against the local PostgreSQL server (a fresh bench database, fsync as the server
// has it), one creditgate process, LOG_LEVEL=warn:
//   1. client-credentials tokens issued per second: POST /oauth/token with a merchant client's
//      client_secret_basic credentials, grant_type=client_credentials, scope payments:write;
//   2. the cost of the access guard: GET /v1/principal (any valid token, Bearer) against
//      GET /health/live (public, a similarly trivial handler) on the same server, same connections.
// The platform client (PLATFORM_CLIENT_ID/SECRET) creates the merchant and its client over the API.
//
//   node bench/oauth.mjs                       (after npm run build)
//   BENCH_OAUTH_CONNECTIONS=32 BENCH_DURATION_SECONDS=5 node bench/oauth.mjs
// Settings: BENCH_OAUTH_CONNECTIONS (64; BENCH_CONNECTIONS does not apply here), BENCH_DURATION_SECONDS (10),
// BENCH_WARMUP_SECONDS (2), BENCH_ADMIN_DATABASE_URL.
import { randomBytes, randomUUID } from 'node:crypto';
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
  sleep,
  startService,
  stopProblems,
  stopService,
  basicAuthorization,
  call,
  expectStatus,
} from './lib.mjs';

export const name = 'oauth';

const PLATFORM_CLIENT_ID = 'platform_benchmark01';
/** The service refuses RATE_LIMIT_TOKEN_PER_MINUTE above 1,000,000 (src/config/environment.ts): its maximum. */
const TOKEN_RATE_LIMIT_PER_MINUTE = 1_000_000;
/** ACCESS_TOKEN_TTL_SECONDS is left at its default; a token must outlive the run it is used in, with a margin. */
const ACCESS_TOKEN_TTL_SECONDS = 600;
const TOKEN_MARGIN_SECONDS = 30;
const TOKEN_BODY = 'grant_type=client_credentials&scope=payments%3Awrite';
const FORM = 'application/x-www-form-urlencoded';
const AUDIT_DRAIN_TIMEOUT_MS = 30_000;

/** A client-credentials token; checks it is a Bearer token that outlives `mustOutliveSeconds`. */
async function clientCredentialsToken(baseUrl, authorization, scope, mustOutliveSeconds) {
  const result = await call(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization, 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  expectStatus(`POST /oauth/token (scope ${scope})`, result, 200);
  const { access_token: token, token_type: type, expires_in: expiresIn } = result.body ?? {};
  if (typeof token !== 'string' || String(type).toLowerCase() !== 'bearer') {
    throw new Error(`POST /oauth/token did not return a Bearer access token: ${result.text.slice(0, 300)}`);
  }
  if (!(expiresIn > mustOutliveSeconds)) {
    throw new Error(`the access token lives ${expiresIn} s, not enough for a ${mustOutliveSeconds} s run`);
  }
  return token;
}

/** The merchant client the load uses, made over the admin API with the platform client's token. */
async function createMerchantClient(baseUrl, platformSecret) {
  const adminToken = await clientCredentialsToken(baseUrl, basicAuthorization(PLATFORM_CLIENT_ID, platformSecret), 'admin', 60);
  const adminHeaders = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const merchant = await call(`${baseUrl}/v1/admin/merchants`, {
    method: 'POST',
    headers: { ...adminHeaders, 'idempotency-key': randomUUID() },
    body: JSON.stringify({ name: 'Benchmark merchant' }),
  });
  expectStatus('POST /v1/admin/merchants', merchant, 201);
  const client = await call(`${baseUrl}/v1/admin/clients`, {
    method: 'POST',
    headers: { ...adminHeaders, 'idempotency-key': randomUUID() },
    body: JSON.stringify({ clientType: 'merchant', merchantId: merchant.body.id, name: 'Benchmark merchant backend' }),
  });
  expectStatus('POST /v1/admin/clients', client, 201);
  const { clientId, clientSecret } = client.body ?? {};
  if (typeof clientId !== 'string' || typeof clientSecret !== 'string') {
    throw new Error(`POST /v1/admin/clients returned no client id and secret: ${client.text.slice(0, 300)}`);
  }
  return { merchantId: merchant.body.id, clientId, authorization: basicAuthorization(clientId, clientSecret) };
}

/** The server's durability settings, for the conditions (the figures depend on them). */
async function postgresConditions() {
  const client = new pg.Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  await client.connect();
  try {
    const setting = async (parameter) => (await client.query(`SHOW ${parameter}`)).rows[0][parameter];
    const version = (await setting('server_version')).split(' ')[0];
    return `PostgreSQL ${version}, fsync ${await setting('fsync')}, synchronous_commit ${await setting('synchronous_commit')}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Audit rows for issued tokens, waiting (bounded) until the fire-and-forget inserts catch up with `expected`. */
async function issuedTokenAuditRows(databaseUrl, expected) {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  await client.connect();
  try {
    const deadline = Date.now() + AUDIT_DRAIN_TIMEOUT_MS;
    for (;;) {
      const { rows } = await client.query("SELECT count(*)::int AS n FROM audit_events WHERE action = 'oauth.token.issued'");
      if (rows[0].n >= expected || Date.now() > deadline) return rows[0].n;
      await sleep(250);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A warm-up (not reported), then the measured run; `prepare()` gives fresh request options for each. */
async function warmThenMeasure(label, url, settings, prepare) {
  progress(
    `${name}: ${label}: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s at ${settings.connections} connections`,
  );
  const base = { url, connections: settings.connections };
  if (settings.warmupSeconds > 0) await runAutocannon({ ...base, ...(await prepare()), durationSeconds: settings.warmupSeconds });
  return runAutocannon({ ...base, ...(await prepare()), durationSeconds: settings.durationSeconds });
}

/**
 * @param {{oauthConnections?: number, durationSeconds?: number, warmupSeconds?: number}} options
 * `connections` from bench/run.mjs is ignored: this scenario's default is 64 (BENCH_OAUTH_CONNECTIONS).
 */
export async function run(options = {}) {
  const shared = loadSettings({ durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds });
  const connections = positiveInteger(options.oauthConnections, 'BENCH_OAUTH_CONNECTIONS', 64);
  const settings = { connections, durationSeconds: shared.durationSeconds, warmupSeconds: shared.warmupSeconds };
  const longestRunSeconds = Math.max(settings.durationSeconds, settings.warmupSeconds);
  if (longestRunSeconds + TOKEN_MARGIN_SECONDS >= ACCESS_TOKEN_TTL_SECONDS) {
    throw new Error(
      `a ${longestRunSeconds} s run would outlive the ${ACCESS_TOKEN_TTL_SECONDS} s access token; keep BENCH_DURATION_SECONDS under ${ACCESS_TOKEN_TTL_SECONDS - TOKEN_MARGIN_SECONDS}`,
    );
  }
  const postgres = await postgresConditions();
  const conditions = {
    ...settings,
    postgres: `${postgres} (fresh bench database)`,
    service: `LOG_LEVEL=warn, RATE_LIMIT_TOKEN_PER_MINUTE=${TOKEN_RATE_LIMIT_PER_MINUTE} (its maximum)`,
  };

  const platformSecret = randomBytes(32).toString('base64url'); // 43 characters
  const database = await createBenchDatabase();
  let service;
  const figures = {};
  try {
    service = await startService({
      env: {
        DATABASE_URL: database.url,
        LOG_LEVEL: 'warn',
        PLATFORM_CLIENT_ID,
        PLATFORM_CLIENT_SECRET: platformSecret,
        RATE_LIMIT_TOKEN_PER_MINUTE: String(TOKEN_RATE_LIMIT_PER_MINUTE),
      },
      label: 'creditgate (postgres)',
    });
    const { url } = service;
    const merchant = await createMerchantClient(url, platformSecret);

    // What each load answers, checked once before it is loaded (a fast 4xx is no result).
    const probeToken = await clientCredentialsToken(url, merchant.authorization, 'payments:write', 60);
    const principal = await call(`${url}/v1/principal`, { headers: { authorization: `Bearer ${probeToken}` } });
    expectStatus('GET /v1/principal', principal, 200);
    if (principal.body?.clientId !== merchant.clientId || principal.body?.clientType !== 'merchant') {
      throw new Error(`GET /v1/principal answered for someone else: ${principal.text.slice(0, 300)}`);
    }
    const live = await call(`${url}/health/live`);
    expectStatus('GET /health/live', live, 200);

    // 1. Tokens issued per second.
    const tokenRequest = {
      method: 'POST',
      headers: { authorization: merchant.authorization, 'content-type': FORM },
      body: TOKEN_BODY,
    };
    const tokenUrl = `${url}/oauth/token`;
    progress(
      `${name}: POST /oauth/token: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s at ${connections} connections`,
    );
    let tokensIssued = 0;
    if (settings.warmupSeconds > 0) {
      const warm = await runAutocannon({ url: tokenUrl, connections, durationSeconds: settings.warmupSeconds, ...tokenRequest });
      tokensIssued += warm.totalRequests - warm.non2xx;
    }
    figures.token = await runAutocannon({ url: tokenUrl, connections, durationSeconds: settings.durationSeconds, ...tokenRequest });
    tokensIssued += figures.token.totalRequests - figures.token.non2xx;
    figures.token.peakRssBytes = peakRssBytes(service.pid);
    // Setup and probe tokens: the platform's admin token and the merchant's probe token.
    const expectedAuditRows = tokensIssued + 2;
    figures.auditRows = await issuedTokenAuditRows(database.url, expectedAuditRows);
    figures.expectedAuditRows = expectedAuditRows;

    // 2. The access guard: an unprotected and a protected trivial route, same server, same connections.
    figures.live = await warmThenMeasure('GET /health/live', `${url}/health/live`, settings, async () => ({}));
    figures.principal = await warmThenMeasure('GET /v1/principal', `${url}/v1/principal`, settings, async () => ({
      // A fresh token for each run, so none expires during it (600 s lifetime).
      headers: {
        authorization: `Bearer ${await clientCredentialsToken(url, merchant.authorization, 'payments:write', longestRunSeconds + TOKEN_MARGIN_SECONDS)}`,
      },
    }));
    figures.peakRssBytes = peakRssBytes(service.pid);
  } finally {
    if (service !== undefined) figures.stopped = await stopService(service).catch((error) => ({ forced: true, error }));
    await database.drop();
  }

  const { token, live, principal, stopped } = figures;
  const throughputRatio = principal.requestsPerSec / live.requestsPerSec;
  const p99Ratio = principal.latencyP99Ms / live.latencyP99Ms;
  const serviceProblems = stopped.error ? [`stop failed: ${stopped.error.message}`] : stopProblems(stopped);
  const auditNote =
    figures.auditRows >= figures.expectedAuditRows
      ? undefined
      : `only ${figures.auditRows} of ${figures.expectedAuditRows} oauth.token.issued audit rows ${AUDIT_DRAIN_TIMEOUT_MS / 1000} s after the load`;

  const detailRows = [
    { target: 'POST /oauth/token (client_credentials, merchant client, basic auth)', ...token },
    { target: 'GET /health/live (public)', ...live },
    { target: 'GET /v1/principal (Bearer access token)', ...principal },
  ].map((row) => ({
    target: row.target,
    throughput: formatNumber(row.requestsPerSec),
    p50: formatMs(row.latencyP50Ms),
    p99: formatMs(row.latencyP99Ms),
    requests: formatNumber(row.totalRequests),
    errors: row.errors,
    timeouts: row.timeouts,
    non2xx: row.non2xx,
  }));
  const detail = [
    formatReport(
      `${name}: client-credentials tokens and the access guard (PostgreSQL)`,
      conditions,
      [
        { key: 'target', title: 'target', align: 'left' },
        { key: 'throughput', title: 'req/s (mean)', align: 'right' },
        { key: 'p50', title: 'p50', align: 'right' },
        { key: 'p99', title: 'p99', align: 'right' },
        { key: 'requests', title: 'requests', align: 'right' },
        { key: 'errors', title: 'errors', align: 'right' },
        { key: 'timeouts', title: 'timeouts', align: 'right' },
        { key: 'non2xx', title: 'non-2xx', align: 'right' },
      ],
      detailRows,
    ),
    '',
    `GET /v1/principal / GET /health/live: throughput ${formatRatio(throughputRatio)}, p99 ${formatRatio(p99Ratio)}`,
    `oauth.token.issued audit rows: ${formatNumber(figures.auditRows)} (expected ${formatNumber(figures.expectedAuditRows)}: 2xx token answers, warm-up included, plus 2 set-up tokens)`,
    `peak RSS: ${formatBytes(token.peakRssBytes)} after the token load, ${formatBytes(figures.peakRssBytes)} at the end; SIGTERM: ${serviceProblems.join('; ') || 'exit 0'}`,
  ].join('\n');

  const connectionsNote = `${connections} connections`;
  const rows = [
    {
      scenario: `${name}: POST /oauth/token, client_credentials (postgres)`,
      ...token,
      peakRssBytes: token.peakRssBytes,
      notes: [connectionsNote, ...loadProblems(token), ...(auditNote ? [auditNote] : []), ...serviceProblems].join('; '),
    },
    {
      scenario: `${name}: GET /health/live, unprotected (same server)`,
      ...live,
      peakRssBytes: undefined,
      notes: [connectionsNote, ...loadProblems(live)].join('; '),
    },
    {
      scenario: `${name}: GET /v1/principal, Bearer token (access guard)`,
      ...principal,
      peakRssBytes: figures.peakRssBytes,
      baseline: 'GET /health/live',
      ratio: `req/s ${formatRatio(throughputRatio)}, p99 ${formatRatio(p99Ratio)}`,
      notes: [connectionsNote, ...loadProblems(principal)].join('; '),
    },
  ];
  return { name, settings: { ...conditions, 'HTTP connections': connections }, rows, detail };
}

// Every step above is bounded (start, requests, loads, stop, database work), so the whole run is too.
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
