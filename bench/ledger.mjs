/* global URLSearchParams, setInterval, clearInterval */
// Scenario "ledger": transfers per second and latency when every transfer credits one hot account, and
// how fast the whole ledger verifies. Real PostgreSQL (fsync on), a fresh database for each part:
//
//   1. the posting engine in-process (imported from dist/): CALLERS concurrent callers, each looping
//      `engine.submit({ commands: [one transfer], linked: false })`;
//   2. a naive baseline on the same tables: one transaction per transfer (SELECT both accounts FOR
//      UPDATE in id order, INSERT the transfer and its two hash-chained entries, UPDATE both accounts,
//      COMMIT), the same number of callers over a pool of NAIVE_POOL connections;
//   3. over HTTP: the built service, autocannon POSTing /v1/ledger/transfers, one transfer a request
//      (at saturation: each connection sends its next request when the last is answered); then, on the
//      same service and database, the same requests offered at a constant rate, BENCH_LEDGER_RATE a
//      second (2,000, the goal), each one's latency counted from its scheduled send time (lib.mjs
//      runConstantRate). The goal, at least 2,000 a second with p99 under 50 ms, is met only if the
//      saturation run reaches the rate and the constant-rate run answers it (within 1%) with its p99
//      under 50 ms;
//   4. verification of a generated ledger of BENCH_LEDGER_ENTRIES entries: LedgerVerifier in-process
//      (time, peak RSS of this process) and POST /v1/ledger/verifications (time, the service's RSS).
//
//   node bench/ledger.mjs                       (after npm run build)
//   BENCH_LEDGER_ENTRIES=200000 BENCH_DURATION_SECONDS=5 node bench/ledger.mjs
// Settings: BENCH_LEDGER_CALLERS (64: in-process callers, naive callers and HTTP connections),
// BENCH_LEDGER_ACCOUNTS (1000 funding accounts), BENCH_LEDGER_NAIVE_POOL (60), BENCH_LEDGER_ENTRIES (1,000,000),
// BENCH_LEDGER_RATE (2,000 a second, the constant-rate run's), BENCH_LEDGER_SERVICE_POOL_SIZE (the service's DATABASE_POOL_SIZE),
// BENCH_DURATION_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_ADMIN_DATABASE_URL.
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import pg from 'pg';
import {
  adminDatabaseUrl,
  constantRateConditions,
  constantRateProblems,
  createBenchDatabase,
  describeConstantRate,
  formatBytes,
  formatMs,
  formatNumber,
  formatConditions,
  formatRatio,
  formatTable,
  isMainModule,
  loadProblems,
  loadSettings,
  measureConstantRate,
  peakRssBytes,
  percentile,
  positiveInteger,
  progress,
  repositoryRoot,
  runAutocannon,
  saturationVerdict,
  serviceLevelVerdict,
  sleep,
  startService,
  stopProblems,
  stopService,
  withTimeout,
  basicAuthorization,
  call,
  expectStatus,
} from './lib.mjs';

export const name = 'ledger';

const PLATFORM_CLIENT_ID = 'platform_benchmark01';
const CURRENCY = 'CNY';
const TRANSFER_CODE = 'payment';
const MERCHANT_CODE = 'merchant:bench:hot';
const GENERATION_BATCH = 1000;
const GENERATION_PARALLELISM = 4;
const DRAIN_TIMEOUT_MS = 60_000;
const SETUP_TIMEOUT_MS = 120_000;
const GENERATION_TIMEOUT_MS = 600_000;
const VERIFICATION_TIMEOUT_MS = 300_000;
const RSS_SAMPLE_MS = 100;
/** Goals from issue 4. */
const GOAL_IN_PROCESS_PER_SEC = 5000;
const GOAL_RATIO = 5;
const GOALS_HTTP = { goalPerSec: 2000, goalP99Ms: 50 };

// ---------------------------------------------------------------------------------------------
// The built service's modules (dist/), loaded once.

let distModules;
async function loadDist() {
  if (distModules !== undefined) return distModules;
  await import('reflect-metadata'); // Nest's decorators in the compiled classes read and write metadata
  const load = (path) => import(pathToFileURL(resolve(repositoryRoot, path)).href);
  const [typeorm, options, migrations, engine, service, verifier, clock, hashing, audit] = await Promise.all([
    import('typeorm'),
    load('dist/src/database/data-source-options.js'),
    load('dist/src/database/migration-runner.js'),
    load('dist/src/ledger/posting-engine.js'),
    load('dist/src/ledger/ledger.service.js'),
    load('dist/src/ledger/ledger-verifier.js'),
    load('dist/src/common/clock/clock.js'),
    load('dist/src/ledger/ledger-hashing.js'),
    load('dist/src/audit/audit.service.js'),
  ]);
  distModules = {
    AuditService: audit.AuditService,
    DataSource: typeorm.DataSource,
    dataSourceOptions: options.dataSourceOptions,
    runPendingMigrations: migrations.runPendingMigrations,
    PostingEngine: engine.PostingEngine,
    LedgerService: service.LedgerService,
    LedgerVerifier: verifier.LedgerVerifier,
    SystemClock: clock.SystemClock,
    entryHash: hashing.entryHash,
    transferDigest: hashing.transferDigest,
  };
  return distModules;
}

/** A DataSource on `url` (migrated), with the engine, the facade and the verifier built by hand. */
async function openLedger(url, poolSize = 10) {
  const dist = await loadDist();
  const dataSource = new dist.DataSource(dist.dataSourceOptions({ url, poolSize, statementTimeoutMs: 0 }));
  await withTimeout(dataSource.initialize(), SETUP_TIMEOUT_MS, 'DataSource.initialize');
  const clock = new dist.SystemClock();
  const engine = new dist.PostingEngine(dataSource, clock, new dist.AuditService(dataSource, clock));
  const ledger = new dist.LedgerService(dataSource, engine, clock);
  const close = async () => {
    await withTimeout(engine.onApplicationShutdown(), DRAIN_TIMEOUT_MS, 'engine shutdown').catch(() => undefined);
    if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
  };
  try {
    await withTimeout(dist.runPendingMigrations(dataSource), SETUP_TIMEOUT_MS, 'migrations');
  } catch (error) {
    await close();
    throw error;
  }
  return { dist, dataSource, clock, engine, ledger, close };
}

/** One hot merchant account and `count` funding accounts (no limit flags), opened through LedgerService. */
async function openAccountsInProcess(ledger, count, { merchants = 1 } = {}) {
  const merchantIds = [];
  for (let index = 0; index < merchants; index += 1) {
    const code = merchants === 1 ? MERCHANT_CODE : `${MERCHANT_CODE}-${index}`;
    merchantIds.push((await ledger.openAccount({ code, currency: CURRENCY })).account.id);
  }
  const fundingIds = [];
  for (let start = 0; start < count; start += 50) {
    const chunk = [];
    for (let index = start; index < Math.min(count, start + 50); index += 1) chunk.push(index);
    const opened = await Promise.all(chunk.map((index) => ledger.openAccount({ code: `user:bench-${index}:funding`, currency: CURRENCY })));
    fundingIds.push(...opened.map((result) => result.account.id));
  }
  return { merchantIds, fundingIds };
}

function newTransfer(debitAccountId, creditAccountId) {
  return {
    type: 'transfer',
    id: randomUUID(),
    debitAccountId,
    creditAccountId,
    amount: BigInt(randomInt(1, 10_000)),
    currency: CURRENCY,
    code: TRANSFER_CODE,
    metadata: null,
    pending: false,
    timeoutSeconds: 0,
  };
}

const pick = (list) => list[randomInt(list.length)];

// ---------------------------------------------------------------------------------------------
// Figures

function ms1(value) {
  return value === undefined || Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`;
}

function goal(met) {
  return met ? 'met' : 'MISSED';
}

/**
 * `callers` concurrent loops calling `call()` (resolves true for a success) until warm-up + duration.
 * Only calls that finish inside the measured window count: throughput, p50, p99 over those.
 */
async function closedLoop({ callers, warmupSeconds, durationSeconds, call, databaseName }) {
  const latencies = [];
  let succeededInWindow = 0;
  let failures = 0;
  let failuresInWindow = 0;
  let calls = 0;
  const failureSamples = new Map();
  const started = performance.now();
  const from = started + warmupSeconds * 1000;
  const to = from + durationSeconds * 1000;
  let stopMeter;
  // The server's pids are looked up during the warm-up (the pools are full by then), the meter starts with the window.
  let pids = [];
  const pidTimer = setTimeout(
    () => {
      postgresPids(databaseName).then(
        (found) => (pids = found),
        () => undefined,
      );
    },
    (warmupSeconds * 1000) / 2,
  );
  const meterTimer = setTimeout(() => {
    stopMeter = cpuMeter(undefined, pids);
  }, warmupSeconds * 1000);
  const loop = async () => {
    while (performance.now() < to) {
      const t0 = performance.now();
      let outcome;
      try {
        outcome = await call();
      } catch (error) {
        outcome = { ok: false, reason: error instanceof Error ? error.message.split('\n')[0] : String(error) };
      }
      const t1 = performance.now();
      calls += 1;
      if (!outcome.ok) {
        failures += 1;
        failureSamples.set(outcome.reason, (failureSamples.get(outcome.reason) ?? 0) + 1);
      }
      if (t1 >= from && t1 <= to) {
        latencies.push(t1 - t0);
        if (outcome.ok) succeededInWindow += 1;
        else failuresInWindow += 1;
      }
    }
  };
  await withTimeout(
    Promise.all(Array.from({ length: callers }, loop)),
    (warmupSeconds + durationSeconds) * 1000 + DRAIN_TIMEOUT_MS,
    'the callers',
  ).finally(() => {
    clearTimeout(pidTimer);
    clearTimeout(meterTimer);
  });
  const cpu = stopMeter?.() ?? {};
  const sorted = Float64Array.from(latencies).sort();
  return {
    perSec: succeededInWindow / durationSeconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1),
    measured: latencies.length,
    cpu,
    calls,
    failures,
    failuresInWindow,
    failureSamples: [...failureSamples].slice(0, 3).map(([reason, count]) => `${count} x ${reason}`),
  };
}

/** Checks a ledger database after a load: row counts against successes, double entry, each transfer's two entries. */
async function ledgerCounts(dataSourceOrUrl, merchantId) {
  const query = async (sql, parameters) => {
    if (typeof dataSourceOrUrl === 'string') {
      const client = new pg.Client({ connectionString: dataSourceOrUrl, connectionTimeoutMillis: 10_000, query_timeout: 120_000 });
      await client.connect();
      try {
        return (await client.query(sql, parameters)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    return dataSourceOrUrl.query(sql, parameters);
  };
  const [counts] = await query(
    `SELECT (SELECT count(*) FROM ledger_transfers)::int AS transfers,
            (SELECT count(*) FROM ledger_entries)::int AS entries,
            (SELECT head_seq FROM ledger_accounts WHERE id = $1)::int AS merchant_seq,
            (SELECT sum(debits_posted) = sum(credits_posted) FROM ledger_accounts) AS balanced,
            (SELECT count(*) FROM (SELECT transfer_id FROM ledger_entries GROUP BY transfer_id HAVING count(*) <> 2) odd)::int AS odd_transfers`,
    [merchantId],
  );
  const [batches] = await query(
    `SELECT count(*)::int AS batches, avg(n)::float AS mean, percentile_disc(0.5) WITHIN GROUP (ORDER BY n)::int AS median, max(n)::int AS max
       FROM (SELECT count(*) AS n FROM ledger_transfers GROUP BY created_at) per_timestamp`,
  );
  return { ...counts, batches };
}

async function postgresSettings() {
  const client = new pg.Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  await client.connect();
  try {
    const setting = async (parameter) => (await client.query(`SHOW ${parameter}`)).rows[0][parameter];
    const settings = {};
    for (const parameter of ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'max_connections']) {
      settings[parameter] = await setting(parameter);
    }
    return settings;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `work`, sampling `sample()` (bytes) every 100 ms; returns { result, peak, samples }. */
async function sampled(sample, work) {
  let peak = sample() ?? 0;
  let samples = 1;
  const timer = setInterval(() => {
    const value = sample();
    if (value !== undefined && value > peak) peak = value;
    samples += 1;
  }, RSS_SAMPLE_MS);
  try {
    const result = await work();
    const value = sample();
    if (value !== undefined && value > peak) peak = value;
    return { result, peak, samples };
  } finally {
    clearInterval(timer);
  }
}

function childRss(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Jiffies the whole machine spent busy and in all, from /proc/stat (undefined off Linux). */
function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3] + (fields[4] ?? 0);
    const total = fields.reduce((sum, value) => sum + value, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** CPU seconds a child has used (utime + stime from /proc/<pid>/stat, at the usual 100 ticks a second). */
function childCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Commits and inserted rows so far in one database (pg_stat_database; its counters lag by up to ~0.5 s). */
async function databaseStats(databaseName) {
  const client = new pg.Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  await client.connect();
  try {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query(
      'SELECT xact_commit::float AS commits, tup_inserted::float AS inserted FROM pg_stat_database WHERE datname = $1',
      [databaseName],
    );
    return rows[0] ?? { commits: NaN, inserted: NaN };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The server processes working for one database: its backends, and the WAL writer, checkpointer and
 * background writer every database shares. (The server must be local for their CPU to be read.)
 */
export async function postgresPids(databaseName) {
  const client = new pg.Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT pid FROM pg_stat_activity WHERE (datname = $1 AND pid <> pg_backend_pid()) OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
      [databaseName],
    );
    return rows.map((row) => row.pid);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts a CPU measurement; `stop()` returns { machinePercent (of all cpus), processPercent, childPercent,
 * postgresPercent (each of one cpu) }. `postgres`: pids of the server processes to count.
 */
export function cpuMeter(childPid, postgres = []) {
  const machine = machineCpu();
  const own = process.cpuUsage();
  const child = childPid === undefined ? undefined : childCpuSeconds(childPid);
  const server = new Map(postgres.map((pid) => [pid, childCpuSeconds(pid)]));
  const startedMs = performance.now();
  return () => {
    const seconds = (performance.now() - startedMs) / 1000;
    const machineNow = machineCpu();
    const ownNow = process.cpuUsage(own);
    const childNow = childPid === undefined ? undefined : childCpuSeconds(childPid);
    let serverSeconds = 0;
    for (const [pid, before] of server) {
      const now = childCpuSeconds(pid);
      if (before !== undefined && now !== undefined) serverSeconds += now - before;
    }
    return {
      machinePercent:
        machine && machineNow ? (100 * (machineNow.busy - machine.busy)) / Math.max(1, machineNow.total - machine.total) : undefined,
      processPercent: (100 * (ownNow.user + ownNow.system)) / 1e6 / seconds,
      childPercent: child !== undefined && childNow !== undefined ? (100 * (childNow - child)) / seconds : undefined,
      postgresPercent: server.size > 0 ? (100 * serverSeconds) / seconds : undefined,
    };
  };
}

/** Milliseconds of one cpu a request, from a share of one cpu (%) and the requests answered a second. */
export function cpuPerRequest(sharePercent, perSecond) {
  return sharePercent === undefined || !(perSecond > 0) ? 'not measured' : `${((sharePercent * 10) / perSecond).toFixed(3)} ms`;
}

function percent(value) {
  return value === undefined || Number.isNaN(value) ? '-' : `${value.toFixed(0)}%`;
}

/** A full collection before a memory baseline, when V8 lets us have one. */
function collectGarbage() {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    gc();
    gc();
  } catch {
    // no gc available: the baseline is what it is
  }
}

// ---------------------------------------------------------------------------------------------

async function ledgerToken(baseUrl, platformSecret) {
  const result = await call(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(PLATFORM_CLIENT_ID, platformSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'ledger:write' }).toString(),
  });
  expectStatus('POST /oauth/token (scope ledger:write)', result, 200);
  const token = result.body?.access_token;
  if (typeof token !== 'string') throw new Error(`POST /oauth/token returned no access token: ${result.text.slice(0, 300)}`);
  if (!(result.body.expires_in > 300)) throw new Error(`the access token lives ${result.body.expires_in} s, too short for the run`);
  return token;
}

async function startLedgerService(databaseUrl, label, poolSize) {
  const platformSecret = randomBytes(32).toString('base64url');
  const service = await startService({
    env: {
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      PLATFORM_CLIENT_ID,
      PLATFORM_CLIENT_SECRET: platformSecret,
      ...(poolSize === undefined ? {} : { DATABASE_POOL_SIZE: String(poolSize) }),
    },
    label,
  });
  try {
    const token = await ledgerToken(service.url, platformSecret);
    return { service, token, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } };
  } catch (error) {
    await stopService(service).catch(() => undefined);
    throw error;
  }
}

async function openAccountOverHttp(baseUrl, headers, code) {
  const result = await call(`${baseUrl}/v1/ledger/accounts`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ code, currency: CURRENCY }),
  });
  expectStatus(`POST /v1/ledger/accounts (${code})`, result, 201);
  return result.body.id;
}

// ---------------------------------------------------------------------------------------------
// 1. The engine in-process

/** Mean time from the start of a batch matching `which` to the start of the next batch (its whole turn of the flush loop). */
function meanCycle(batches, which) {
  let sum = 0;
  let count = 0;
  for (let index = 0; index + 1 < batches.length; index += 1) {
    if (!which(batches[index])) continue;
    sum += batches[index + 1].startedMs - batches[index].startedMs;
    count += 1;
  }
  return count === 0 ? NaN : sum / count;
}

export async function benchEngine(settings) {
  const database = await createBenchDatabase();
  let ledgerHandle;
  try {
    ledgerHandle = await openLedger(database.url, 10);
    const { engine, ledger, dataSource, dist, clock } = ledgerHandle;
    progress(`${name}: engine: opening 1 hot merchant account and ${formatNumber(settings.accounts)} funding accounts`);
    const { merchantIds, fundingIds } = await withTimeout(openAccountsInProcess(ledger, settings.accounts), SETUP_TIMEOUT_MS, 'accounts');
    const merchantId = merchantIds[0];

    // Evidence of how the engine batches: each call of the batcher's transaction method is one database
    // transaction (executeBatch, private to the engine in TypeScript and reached here only to count; execute
    // in builds before it existed).
    const batches = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const method = typeof engine.executeBatch === 'function' ? 'executeBatch' : 'execute';
    const execute = engine[method].bind(engine);
    engine[method] = async (...args) => {
      const groups = method === 'executeBatch' ? args[0] : args[1];
      const startedMs = performance.now();
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await execute(...args);
      } finally {
        inFlight -= 1;
        batches.push({
          startedMs,
          commands: groups.reduce((sum, group) => sum + group.commands.length, 0),
          executeMs: performance.now() - startedMs,
        });
      }
    };

    progress(
      `${name}: engine: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s, ${settings.callers} callers, engine.submit() of one transfer each`,
    );
    const loopStarted = performance.now();
    const figures = await closedLoop({
      callers: settings.callers,
      warmupSeconds: settings.warmupSeconds,
      durationSeconds: settings.durationSeconds,
      databaseName: database.name,
      call: async () => {
        const [result] = await engine.submit({ commands: [newTransfer(pick(fundingIds), merchantId)], linked: false });
        if (result?.ok === true && !result.replayed) return { ok: true };
        return { ok: false, reason: result?.ok === false ? `${result.error.code}: ${result.error.message}` : 'replayed or no result' };
      },
    });
    const from = loopStarted + settings.warmupSeconds * 1000;
    const to = from + settings.durationSeconds * 1000;
    const windowBatches = batches.filter((batch) => batch.startedMs >= from && batch.startedMs < to);
    const cycle =
      windowBatches.length > 1 ? (windowBatches.at(-1).startedMs - windowBatches[0].startedMs) / (windowBatches.length - 1) : NaN;
    const batchStats = {
      count: windowBatches.length,
      meanCommands: windowBatches.reduce((sum, batch) => sum + batch.commands, 0) / windowBatches.length,
      maxCommands: Math.max(...windowBatches.map((batch) => batch.commands)),
      meanExecuteMs: windowBatches.reduce((sum, batch) => sum + batch.executeMs, 0) / windowBatches.length,
      meanCycleMs: cycle,
      maxInFlight,
      ofOne: windowBatches.filter((batch) => batch.commands === 1).length,
      cycleOfOneMs: meanCycle(windowBatches, (batch) => batch.commands === 1),
      cycleOfManyMs: meanCycle(windowBatches, (batch) => batch.commands > 1),
      alternating: windowBatches.filter((batch, index) => index > 0 && (batch.commands === 1) !== (windowBatches[index - 1].commands === 1))
        .length,
      firstSizes: windowBatches.slice(0, 12).map((batch) => batch.commands),
    };
    const counts = await ledgerCounts(dataSource, merchantId);
    progress(`${name}: engine: verifying the resulting ledger (${formatNumber(counts.entries)} entries)`);
    const report = await withTimeout(new dist.LedgerVerifier(dataSource, clock).verify(), VERIFICATION_TIMEOUT_MS, 'verification');
    return {
      ...figures,
      batchStats,
      counts,
      verified: report.ok,
      verifyProblems: report.problemCount,
      entriesChecked: report.entriesChecked,
    };
  } finally {
    if (ledgerHandle !== undefined) await ledgerHandle.close();
    await database.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. The naive baseline: one transaction a transfer, row locks

const NAIVE_INSERT_TRANSFER = `INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, currency, code, metadata, pending_id, timeout_at, status, resolved_by, linked_batch_id, created_at)
  VALUES ($1, 'single', $2, $3, $4, $5, $6, NULL, NULL, NULL, 'posted', NULL, NULL, $7)`;
const NAIVE_INSERT_ENTRIES = `INSERT INTO ledger_entries (account_id, seq, transfer_id, side, pending_delta, posted_delta, debits_pending, debits_posted, credits_pending, credits_posted, prev_hash, hash, created_at)
  VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11, $12), ($13, $14, $3, $15, 0, $5, $16, $17, $18, $19, $20, $21, $12)`;
const NAIVE_UPDATE_ACCOUNT = `UPDATE ledger_accounts SET debits_posted = $2, credits_posted = $3, head_seq = $4, head_hash = $5 WHERE id = $1`;

async function naiveTransfer(pool, dist, command) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query('SELECT * FROM ledger_accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [
      [command.debitAccountId, command.creditAccountId].sort(),
    ]);
    const debitRow = rows.find((row) => row.id === command.debitAccountId);
    const creditRow = rows.find((row) => row.id === command.creditAccountId);
    if (debitRow === undefined || creditRow === undefined) throw new Error('an account is missing');
    const now = new Date();
    const transfer = {
      id: command.id,
      kind: 'single',
      debitAccountId: command.debitAccountId,
      creditAccountId: command.creditAccountId,
      amount: command.amount,
      currency: command.currency,
      code: command.code,
      metadata: null,
      pendingId: null,
      timeoutAt: null,
      linkedBatchId: null,
      createdAt: now,
    };
    await client.query(NAIVE_INSERT_TRANSFER, [
      transfer.id,
      transfer.debitAccountId,
      transfer.creditAccountId,
      transfer.amount.toString(),
      transfer.currency,
      transfer.code,
      now,
    ]);
    const digest = dist.transferDigest(transfer);
    const entryOf = (row, side) => {
      const balances = {
        debitsPending: BigInt(row.debits_pending),
        debitsPosted: BigInt(row.debits_posted) + (side === 'debit' ? command.amount : 0n),
        creditsPending: BigInt(row.credits_pending),
        creditsPosted: BigInt(row.credits_posted) + (side === 'credit' ? command.amount : 0n),
      };
      const content = {
        accountId: row.id,
        seq: BigInt(row.head_seq) + 1n,
        transferId: transfer.id,
        transferDigest: digest,
        side,
        pendingDelta: 0n,
        postedDelta: command.amount,
        ...balances,
        createdAt: now,
      };
      return { ...content, prevHash: row.head_hash, hash: dist.entryHash(row.head_hash, content) };
    };
    const debit = entryOf(debitRow, 'debit');
    const credit = entryOf(creditRow, 'credit');
    const entryValues = (entry) => [
      entry.debitsPending.toString(),
      entry.debitsPosted.toString(),
      entry.creditsPending.toString(),
      entry.creditsPosted.toString(),
      entry.prevHash,
      entry.hash,
    ];
    await client.query(NAIVE_INSERT_ENTRIES, [
      debit.accountId,
      debit.seq.toString(),
      transfer.id,
      'debit',
      command.amount.toString(),
      ...entryValues(debit),
      now,
      credit.accountId,
      credit.seq.toString(),
      'credit',
      ...entryValues(credit),
    ]);
    for (const entry of [debit, credit]) {
      await client.query(NAIVE_UPDATE_ACCOUNT, [
        entry.accountId,
        entry.debitsPosted.toString(),
        entry.creditsPosted.toString(),
        entry.seq.toString(),
        entry.hash,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function benchNaive(settings) {
  const database = await createBenchDatabase();
  let ledgerHandle;
  let pool;
  try {
    ledgerHandle = await openLedger(database.url, 10);
    const { ledger, dataSource, dist, clock } = ledgerHandle;
    progress(`${name}: naive: opening 1 hot merchant account and ${formatNumber(settings.accounts)} funding accounts`);
    const { merchantIds, fundingIds } = await withTimeout(openAccountsInProcess(ledger, settings.accounts), SETUP_TIMEOUT_MS, 'accounts');
    const merchantId = merchantIds[0];
    pool = new pg.Pool({ connectionString: database.url, max: settings.naivePool, connectionTimeoutMillis: 30_000 });
    progress(
      `${name}: naive: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s, ${settings.callers} callers over ${settings.naivePool} connections, one transaction a transfer`,
    );
    const figures = await closedLoop({
      callers: settings.callers,
      warmupSeconds: settings.warmupSeconds,
      durationSeconds: settings.durationSeconds,
      databaseName: database.name,
      call: async () => {
        await naiveTransfer(pool, dist, newTransfer(pick(fundingIds), merchantId));
        return { ok: true };
      },
    });
    await pool.end();
    pool = undefined;
    const counts = await ledgerCounts(dataSource, merchantId);
    progress(`${name}: naive: verifying the resulting ledger (${formatNumber(counts.entries)} entries)`);
    const report = await withTimeout(new dist.LedgerVerifier(dataSource, clock).verify(), VERIFICATION_TIMEOUT_MS, 'verification');
    return { ...figures, counts, verified: report.ok, verifyProblems: report.problemCount, entriesChecked: report.entriesChecked };
  } finally {
    if (pool !== undefined) await pool.end().catch(() => undefined);
    if (ledgerHandle !== undefined) await ledgerHandle.close();
    await database.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Over HTTP

export async function benchHttp(settings) {
  const database = await createBenchDatabase();
  let started;
  const figures = {};
  try {
    started = await startLedgerService(database.url, 'creditgate (postgres)', settings.servicePoolSize);
    const { service, headers } = started;
    const { url } = service;
    progress(`${name}: http: opening 1 hot merchant account and ${formatNumber(settings.accounts)} funding accounts over the API`);
    const merchantId = await openAccountOverHttp(url, headers, MERCHANT_CODE);
    const fundingIds = [];
    await withTimeout(
      (async () => {
        for (let start = 0; start < settings.accounts; start += 16) {
          const chunk = [];
          for (let index = start; index < Math.min(settings.accounts, start + 16); index += 1) chunk.push(`user:bench-${index}:funding`);
          fundingIds.push(...(await Promise.all(chunk.map((code) => openAccountOverHttp(url, headers, code)))));
        }
      })(),
      SETUP_TIMEOUT_MS,
      'opening accounts over HTTP',
    );

    // What the load gets back, checked once before it is loaded (a fast 4xx is no result).
    const probeId = randomUUID();
    const probe = await call(`${url}/v1/ledger/transfers`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        transfers: [
          {
            id: probeId,
            debitAccountId: fundingIds[0],
            creditAccountId: merchantId,
            amountMinor: 100,
            currency: CURRENCY,
            code: TRANSFER_CODE,
          },
        ],
      }),
    });
    expectStatus('POST /v1/ledger/transfers (probe)', probe, 200);
    if (probe.body?.results?.[0]?.status !== 'created') throw new Error(`the probe transfer was not created: ${probe.text.slice(0, 300)}`);

    const sentIds = [probeId];
    const tally = { created: 1, failedResults: 0, otherResults: 0, non2xx: 0, unparsable: 0, samples: new Map() };
    const sample = (key) => tally.samples.set(key, (tally.samples.get(key) ?? 0) + 1);
    const request = {
      method: 'POST',
      path: '/v1/ledger/transfers',
      headers,
      setupRequest: (req) => {
        const id = randomUUID();
        sentIds.push(id);
        req.body = JSON.stringify({
          transfers: [
            {
              id,
              debitAccountId: pick(fundingIds),
              creditAccountId: merchantId,
              amountMinor: randomInt(1, 10_000),
              currency: CURRENCY,
              code: TRANSFER_CODE,
            },
          ],
        });
        return req;
      },
      onResponse: (status, body) => {
        if (status < 200 || status >= 300) {
          tally.non2xx += 1;
          sample(`HTTP ${status}: ${String(body).slice(0, 120)}`);
          return;
        }
        let result;
        try {
          result = JSON.parse(body).results?.[0];
        } catch {
          tally.unparsable += 1;
          return;
        }
        if (result?.status === 'created') tally.created += 1;
        else if (result?.status === 'failed') {
          tally.failedResults += 1;
          sample(`failed: ${result.error?.code}`);
        } else {
          tally.otherResults += 1;
          sample(`status ${result?.status}`);
        }
      },
    };
    progress(
      `${name}: http: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s at ${settings.callers} connections, POST /v1/ledger/transfers (one transfer each)`,
    );
    const base = { url, connections: settings.callers, requests: [request] };
    if (settings.warmupSeconds > 0) figures.warmup = await runAutocannon({ ...base, durationSeconds: settings.warmupSeconds });
    const stopMeter = cpuMeter(service.pid, await postgresPids(database.name));
    const statsBefore = await databaseStats(database.name);
    figures.load = await runAutocannon({ ...base, durationSeconds: settings.durationSeconds });
    figures.cpu = stopMeter();
    const statsAfter = await databaseStats(database.name);
    figures.commits = statsAfter.commits - statsBefore.commits;
    figures.inserted = statsAfter.inserted - statsBefore.inserted;
    figures.peakRssBytes = peakRssBytes(service.pid);
    progress(`${name}: http: ${settings.ratePerSec}/s offered: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`);
    const answeredBadly = () => tally.failedResults + tally.otherResults + tally.unparsable;
    const badBefore = answeredBadly();
    figures.constantRate = await measureConstantRate({
      url,
      request,
      connections: settings.callers,
      ratePerSec: settings.ratePerSec,
      durationSeconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
    });
    // 2xx answers whose transfer was not created (warm-up included): the constant-rate figures count them as answered.
    figures.constantRateBadResults = answeredBadly() - badBefore;
    await sleep(500); // requests autocannon gave up on at its end may still be committing
    figures.tally = tally;
    figures.sent = sentIds.length;
    const client = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 10_000, query_timeout: 60_000 });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT count(*)::int AS n, count(DISTINCT t.id)::int AS distinct_ids, sum(CASE WHEN e.n = 2 THEN 1 ELSE 0 END)::int AS with_two_entries
           FROM ledger_transfers t
           LEFT JOIN (SELECT transfer_id, count(*) AS n FROM ledger_entries GROUP BY transfer_id) e ON e.transfer_id = t.id
          WHERE t.id = ANY($1::uuid[])`,
        [sentIds],
      );
      figures.stored = rows[0];
    } finally {
      await client.end().catch(() => undefined);
    }
    figures.counts = await ledgerCounts(database.url, merchantId);
  } finally {
    if (started !== undefined) figures.stopped = await stopService(started.service).catch((error) => ({ forced: true, error }));
    await database.drop();
  }
  return figures;
}

// ---------------------------------------------------------------------------------------------
// 4. Verification of a generated ledger

async function benchVerification(settings) {
  const database = await createBenchDatabase();
  let ledgerHandle;
  let started;
  const figures = {};
  try {
    ledgerHandle = await openLedger(database.url, 10);
    const { engine, ledger, dataSource, dist, clock } = ledgerHandle;
    const { merchantIds, fundingIds } = await withTimeout(
      openAccountsInProcess(ledger, settings.accounts, { merchants: GENERATION_PARALLELISM }),
      SETUP_TIMEOUT_MS,
      'accounts',
    );
    // Each worker owns one merchant and every GENERATION_PARALLELISM-th funding account: no two workers' transactions wait on each other.
    const transfers = Math.ceil(settings.entries / 2);
    const batchCount = Math.ceil(transfers / GENERATION_BATCH);
    progress(
      `${name}: verification: generating ${formatNumber(transfers)} transfers (${formatNumber(transfers * 2)} entries) through engine.execute, ${formatNumber(GENERATION_BATCH)} a transaction, ${GENERATION_PARALLELISM} transactions at a time`,
    );
    let nextBatch = 0;
    let generated = 0;
    const generationStarted = performance.now();
    const worker = async (index) => {
      const own = fundingIds.filter((_, position) => position % GENERATION_PARALLELISM === index);
      for (let batch = nextBatch++; batch < batchCount; batch = nextBatch++) {
        const size = Math.min(GENERATION_BATCH, transfers - batch * GENERATION_BATCH);
        const commands = Array.from({ length: size }, () => newTransfer(pick(own), merchantIds[index]));
        const [results] = await dataSource.transaction((manager) => engine.execute(manager, [{ commands, linked: false }]));
        const refused = results.filter((result) => !result.ok);
        if (refused.length > 0) throw new Error(`${refused.length} generated transfers were refused: ${refused[0].error.code}`);
        generated += size;
      }
    };
    await withTimeout(
      Promise.all(Array.from({ length: GENERATION_PARALLELISM }, (_, index) => worker(index))),
      GENERATION_TIMEOUT_MS,
      'generation',
    );
    figures.generationSeconds = (performance.now() - generationStarted) / 1000;
    figures.generated = generated;
    const [{ entries }] = await dataSource.query('SELECT count(*)::int AS entries FROM ledger_entries');
    figures.entries = entries;
    await dataSource.query('ANALYZE');

    // The service on the same database: one checkpoint (so verification walks one), then the timings.
    started = await startLedgerService(database.url, 'creditgate (postgres, verification)');
    const { service, headers } = started;
    const checkpoint = await call(`${service.url}/v1/ledger/checkpoints`, { method: 'POST', headers, body: '{}', timeoutMs: 120_000 });
    expectStatus('POST /v1/ledger/checkpoints', checkpoint, 201);

    progress(`${name}: verification: LedgerVerifier.verify() in-process over ${formatNumber(entries)} entries`);
    collectGarbage();
    await sleep(200);
    figures.baselineRss = process.memoryUsage().rss;
    const verifier = new dist.LedgerVerifier(dataSource, clock);
    const verifyStarted = performance.now();
    figures.baselineHeap = process.memoryUsage().heapUsed;
    let peakHeap = figures.baselineHeap;
    const inProcess = await sampled(
      () => {
        const usage = process.memoryUsage();
        peakHeap = Math.max(peakHeap, usage.heapUsed);
        return usage.rss;
      },
      () => withTimeout(verifier.verify(), VERIFICATION_TIMEOUT_MS, 'verification in-process'),
    );
    figures.inProcessSeconds = (performance.now() - verifyStarted) / 1000;
    figures.inProcess = inProcess.result;
    figures.inProcessPeakRss = inProcess.peak;
    figures.inProcessPeakHeap = peakHeap;

    progress(`${name}: verification: POST /v1/ledger/verifications over ${formatNumber(entries)} entries`);
    figures.serviceRssBefore = childRss(service.pid);
    figures.serviceHwmBefore = peakRssBytes(service.pid);
    const httpStarted = performance.now();
    const overHttp = await sampled(
      () => childRss(service.pid),
      () =>
        call(`${service.url}/v1/ledger/verifications`, {
          method: 'POST',
          headers: { authorization: headers.authorization },
          timeoutMs: VERIFICATION_TIMEOUT_MS,
        }),
    );
    figures.httpSeconds = (performance.now() - httpStarted) / 1000;
    expectStatus('POST /v1/ledger/verifications', overHttp.result, 200);
    figures.http = overHttp.result.body;
    figures.serviceRssPeak = overHttp.peak;
    figures.serviceHwmAfter = peakRssBytes(service.pid);
  } finally {
    if (started !== undefined) figures.stopped = await stopService(started.service).catch((error) => ({ forced: true, error }));
    if (ledgerHandle !== undefined) await ledgerHandle.close();
    await database.drop();
  }
  return figures;
}

// ---------------------------------------------------------------------------------------------

/** @param {{durationSeconds?: number, warmupSeconds?: number, ledgerCallers?: number, ledgerEntries?: number}} options */
export async function run(options = {}) {
  const shared = loadSettings({ durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds });
  const settings = {
    durationSeconds: shared.durationSeconds,
    warmupSeconds: shared.warmupSeconds,
    callers: positiveInteger(options.ledgerCallers, 'BENCH_LEDGER_CALLERS', 64),
    accounts: positiveInteger(options.ledgerAccounts, 'BENCH_LEDGER_ACCOUNTS', 1000),
    naivePool: positiveInteger(options.ledgerNaivePool, 'BENCH_LEDGER_NAIVE_POOL', 60),
    entries: positiveInteger(options.ledgerEntries, 'BENCH_LEDGER_ENTRIES', 1_000_000),
    servicePoolSize: positiveInteger(options.ledgerServicePoolSize, 'BENCH_LEDGER_SERVICE_POOL_SIZE', undefined),
    ratePerSec: positiveInteger(options.ledgerRate, 'BENCH_LEDGER_RATE', GOALS_HTTP.goalPerSec),
  };
  const pgSettings = await postgresSettings();
  const postgres = `PostgreSQL ${pgSettings.server_version.split(' ')[0]}, fsync ${pgSettings.fsync}, synchronous_commit ${pgSettings.synchronous_commit}, wal_sync_method ${pgSettings.wal_sync_method}, full_page_writes ${pgSettings.full_page_writes}, max_connections ${pgSettings.max_connections}`;
  progress(`${name}: ${postgres}`);
  const conditions = {
    connections: settings.callers,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    postgres: `${postgres} (127.0.0.1, a fresh bench database for each part)`,
    fsync: pgSettings.fsync,
    sync_commit: pgSettings.synchronous_commit,
    accounts: `1 hot merchant account credited by every transfer, ${formatNumber(settings.accounts)} funding accounts debited at random (no limit flags); CNY, 1 to 9,999 minor units`,
    'in-process': `dist/ build: DataSource pool 10 (statement timeout off), new PostingEngine(dataSource, clock, new AuditService(dataSource, clock)); ${settings.callers} callers each looping engine.submit({ commands: [one transfer], linked: false })`,
    naive: `${settings.callers} callers over a pg pool of ${settings.naivePool}; per transfer BEGIN, SELECT 2 accounts FOR UPDATE (id order), INSERT transfer, INSERT 2 entries (entryHash/transferDigest from dist), 2 x UPDATE account, COMMIT`,
    http: `the built service (LOG_LEVEL=warn, DATABASE_POOL_SIZE ${settings.servicePoolSize ?? 'default (10)'}), autocannon in this process, ${settings.callers} connections, one transfer a request with a fresh UUID`,
    'constant rate': `the same requests: ${constantRateConditions({ ...settings, connections: settings.callers })}`,
  };

  progress(`${name}: part 1: the posting engine in-process`);
  const engine = await benchEngine(settings);
  progress(`${name}: part 2: the naive baseline`);
  const naive = await benchNaive(settings);
  progress(`${name}: part 3: POST /v1/ledger/transfers over HTTP`);
  const http = await benchHttp(settings);
  progress(`${name}: part 4: verification of ${formatNumber(settings.entries)} entries`);
  const verification = await benchVerification(settings);

  // ---- report
  const ratio = engine.perSec / naive.perSec;
  const httpLoad = http.load;
  const { constantRate } = http;
  const httpVerdict = serviceLevelVerdict(httpLoad, constantRate, GOALS_HTTP);
  const constantRateIssues = [
    ...constantRateProblems(constantRate),
    ...(http.constantRateBadResults > 0 ? [`${http.constantRateBadResults} answers without a created transfer`] : []),
  ];
  const httpProblems = [
    ...loadProblems(httpLoad),
    ...(http.tally.failedResults > 0 ? [`${http.tally.failedResults} failed results`] : []),
    ...(http.tally.otherResults > 0 ? [`${http.tally.otherResults} results neither created nor failed`] : []),
    ...(http.tally.unparsable > 0 ? [`${http.tally.unparsable} unparsable answers`] : []),
  ];
  const httpStopProblems = http.stopped.error ? [`stop failed: ${http.stopped.error.message}`] : stopProblems(http.stopped);
  const verifyStopProblems = verification.stopped.error
    ? [`stop failed: ${verification.stopped.error.message}`]
    : stopProblems(verification.stopped);

  const loadTable = formatTable(
    [
      { key: 'target', title: 'target', align: 'left' },
      { key: 'throughput', title: 'transfers/s', align: 'right' },
      { key: 'p50', title: 'p50', align: 'right' },
      { key: 'p99', title: 'p99', align: 'right' },
      { key: 'max', title: 'max', align: 'right' },
      { key: 'measured', title: 'calls measured', align: 'right' },
      { key: 'failures', title: 'failures', align: 'right' },
      { key: 'goal', title: 'goal', align: 'left' },
    ],
    [
      {
        target: 'engine in-process (engine.submit, 1 transfer)',
        throughput: formatNumber(engine.perSec),
        p50: ms1(engine.p50Ms),
        p99: ms1(engine.p99Ms),
        max: ms1(engine.maxMs),
        measured: formatNumber(engine.measured),
        failures: engine.failures,
        goal: `> ${formatNumber(GOAL_IN_PROCESS_PER_SEC)}/s: ${goal(engine.perSec > GOAL_IN_PROCESS_PER_SEC)}; >= ${GOAL_RATIO}x naive: ${goal(ratio >= GOAL_RATIO)} (${formatRatio(ratio)})`,
      },
      {
        target: 'naive (1 transaction a transfer, row locks)',
        throughput: formatNumber(naive.perSec),
        p50: ms1(naive.p50Ms),
        p99: ms1(naive.p99Ms),
        max: ms1(naive.maxMs),
        measured: formatNumber(naive.measured),
        failures: naive.failures,
        goal: 'baseline',
      },
      {
        target: 'HTTP POST /v1/ledger/transfers (1 transfer)',
        throughput: formatNumber(httpLoad.requestsPerSec),
        p50: formatMs(httpLoad.latencyP50Ms),
        p99: formatMs(httpLoad.latencyP99Ms),
        max: '-',
        measured: formatNumber(httpLoad.totalRequests),
        failures: httpLoad.non2xx + httpLoad.errors + httpLoad.timeouts + http.tally.failedResults + http.tally.otherResults,
        goal: saturationVerdict(httpLoad, GOALS_HTTP),
      },
      {
        target: `at ${formatNumber(settings.ratePerSec)}/s offered (constant rate, ${settings.callers} connections)`,
        throughput: formatNumber(constantRate.achievedPerSec),
        p50: ms1(constantRate.latencyP50Ms),
        p99: ms1(constantRate.latencyP99Ms),
        max: ms1(constantRate.latencyMaxMs),
        measured: formatNumber(constantRate.recorded),
        failures: constantRate.errors + constantRate.non2xx + constantRate.abandoned + constantRate.cutOff + http.constantRateBadResults,
        goal: httpVerdict,
      },
    ],
  );

  const b = engine.batchStats;
  const lines = [
    `== ${name}: hot-account transfers and verification (PostgreSQL) ==`,
    formatConditions(conditions),
    '',
    loadTable,
    '',
    `engine / naive: ${formatRatio(ratio)} (goal >= ${GOAL_RATIO}x: ${goal(ratio >= GOAL_RATIO)})`,
    `engine batching (measured window): ${formatNumber(b.count)} transactions, ${b.meanCommands.toFixed(1)} transfers each on average (max ${b.maxCommands}), one every ${ms1(b.meanCycleMs)} (execute() ${ms1(b.meanExecuteMs)} of it, the rest BEGIN/COMMIT and the batcher), at most ${b.maxInFlight} transaction(s) in flight`,
    `engine batch sizes: ${formatNumber(b.ofOne)} of ${formatNumber(b.count)} transactions (${((100 * b.ofOne) / b.count).toFixed(0)}%) carried a single transfer (a turn of ${ms1(b.cycleOfOneMs)}; the others a turn of ${ms1(b.cycleOfManyMs)}); consecutive transactions switched between 1 and more than 1 ${formatNumber(b.alternating)} times; the first sizes in the window: ${b.firstSizes.join(', ')}`,
    `engine batching (SQL, transfers per distinct created_at, whole run): ${formatNumber(engine.counts.batches.batches)} batches, mean ${engine.counts.batches.mean.toFixed(1)}, median ${engine.counts.batches.median}, max ${engine.counts.batches.max}`,
    `engine checks: ${formatNumber(engine.calls)} calls (warm-up included), ${engine.failures} failed${engine.failureSamples.length ? ` (${engine.failureSamples.join('; ')})` : ''}; ${formatNumber(engine.counts.transfers)} transfers and ${formatNumber(engine.counts.entries)} entries stored, merchant head seq ${formatNumber(engine.counts.merchant_seq)}, debits = credits: ${engine.counts.balanced}, transfers without exactly 2 entries: ${engine.counts.odd_transfers}; LedgerVerifier: ${engine.verified ? 'ok' : `${engine.verifyProblems} problems`} (${formatNumber(engine.entriesChecked)} entries)`,
    `naive checks: ${formatNumber(naive.calls)} calls (warm-up included), ${naive.failures} failed${naive.failureSamples.length ? ` (${naive.failureSamples.join('; ')})` : ''}; ${formatNumber(naive.counts.transfers)} transfers and ${formatNumber(naive.counts.entries)} entries stored, merchant head seq ${formatNumber(naive.counts.merchant_seq)}, debits = credits: ${naive.counts.balanced}, transfers without exactly 2 entries: ${naive.counts.odd_transfers}; LedgerVerifier: ${naive.verified ? 'ok' : `${naive.verifyProblems} problems`} (${formatNumber(naive.entriesChecked)} entries)`,
    `http constant rate: ${describeConstantRate(constantRate)}`,
    `http checks: ${formatNumber(http.sent)} transfers sent (probe, warm-ups and constant-rate runs included); answers: ${formatNumber(http.tally.created)} created, ${http.tally.failedResults} failed results, ${http.tally.otherResults} other, ${http.tally.non2xx} non-2xx, ${http.tally.unparsable} unparsable${
      http.tally.samples.size
        ? ` (${[...http.tally.samples]
            .slice(0, 3)
            .map(([key, count]) => `${count} x ${key}`)
            .join('; ')})`
        : ''
    }; in the database: ${formatNumber(http.stored.n)} of the sent ids (${formatNumber(http.stored.distinct_ids)} distinct, ${formatNumber(http.stored.with_two_entries)} with exactly 2 entries), ${formatNumber(http.counts.transfers)} transfers in all, merchant head seq ${formatNumber(http.counts.merchant_seq)}, debits = credits: ${http.counts.balanced}; autocannon: ${httpLoad.errors} errors, ${httpLoad.timeouts} timeouts, ${httpLoad.non2xx} non-2xx`,
    `http batching (SQL, transfers per distinct created_at): ${formatNumber(http.counts.batches.batches)} batches, mean ${http.counts.batches.mean.toFixed(1)}, median ${http.counts.batches.median}, max ${http.counts.batches.max}`,
    `CPU in the measured windows (machine: busy share of all ${os.cpus().length} cpus, whoever uses them; the rest: % of one cpu; postgres: the bench database's backends plus WAL writer, checkpointer, bgwriter): engine ${percent(engine.cpu.machinePercent)} machine, ${percent(engine.cpu.processPercent)} this process, ${percent(engine.cpu.postgresPercent)} postgres; naive ${percent(naive.cpu.machinePercent)} machine, ${percent(naive.cpu.processPercent)} this process, ${percent(naive.cpu.postgresPercent)} postgres; http ${percent(http.cpu.machinePercent)} machine, ${percent(http.cpu.childPercent)} service, ${percent(http.cpu.processPercent)} this process (autocannon), ${percent(http.cpu.postgresPercent)} postgres`,
    `http CPU a transfer in the measured window (the shares above over the ${formatNumber(httpLoad.requestsPerSec)} answers a second: a figure to compare across runs when the machine's load varies): service ${cpuPerRequest(http.cpu.childPercent, httpLoad.requestsPerSec)}, postgres ${cpuPerRequest(http.cpu.postgresPercent, httpLoad.requestsPerSec)}`,
    `http database work in the measured window (pg_stat_database): ${formatNumber(http.commits)} commits, ${(http.commits / httpLoad.totalRequests).toFixed(2)} a request; ${formatNumber(http.inserted)} rows inserted, ${(http.inserted / httpLoad.totalRequests).toFixed(2)} a request`,
    `http service: peak RSS ${formatBytes(http.peakRssBytes)}; SIGTERM: ${httpStopProblems.join('; ') || 'exit 0'}`,
    '',
    `verification ledger: ${formatNumber(verification.generated)} transfers, ${formatNumber(verification.entries)} entries, ${formatNumber(settings.accounts + GENERATION_PARALLELISM)} accounts (${GENERATION_PARALLELISM} merchants), 1 checkpoint; generated in ${verification.generationSeconds.toFixed(1)} s (${formatNumber(verification.generated / verification.generationSeconds)} transfers/s through engine.execute, ${formatNumber(GENERATION_BATCH)} a transaction, ${GENERATION_PARALLELISM} at a time)`,
    formatTable(
      [
        { key: 'target', title: 'verification', align: 'left' },
        { key: 'seconds', title: 'time', align: 'right' },
        { key: 'rate', title: 'entries/s', align: 'right' },
        { key: 'entries', title: 'entries checked', align: 'right' },
        { key: 'result', title: 'result', align: 'left' },
        { key: 'memory', title: 'memory', align: 'left' },
      ],
      [
        {
          target: 'LedgerVerifier.verify() in-process',
          seconds: `${verification.inProcessSeconds.toFixed(1)} s`,
          rate: formatNumber(verification.inProcess.entriesChecked / verification.inProcessSeconds),
          entries: formatNumber(verification.inProcess.entriesChecked),
          result: `${verification.inProcess.ok ? 'ok' : 'NOT ok'}, ${verification.inProcess.problemCount} problems, ${formatNumber(verification.inProcess.transfersChecked)} transfers, ${verification.inProcess.checkpointsChecked} checkpoint(s)`,
          memory: `bench RSS peak ${formatBytes(verification.inProcessPeakRss)}, +${formatBytes(verification.inProcessPeakRss - verification.baselineRss)} over ${formatBytes(verification.baselineRss)} before; V8 heap used peak ${formatBytes(verification.inProcessPeakHeap)} (${formatBytes(verification.baselineHeap)} before)`,
        },
        {
          target: 'POST /v1/ledger/verifications (HTTP)',
          seconds: `${verification.httpSeconds.toFixed(1)} s`,
          rate: formatNumber(verification.http.entriesChecked / verification.httpSeconds),
          entries: formatNumber(verification.http.entriesChecked),
          result: `${verification.http.ok ? 'ok' : 'NOT ok'}, ${verification.http.problemCount} problems, ${formatNumber(verification.http.transfersChecked)} transfers, ${verification.http.checkpointsChecked} checkpoint(s); server durationMs ${formatNumber(verification.http.durationMs)}`,
          memory: `service RSS peak ${formatBytes(verification.serviceRssPeak)}, +${formatBytes(verification.serviceRssPeak - verification.serviceRssBefore)} over ${formatBytes(verification.serviceRssBefore)} before; VmHWM ${formatBytes(verification.serviceHwmBefore)} -> ${formatBytes(verification.serviceHwmAfter)}`,
        },
      ],
    ),
    `verification service SIGTERM: ${verifyStopProblems.join('; ') || 'exit 0'}`,
  ];
  const detail = lines.join('\n');

  const rows = [
    {
      scenario: `${name}: engine in-process, 1 hot account`,
      requestsPerSec: engine.perSec,
      latencyP50Ms: engine.p50Ms,
      latencyP99Ms: engine.p99Ms,
      baseline: 'naive',
      ratio: formatRatio(ratio),
      notes: [
        `${settings.callers} callers`,
        `goal > ${formatNumber(GOAL_IN_PROCESS_PER_SEC)}/s and >= ${GOAL_RATIO}x: ${goal(engine.perSec > GOAL_IN_PROCESS_PER_SEC && ratio >= GOAL_RATIO)}`,
        ...(engine.failures > 0 ? [`${engine.failures} failures`] : []),
      ].join('; '),
    },
    {
      scenario: `${name}: naive, 1 transaction a transfer`,
      requestsPerSec: naive.perSec,
      latencyP50Ms: naive.p50Ms,
      latencyP99Ms: naive.p99Ms,
      notes: [
        `${settings.callers} callers, pool ${settings.naivePool}`,
        ...(naive.failures > 0 ? [`${naive.failures} failures`] : []),
      ].join('; '),
    },
    {
      scenario: `${name}: POST /v1/ledger/transfers (postgres)`,
      requestsPerSec: httpLoad.requestsPerSec,
      latencyP50Ms: httpLoad.latencyP50Ms,
      latencyP99Ms: httpLoad.latencyP99Ms,
      peakRssBytes: http.peakRssBytes,
      notes: [`${settings.callers} connections`, saturationVerdict(httpLoad, GOALS_HTTP), ...httpProblems, ...httpStopProblems].join('; '),
    },
    {
      scenario: `${name}: POST /v1/ledger/transfers at ${formatNumber(settings.ratePerSec)}/s offered (constant rate, ${settings.callers} connections)`,
      requestsPerSec: constantRate.achievedPerSec,
      latencyP50Ms: constantRate.latencyP50Ms,
      latencyP99Ms: constantRate.latencyP99Ms,
      notes: [httpVerdict, ...constantRateIssues].join('; '),
    },
    {
      scenario: `${name}: verify ${formatNumber(verification.entries)} entries, in-process`,
      peakRssBytes: verification.inProcessPeakRss,
      notes: `${formatNumber(verification.inProcess.entriesChecked / verification.inProcessSeconds)} entries/s, ${verification.inProcessSeconds.toFixed(1)} s, +${formatBytes(verification.inProcessPeakRss - verification.baselineRss)} RSS, ${verification.inProcess.ok ? 'ok' : 'NOT ok'}`,
    },
    {
      scenario: `${name}: POST /v1/ledger/verifications, ${formatNumber(verification.entries)} entries`,
      peakRssBytes: verification.serviceRssPeak,
      notes: [
        `${formatNumber(verification.http.entriesChecked / verification.httpSeconds)} entries/s, ${verification.httpSeconds.toFixed(1)} s, +${formatBytes(verification.serviceRssPeak - verification.serviceRssBefore)} RSS, ${verification.http.ok ? 'ok' : 'NOT ok'}`,
        ...verifyStopProblems,
      ].join('; '),
    },
  ];
  return { name, settings: { callers: settings.callers, entries: settings.entries, rate: settings.ratePerSec }, rows, detail };
}

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
