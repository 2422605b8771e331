/* global AbortSignal */
// Helpers shared by the benchmark scenarios in bench/: child processes, throwaway databases,
// autocannon runs, constant-rate runs and plain-text result tables. Every wait here is bounded, and
// every child process started through this file is killed when the benchmark process exits, however it exits.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';

/** The repository root (bench/..), where `dist/src/main.js` lives after `npm run build`. */
export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const serviceEntry = resolve(repositoryRoot, 'dist/src/main.js');

const READY_TIMEOUT_MS_DEFAULT = 60_000;
const READY_POLL_INTERVAL_MS = 50;
const READY_REQUEST_TIMEOUT_MS = 2_000;
const STOP_TIMEOUT_MS_DEFAULT = 20_000;
const KILL_WAIT_MS = 5_000;
const OUTPUT_KEPT_BYTES = 64 * 1024;
const DATABASE_TIMEOUT_MS = 15_000;
const AUTOCANNON_GRACE_SECONDS = 30;
const CONSTANT_RATE_GRACE_SECONDS = 30;
/** A request sent later than this after its scheduled time, with a connection free, was held up by the generator itself. */
const LATE_START_MS = 1;
/** A constant-rate run achieved its offered rate if it answered at least this share of it (2xx) a second. */
const ACHIEVED_SHARE_MIN = 0.99;
/** An answer's status line and headers longer than this are refused (the service's are about 1 KiB). */
const RESPONSE_HEAD_BYTES_MAX = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Cleanup: children are killed synchronously on 'exit'; databases (async) are dropped on signals.

/** @type {Set<import('node:child_process').ChildProcess>} */
const liveChildren = new Set();
/** @type {Set<() => Promise<void>>} */
const asyncCleanups = new Set();
let signalHandlersInstalled = false;

function installCleanupHandlers() {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  let interrupted = false;
  const onSignal = (signal) => {
    if (interrupted) process.exit(130); // a second ^C: give up on the graceful path
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}: cleaning up\n`);
    for (const child of liveChildren) child.kill('SIGKILL');
    const cleanups = [...asyncCleanups].map((cleanup) => cleanup().catch(() => undefined));
    void withTimeout(Promise.all(cleanups), 10_000, 'cleanup').finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

// ---------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Resolves or rejects with `promise`, or rejects after `ms` with a message naming `what`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the service's PORT=0 is not discoverable). */
export function freePort() {
  return withTimeout(
    new Promise((done, fail) => {
      const server = createServer();
      server.unref();
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => done(port));
      });
    }),
    5_000,
    'finding a free port',
  );
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Reads a positive integer from an option, else an environment variable, else the default. */
export function positiveInteger(optionValue, environmentName, defaultValue) {
  const raw = optionValue ?? process.env[environmentName];
  if (raw === undefined || raw === '') return defaultValue;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${environmentName} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Load settings every HTTP scenario shares: BENCH_CONNECTIONS (100), BENCH_DURATION_SECONDS (10). */
export function loadSettings(options = {}) {
  return {
    connections: positiveInteger(options.connections, 'BENCH_CONNECTIONS', 100),
    durationSeconds: positiveInteger(options.durationSeconds, 'BENCH_DURATION_SECONDS', 10),
    warmupSeconds: positiveInteger(options.warmupSeconds, 'BENCH_WARMUP_SECONDS', 2),
  };
}

/** True when the module at `importMetaUrl` is the script node was asked to run. */
export function isMainModule(importMetaUrl) {
  if (!process.argv[1]) return false;
  try {
    return importMetaUrl === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

/** Progress goes to stderr so stdout carries only the results. */
export function progress(message) {
  process.stderr.write(`bench: ${message}\n`);
}

/** The peak resident set size of a live process, in bytes (Linux /proc only; undefined elsewhere). */
export function peakRssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** A minimal environment: the parent's own creditgate settings (DATABASE_URL, ...) must not leak in. */
function baseEnvironment() {
  const kept = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'SYSTEMROOT']) {
    if (process.env[name] !== undefined) kept[name] = process.env[name];
  }
  return kept;
}

/**
 * Spawns a child process, keeps the tail of its output, and registers it for cleanup.
 * @returns {{ child, pid, spawnedAtMs, output: () => string, exited: Promise<{code, signal}> }}
 */
export function spawnChild(command, args, { env = {}, cwd = repositoryRoot } = {}) {
  installCleanupHandlers();
  const spawnedAtMs = performance.now();
  const child = spawn(command, args, { cwd, env: { ...baseEnvironment(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let output = '';
  const keep = (chunk) => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_KEPT_BYTES) output = output.slice(-OUTPUT_KEPT_BYTES);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((done) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      done({ code, signal });
    });
    child.once('error', (error) => {
      liveChildren.delete(child);
      keep(`spawn error: ${error.message}\n`);
      done({ code: null, signal: null, error });
    });
  });
  return { child, pid: child.pid, spawnedAtMs, output: () => output, exited };
}

function exitedYet(handle) {
  return handle.child.exitCode !== null || handle.child.signalCode !== null;
}

/**
 * Starts the built service (`node dist/src/main.js`) on a free port on 127.0.0.1 and waits until
 * GET /health/ready answers 200. Returns a handle with `url`, `port`, `pid`, `timeToReadyMs`.
 * `env` is added to a minimal environment (PATH, HOME, ...), so nothing from the caller's shell leaks in;
 * `nodeArgs` go to node before the entry (`--cpu-prof`, which NODE_OPTIONS does not admit).
 */
export async function startService({ env = {}, nodeArgs = [], readyTimeoutMs = READY_TIMEOUT_MS_DEFAULT, label = 'creditgate' } = {}) {
  const port = await freePort();
  // Node flags for the service only: the option, plus BENCH_SERVICE_NODE_ARGS (e.g. `--cpu-prof
  // --cpu-prof-dir=/tmp/prof`; node 20 refuses --cpu-prof in NODE_OPTIONS, and the bench's own
  // environment does not reach the child).
  const serviceArgs = [...nodeArgs, ...(process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((arg) => arg.length > 0)];
  const handle = spawnChild(process.execPath, [...serviceArgs, serviceEntry], {
    env: { LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env, PORT: String(port) },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForReady(handle, `${url}/health/ready`, readyTimeoutMs, label);
  } catch (error) {
    await stopService(handle).catch(() => undefined);
    throw error;
  }
  return Object.assign(handle, { url, port, label, timeToReadyMs: handle.readyAtMs - handle.spawnedAtMs });
}

/** Polls `readyUrl` until it answers 200, the child exits, or `timeoutMs` passes. */
async function waitForReady(handle, readyUrl, timeoutMs, label) {
  const deadline = handle.spawnedAtMs + timeoutMs;
  for (;;) {
    if (exitedYet(handle)) {
      const { code, signal } = await handle.exited;
      throw new Error(`${label} exited before it was ready (code ${code}, signal ${signal}); its output:\n${handle.output()}`);
    }
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(READY_REQUEST_TIMEOUT_MS) });
      await response.arrayBuffer();
      if (response.status === 200) {
        handle.readyAtMs = performance.now();
        return;
      }
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      throw new Error(`${label} was not ready within ${timeoutMs} ms; its output:\n${handle.output()}`);
    }
    await sleep(READY_POLL_INTERVAL_MS);
  }
}

/**
 * Starts a child and waits until it prints `marker` on stdout (for the bare Fastify baseline).
 * Returns the same kind of handle as startService.
 */
export async function startMarkedChild(scriptPath, { env = {}, marker = 'ready', timeoutMs = 30_000, label = scriptPath } = {}) {
  const port = await freePort();
  const handle = spawnChild(process.execPath, [scriptPath], { env: { ...env, PORT: String(port) } });
  try {
    await withTimeout(
      new Promise((done, fail) => {
        let seen = '';
        const onData = (chunk) => {
          seen += chunk.toString('utf8');
          if (seen.split(/\r?\n/).some((line) => line.trim() === marker)) {
            handle.child.stdout.off('data', onData);
            done();
          }
        };
        handle.child.stdout.on('data', onData);
        void handle.exited.then(({ code, signal }) =>
          fail(new Error(`${label} exited before printing '${marker}' (code ${code}, signal ${signal}); its output:\n${handle.output()}`)),
        );
      }),
      timeoutMs,
      `${label} start`,
    );
  } catch (error) {
    await stopService(handle).catch(() => undefined);
    throw error;
  }
  handle.readyAtMs = performance.now();
  return Object.assign(handle, { url: `http://127.0.0.1:${port}`, port, label, timeToReadyMs: handle.readyAtMs - handle.spawnedAtMs });
}

/**
 * Sends SIGTERM and waits (bounded) for the child to exit; falls back to SIGKILL.
 * Returns { code, signal, stopMs, forced } so a caller can check the service drained and exited 0.
 */
export async function stopService(handle, { timeoutMs = STOP_TIMEOUT_MS_DEFAULT } = {}) {
  const startedMs = performance.now();
  if (!exitedYet(handle)) handle.child.kill('SIGTERM');
  let forced = false;
  let status;
  try {
    status = await withTimeout(handle.exited, timeoutMs, `${handle.label ?? 'child'} stop`);
  } catch {
    forced = true;
    handle.child.kill('SIGKILL');
    status = await withTimeout(handle.exited, KILL_WAIT_MS, `${handle.label ?? 'child'} kill`);
  }
  return { ...status, stopMs: performance.now() - startedMs, forced };
}

// ---------------------------------------------------------------------------------------------
// Throwaway databases on the local PostgreSQL server

/** The maintenance database used to create and drop bench databases (BENCH_ADMIN_DATABASE_URL). */
export function adminDatabaseUrl() {
  return process.env.BENCH_ADMIN_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

async function withAdminClient(work) {
  const client = new pg.Client({
    connectionString: adminDatabaseUrl(),
    connectionTimeoutMillis: DATABASE_TIMEOUT_MS,
    query_timeout: DATABASE_TIMEOUT_MS,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates `creditgate_bench_<random>` and returns { name, url, drop }. `drop()` is idempotent and is
 * also run if the benchmark is interrupted.
 */
export async function createBenchDatabase() {
  installCleanupHandlers();
  const name = `creditgate_bench_${randomBytes(6).toString('hex')}`;
  // The name is ours (fixed prefix, hex), so quoting it as an identifier is safe.
  await withAdminClient((client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    dropped = true;
    asyncCleanups.delete(drop);
  };
  asyncCleanups.add(drop);
  return { name, url: url.toString(), drop };
}

/** Lists databases on the local server whose names mark them as bench leftovers. */
export async function listBenchDatabases() {
  return withAdminClient(async (client) => {
    const { rows } = await client.query("SELECT datname FROM pg_database WHERE datname LIKE 'creditgate\\_bench\\_%' ORDER BY 1");
    return rows.map((row) => row.datname);
  });
}

// ---------------------------------------------------------------------------------------------
// Load generation

/**
 * Runs autocannon against `url` and returns the figures the tables use:
 * { requestsPerSec (mean of per-second samples), latencyP50Ms, latencyP99Ms, errors, timeouts, non2xx, totalRequests }.
 * Bounded: stopped after duration + 30 s whatever happens.
 */
export async function runAutocannon({ url, connections = 100, durationSeconds = 10, ...rest }) {
  const instance = autocannon({ url, connections, duration: durationSeconds, ...rest });
  let result;
  try {
    result = await withTimeout(instance, (durationSeconds + AUTOCANNON_GRACE_SECONDS) * 1000, `autocannon against ${url}`);
  } catch (error) {
    instance.stop();
    throw error;
  }
  return {
    requestsPerSec: result.requests.mean,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    totalRequests: result.requests.total,
  };
}

/** A warm-up run (not reported), then the measured run. */
export async function measure(url, { connections, durationSeconds, warmupSeconds }) {
  if (warmupSeconds > 0) await runAutocannon({ url, connections, durationSeconds: warmupSeconds });
  return runAutocannon({ url, connections, durationSeconds });
}

// ---------------------------------------------------------------------------------------------
// Constant-rate (open-loop) load
//
// autocannon is a closed loop: each connection sends its next request when the last one is answered,
// so it measures the service at saturation, where mean latency is just connections / throughput. The
// issues' goals are service levels ("N a second with p99 under M ms"), measured the way wrk2 and k6's
// constant-arrival-rate do: requests offered on a fixed schedule whatever the answers, each one's
// latency counted from its scheduled send time, so a stall delays the requests behind it and is seen
// (no coordinated omission).

/**
 * Offers `ratePerSec` requests a second for `durationSeconds` over `connections` keep-alive connections,
 * one request at a time each: request i is due at start + i / rate; if every connection is busy it waits
 * for the first one free, and its latency still counts from when it was due. Requests are built as
 * autocannon builds them, from the same `request` object ({ method, path, headers, body, setupRequest,
 * onResponse }), when they are sent (so nothing is consumed for a request never sent), with one context
 * a connection kept for the whole run (autocannon, given one request, starts each from a fresh context).
 * They go out through LeanHttpConnection (below), not node:http, to leave the service the cpus they share.
 * A socket error, or the connection closing before its answer, counts the request as an error; the
 * next request on that connection opens a new one. Bounded: after duration + 30 s, requests not yet
 * sent are abandoned and those in flight cut off, and both are counted.
 * Returns { offeredPerSec, achievedPerSec (2xx answers a second over the time it took to send every
 * request: the schedule, or longer when requests waited for connections), latency percentiles in ms,
 * p99 of each second of the schedule, counts }.
 */
export async function runConstantRate({ url, request, connections = 64, ratePerSec, durationSeconds }) {
  const origin = new URL(url);
  const total = Math.round(ratePerSec * durationSeconds);
  const dueMs = (index) => startMs + (index * 1000) / ratePerSec;
  const latenciesMs = new Float64Array(total);
  const bySecond = Array.from({ length: Math.ceil(durationSeconds) }, () => []);
  const counts = {
    recorded: 0,
    ok: 0,
    non2xx: 0,
    errors: 0,
    waitedForConnection: 0,
    lateStarts: 0,
    lateStartMaxMs: 0,
    abandoned: 0,
    cutOff: 0,
  };
  // The run stops at an answer the client cannot read: every later answer on that socket would be misread.
  const onUnreadable = (error) => stopRun(error);
  const idle = Array.from({ length: connections }, () => ({ client: new LeanHttpConnection(origin, onUnreadable), context: {} }));
  const all = [...idle];
  const waiting = [];
  let waitingHead = 0;
  let issued = 0;
  let lastSentMs = 0;
  let stopped = false;
  let timer;
  let finish;
  let fail;
  const finished = new Promise((done, failed) => {
    finish = done;
    fail = failed;
  });

  const send = (connection, index) => {
    const built = { method: request.method ?? 'GET', path: request.path ?? '/', headers: request.headers ?? {}, body: request.body };
    const req = request.setupRequest ? request.setupRequest(built, connection.context) : built;
    const serialized = serializeRequest(origin.host, req);
    lastSentMs = performance.now();
    connection.client.send(serialized, req.method === 'HEAD', (status, text) => {
      if (stopped) return;
      if (status === undefined) counts.errors += 1;
      else {
        const latencyMs = performance.now() - dueMs(index);
        latenciesMs[counts.recorded++] = latencyMs;
        bySecond[Math.floor(index / ratePerSec)]?.push(latencyMs);
        if (status >= 200 && status < 300) counts.ok += 1;
        else counts.non2xx += 1;
        request.onResponse?.(status, text, connection.context);
      }
      release(connection);
    });
  };

  const release = (connection) => {
    if (waitingHead < waiting.length) {
      sendSafely(connection, waiting[waitingHead++]);
      return;
    }
    idle.push(connection);
    if (issued === total && idle.length === connections) finish();
  };

  const stopRun = (error) => {
    if (stopped) return;
    stopped = true;
    fail(error);
  };

  // A request builder that throws (e.g. out of prepared intents) ends the run: what follows would be malformed.
  const sendSafely = (connection, index) => {
    try {
      send(connection, index);
    } catch (error) {
      stopRun(error);
    }
  };

  const issueDue = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - startMs) * ratePerSec) / 1000) + 1);
    for (; issued < due && !stopped; issued += 1) {
      const connection = idle.pop();
      if (connection === undefined) {
        counts.waitedForConnection += 1;
        waiting.push(issued);
        continue;
      }
      const lateMs = performance.now() - dueMs(issued);
      if (lateMs > LATE_START_MS) counts.lateStarts += 1;
      counts.lateStartMaxMs = Math.max(counts.lateStartMaxMs, lateMs);
      sendSafely(connection, issued);
    }
    if (stopped) return;
    if (issued < total) timer = setTimeout(issueDue, Math.max(0, dueMs(issued) - performance.now()));
    else if (idle.length === connections) finish();
  };

  const startMs = performance.now();
  issueDue();
  try {
    await withTimeout(finished, (durationSeconds + CONSTANT_RATE_GRACE_SECONDS) * 1000, 'the constant-rate run').catch((error) => {
      if (stopped) throw error;
      counts.abandoned = total - issued + (waiting.length - waitingHead);
      counts.cutOff = connections - idle.length;
    });
  } finally {
    stopped = true;
    clearTimeout(timer);
    for (const connection of all) connection.client.destroy();
  }
  const sorted = latenciesMs.subarray(0, counts.recorded).sort();
  const sendingSeconds = Math.max(durationSeconds, (lastSentMs - startMs) / 1000 + 1 / ratePerSec);
  return {
    connections,
    offeredPerSec: ratePerSec,
    durationSeconds,
    achievedPerSec: counts.ok / sendingSeconds,
    latencyP50Ms: percentile(sorted, 50),
    latencyP90Ms: percentile(sorted, 90),
    latencyP99Ms: percentile(sorted, 99),
    latencyP999Ms: percentile(sorted, 99.9),
    latencyMaxMs: sorted.at(-1),
    latencyP99BySecondMs: bySecond.map((latencies) => percentile(Float64Array.from(latencies).sort(), 99)),
    requests: total,
    ...counts,
  };
}

// ---------------------------------------------------------------------------------------------
// The constant-rate client: HTTP/1.1 over plain sockets
//
// This process shares the cpus with the service it measures, and node:http cost it about 115 us of cpu
// a request (23% of a cpu at 2,000/s, against a trivial server); so the constant-rate runs, like
// autocannon, speak just the HTTP/1.1 they need, for about 70 us: one keep-alive socket a connection
// (no delay) and one request in flight on it, each request one write, each answer framed by its
// Content-Length. An answer framed otherwise (chunked, or ended by the connection closing) stops the
// run with an error instead of being guessed at; the service answers with Content-Length. An answer
// with `Connection: close` is an answer: it counts, and the next request opens a new socket.

/** An answer this client cannot read: the run stops, since every later answer on its socket would be misread. */
class UnreadableAnswerError extends Error {}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * One request as one write: request line, Host, the scenario's headers, Content-Length when there is
 * a body, then the body (a string is written as UTF-8, anything else as Buffer.from makes it).
 */
function serializeRequest(host, { method, path, headers, body }) {
  // A CR or LF in the path or a header would end the line early and smuggle in what follows.
  const checked = (line) => {
    if (/[\r\n]/.test(line)) throw new Error(`a request line or header holds a CR or LF: ${JSON.stringify(line)}`);
    return `${line}\r\n`;
  };
  let head = `${checked(`${method} ${path} HTTP/1.1`)}Host: ${host}\r\n`;
  for (const name in headers) head += checked(`${name}: ${headers[name]}`);
  if (body === undefined) return `${head}\r\n`;
  if (typeof body === 'string') return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const bytes = Buffer.from(body);
  return Buffer.concat([Buffer.from(`${head}Content-Length: ${bytes.length}\r\n\r\n`, 'latin1'), bytes]);
}

/** The value of header `name` (lower-case) in a lower-cased answer head, or undefined; refuses it repeated. */
function headerValue(head, name) {
  const at = head.indexOf(`\r\n${name}:`);
  if (at === -1) return undefined;
  if (head.lastIndexOf(`\r\n${name}:`) !== at) throw new UnreadableAnswerError(`an answer with ${name} twice`);
  const end = head.indexOf('\r\n', at + 2);
  return head.slice(at + name.length + 3, end === -1 ? undefined : end).trim();
}

/** An answer's status, body length and whether the server closes the connection after it, from its head (status line and headers). */
function parseAnswerHead(headText, bodyless) {
  if (!headText.startsWith('HTTP/1.1 ')) {
    throw new UnreadableAnswerError(`not an HTTP/1.1 answer: ${JSON.stringify(headText.slice(0, 40))}`);
  }
  const status = Number(headText.slice(9, 12));
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new UnreadableAnswerError(
      `status line ${JSON.stringify(headText.slice(0, headText.indexOf('\r\n')))} (interim and unknown statuses are not read)`,
    );
  }
  const head = headText.toLowerCase();
  const transferEncoding = headerValue(head, 'transfer-encoding');
  if (transferEncoding !== undefined) {
    throw new UnreadableAnswerError(`an answer with Transfer-Encoding: ${transferEncoding} (only Content-Length bodies are read)`);
  }
  const close = /\bclose\b/.test(headerValue(head, 'connection') ?? '');
  if (bodyless || status === 204 || status === 304) return { status, bodyBytes: 0, close };
  const contentLength = headerValue(head, 'content-length');
  if (contentLength === undefined) {
    throw new UnreadableAnswerError(`a ${status} answer without Content-Length (its body would end only when the connection closes)`);
  }
  if (!/^\d{1,15}$/.test(contentLength)) throw new UnreadableAnswerError(`Content-Length: ${contentLength}`);
  return { status, bodyBytes: Number(contentLength), close };
}

/**
 * One keep-alive connection to `origin`, opened at its first request and again after the server or an
 * error closed it; one request in flight at a time. `send` hands the answer to `onAnswer(status, text)`,
 * or `onAnswer(undefined)` when the socket fails or closes first, exactly once. An answer it cannot read
 * goes to `onUnreadable(error)` instead, and the socket is dropped.
 */
class LeanHttpConnection {
  #origin;
  #onUnreadable;
  #socket;
  /** Bytes received and not yet read: the start of the next answer. */
  #received;
  /** The head of the answer being received, once it is all here; `#bodyStart` is where its body starts in `#received`. */
  #head;
  #bodyStart = 0;
  #bodyless = false;
  #onAnswer;

  constructor(origin, onUnreadable) {
    if (origin.protocol !== 'http:') throw new Error(`the constant-rate client speaks plain HTTP only, not ${origin.protocol}`);
    this.#origin = origin;
    this.#onUnreadable = onUnreadable;
  }

  /** Writes `serialized` (from serializeRequest); `bodyless`: the answer has no body whatever its headers say (HEAD). */
  send(serialized, bodyless, onAnswer) {
    if (this.#onAnswer !== undefined) throw new Error('a request was sent on a connection with one in flight');
    this.#onAnswer = onAnswer;
    this.#bodyless = bodyless;
    (this.#socket ?? this.#open()).write(serialized);
  }

  destroy() {
    this.#drop();
  }

  #open() {
    const socket = connect({ host: this.#origin.hostname, port: Number(this.#origin.port || 80) });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      if (socket === this.#socket) this.#receive(chunk);
    });
    // A socket error is followed by 'close'; either ends a request in flight unanswered.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (socket !== this.#socket) return;
      this.#drop();
      this.#answer(undefined);
    });
    this.#socket = socket;
    this.#received = undefined;
    this.#head = undefined;
    return socket;
  }

  /** Forgets the socket (its late events are ignored) and destroys it: the next request opens another. */
  #drop() {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
  }

  #answer(status, text) {
    const onAnswer = this.#onAnswer;
    this.#onAnswer = undefined;
    onAnswer?.(status, text);
  }

  #receive(chunk) {
    this.#received = this.#received === undefined ? chunk : Buffer.concat([this.#received, chunk]);
    try {
      // With one request in flight a chunk holds at most one answer, but should it hold more they are read in order.
      while (this.#socket !== undefined && this.#received !== undefined && this.#readAnswer());
    } catch (error) {
      if (!(error instanceof UnreadableAnswerError)) throw error;
      this.#drop();
      this.#onAnswer = undefined;
      this.#onUnreadable(error);
    }
  }

  /** Reads one answer from `#received` if it is all here and hands it on; returns whether it did. */
  #readAnswer() {
    const received = this.#received;
    if (this.#onAnswer === undefined) {
      throw new UnreadableAnswerError(`an answer with no request in flight: ${JSON.stringify(received.toString('latin1', 0, 40))}`);
    }
    if (this.#head === undefined) {
      const headEnd = received.indexOf(HEAD_END);
      if (headEnd === -1) {
        if (received.length > RESPONSE_HEAD_BYTES_MAX) {
          throw new UnreadableAnswerError(`an answer head over ${RESPONSE_HEAD_BYTES_MAX} bytes`);
        }
        return false;
      }
      this.#head = parseAnswerHead(received.toString('latin1', 0, headEnd), this.#bodyless);
      this.#bodyStart = headEnd + HEAD_END.length;
    }
    const bodyEnd = this.#bodyStart + this.#head.bodyBytes;
    if (received.length < bodyEnd) return false;
    const { status, close } = this.#head;
    const text = received.toString('utf8', this.#bodyStart, bodyEnd);
    this.#head = undefined;
    this.#received = bodyEnd === received.length ? undefined : received.subarray(bodyEnd);
    // Dropped before the answer is handed on, so the next request, which may be sent from onAnswer, opens a new socket.
    if (close) this.#drop();
    this.#answer(status, text);
    return true;
  }
}

/** A warm-up at the same rate (not reported), then the measured constant-rate run. */
export async function measureConstantRate({ warmupSeconds, durationSeconds, ...options }) {
  if (warmupSeconds > 0) await runConstantRate({ ...options, durationSeconds: warmupSeconds });
  return runConstantRate({ ...options, durationSeconds });
}

/** What a constant-rate figure is measured under, for a scenario's conditions. */
export function constantRateConditions({ ratePerSec, connections, durationSeconds, warmupSeconds }) {
  return `${formatNumber(ratePerSec)}/s offered on a fixed schedule for ${durationSeconds} s after ${warmupSeconds} s at the same rate, ${connections} keep-alive connections (one request at a time each; a request due while all are busy waits for one); latency from each request's scheduled send time (no coordinated omission); a lean HTTP/1.1 client on raw sockets in this bench process, on the same cpus as the service, as autocannon is`;
}

const ms1 = (value) => (value === undefined || Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`);

/** One line with everything a constant-rate run measured. */
export function describeConstantRate(figures) {
  return [
    `offered ${formatNumber(figures.offeredPerSec)}/s for ${figures.durationSeconds} s, achieved ${formatNumber(figures.achievedPerSec)}/s (2xx)`,
    `latency from the scheduled time: p50 ${ms1(figures.latencyP50Ms)}, p90 ${ms1(figures.latencyP90Ms)}, p99 ${ms1(figures.latencyP99Ms)}, p99.9 ${ms1(figures.latencyP999Ms)}, max ${ms1(figures.latencyMaxMs)}`,
    `p99 of each second: ${figures.latencyP99BySecondMs.map((value) => (value === undefined ? '-' : value.toFixed(0))).join(', ')} ms`,
    `${formatNumber(figures.requests)} requests, ${figures.errors} errors, ${figures.non2xx} non-2xx, ${figures.abandoned} never sent and ${figures.cutOff} cut off at the time limit`,
    `${formatNumber(figures.waitedForConnection)} waited for a connection, ${formatNumber(figures.lateStarts)} others started more than ${LATE_START_MS} ms late (the generator's own lag; at most ${ms1(figures.lateStartMaxMs)})`,
  ].join('; ');
}

/** The notes of a saturation row: its figures against the goal, saying what a closed loop's latency is. */
export function saturationVerdict(figures, { goalPerSec, goalP99Ms }) {
  const throughputMet = figures.requestsPerSec >= goalPerSec;
  const p99Met = figures.latencyP99Ms < goalP99Ms;
  return `>= ${formatNumber(goalPerSec)}/s: ${throughputMet ? 'met' : 'MISSED'}; p99 < ${goalP99Ms} ms at saturation: ${p99Met ? 'met' : 'MISSED'}${p99Met ? '' : ' (latency with every connection busy; the goal p99 is judged at the goal rate)'}`;
}

/**
 * The scenario's goal, "at least `goalPerSec` a second with p99 under `goalP99Ms`": met only if the
 * saturation run reached the rate and the constant-rate run, offered exactly that rate, answered it
 * (within 1%) with its p99 under the goal. Returns the verdict as text for a table.
 */
export function serviceLevelVerdict(saturation, constantRate, { goalPerSec, goalP99Ms }) {
  const goal = `goal >= ${formatNumber(goalPerSec)}/s with p99 < ${goalP99Ms} ms`;
  if (constantRate.offeredPerSec !== goalPerSec) {
    return `${goal}: not judged (offered ${formatNumber(constantRate.offeredPerSec)}/s, not the goal rate)`;
  }
  const checks = [
    [saturation.requestsPerSec >= goalPerSec, `saturation ${formatNumber(saturation.requestsPerSec)}/s`],
    [constantRate.achievedPerSec >= goalPerSec * ACHIEVED_SHARE_MIN, `achieved ${formatNumber(constantRate.achievedPerSec)}/s`],
    [constantRate.latencyP99Ms < goalP99Ms, `p99 ${ms1(constantRate.latencyP99Ms)} at the goal rate`],
  ];
  const failed = checks.filter(([passed]) => !passed).map(([, what]) => what);
  return `${goal}: ${failed.length === 0 ? 'met' : `MISSED (${failed.join(', ')})`}`;
}

// ---------------------------------------------------------------------------------------------
// Output

export function formatNumber(value, fractionDigits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits });
}

export function formatMs(value) {
  if (value === undefined || value === null || Number.isNaN(value)) return '-';
  // autocannon measures whole milliseconds; a 0 there means under one.
  return value < 1 ? '<1 ms' : `${formatNumber(value)} ms`;
}

export function formatBytes(value) {
  if (value === undefined || value === null) return '-';
  return `${formatNumber(value / (1024 * 1024), 0)} MiB`;
}

export function formatRatio(value) {
  if (value === undefined || value === null || !Number.isFinite(value)) return '-';
  return `${value.toFixed(2)}x`;
}

/** The conditions a figure is meaningless without. */
export function formatConditions({ connections, durationSeconds, warmupSeconds, ...others } = {}) {
  const cpus = os.cpus();
  const models = [...new Set(cpus.map((cpu) => cpu.model.trim()))].join(' / ') || 'unknown';
  const lines = [
    `date:        ${new Date().toISOString()}`,
    `node:        ${process.version} (${process.platform} ${process.arch})`,
    `cpus:        ${cpus.length} x ${models}`,
    `load avg:    ${os
      .loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
    `connections: ${connections ?? '-'}`,
    `duration:    ${durationSeconds === undefined ? '-' : `${durationSeconds} s measured`}${warmupSeconds ? ` after ${warmupSeconds} s warm-up` : ''}`,
    ...Object.entries(others).map(([key, value]) => `${`${key}:`.padEnd(12)} ${value}`),
  ];
  return lines.join('\n');
}

/**
 * A plain-text table with aligned columns. `columns` is [{ key, title, align: 'left' | 'right' }];
 * cells are taken from each row by key and shown as strings ('-' when missing).
 */
export function formatTable(columns, rows) {
  const cells = rows.map((row) =>
    columns.map((column) => (row[column.key] === undefined || row[column.key] === null ? '-' : String(row[column.key]))),
  );
  const widths = columns.map((column, index) => Math.max(column.title.length, ...cells.map((line) => line[index].length)));
  const pad = (text, index) => (columns[index].align === 'right' ? text.padStart(widths[index]) : text.padEnd(widths[index]));
  const render = (line) => line.map(pad).join('  ').trimEnd();
  return [render(columns.map((column) => column.title)), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.map(render)].join(
    '\n',
  );
}

/** Conditions, then the table: every printed result carries the conditions it was measured under. */
export function formatReport(title, conditions, columns, rows) {
  return [`== ${title} ==`, formatConditions(conditions), '', formatTable(columns, rows)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The combined table bench/run.mjs prints. Scenarios return rows of raw figures:
// { scenario, requestsPerSec?, latencyP50Ms?, latencyP99Ms?, peakRssBytes?, baseline?, ratio?, notes? }

export const summaryColumns = [
  { key: 'scenario', title: 'scenario', align: 'left' },
  { key: 'throughput', title: 'throughput (req/s)', align: 'right' },
  { key: 'p50', title: 'p50', align: 'right' },
  { key: 'p99', title: 'p99', align: 'right' },
  { key: 'peakMemory', title: 'peak RSS', align: 'right' },
  { key: 'baseline', title: 'baseline', align: 'left' },
  { key: 'ratio', title: 'ratio', align: 'left' },
  { key: 'notes', title: 'notes', align: 'left' },
];

export function summaryRow(raw) {
  return {
    scenario: raw.scenario,
    throughput: raw.requestsPerSec === undefined ? undefined : formatNumber(raw.requestsPerSec),
    p50: raw.latencyP50Ms === undefined ? undefined : formatMs(raw.latencyP50Ms),
    p99: raw.latencyP99Ms === undefined ? undefined : formatMs(raw.latencyP99Ms),
    peakMemory: raw.peakRssBytes === undefined ? undefined : formatBytes(raw.peakRssBytes),
    baseline: raw.baseline,
    ratio: raw.ratio,
    notes: raw.notes,
  };
}

/** Notes that make a throughput figure suspect: any error, timeout or non-2xx answer. */
export function loadProblems(figures) {
  const problems = [];
  if (figures.errors > 0) problems.push(`${figures.errors} errors`);
  if (figures.timeouts > 0) problems.push(`${figures.timeouts} timeouts`);
  if (figures.non2xx > 0) problems.push(`${figures.non2xx} non-2xx`);
  return problems;
}

/** The same for a constant-rate run, and the requests it gave up on at its time limit. */
export function constantRateProblems(figures) {
  const problems = loadProblems(figures);
  if (figures.abandoned > 0 || figures.cutOff > 0)
    problems.push(`${figures.abandoned} never sent and ${figures.cutOff} cut off at the time limit`);
  return problems;
}

/** Notes about a service that did not drain and exit 0 on SIGTERM. */
export function stopProblems(stopped) {
  if (stopped.forced) return [`did not exit within the stop timeout; killed`];
  if (stopped.code !== 0) return [`exit code ${stopped.code}${stopped.signal ? ` (${stopped.signal})` : ''} on SIGTERM`];
  return [];
}

// HTTP helpers shared by the scenarios.

const REQUEST_TIMEOUT_MS = 10_000;

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined and base64-encoded. */
export function basicAuthorization(clientId, clientSecret) {
  const encode = (text) => encodeURIComponent(text).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

/** One bounded request; returns { status, body (parsed JSON when it is JSON), text, headers }. */
export async function call(url, { method = 'GET', headers = {}, body, redirect = 'follow', timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const response = await fetch(url, { method, headers, body, redirect, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text, headers: response.headers };
}

export function expectStatus(what, result, expected) {
  if (result.status !== expected) throw new Error(`${what} answered ${result.status}, expected ${expected}: ${result.text.slice(0, 300)}`);
}
