/* global AbortSignal, URLSearchParams */
// The bank test (after Jepsen's): money moves between 8 wallet accounts while processes crash, pause and
// lose their database, and afterwards nothing acknowledged is lost, nothing refused or unknown was
// applied twice, and the books balance.
//
//   npm run test:chaos                        (builds, then runs this file)
//   CHAOS_SECONDS=30 CHAOS_SEED=123 node test/chaos/bank.mjs
//
// What runs: a throwaway PostgreSQL cluster of its own (initdb in a temporary folder, a free port, fsync
// on; see postgres-cluster.mjs) and two instances of the built service (`node dist/src/main.js`) on it.
// 8 accounts flagged debitsMustNotExceedCredits are funded once with TOTAL_MINOR; then CHAOS_CLIENTS
// clients, each sending every request to one of the two instances at random, transfer random amounts
// between them (POST /v1/ledger/transfers, caller-chosen ids: the id is the idempotency key), reserve
// with pending transfers (timeouts of 1 to 4 s) that they later post (in full or part) or void or leave
// to expire, and read all 8 balances in one snapshot (GET /v1/ledger/balances). Meanwhile a fault
// injector, one fault at a time at random intervals: SIGKILL an instance and start it again; stop
// PostgreSQL in immediate mode and start it again (crash recovery); SIGSTOP an instance and SIGCONT it.
//
// Every request is classed ok, failed (a definite refusal: a 4xx, or a transfer result `failed`) or
// unknown (a timeout, a connection error, a 5xx). After the faults stop and both instances answer
// ready, it checks: every snapshot read summed to the total, with no pending imbalance and no flagged
// account over its limit; every unknown transfer or resolution, retried with its id and the same fields,
// is then applied once or not at all; every acknowledged one is in the ledger exactly once with its
// fields and two entries, every refused one is not; no transfer is there that nobody asked for; every
// pending transfer is resolved exactly once (posted, voided or expired by the service's sweeper); the
// stored balances equal the sums of the entries, debits equal credits, the 8 accounts still hold the
// total; and POST /v1/ledger/verifications finds the ledger whole. It prints the seed, the counts and a
// verdict, and exits 1 on any violation (2 if the run could not be set up, 3 on the hard timeout).
//
// Settings: CHAOS_SEED (a 32-bit integer; random by default), CHAOS_SECONDS (120: workload and faults),
// CHAOS_CLIENTS (8), CHAOS_TIMEOUT_SECONDS (CHAOS_SECONDS + 300: the whole run, then it gives up),
// CHAOS_PG_BIN (PostgreSQL's bin folder; the newest /usr/lib/postgresql/*/bin by default).
// CHAOS_SEED replays the same workload choices and fault schedule (kinds, targets, waits, durations);
// the interleaving with the processes' timing cannot be reproduced exactly, so a replay exercises the
// same schedule, not necessarily the same bug.
import { randomBytes, randomInt } from 'node:crypto';
import pg from 'pg';
import { basicAuthorization, formatTable, freePort, serviceEntry, sleep, spawnChild, withTimeout } from '../../bench/lib.mjs';
import { PostgresCluster } from './postgres-cluster.mjs';

const ACCOUNTS = 8;
const TOTAL_MINOR = 8_000_000n;
const MAX_TRANSFER_MINOR = 250_000;
const MAX_PENDING_MINOR = 150_000;
const PENDING_TIMEOUT_SECONDS = [1, 4];
const CURRENCY = 'CNY';
const REQUEST_TIMEOUT_MS = 5_000;
const READY_TIMEOUT_MS = 60_000;
const HEAL_TIMEOUT_MS = 60_000;
const PENDING_DRAIN_TIMEOUT_MS = 60_000;
const RETRY_ATTEMPTS = 6;
const PLATFORM_CLIENT_ID = 'platform_chaosbank01';
const PLATFORM_CLIENT_SECRET = randomBytes(32).toString('base64url');
const DATABASE = 'creditgate_chaos';
/** Fault schedule: a quiet spell of 1 to 5 s, then one fault. */
const QUIET_MS = [1_000, 5_000];
const KILL_DOWN_MS = [200, 2_000];
const POSTGRES_DOWN_MS = [500, 3_000];
const PAUSE_MS = [1_000, 6_000];

// ---------------------------------------------------------------------------------------------
// Settings and the seeded randomness

function integerSetting(name, fallback, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** mulberry32: small, fast, good enough for choosing workloads; one independent stream per name. */
function randomStream(seed, name) {
  let state = seed >>> 0;
  for (const char of name) state = Math.imul(state ^ char.charCodeAt(0), 0x01000193) >>> 0; // FNV-1a over the name
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.between = ([min, max]) => min + Math.floor(next() * (max - min + 1));
  next.pick = (list) => list[Math.floor(next() * list.length)];
  return next;
}

/** Deterministic, unique ids: the seed, who made it (a client, or the set-up), a counter. */
function makeId(seed, owner, counter) {
  return `${seed.toString(16).padStart(8, '0')}-${owner.toString(16).padStart(4, '0')}-4000-8000-${counter.toString(16).padStart(12, '0')}`;
}
const SETUP_OWNER = 0xffff;

// ---------------------------------------------------------------------------------------------
// Book-keeping

const startedAtMs = Date.now();
const elapsed = () => `+${((Date.now() - startedAtMs) / 1000).toFixed(1)}s`;
const progress = (message) => process.stderr.write(`chaos ${elapsed()} ${message}\n`);

const OPERATIONS = ['transfer', 'pending', 'post', 'void', 'read'];
const counts = Object.fromEntries(OPERATIONS.map((operation) => [operation, { ok: 0, failed: 0, unknown: 0 }]));
/** `operation code` -> how many: why requests were refused, and why they were unknown. */
const refusals = new Map();
const unknownCauses = new Map();
const faultCounts = { kill: 0, postgres: 0, pause: 0 };
const violations = [];
const notes = [];
let snapshotsChecked = 0;
let faultActive = false;
let lastFaultEndedMs = 0;
let serverErrorsOutsideFaults = 0;
let instancesExitedByThemselves = 0;
/** id -> { id, kind: 'transfer' | 'pending', debit, credit, amount, timeoutSeconds, outcome, code, retry } */
const transfers = new Map();
/** resolution id -> { id, pendingId, action: 'post' | 'void', amount (post only, or undefined: in full), outcome, code, retry } */
const resolutions = new Map();

const bump = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);
function violation(message) {
  if (violations.length < 200) violations.push(message);
  else if (violations.length === 200) violations.push('… more violations left out');
}

// ---------------------------------------------------------------------------------------------
// HTTP

let authorization = '';

/** One request, never throwing: { status (0: no answer), body, problem (a problem document?), cause }. */
async function request(instance, method, path, body) {
  try {
    const response = await fetch(`${instance.url}${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const problem = (response.headers.get('content-type') ?? '').startsWith('application/problem+json');
    if (response.status >= 500) {
      if (!problem) violation(`${method} ${path} answered ${response.status} without a problem document: ${text.slice(0, 200)}`);
      if (!faultActive && ++serverErrorsOutsideFaults <= 10)
        notes.push(
          `${method} ${path.split('?')[0]} answered ${response.status} ${parsed?.code ?? ''} outside a fault, ${Date.now() - lastFaultEndedMs} ms after the last one ended`,
        );
    }
    return {
      status: response.status,
      body: parsed,
      problem,
      cause: response.status >= 500 ? `${response.status} ${parsed?.code ?? ''}`.trim() : '',
    };
  } catch (error) {
    const cause = error?.name === 'TimeoutError' ? 'timeout' : (error?.cause?.code ?? error?.name ?? 'error');
    return { status: 0, body: undefined, problem: false, cause };
  }
}

/** ok | failed | unknown, with the refusal's code or the unknown's cause. */
function classify(operation, answer) {
  if (answer.status === 0 || answer.status >= 500) return { outcome: 'unknown', code: answer.cause };
  if (answer.status >= 400) return { outcome: 'failed', code: answer.body?.code ?? String(answer.status) };
  if (operation === 'transfer' || operation === 'pending') {
    const result = answer.body?.results?.[0];
    if (result?.status === 'created' || result?.status === 'replayed') return { outcome: 'ok', code: result.status };
    if (result?.status === 'failed') return { outcome: 'failed', code: result.error?.code ?? 'failed' };
    violation(`a transfer answered ${answer.status} without a result: ${JSON.stringify(answer.body).slice(0, 200)}`);
    return { outcome: 'unknown', code: 'no result' };
  }
  return { outcome: 'ok', code: String(answer.status) };
}

function count(operation, classified) {
  counts[operation][classified.outcome] += 1;
  if (classified.outcome === 'failed') bump(refusals, `${operation} ${classified.code}`);
  if (classified.outcome === 'unknown') bump(unknownCauses, `${operation} ${classified.code}`);
}

function transferBody(record) {
  return {
    transfers: [
      {
        id: record.id,
        debitAccountId: record.debit,
        creditAccountId: record.credit,
        amountMinor: record.amount.toString(),
        currency: CURRENCY,
        code: record.kind === 'pending' ? 'chaos.reserve' : 'chaos.transfer',
        ...(record.kind === 'pending' ? { pending: true, timeoutSeconds: record.timeoutSeconds } : {}),
      },
    ],
  };
}

function resolutionRequest(record) {
  return [
    `/v1/ledger/transfers/${record.pendingId}/${record.action}`,
    { id: record.id, ...(record.amount === undefined ? {} : { amountMinor: record.amount.toString() }) },
  ];
}

// ---------------------------------------------------------------------------------------------
// The service instances

class Instance {
  constructor(name, port, env) {
    this.name = name;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.env = { ...env, PORT: String(port) };
    this.handle = undefined;
    this.expectingExit = false;
  }

  running() {
    return this.handle !== undefined && this.handle.child.exitCode === null && this.handle.child.signalCode === null;
  }

  async start() {
    this.expectingExit = false;
    const handle = spawnChild(process.execPath, [serviceEntry], { env: this.env });
    this.handle = handle;
    void handle.exited.then(({ code, signal }) => {
      if (this.handle !== handle || this.expectingExit) return;
      instancesExitedByThemselves += 1;
      notes.push(`instance ${this.name} exited by itself at ${elapsed()} (${code ?? signal}); last output: ${handle.output().slice(-600)}`);
    });
    await this.waitReady(READY_TIMEOUT_MS);
  }

  async waitReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running()) throw new Error(`instance ${this.name} is not running; its output:\n${this.handle?.output().slice(-3000)}`);
      try {
        const response = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        if (response.status === 200) return;
      } catch {
        // not yet
      }
      await sleep(100);
    }
    throw new Error(`instance ${this.name} was not ready within ${timeoutMs} ms; its output:\n${this.handle?.output().slice(-3000)}`);
  }

  /** Up (started again if it died by itself) and ready. */
  async heal(timeoutMs) {
    if (!this.running()) await this.start();
    await this.waitReady(timeoutMs);
  }

  async kill() {
    this.expectingExit = true;
    this.handle.child.kill('SIGKILL');
    await this.handle.exited;
  }

  signal(name) {
    if (this.running()) this.handle.child.kill(name);
  }

  async stop() {
    if (!this.running()) return;
    this.expectingExit = true;
    this.handle.child.kill('SIGCONT');
    this.handle.child.kill('SIGTERM');
    try {
      await withTimeout(this.handle.exited, 20_000, `instance ${this.name} stop`);
    } catch {
      this.handle.child.kill('SIGKILL');
      await this.handle.exited;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The workload

function checkSnapshot(accounts, where) {
  snapshotsChecked += 1;
  if (!Array.isArray(accounts) || accounts.length !== ACCOUNTS) {
    violation(`${where}: the snapshot has ${accounts?.length} accounts, not ${ACCOUNTS}`);
    return;
  }
  let posted = 0n;
  let debitsPending = 0n;
  let creditsPending = 0n;
  for (const account of accounts) {
    const [dp, dpo, cp, cpo] = [account.debitsPending, account.debitsPosted, account.creditsPending, account.creditsPosted].map(BigInt);
    posted += cpo - dpo;
    debitsPending += dp;
    creditsPending += cp;
    if (dpo + dp > cpo) violation(`${where}: ${account.code} is over its limit (debits ${dpo} + pending ${dp} > credits ${cpo})`);
  }
  if (posted !== TOTAL_MINOR) violation(`${where}: the accounts hold ${posted}, not ${TOTAL_MINOR}`);
  if (debitsPending !== creditsPending)
    violation(`${where}: pending debits ${debitsPending} differ from pending credits ${creditsPending}`);
}

async function client(index, seed, accountIds, instances, deadlineMs) {
  const random = randomStream(seed, `client ${index}`);
  const owner = index + 1;
  let counter = 0;
  /** Acknowledged pending transfers of this client, not yet resolved by it. */
  const pending = [];
  while (Date.now() < deadlineMs) {
    let lastOutcome;
    const instance = random.pick(instances);
    const roll = random();
    if (roll < 0.2) {
      const answer = await request(instance, 'GET', `/v1/ledger/balances?accountIds=${accountIds.join(',')}`);
      const classified = classify('read', answer);
      count('read', classified);
      lastOutcome = classified.outcome;
      if (classified.outcome === 'ok') checkSnapshot(answer.body?.data, `snapshot read from ${instance.name} at ${elapsed()}`);
    } else if (roll < 0.35 && pending.length > 0) {
      const chosen = pending.splice(Math.floor(random() * pending.length), 1)[0];
      const action = random() < 0.6 ? 'post' : 'void';
      const partial = action === 'post' && random() < 0.5;
      const record = {
        id: makeId(seed, owner, counter++),
        pendingId: chosen.id,
        action,
        amount: partial ? BigInt(1 + Math.floor(random() * Number(chosen.amount))) : undefined,
      };
      resolutions.set(record.id, record);
      const [path, body] = resolutionRequest(record);
      const classified = classify(action, await request(instance, 'POST', path, body));
      Object.assign(record, classified);
      count(action, classified);
      lastOutcome = classified.outcome;
    } else {
      const kind = roll < 0.5 ? 'pending' : 'transfer';
      const debit = Math.floor(random() * ACCOUNTS);
      const credit = (debit + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS;
      const record = {
        id: makeId(seed, owner, counter++),
        kind,
        debit: accountIds[debit],
        credit: accountIds[credit],
        amount: BigInt(1 + Math.floor(random() * (kind === 'pending' ? MAX_PENDING_MINOR : MAX_TRANSFER_MINOR))),
        timeoutSeconds: kind === 'pending' ? random.between(PENDING_TIMEOUT_SECONDS) : undefined,
      };
      transfers.set(record.id, record);
      const classified = classify(kind, await request(instance, 'POST', '/v1/ledger/transfers', transferBody(record)));
      Object.assign(record, classified);
      count(kind, classified);
      lastOutcome = classified.outcome;
      // Left unresolved now and then: the sweeper expires it.
      if (kind === 'pending' && classified.outcome === 'ok' && random() < 0.75) pending.push(record);
    }
    // A real client backs off when it gets no answer (an instance down) rather than spin on it.
    if (lastOutcome === 'unknown') await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The faults

async function injectFaults(seed, instances, cluster, deadlineMs) {
  const random = randomStream(seed, 'faults');
  for (;;) {
    // Every draw is made whatever happens, in one order: the same seed gives the same schedule.
    const quietMs = random.between(QUIET_MS);
    const kind = random.pick(['kill', 'postgres', 'pause']);
    const target = random.pick(instances);
    const downMs = random.between(kind === 'kill' ? KILL_DOWN_MS : kind === 'postgres' ? POSTGRES_DOWN_MS : PAUSE_MS);
    if (Date.now() + quietMs >= deadlineMs) return;
    await sleep(quietMs);
    faultActive = true;
    faultCounts[kind] += 1;
    if (kind === 'kill') {
      progress(`fault: SIGKILL instance ${target.name}, start it again after ${downMs} ms`);
      await target.kill();
      await sleep(downMs);
      await target.start();
    } else if (kind === 'postgres') {
      progress(`fault: PostgreSQL stopped in immediate mode for ${downMs} ms`);
      await cluster.stopImmediately();
      await sleep(downMs);
      await cluster.start();
    } else {
      progress(`fault: SIGSTOP instance ${target.name} for ${downMs} ms`);
      target.signal('SIGSTOP');
      await sleep(downMs);
      target.signal('SIGCONT');
    }
    await Promise.all(instances.map((instance) => instance.heal(HEAL_TIMEOUT_MS)));
    faultActive = false;
    lastFaultEndedMs = Date.now();
  }
}

// ---------------------------------------------------------------------------------------------
// After the faults: retries of the unknown, then the checks

/** Sends a request again (alternating instances) until it is ok or failed; the last classification. */
async function retryUntilKnown(operation, instances, send) {
  let classified = { outcome: 'unknown', code: 'not tried' };
  for (let attempt = 0; attempt < RETRY_ATTEMPTS && classified.outcome === 'unknown'; attempt += 1) {
    if (attempt > 0) await sleep(500 * attempt);
    classified = classify(operation, await send(instances[attempt % instances.length]));
  }
  return classified;
}

async function retryUnknown(instances, db) {
  const summary = { retried: 0, appliedBefore: 0, appliedByRetry: 0, notApplied: 0, stillUnknown: 0 };
  const unknownTransfers = [...transfers.values()].filter((entry) => entry.outcome === 'unknown');
  const unknownResolutions = [...resolutions.values()].filter((entry) => entry.outcome === 'unknown');
  const ids = [...unknownTransfers, ...unknownResolutions].map((record) => record.id);
  const { rows } = await db.query('SELECT id::text FROM ledger_transfers WHERE id = ANY($1::uuid[])', [ids]);
  const appliedBefore = new Set(rows.map((row) => row.id));
  const retryOne = async (record) => {
    summary.retried += 1;
    const before = appliedBefore.has(record.id);
    const isTransfer = record.kind !== undefined;
    const [path, body] = isTransfer ? ['/v1/ledger/transfers', transferBody(record)] : resolutionRequest(record);
    const classified = await retryUntilKnown(isTransfer ? record.kind : record.action, instances, (instance) =>
      request(instance, 'POST', path, body),
    );
    record.retry = classified;
    const what = `${isTransfer ? record.kind : record.action} ${record.id}`;
    if (classified.outcome === 'unknown') {
      summary.stillUnknown += 1;
      violation(`${what}: still unknown after ${RETRY_ATTEMPTS} retries (${classified.code})`);
    } else if (classified.outcome === 'failed') {
      summary.notApplied += 1;
      // Applied before, the retry with the same id and fields must replay it, not refuse it.
      if (before) violation(`${what} was in the ledger, yet its retry was refused (${classified.code})`);
    } else if (before || classified.code === 'replayed') {
      summary.appliedBefore += 1;
    } else {
      summary.appliedByRetry += 1;
    }
    if (before && classified.code === 'created') violation(`${what} was in the ledger, yet its retry created it again`);
  };
  // A few at a time, as clients coming back would.
  const queue = [...unknownTransfers, ...unknownResolutions];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let record = queue.shift(); record !== undefined; record = queue.shift()) await retryOne(record);
    }),
  );
  return summary;
}

/** The outcome a record ends with: its own, or its retry's when it was unknown. */
const finalOutcome = (record) => record.retry?.outcome ?? record.outcome;

async function waitForNoPending(db) {
  const deadline = Date.now() + PENDING_DRAIN_TIMEOUT_MS;
  for (;;) {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ledger_transfers WHERE status = 'pending'`);
    if (rows[0].n === 0) return;
    if (Date.now() > deadline) {
      violation(`${rows[0].n} pending transfers were not resolved or expired within ${PENDING_DRAIN_TIMEOUT_MS} ms`);
      return;
    }
    await sleep(500);
  }
}

async function checkLedger(db, accountIds, fundingId, setupIds) {
  const { rows: stored } = await db.query(
    `SELECT t.id::text, t.kind, t.debit_account_id::text AS debit, t.credit_account_id::text AS credit, t.amount::text, t.status,
            t.pending_id::text, t.resolved_by::text, coalesce(e.n, 0)::int AS entries
       FROM ledger_transfers t
       LEFT JOIN (SELECT transfer_id, count(*) AS n FROM ledger_entries GROUP BY transfer_id) e ON e.transfer_id = t.id`,
  );
  const byId = new Map(stored.map((row) => [row.id, row]));
  const resolutionOf = new Map(stored.filter((row) => row.pending_id !== null).map((row) => [row.pending_id, row]));

  for (const row of stored) {
    if (row.entries !== 2) violation(`transfer ${row.id} has ${row.entries} entries, not 2`);
    const known =
      transfers.has(row.id) ||
      resolutions.has(row.id) ||
      setupIds.has(row.id) ||
      (row.kind === 'expire_pending' && transfers.has(row.pending_id));
    if (!known) violation(`transfer ${row.id} (${row.kind}) is in the ledger, but no client asked for it`);
  }
  for (const record of transfers.values()) {
    const row = byId.get(record.id);
    const outcome = finalOutcome(record);
    if (outcome === 'ok') {
      const expected = {
        kind: record.kind === 'pending' ? 'pending' : 'single',
        debit: record.debit,
        credit: record.credit,
        amount: record.amount.toString(),
      };
      if (row === undefined) violation(`acknowledged transfer ${record.id} is not in the ledger`);
      else if (Object.entries(expected).some(([key, value]) => row[key] !== value))
        violation(`transfer ${record.id} is in the ledger as ${JSON.stringify(row)}, not ${JSON.stringify(expected)}`);
    } else if (outcome === 'failed' && row !== undefined) {
      violation(`transfer ${record.id} was refused (${record.retry?.code ?? record.code}), yet it is in the ledger`);
    }
  }
  for (const record of resolutions.values()) {
    const row = byId.get(record.id);
    const outcome = finalOutcome(record);
    if (outcome === 'ok') {
      const pendingRow = byId.get(record.pendingId);
      const kind = record.action === 'post' ? 'post_pending' : 'void_pending';
      const amount = record.action === 'void' ? '0' : (record.amount ?? transfers.get(record.pendingId)?.amount)?.toString();
      if (row === undefined) violation(`acknowledged ${record.action} ${record.id} is not in the ledger`);
      else if (row.kind !== kind || row.pending_id !== record.pendingId || row.amount !== amount)
        violation(`${record.action} ${record.id} is in the ledger as ${JSON.stringify(row)}`);
      if (pendingRow?.resolved_by !== record.id)
        violation(`pending ${record.pendingId} was ${record.action}ed (${record.id}) but is resolved by ${pendingRow?.resolved_by}`);
    } else if (outcome === 'failed' && row !== undefined) {
      violation(`${record.action} ${record.id} was refused (${record.retry?.code ?? record.code}), yet it is in the ledger`);
    }
  }
  const statusOf = { post_pending: 'posted', void_pending: 'voided', expire_pending: 'expired' };
  for (const row of stored.filter((entry) => entry.kind === 'pending')) {
    const resolution = resolutionOf.get(row.id);
    if (resolution === undefined) violation(`pending transfer ${row.id} was never resolved (status ${row.status})`);
    else if (row.resolved_by !== resolution.id || row.status !== statusOf[resolution.kind])
      violation(
        `pending transfer ${row.id} is ${row.status}, resolved by ${row.resolved_by}, but its resolution is ${resolution.id} (${resolution.kind})`,
      );
  }

  // Double entry, balances against entries, limits, heads: straight from the tables.
  const { rows: totals } = await db.query(
    `SELECT currency, sum(debits_posted) = sum(credits_posted) AND sum(debits_pending) = sum(credits_pending) AS balanced
       FROM ledger_accounts GROUP BY currency`,
  );
  for (const row of totals) if (!row.balanced) violation(`debits differ from credits in ${row.currency}`);
  const { rows: mismatched } = await db.query(
    `SELECT a.code FROM ledger_accounts a
       LEFT JOIN LATERAL (
         SELECT coalesce(sum(CASE WHEN side = 'debit' THEN pending_delta END), 0) AS dp,
                coalesce(sum(CASE WHEN side = 'debit' THEN posted_delta END), 0) AS dpo,
                coalesce(sum(CASE WHEN side = 'credit' THEN pending_delta END), 0) AS cp,
                coalesce(sum(CASE WHEN side = 'credit' THEN posted_delta END), 0) AS cpo,
                count(*) AS n, max(seq) AS last
           FROM ledger_entries e WHERE e.account_id = a.id) s ON true
      WHERE (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) <> (s.dp, s.dpo, s.cp, s.cpo)
         OR a.head_seq <> s.n OR coalesce(s.last, 0) <> s.n`,
  );
  for (const row of mismatched) violation(`${row.code}: the stored balances or head differ from the sums of its entries`);
  const { rows: overLimit } = await db.query(
    `SELECT code FROM ledger_accounts
      WHERE (debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted)
         OR (credits_must_not_exceed_debits AND credits_pending + credits_posted > debits_posted)`,
  );
  for (const row of overLimit) violation(`${row.code} is over its limit`);
  const { rows: wallets } = await db.query(
    `SELECT sum(credits_posted - debits_posted)::text AS posted, sum(debits_pending + credits_pending)::text AS pending
       FROM ledger_accounts WHERE id = ANY($1::uuid[])`,
    [accountIds],
  );
  if (BigInt(wallets[0].posted) !== TOTAL_MINOR) violation(`the accounts end with ${wallets[0].posted}, not ${TOTAL_MINOR}`);
  if (BigInt(wallets[0].pending) !== 0n) violation(`the accounts end with ${wallets[0].pending} still pending`);
  const { rows: funding } = await db.query(`SELECT (debits_posted - credits_posted)::text AS out FROM ledger_accounts WHERE id = $1`, [
    fundingId,
  ]);
  if (BigInt(funding[0].out) !== TOTAL_MINOR) violation(`the funding account paid out ${funding[0].out}, not ${TOTAL_MINOR}`);
  const kinds = {};
  for (const row of stored) kinds[row.kind] = (kinds[row.kind] ?? 0) + 1;
  return { count: stored.length, kinds };
}

// ---------------------------------------------------------------------------------------------
// Set-up

async function ledgerToken(instance) {
  const response = await fetch(`${instance.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: basicAuthorization(PLATFORM_CLIENT_ID, PLATFORM_CLIENT_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'ledger:write' }).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.json();
  if (response.status !== 200 || typeof body.access_token !== 'string')
    throw new Error(`no ledger:write token: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function mustSucceed(what, instance, method, path, body, expected) {
  const answer = await request(instance, method, path, body);
  if (!expected.includes(answer.status))
    throw new Error(`${what}: ${answer.status || answer.cause} ${JSON.stringify(answer.body).slice(0, 300)}`);
  return answer.body;
}

async function openAccounts(seed, instance) {
  const setupIds = new Set();
  const open = async (index, code, flagged) => {
    const id = makeId(seed, SETUP_OWNER, index);
    const body = { id, code, currency: CURRENCY, ...(flagged ? { debitsMustNotExceedCredits: true } : {}) };
    return (await mustSucceed(`opening ${code}`, instance, 'POST', '/v1/ledger/accounts', body, [200, 201])).id;
  };
  const fundingId = await open(0, `external:chaos-funding:${CURRENCY}`, false);
  const accountIds = [];
  for (let index = 0; index < ACCOUNTS; index += 1) accountIds.push(await open(1 + index, `chaos:wallet:${index}`, true));
  const funding = accountIds.map((accountId, index) => {
    const id = makeId(seed, SETUP_OWNER, 100 + index);
    setupIds.add(id);
    return {
      id,
      debitAccountId: fundingId,
      creditAccountId: accountId,
      amountMinor: (TOTAL_MINOR / BigInt(ACCOUNTS)).toString(),
      currency: CURRENCY,
      code: 'chaos.funding',
    };
  });
  const answer = await mustSucceed(
    'funding the accounts',
    instance,
    'POST',
    '/v1/ledger/transfers',
    { transfers: funding, linked: true },
    [200],
  );
  if (!answer.results.every((result) => result.status === 'created'))
    throw new Error(`funding refused: ${JSON.stringify(answer.results[0])}`);
  return { fundingId, accountIds, setupIds };
}

// ---------------------------------------------------------------------------------------------
// The run

function report({ seed, seconds, clients, retried, ledger, verification }) {
  const kindCounts = Object.entries(ledger?.kinds ?? {}).map(([kind, n]) => `${kind} ${n}`);
  const rows = OPERATIONS.map((operation) => ({
    operation,
    ...counts[operation],
    total: counts[operation].ok + counts[operation].failed + counts[operation].unknown,
  }));
  const lines = [
    '',
    `== chaos bank: seed ${seed}, ${seconds} s of faults and ${clients} clients, two instances, one PostgreSQL ==`,
    `replay: CHAOS_SEED=${seed} CHAOS_SECONDS=${seconds} npm run test:chaos   (the same schedule; process timing is not reproducible)`,
    '',
    formatTable(
      [
        { key: 'operation', title: 'operation', align: 'left' },
        { key: 'ok', title: 'ok', align: 'right' },
        { key: 'failed', title: 'failed', align: 'right' },
        { key: 'unknown', title: 'unknown', align: 'right' },
        { key: 'total', title: 'total', align: 'right' },
      ],
      rows,
    ),
    '',
    `faults:     ${faultCounts.kill} SIGKILL + restart, ${faultCounts.postgres} PostgreSQL immediate stop + start, ${faultCounts.pause} SIGSTOP + SIGCONT`,
    `refused:    ${[...refusals].map(([key, n]) => `${key} ${n}`).join(', ') || 'none'}`,
    `unknown:    ${[...unknownCauses].map(([key, n]) => `${key} ${n}`).join(', ') || 'none'}`,
    `retried:    ${retried ? `${retried.retried} unknown: ${retried.appliedBefore} had been applied, ${retried.appliedByRetry} applied by the retry, ${retried.notApplied} refused (not applied), ${retried.stillUnknown} still unknown` : '-'}`,
    `snapshots:  ${snapshotsChecked} checked`,
    `ledger:     ${ledger ? `${ledger.count} transfers (${kindCounts.join(', ')})` : '-'}; verification ${verification ? `${verification.ok ? 'whole' : 'BROKEN'} (${verification.entriesChecked} entries, ${verification.problemCount} problems)` : '-'}`,
    `5xx outside a fault: ${serverErrorsOutsideFaults}; instances that exited by themselves: ${instancesExitedByThemselves}`,
    ...notes.map((note) => `note: ${note}`),
    ...violations.map((message) => `VIOLATION: ${message}`),
    '',
    `verdict: ${violations.length === 0 ? 'PASS' : `FAIL (${violations.length} violation${violations.length === 1 ? '' : 's'})`}   (${((Date.now() - startedAtMs) / 1000).toFixed(0)} s in all)`,
  ];
  console.log(lines.join('\n'));
}

async function main() {
  const seed = integerSetting('CHAOS_SEED', randomInt(0, 2 ** 32 - 1), { min: 0, max: 2 ** 32 - 1 });
  const seconds = integerSetting('CHAOS_SECONDS', 120);
  const clients = integerSetting('CHAOS_CLIENTS', 8, { max: 64 });
  const hardTimeoutSeconds = integerSetting('CHAOS_TIMEOUT_SECONDS', seconds + 300);
  progress(`seed ${seed} (replay with CHAOS_SEED=${seed}), ${seconds} s, ${clients} clients`);
  setTimeout(() => {
    console.error(`chaos: the run did not finish within CHAOS_TIMEOUT_SECONDS=${hardTimeoutSeconds}; giving up (seed ${seed})`);
    process.exit(3);
  }, hardTimeoutSeconds * 1000).unref();

  const cluster = new PostgresCluster(await freePort());
  process.on('exit', () => cluster.removeNow());
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130)); // the 'exit' handlers clean up
  const instances = [];
  let db;
  try {
    await cluster.init();
    await cluster.start();
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.end();
    progress(`PostgreSQL ${cluster.bin} on port ${cluster.port}, data in ${cluster.folder}`);

    const ports = [await freePort(), await freePort()];
    const env = {
      DATABASE_URL: cluster.url(DATABASE),
      HOST: '127.0.0.1',
      // One issuer for both, as behind a load balancer: a token from one is good at the other.
      PUBLIC_URL: `http://127.0.0.1:${ports[0]}`,
      LOG_LEVEL: 'warn',
      PLATFORM_CLIENT_ID,
      PLATFORM_CLIENT_SECRET,
      ACCESS_TOKEN_TTL_SECONDS: '3600',
      EXPIRY_SWEEP_INTERVAL_MS: '1000',
      DATABASE_POOL_SIZE: '8',
    };
    instances.push(new Instance('a', ports[0], env), new Instance('b', ports[1], env));
    await Promise.all(instances.map((instance) => instance.start()));
    authorization = `Bearer ${await ledgerToken(instances[0])}`;
    const { fundingId, accountIds, setupIds } = await openAccounts(seed, instances[0]);
    progress(`both instances ready; ${ACCOUNTS} accounts hold ${TOTAL_MINOR}; workload and faults for ${seconds} s`);

    const deadlineMs = Date.now() + seconds * 1000;
    const workload = Promise.all(Array.from({ length: clients }, (_, index) => client(index, seed, accountIds, instances, deadlineMs)));
    await injectFaults(seed, instances, cluster, deadlineMs);
    await workload;
    progress('faults stopped; healing');
    faultActive = true; // the retries below may still meet a connection the faults broke
    await Promise.all(instances.map((instance) => instance.heal(HEAL_TIMEOUT_MS)));

    db = new pg.Client({ connectionString: cluster.url(DATABASE) });
    await db.connect();
    const retried = await retryUnknown(instances, db);
    progress('waiting for every pending transfer to be resolved or expire');
    await waitForNoPending(db);
    const ledger = await checkLedger(db, accountIds, fundingId, setupIds);
    const final = await request(instances[1], 'GET', `/v1/ledger/balances?accountIds=${accountIds.join(',')}`);
    if (final.status === 200) checkSnapshot(final.body?.data, 'the final snapshot');
    else violation(`the final snapshot answered ${final.status || final.cause}`);
    const verification = await mustSucceed('verifying the ledger', instances[0], 'POST', '/v1/ledger/verifications', undefined, [200]);
    if (!verification.ok) violation(`the ledger does not verify: ${JSON.stringify(verification.problems).slice(0, 500)}`);
    report({ seed, seconds, clients, retried, ledger, verification });
  } catch (error) {
    violation(`the run stopped: ${error?.stack ?? error}`);
    report({ seed, seconds, clients });
    process.exitCode = 2;
  } finally {
    await db?.end().catch(() => undefined);
    await Promise.all(instances.map((instance) => instance.stop()));
    cluster.removeNow();
  }
  if (process.exitCode === undefined && violations.length > 0) process.exitCode = 1;
}

await main();
