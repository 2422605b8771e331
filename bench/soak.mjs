/* global AbortSignal, URLSearchParams, setInterval, clearInterval */
// Soak (issue 9): a mixed workload against the built service for SOAK_MINUTES (10), at a bounded
// concurrency and a capped rate, on a fresh database on the local PostgreSQL server (dropped after).
// Every SOAK_REPORT_SECONDS (30) it prints one line: operations per second by kind, HTTP requests per
// second and their p99, unexpected answers, timeouts, and the service's RSS (/proc/<pid>/status) and V8
// heap in use (nodejs_heap_size_used_bytes from the service's own /metrics). At the end:
//   - memory levelled off: over the second half of the run (the first is warm-up), cut into windows
//     (10% of the run, at least 30 s), each window's floor (its lowest sample: what stays once the
//     garbage collector and transient peaks have gone, which is what a leak raises) rises by at most
//     SOAK_MEMORY_GROWTH_MAX_MIB (16) from the first window to the last, and the least-squares slope of
//     the floors is at most SOAK_MEMORY_SLOPE_MAX_MIB_PER_MINUTE (4); both for the RSS and the heap used;
//   - books balanced: the ledger verifies (POST /v1/ledger/verifications), the trial balance is balanced
//     in every currency, the audit chain verifies;
//   - nothing lost or doubled: the rows stored (top-ups, payments, refunds, payouts, agreements and
//     their outcomes) equal the acknowledged requests (at least, if a request timed out);
//   - the service drained and exited 0 on SIGTERM;
// and it exits 1 on any failed check, unexpected answer or timeout.
//
// The mix, each operation drawn by weight and run by one of SOAK_CONCURRENCY (8) workers, at most
// SOAK_OPS_PER_SECOND (40) operations started a second in all; each worker owns its own users, so one
// user's operations never overlap (a user holds at most one open deposit agreement, as the policy says):
//   topup    POST /v1/wallet/top-ups
//   pay      merchant creates an automatic intent for the user, the user confirms it
//   manual   a manual intent, confirmed (held), then captured in part or whole, or (1 in 5) cancelled
//   refund   part of a paid intent refunded (the fee returned in proportion)
//   payout   the merchant reads its balance and pays out a tenth of it
//   decide   a waiver decision under the bike policy
//   agree    a decision, an agreement (the deposit due held), then activate + complete, activate + cancel, or cancel
//   ledger   the user's wallet, the merchant's statement, or (compliance) transfers, an account and its entries
//   score    the user's credit score
//   audit    compliance queries of the audit trail, one page and (if any) the next
// Tokens are renewed before they expire: users sign in again through the real pages, clients ask again.
//
//   npm run soak                         (builds, then runs this file)
//   SOAK_MINUTES=3 node bench/soak.mjs   (after npm run build)
// Settings: SOAK_MINUTES (10; decimals allowed), SOAK_REPORT_SECONDS (30), SOAK_CONCURRENCY (8),
// SOAK_OPS_PER_SECOND (40), SOAK_USERS (16, at least SOAK_CONCURRENCY), SOAK_MEMORY_GROWTH_MAX_MIB (16),
// SOAK_MEMORY_SLOPE_MAX_MIB_PER_MINUTE (4), BENCH_ADMIN_DATABASE_URL, BENCH_SERVICE_NODE_ARGS.
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  createBenchDatabase,
  formatConditions,
  isMainModule,
  peakRssBytes,
  positiveInteger,
  progress,
  sleep,
  startService,
  stopProblems,
  stopService,
  withTimeout,
  call,
  expectStatus,
} from './lib.mjs';
import { clientCredentialsToken, createMerchantAndClients, inBatches, postJson, signedInUserToken, signUpUsers } from './fixtures.mjs';
import { residentIdNumber } from './identity.mjs';

export const name = 'soak';

const PLATFORM_CLIENT_ID = 'platform_benchmark09';
const PASSWORD = 'benchmark-password-for-the-soak';
const USER_SCOPES = 'payments:pay wallet:read waivers:request identity:verify credit:score';
const MERCHANT_SCOPES = 'payments:write payments:refund payouts:write merchant:read agreements:manage policies:manage';
const FIRST_TOP_UP_MINOR = 5_000_000;
const REQUEST_TIMEOUT_MS = 10_000;
const SAMPLE_INTERVAL_MS = 5_000;
const CHECK_TIMEOUT_MS = 120_000;
const REFUNDABLE_KEPT = 1_000;
const MIB = 1024 * 1024;

/** The story's bike policy, with a half-waiver tier so that some agreements hold part of the deposit. */
const BIKE_POLICY = {
  name: 'Soak bike deposit',
  version: {
    deposit: { amountMinor: '9900', currency: 'CNY' },
    tiers: [
      { minScore: 600, waivePercent: 50 },
      { minScore: 650, waivePercent: 100 },
    ],
    conditions: { requireVerifiedIdentity: true, minimumAge: 18, maxActiveAgreements: 1, allowOutstandingDebt: false },
    agreementLifetimeSeconds: 86_400,
    maxFinalChargeMinor: '3000',
  },
};

const OPERATIONS = [
  ['topup', 10],
  ['pay', 22],
  ['manual', 10],
  ['refund', 8],
  ['payout', 3],
  ['decide', 8],
  ['agree', 10],
  ['ledger', 12],
  ['score', 9],
  ['audit', 8],
];
const OPERATION_NAMES = OPERATIONS.map(([operation]) => operation);
const WEIGHT_TOTAL = OPERATIONS.reduce((sum, [, weight]) => sum + weight, 0);

function pickOperation() {
  let ticket = randomInt(WEIGHT_TOTAL);
  for (const [operation, weight] of OPERATIONS) {
    if (ticket < weight) return operation;
    ticket -= weight;
  }
  throw new Error('unreachable: weights do not add up');
}

// ---------------------------------------------------------------------------------------------
// Settings

function positiveNumber(environmentName, defaultValue) {
  const raw = process.env[environmentName];
  if (raw === undefined || raw === '') return defaultValue;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${environmentName} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

export function loadSoakSettings() {
  const settings = {
    minutes: positiveNumber('SOAK_MINUTES', 10),
    reportSeconds: positiveInteger(undefined, 'SOAK_REPORT_SECONDS', 30),
    concurrency: positiveInteger(undefined, 'SOAK_CONCURRENCY', 8),
    opsPerSecond: positiveNumber('SOAK_OPS_PER_SECOND', 40),
    users: positiveInteger(undefined, 'SOAK_USERS', 16),
    memoryGrowthMaxMiB: positiveNumber('SOAK_MEMORY_GROWTH_MAX_MIB', 16),
    memorySlopeMaxMiBPerMinute: positiveNumber('SOAK_MEMORY_SLOPE_MAX_MIB_PER_MINUTE', 4),
  };
  if (settings.users < settings.concurrency) throw new Error('SOAK_USERS must be at least SOAK_CONCURRENCY: each worker owns its users');
  if (settings.users > 1000) throw new Error('SOAK_USERS must be at most 1000');
  if (settings.concurrency > 64) throw new Error('SOAK_CONCURRENCY must be at most 64: this is a soak, not a stress test');
  if (settings.minutes > 24 * 60) throw new Error('SOAK_MINUTES must be at most 1440');
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Outcomes of one request: an expected answer, a refusal the mix allows (by problem code), or a failure.

class Refusal extends Error {
  constructor(code) {
    super(`refused: ${code}`);
    this.code = code;
  }
}

class Failure extends Error {
  constructor(kind, key) {
    super(key);
    this.kind = kind; // 'unexpected' | 'timeout'
    this.key = key;
  }
}

/** Counters for one report interval and for the whole run. */
function newCounters() {
  return {
    ok: Object.fromEntries(OPERATION_NAMES.map((operation) => [operation, 0])),
    requests: 0,
    latenciesMs: [],
    unexpected: 0,
    timeouts: 0,
    refused: 0,
  };
}

function percentile(values, fraction) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

/** Least-squares slope of y over x. */
function slope(points) {
  if (points.length < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
  let numerator = 0;
  let denominator = 0;
  for (const [x, y] of points) {
    numerator += (x - meanX) * (y - meanY);
    denominator += (x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}

// ---------------------------------------------------------------------------------------------
// Memory of the service

/** The resident set size of a live process now, in bytes (Linux /proc only; undefined elsewhere). */
function residentBytes(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The V8 heap in use, from the service's Prometheus metrics (prom-client's default process metrics). */
async function heapUsedBytes(baseUrl) {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    const match = /^nodejs_heap_size_used_bytes\s+([0-9.e+]+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The verdict on memory over the second half of the run (the first half is warm-up: pools fill, caches
 * and JIT settle). What a leak raises is the floor, the memory that stays after the garbage collector
 * and the transient peaks (a burst of sign-ins, each an argon2id hash; a big page) have gone: so the
 * half is cut into windows (10% of the run, at least 30 s) and each window's lowest sample is its floor.
 * Growth: the last window's floor less the first's; slope: the least-squares slope of the floors.
 */
export function memoryVerdict(samples, runMs, { growthMaxMiB, slopeMaxMiBPerMinute }, field = 'rss') {
  const halfMs = runMs / 2;
  const windowMs = Math.min(Math.max(0.1 * runMs, 30_000), halfMs / 2);
  const floors = [];
  for (let fromMs = halfMs; fromMs + windowMs <= runMs + 1; fromMs += windowMs) {
    const values = samples.filter((sample) => sample[field] !== undefined && sample.atMs >= fromMs && sample.atMs < fromMs + windowMs);
    if (values.length > 0) floors.push([(fromMs + windowMs / 2) / 60_000, Math.min(...values.map((sample) => sample[field])) / MIB]);
  }
  if (floors.length < 2) return { known: false };
  const growthMiB = floors.at(-1)[1] - floors[0][1];
  const slopeMiBPerMinute = slope(floors);
  return {
    known: true,
    growthMiB,
    slopeMiBPerMinute,
    windows: floors.length,
    windowSeconds: Math.round(windowMs / 1000),
    floorsMiB: floors.map(([, floor]) => Math.round(floor)),
    levelled: growthMiB <= growthMaxMiB && slopeMiBPerMinute <= slopeMaxMiBPerMinute,
  };
}

// ---------------------------------------------------------------------------------------------

export async function run() {
  const settings = loadSoakSettings();
  const runMs = settings.minutes * 60_000;
  const database = await createBenchDatabase();
  const platformSecret = randomBytes(24).toString('base64url');
  let service;
  const failures = [];
  const lines = [];
  const say = (line) => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  try {
    service = await startService({
      label: 'creditgate (soak)',
      env: {
        DATABASE_URL: database.url,
        PLATFORM_CLIENT_ID,
        PLATFORM_CLIENT_SECRET: platformSecret,
        RATE_LIMIT_LOGIN_PER_MINUTE: '10000',
        RATE_LIMIT_SIGN_UP_PER_MINUTE: '10000',
        RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
      },
    });
    const { url } = service;

    // Setup, over the API.
    progress(`${name}: setting up a merchant, its clients, the bike policy and ${settings.users} verified users`);
    const setup = await createMerchantAndClients(url, PLATFORM_CLIENT_ID, platformSecret, { merchantName: 'Soak bikes' });
    const merchant = clientCredentialsToken(url, setup.backend.clientId, setup.backend.clientSecret, MERCHANT_SCOPES);
    const compliance = clientCredentialsToken(url, setup.compliance.clientId, setup.compliance.clientSecret, 'audit:read');
    const policy = await postJson(url, await merchant.get(), '/v1/waiver-policies', BIKE_POLICY);
    expectStatus('create waiver policy', policy, 201);
    const policyId = policy.body.id;
    const emails = await signUpUsers(url, settings.users, PASSWORD, 'soak');
    const users = emails.map((email) => ({
      email,
      token: signedInUserToken(url, setup.miniProgram.clientId, email, PASSWORD, USER_SCOPES),
    }));
    await inBatches(
      users.map((user, index) => ({ user, index })),
      8,
      async ({ user, index }) => {
        const token = await user.token.get();
        const principal = await call(`${url}/v1/principal`, { headers: { authorization: `Bearer ${token}` } });
        expectStatus('principal', principal, 200);
        user.id = principal.body.userId;
        const verified = await postJson(url, token, '/v1/identity/verifications', {
          fullName: '骑车人',
          idNumber: residentIdNumber(index),
        });
        expectStatus('identity verification', verified, 201);
        const topUp = await postJson(url, token, '/v1/wallet/top-ups', { amountMinor: FIRST_TOP_UP_MINOR, currency: 'CNY' });
        expectStatus('first top-up', topUp, 201);
      },
    );

    // The workload.
    const total = newCounters();
    let interval = newCounters();
    const acknowledged = {
      topUps: users.length,
      intentsSucceeded: 0,
      intentsCanceled: 0,
      refunds: 0,
      payouts: 0,
      agreements: 0,
      completed: 0,
      cancelled: 0,
    };
    const refusals = new Map();
    const failureSamples = new Map();
    const refundable = [];
    const samples = [];
    const startedMs = performance.now();
    const endMs = startedMs + runMs;
    let serviceGone = false;

    const count = (field, amount = 1) => {
      total[field] += amount;
      interval[field] += amount;
    };

    /** One request: the expected status, else a Refusal when its problem code is allowed, else a Failure. */
    const api = async (route, method, path, { token, body, expect, allow = [], idempotent = method === 'POST' }) => {
      const started = performance.now();
      let result;
      try {
        result =
          method === 'POST'
            ? await postJson(url, token, path, body ?? {}, { idempotent, timeoutMs: REQUEST_TIMEOUT_MS })
            : await call(`${url}${path}`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: REQUEST_TIMEOUT_MS });
      } catch (error) {
        count('requests');
        if (error?.name === 'TimeoutError') throw new Failure('timeout', `${route}: no answer within ${REQUEST_TIMEOUT_MS} ms`);
        throw new Failure('unexpected', `${route}: ${error?.cause?.code ?? error?.message ?? error}`);
      }
      const latencyMs = performance.now() - started;
      count('requests');
      interval.latenciesMs.push(latencyMs); // kept for one interval only: the bench's own memory stays bounded
      if (result.status === expect) return result.body;
      const code = result.body?.code;
      if (allow.includes(code)) throw new Refusal(code);
      throw new Failure('unexpected', `${route}: HTTP ${result.status} ${code ?? result.text.slice(0, 80)}`);
    };

    const check = (route, condition, what) => {
      if (!condition) throw new Failure('unexpected', `${route}: ${what}`);
    };

    const rememberRefundable = (id, amount) => {
      refundable.push({ id, remaining: amount });
      if (refundable.length > REFUNDABLE_KEPT) refundable.splice(0, refundable.length - REFUNDABLE_KEPT);
    };

    const operations = {
      async topup(user) {
        const body = { amountMinor: randomInt(1_000, 20_001), currency: 'CNY' };
        await api('POST /v1/wallet/top-ups', 'POST', '/v1/wallet/top-ups', { token: await user.token.get(), body, expect: 201 });
        acknowledged.topUps += 1;
      },
      async pay(user) {
        const amount = randomInt(100, 5_001);
        const intent = await api('POST /v1/payment-intents', 'POST', '/v1/payment-intents', {
          token: await merchant.get(),
          body: { amountMinor: amount, currency: 'CNY', captureMethod: 'automatic', userId: user.id, description: 'Soak ride' },
          expect: 201,
        });
        const paid = await api('POST /v1/payment-intents/:id/confirm', 'POST', `/v1/payment-intents/${intent.id}/confirm`, {
          token: await user.token.get(),
          expect: 200,
        });
        check('confirm', paid.status === 'succeeded', `status ${paid.status}, expected succeeded`);
        acknowledged.intentsSucceeded += 1;
        rememberRefundable(intent.id, amount);
      },
      async manual(user) {
        const amount = randomInt(200, 10_001);
        const intent = await api('POST /v1/payment-intents', 'POST', '/v1/payment-intents', {
          token: await merchant.get(),
          body: { amountMinor: amount, currency: 'CNY', captureMethod: 'manual', userId: user.id, description: 'Soak hold' },
          expect: 201,
        });
        const held = await api('POST /v1/payment-intents/:id/confirm', 'POST', `/v1/payment-intents/${intent.id}/confirm`, {
          token: await user.token.get(),
          expect: 200,
        });
        check('confirm (manual)', held.status === 'requires_capture', `status ${held.status}, expected requires_capture`);
        if (randomInt(5) === 0) {
          const cancelled = await api('POST /v1/payment-intents/:id/cancel', 'POST', `/v1/payment-intents/${intent.id}/cancel`, {
            token: await merchant.get(),
            expect: 200,
          });
          check('cancel', cancelled.status === 'canceled', `status ${cancelled.status}, expected canceled`);
          acknowledged.intentsCanceled += 1;
          return;
        }
        const captureMinor = randomInt(Math.ceil(amount / 2), amount + 1);
        const captured = await api('POST /v1/payment-intents/:id/capture', 'POST', `/v1/payment-intents/${intent.id}/capture`, {
          token: await merchant.get(),
          body: { amountMinor: captureMinor },
          expect: 200,
        });
        check(
          'capture',
          captured.status === 'succeeded' && captured.amountCapturedMinor === String(captureMinor),
          `captured ${captured.amountCapturedMinor} (${captured.status})`,
        );
        acknowledged.intentsSucceeded += 1;
        rememberRefundable(intent.id, captureMinor);
      },
      async refund() {
        // Taken out while refunded, so that two workers never refund one intent at once.
        const [intent] = refundable.splice(randomInt(refundable.length), 1);
        const amount = intent.remaining < 100 ? intent.remaining : randomInt(1, Math.floor(intent.remaining / 2) + 1);
        const refund = await api('POST /v1/refunds', 'POST', '/v1/refunds', {
          token: await merchant.get(),
          body: { paymentIntentId: intent.id, amountMinor: amount, reason: 'Soak refund' },
          expect: 201,
          // The merchant's balance may be paid out under it by a concurrent payout.
          allow: ['INSUFFICIENT_MERCHANT_BALANCE'],
        }).catch((error) => {
          refundable.push(intent);
          throw error;
        });
        check('refund', refund.amountMinor === String(amount), `refunded ${refund.amountMinor}, asked ${amount}`);
        acknowledged.refunds += 1;
        if (intent.remaining - amount > 0) refundable.push({ id: intent.id, remaining: intent.remaining - amount });
      },
      async payout() {
        const token = await merchant.get();
        const balance = await api('GET /v1/merchant/balance', 'GET', '/v1/merchant/balance', { token, expect: 200 });
        const available = Number(balance.data.find((line) => line.currency === 'CNY')?.availableMinor ?? 0);
        if (available < 1_000) return;
        await api('POST /v1/payouts', 'POST', '/v1/payouts', {
          token,
          body: { amountMinor: Math.floor(available / 10), currency: 'CNY', description: 'Soak payout' },
          expect: 201,
          // A concurrent refund may take part of the balance read above.
          allow: ['INSUFFICIENT_MERCHANT_BALANCE'],
        });
        acknowledged.payouts += 1;
      },
      async decide(user) {
        const decision = await api('POST /v1/waivers/decisions', 'POST', '/v1/waivers/decisions', {
          token: await user.token.get(),
          body: { policyId },
          expect: 201,
          idempotent: false,
        });
        check('decision', ['WAIVED', 'PARTIAL', 'DENIED'].includes(decision.outcome), `outcome ${decision.outcome}`);
        return decision;
      },
      async agree(user) {
        const decision = await operations.decide(user);
        const agreement = await api('POST /v1/deposit-agreements', 'POST', '/v1/deposit-agreements', {
          token: await user.token.get(),
          body: { decisionId: decision.id },
          expect: 201,
        });
        check(
          'agreement',
          agreement.status === 'CREATED' && agreement.heldAmount === decision.depositDue,
          `status ${agreement.status}, held ${agreement.heldAmount}`,
        );
        acknowledged.agreements += 1;
        const token = await merchant.get();
        const step = (action, body) =>
          api(`POST /v1/deposit-agreements/:id/${action}`, 'POST', `/v1/deposit-agreements/${agreement.id}/${action}`, {
            token,
            body,
            expect: 200,
          });
        const path = randomInt(4);
        if (path <= 2) check('activate', (await step('activate')).status === 'ACTIVE', 'not ACTIVE');
        if (path <= 1) {
          const completed = await step('complete', { finalChargeMinor: randomInt(0, 3_001) });
          check('complete', completed.status === 'COMPLETED', `status ${completed.status}`);
          acknowledged.completed += 1;
        } else {
          const cancelled = await step('cancel');
          check('cancel', cancelled.status === 'CANCELLED', `status ${cancelled.status}`);
          acknowledged.cancelled += 1;
        }
      },
      async ledger(user) {
        const kind = randomInt(3);
        if (kind === 0) {
          const wallet = await api('GET /v1/wallet', 'GET', '/v1/wallet', { token: await user.token.get(), expect: 200 });
          check('wallet', wallet.data.length === 1 && BigInt(wallet.data[0].availableMinor) >= 0n, 'no CNY wallet, or negative');
        } else if (kind === 1) {
          await api('GET /v1/merchant/statement', 'GET', '/v1/merchant/statement?limit=20', { token: await merchant.get(), expect: 200 });
        } else {
          const token = await compliance.get();
          const transfers = await api('GET /v1/ledger/transfers', 'GET', '/v1/ledger/transfers?limit=20', { token, expect: 200 });
          const accountId = transfers.data[randomInt(transfers.data.length)]?.creditAccountId;
          if (accountId === undefined) return;
          await api('GET /v1/ledger/accounts/:id', 'GET', `/v1/ledger/accounts/${accountId}`, { token, expect: 200 });
          await api('GET /v1/ledger/accounts/:id/entries', 'GET', `/v1/ledger/accounts/${accountId}/entries?limit=20`, {
            token,
            expect: 200,
          });
        }
      },
      async score(user) {
        const report = await api('GET /v1/credit/score', 'GET', '/v1/credit/score', { token: await user.token.get(), expect: 200 });
        check('score', report.score === 'N/A' || (report.score >= 350 && report.score <= 950), `score ${report.score}`);
      },
      async audit(user) {
        const filters = [
          { action: 'payment_intent.' },
          { action: 'deposit_agreement.' },
          { action: 'oauth.' },
          { merchantId: setup.merchantId },
          { userId: user.id },
          { resourceType: 'ledger_transfer' },
        ];
        const query = new URLSearchParams({ limit: '50', ...filters[randomInt(filters.length)] });
        const token = await compliance.get();
        const page = await api('GET /v1/audit/events', 'GET', `/v1/audit/events?${query}`, { token, expect: 200 });
        if (page.nextCursor) {
          query.set('cursor', page.nextCursor);
          await api('GET /v1/audit/events', 'GET', `/v1/audit/events?${query}`, { token, expect: 200 });
        }
      },
    };

    let nextStartMs = startedMs;
    const pace = async () => {
      const now = performance.now();
      const at = Math.max(now, nextStartMs);
      nextStartMs = at + 1000 / settings.opsPerSecond;
      if (at > now) await sleep(at - now);
    };

    const worker = async (index) => {
      const own = users.filter((_, userIndex) => userIndex % settings.concurrency === index);
      for (let turn = 0; ; turn += 1) {
        await pace();
        if (performance.now() >= endMs || serviceGone) return;
        const drawn = pickOperation();
        // Nothing paid yet to refund (the first seconds): a payment instead.
        const operation = drawn === 'refund' && refundable.length === 0 ? 'pay' : drawn;
        const user = own[turn % own.length];
        try {
          await operations[operation](user);
          total.ok[operation] += 1;
          interval.ok[operation] += 1;
        } catch (error) {
          if (error instanceof Refusal) {
            count('refused');
            const key = `${operation}: ${error.code}`;
            refusals.set(key, (refusals.get(key) ?? 0) + 1);
          } else {
            const failure = error instanceof Failure ? error : new Failure('unexpected', `${operation}: ${error?.message ?? error}`);
            count(failure.kind === 'timeout' ? 'timeouts' : 'unexpected');
            failureSamples.set(failure.key, (failureSamples.get(failure.key) ?? 0) + 1);
          }
        }
      }
    };

    // Reports and memory samples.
    const columns = ['time', ...OPERATION_NAMES, 'req/s', 'p99 ms', 'unexp', 'tmout', 'RSS MiB', 'heap MiB', 'load'];
    const widths = columns.map((column) => Math.max(column.length, 6));
    const row = (cells) => cells.map((cell, index) => String(cell).padStart(widths[index])).join(' ');
    say(
      `== ${name}: ${settings.minutes} min mixed workload, one line every ${settings.reportSeconds} s (operations per second by kind) ==`,
    );
    say(row(columns));
    const sample = async () => {
      if (service.child.exitCode !== null || service.child.signalCode !== null) {
        serviceGone = true;
        return;
      }
      samples.push({ atMs: performance.now() - startedMs, rss: residentBytes(service.pid), heap: await heapUsedBytes(url) });
    };
    let intervalStartedMs = startedMs;
    const report = () => {
      const now = performance.now();
      const seconds = (now - intervalStartedMs) / 1000;
      const latest = samples.at(-1) ?? {};
      const elapsed = Math.round((now - startedMs) / 1000);
      say(
        row([
          `${Math.floor(elapsed / 60)}:${String(elapsed % 60).padStart(2, '0')}`,
          ...OPERATION_NAMES.map((operation) => (interval.ok[operation] / seconds).toFixed(1)),
          (interval.requests / seconds).toFixed(1),
          percentile(interval.latenciesMs, 0.99)?.toFixed(0) ?? '-',
          interval.unexpected,
          interval.timeouts,
          latest.rss === undefined ? '-' : (latest.rss / MIB).toFixed(0),
          latest.heap === undefined ? '-' : (latest.heap / MIB).toFixed(0),
          os.loadavg()[0].toFixed(2),
        ]),
      );
      interval = newCounters();
      intervalStartedMs = now;
    };
    await sample();
    const sampler = setInterval(() => void sample(), SAMPLE_INTERVAL_MS);
    const reporter = setInterval(report, settings.reportSeconds * 1000);
    try {
      await Promise.all(Array.from({ length: settings.concurrency }, (_, index) => worker(index)));
    } finally {
      clearInterval(sampler);
      clearInterval(reporter);
    }
    if ((performance.now() - intervalStartedMs) / 1000 >= 1) report();
    await sample();
    if (serviceGone) failures.push(`the service exited during the run: ${service.output().slice(-2000)}`);

    // Checks after the load.
    const token = await compliance.get();
    const verification = await call(`${url}/v1/ledger/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    expectStatus('ledger verification', verification, 200);
    const trial = await call(`${url}/v1/ledger/trial-balance`, { headers: { authorization: `Bearer ${token}` } });
    expectStatus('trial balance', trial, 200);
    const auditVerification = await call(`${url}/v1/audit/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    expectStatus('audit verification', auditVerification, 200);
    const peakRss = peakRssBytes(service.pid);
    const stopped = await stopService(service);
    service = undefined;
    const stored = await withTimeout(storedCounts(database.url, setup.merchantId), CHECK_TIMEOUT_MS, 'counting stored rows');

    const ledgerOk = verification.body.ok === true;
    const trialOk = trial.body.balanced === true;
    const auditOk = auditVerification.body.ok === true;
    if (!ledgerOk)
      failures.push(
        `ledger verification: ${verification.body.problemCount} problems: ${JSON.stringify(verification.body.problems).slice(0, 500)}`,
      );
    if (!trialOk) failures.push(`trial balance not balanced: ${JSON.stringify(trial.body.data)}`);
    if (!auditOk) failures.push(`audit chain: ${auditVerification.body.brokenEventCount} broken events`);
    failures.push(...stopProblems(stopped));
    const exact = total.timeouts === 0 && total.unexpected === 0;
    const storedRows = [
      ['top-ups', stored.topUps, acknowledged.topUps],
      ['succeeded intents', stored.intentsSucceeded, acknowledged.intentsSucceeded],
      ['canceled intents', stored.intentsCanceled, acknowledged.intentsCanceled],
      ['refunds', stored.refunds, acknowledged.refunds],
      ['payouts', stored.payouts, acknowledged.payouts],
      ['agreements', stored.agreements, acknowledged.agreements],
      ['completed agreements', stored.completed, acknowledged.completed],
      ['cancelled agreements', stored.cancelled, acknowledged.cancelled],
    ];
    for (const [what, found, acked] of storedRows) {
      if (exact ? found !== acked : found < acked) failures.push(`${found} ${what} stored for ${acked} acknowledged`);
    }
    if (total.unexpected > 0) failures.push(`${total.unexpected} unexpected answers`);
    if (total.timeouts > 0) failures.push(`${total.timeouts} timeouts`);

    const bounds = { growthMaxMiB: settings.memoryGrowthMaxMiB, slopeMaxMiBPerMinute: settings.memorySlopeMaxMiBPerMinute };
    const rss = memoryVerdict(samples, runMs, bounds, 'rss');
    const heap = memoryVerdict(samples, runMs, bounds, 'heap');
    if (!rss.known) failures.push('RSS could not be read (no /proc?): memory not judged');
    for (const [what, verdict] of [
      ['RSS', rss],
      ['heap used', heap],
    ]) {
      if (verdict.known && !verdict.levelled)
        failures.push(
          `memory did not level off: the ${what} floor grew ${verdict.growthMiB.toFixed(1)} MiB over the second half, slope ${verdict.slopeMiBPerMinute.toFixed(2)} MiB/min`,
        );
    }

    const elapsedSeconds = (performance.now() - startedMs) / 1000;
    const operationsDone = OPERATION_NAMES.reduce((sum, operation) => sum + total.ok[operation], 0);
    const first = samples.find((entry) => entry.rss !== undefined);
    const lastSample = samples.findLast((entry) => entry.rss !== undefined);
    say('');
    say(
      formatConditions({
        connections: `${settings.concurrency} workers, at most ${settings.opsPerSecond} operations started a second`,
        durationSeconds: Math.round(runMs / 1000),
        users: `${settings.users} verified users (own tokens, renewed ${users.reduce((sum, user) => sum + user.token.renewals, 0)} times by signing in again), 1 merchant`,
      }),
    );
    say(
      `operations:  ${operationsDone} in ${elapsedSeconds.toFixed(0)} s (${(operationsDone / elapsedSeconds).toFixed(1)}/s), ${total.requests} requests (${(total.requests / elapsedSeconds).toFixed(1)}/s)`,
    );
    say(`             ${OPERATION_NAMES.map((operation) => `${operation} ${total.ok[operation]}`).join(', ')}`);
    say(
      `refused as allowed: ${total.refused}${refusals.size > 0 ? ` (${[...refusals].map(([key, n]) => `${n} x ${key}`).join('; ')})` : ''}`,
    );
    say(
      `unexpected: ${total.unexpected}, timeouts: ${total.timeouts}${
        failureSamples.size > 0
          ? `: ${[...failureSamples]
              .slice(0, 8)
              .map(([key, n]) => `${n} x ${key}`)
              .join('; ')}`
          : ''
      }`,
    );
    say(
      `memory:      RSS ${first ? (first.rss / MIB).toFixed(0) : '-'} MiB at the start, ${lastSample ? (lastSample.rss / MIB).toFixed(0) : '-'} MiB at the end, peak ${peakRss === undefined ? '-' : (peakRss / MIB).toFixed(0)} MiB`,
    );
    for (const [what, verdict] of [
      ['RSS', rss],
      ['heap used', heap],
    ]) {
      if (!verdict.known) continue;
      say(
        `             second half, ${what}: floors ${verdict.floorsMiB.join(', ')} MiB (lowest sample of each ${verdict.windowSeconds} s); growth ${signed(verdict.growthMiB)} MiB (bound ${settings.memoryGrowthMaxMiB}), slope ${signed(verdict.slopeMiBPerMinute, 2)} MiB/min (bound ${settings.memorySlopeMaxMiBPerMinute}): ${verdict.levelled ? 'levelled off' : 'NOT LEVELLED'}`,
      );
    }
    say(
      `books:       ledger verification ${ledgerOk ? 'ok' : 'FAILED'} (${verification.body.entriesChecked} entries, ${verification.body.transfersChecked} transfers), trial balance ${trialOk ? 'balanced' : 'NOT BALANCED'}, audit chain ${auditOk ? 'ok' : 'BROKEN'} (${auditVerification.body.eventsChecked} events)`,
    );
    say(`stored:      ${storedRows.map(([what, found, acked]) => `${what} ${found}/${acked}`).join(', ')} (stored/acknowledged)`);
    say(`stop:        ${stopped.forced ? 'killed after the stop timeout' : `exit ${stopped.code} in ${stopped.stopMs.toFixed(0)} ms`}`);
    say(`verdict:     ${failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`}`);
  } finally {
    if (service !== undefined) await stopService(service).catch(() => undefined);
    await database.drop();
  }
  return { ok: failures.length === 0, lines };
}

function signed(value, digits = 1) {
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}

/** What the database holds for the merchant after the run, read directly (the service is stopped). */
async function storedCounts(databaseUrl, merchantId) {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, query_timeout: 60_000 });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT (SELECT count(*)::int FROM wallet_top_ups) AS "topUps",
              (SELECT count(*)::int FROM payment_intents WHERE merchant_id = $1 AND status = 'succeeded') AS "intentsSucceeded",
              (SELECT count(*)::int FROM payment_intents WHERE merchant_id = $1 AND status = 'canceled') AS "intentsCanceled",
              (SELECT count(*)::int FROM refunds) AS refunds,
              (SELECT count(*)::int FROM payouts WHERE merchant_id = $1) AS payouts,
              (SELECT count(*)::int FROM deposit_agreements WHERE merchant_id = $1) AS agreements,
              (SELECT count(*)::int FROM deposit_agreements WHERE merchant_id = $1 AND status = 'COMPLETED') AS completed,
              (SELECT count(*)::int FROM deposit_agreements WHERE merchant_id = $1 AND status = 'CANCELLED') AS cancelled`,
      [merchantId],
    );
    return rows[0];
  } finally {
    await client.end().catch(() => undefined);
  }
}

if (isMainModule(import.meta.url)) {
  run().then(
    (result) => process.exit(result.ok ? 0 : 1),
    (error) => {
      process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
