// Scenario "GET /health/live": what creditgate's whole stack (NestJS, Fastify adapter, global
// pipes, filters, interceptors, helmet, metrics, logging) costs on its cheapest route, against bare
// Fastify answering the same JSON. Both servers run in their own process; autocannon runs here.
//
//   node bench/health.mjs                      (after npm run build)
//   BENCH_CONNECTIONS=50 BENCH_DURATION_SECONDS=5 node bench/health.mjs
import { resolve } from 'node:path';
import {
  createBenchDatabase,
  formatBytes,
  formatMs,
  formatNumber,
  formatRatio,
  formatReport,
  isMainModule,
  loadProblems,
  loadSettings,
  measure,
  peakRssBytes,
  progress,
  repositoryRoot,
  startMarkedChild,
  startService,
  stopProblems,
  stopService,
  withTimeout,
} from './lib.mjs';

export const name = 'health';
const PATH = '/health/live';

/** Checks the target answers what the route should before it is loaded (a fast 404 is no result). */
async function expectLive(url) {
  const response = await withTimeout(fetch(`${url}${PATH}`), 5_000, `GET ${url}${PATH}`);
  const body = await response.text();
  if (response.status !== 200 || JSON.parse(body).status !== 'ok') {
    throw new Error(`GET ${url}${PATH} answered ${response.status} ${body.slice(0, 200)}`);
  }
}

/** Starts a target, loads it (warm-up, then the measured run), samples peak RSS, stops it. */
async function benchTarget(start, settings) {
  const target = await start();
  let figures;
  let peak;
  try {
    await expectLive(target.url);
    progress(
      `${name}: ${target.label}: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s at ${settings.connections} connections`,
    );
    figures = await measure(`${target.url}${PATH}`, settings);
    peak = peakRssBytes(target.pid);
  } catch (error) {
    await stopService(target).catch(() => undefined);
    throw error;
  }
  const stopped = await stopService(target);
  return { ...figures, peakRssBytes: peak, stopped, timeToReadyMs: target.timeToReadyMs };
}

/** @param {{connections?: number, durationSeconds?: number, warmupSeconds?: number}} options */
export async function run(options = {}) {
  const settings = loadSettings(options);

  const bare = await benchTarget(
    () => startMarkedChild(resolve(repositoryRoot, 'bench/bare-fastify.mjs'), { label: 'bare fastify' }),
    settings,
  );

  const database = await createBenchDatabase();
  let creditgate;
  try {
    creditgate = await benchTarget(
      () => startService({ env: { DATABASE_URL: database.url, LOG_LEVEL: 'warn' }, label: 'creditgate (postgres)' }),
      settings,
    );
  } finally {
    await database.drop();
  }

  const throughputRatio = creditgate.requestsPerSec / bare.requestsPerSec;
  const p99Ratio = creditgate.latencyP99Ms / bare.latencyP99Ms;

  const detailRows = [
    { target: 'bare fastify', ...bare },
    { target: 'creditgate (postgres, LOG_LEVEL=warn)', ...creditgate },
  ].map((row) => ({
    target: row.target,
    throughput: formatNumber(row.requestsPerSec),
    p50: formatMs(row.latencyP50Ms),
    p99: formatMs(row.latencyP99Ms),
    requests: formatNumber(row.totalRequests),
    errors: row.errors,
    timeouts: row.timeouts,
    non2xx: row.non2xx,
    peak: formatBytes(row.peakRssBytes),
    stop: row.stopped.forced ? 'killed' : `exit ${row.stopped.code}`,
  }));
  const detail = [
    formatReport(
      `${name}: GET ${PATH}`,
      settings,
      [
        { key: 'target', title: 'target', align: 'left' },
        { key: 'throughput', title: 'req/s (mean)', align: 'right' },
        { key: 'p50', title: 'p50', align: 'right' },
        { key: 'p99', title: 'p99', align: 'right' },
        { key: 'requests', title: 'requests', align: 'right' },
        { key: 'errors', title: 'errors', align: 'right' },
        { key: 'timeouts', title: 'timeouts', align: 'right' },
        { key: 'non2xx', title: 'non-2xx', align: 'right' },
        { key: 'peak', title: 'peak RSS', align: 'right' },
        { key: 'stop', title: 'SIGTERM', align: 'left' },
      ],
      detailRows,
    ),
    '',
    `creditgate / bare fastify: throughput ${formatRatio(throughputRatio)}, p99 ${formatRatio(p99Ratio)}`,
  ].join('\n');

  const rows = [
    {
      scenario: `${name}: GET ${PATH}, bare fastify`,
      ...bare,
      notes: [...loadProblems(bare), ...stopProblems(bare.stopped)].join('; ') || undefined,
    },
    {
      scenario: `${name}: GET ${PATH}, creditgate (postgres)`,
      ...creditgate,
      baseline: 'bare fastify',
      ratio: `req/s ${formatRatio(throughputRatio)}, p99 ${formatRatio(p99Ratio)}`,
      notes: [...loadProblems(creditgate), ...stopProblems(creditgate.stopped)].join('; ') || undefined,
    },
  ];
  return { name, settings, rows, detail };
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
