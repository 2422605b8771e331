// Scenario "startup": time from spawning `node dist/src/main.js` to the first 200 from
// GET /health/ready, on a first start (an empty database, so migrations and first-start data are
// included), on the embedded PGlite database and on the local PostgreSQL server.
//
//   node bench/startup.mjs                     (after npm run build)
//   BENCH_STARTUP_RUNS=5 node bench/startup.mjs
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createBenchDatabase,
  formatBytes,
  formatMs,
  formatReport,
  isMainModule,
  median,
  peakRssBytes,
  positiveInteger,
  progress,
  startService,
  stopProblems,
  stopService,
} from './lib.mjs';

export const name = 'startup';

/** One first start: prepare an empty database, start, record time-to-ready and peak RSS, stop, clean up. */
async function startOnce(kind) {
  let environment;
  let cleanup;
  if (kind === 'embedded') {
    const dataDirectory = await mkdtemp(join(tmpdir(), 'creditgate-bench-'));
    environment = { DATA_DIR: dataDirectory };
    cleanup = () => rm(dataDirectory, { recursive: true, force: true });
  } else {
    const database = await createBenchDatabase();
    environment = { DATABASE_URL: database.url };
    cleanup = database.drop;
  }
  try {
    const service = await startService({ env: { ...environment, LOG_LEVEL: 'warn' }, label: `creditgate (${kind})` });
    const peak = peakRssBytes(service.pid);
    const stopped = await stopService(service);
    return { timeToReadyMs: service.timeToReadyMs, peakRssBytes: peak, stopped };
  } finally {
    await cleanup();
  }
}

/** @param {{runs?: number}} options */
export async function run(options = {}) {
  const runs = positiveInteger(options.runs, 'BENCH_STARTUP_RUNS', 3);
  const kinds = [
    { kind: 'embedded', label: 'embedded PGlite (fresh DATA_DIR)' },
    { kind: 'postgres', label: 'PostgreSQL server (fresh database)' },
  ];

  const results = [];
  for (const { kind, label } of kinds) {
    const attempts = [];
    for (let attempt = 1; attempt <= runs; attempt += 1) {
      progress(`${name}: ${label}: run ${attempt} of ${runs}`);
      attempts.push(await startOnce(kind));
    }
    results.push({ kind, label, attempts });
  }

  const summarise = ({ label, attempts }) => {
    const times = attempts.map((attempt) => attempt.timeToReadyMs);
    const peaks = attempts.map((attempt) => attempt.peakRssBytes).filter((peak) => peak !== undefined);
    return {
      label,
      medianMs: median(times),
      times,
      peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : undefined,
      problems: [...new Set(attempts.flatMap((attempt) => stopProblems(attempt.stopped)))],
    };
  };
  const summaries = results.map(summarise);

  const detail = formatReport(
    `${name}: spawn to first 200 from GET /health/ready (first start, migrations included)`,
    { runs },
    [
      { key: 'database', title: 'database', align: 'left' },
      { key: 'median', title: 'median', align: 'right' },
      { key: 'runs', title: 'each run', align: 'left' },
      { key: 'peak', title: 'peak RSS at ready', align: 'right' },
      { key: 'stop', title: 'SIGTERM', align: 'left' },
    ],
    summaries.map((summary) => ({
      database: summary.label,
      median: formatMs(summary.medianMs),
      runs: summary.times.map(formatMs).join(', '),
      peak: formatBytes(summary.peakRssBytes),
      stop: summary.problems.length > 0 ? summary.problems.join('; ') : 'exit 0',
    })),
  );

  const rows = summaries.map((summary) => ({
    scenario: `${name}: time to ready, ${summary.label}`,
    // Not a request latency: the median of the runs, shown in the p50 column.
    latencyP50Ms: summary.medianMs,
    peakRssBytes: summary.peakRssBytes,
    notes: [`median of ${runs}: ${summary.times.map(formatMs).join(', ')}`, ...summary.problems].join('; '),
  }));
  return { name, settings: { runs }, rows, detail };
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
