/* global setInterval, clearInterval, setImmediate */
// Export: rows per second and peak memory of GET /v1/ledger/export's stream over a ledger of 1,000,000
// entries (500,000 transfers), in-process (the dist/ build's LedgerExport on its own DataSource) to a sink
// that counts bytes and lines, so the figure is the export's, not a network's.
//
//   node bench/export.mjs            (after npm run build)    BENCH_EXPORT_ENTRIES (1,000,000)
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import {
  createBenchDatabase,
  formatBytes,
  formatConditions,
  formatNumber,
  formatTable,
  isMainModule,
  median,
  positiveInteger,
  progress,
  repositoryRoot,
} from './lib.mjs';

export const name = 'export';
const RUNS = 3;

async function loadDist() {
  await import('reflect-metadata');
  const load = (path) => import(pathToFileURL(resolve(repositoryRoot, path)).href);
  const [typeorm, options, migrations, exporter] = await Promise.all([
    import('typeorm'),
    load('dist/src/database/data-source-options.js'),
    load('dist/src/database/migration-runner.js'),
    load('dist/src/compliance/ledger-export.js'),
  ]);
  return {
    DataSource: typeorm.DataSource,
    dataSourceOptions: options.dataSourceOptions,
    runPendingMigrations: migrations.runPendingMigrations,
    LedgerExport: exporter.LedgerExport,
  };
}

/**
 * 500,000 transfers between 1,000 funding accounts and one merchant, with their 1,000,000 entries,
 * written by set-based SQL (fast, and the export reads rows, it does not check them: the hashes are
 * well-formed, not chained; the verification benchmark in ledger.mjs builds a real chain).
 */
async function generate(dataSource, entries) {
  const transfers = Math.ceil(entries / 2);
  await dataSource.query(`
    INSERT INTO ledger_accounts (id, code, currency, created_at)
    SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'bench:account:' || n, 'CNY', now()
      FROM generate_series(0, 1000) n`);
  await dataSource.query(
    `INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, currency, code, status, created_at)
     SELECT ('00000001-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'single',
            ('00000000-0000-7000-8000-' || lpad(to_hex(1 + n % 1000), 12, '0'))::uuid,
            '00000000-0000-7000-8000-000000000000'::uuid, 1 + n % 9999, 'CNY', 'bench', 'posted',
            timestamptz '2026-01-01' + n * interval '1 millisecond'
       FROM generate_series(0, $1::int - 1) n`,
    [transfers],
  );
  for (const side of ['debit', 'credit']) {
    await dataSource.query(
      `INSERT INTO ledger_entries (account_id, seq, transfer_id, side, pending_delta, posted_delta, debits_pending, debits_posted,
                                   credits_pending, credits_posted, prev_hash, hash, created_at)
       SELECT t.${side}_account_id, row_number() OVER (PARTITION BY t.${side}_account_id ORDER BY t.created_at, t.id), t.id, '${side}', 0, t.amount,
              0, 0, 0, 0, md5(t.id::text || '${side}p') || md5(t.id::text || '${side}q'), md5(t.id::text || '${side}h') || md5(t.id::text || '${side}i'), t.created_at
         FROM ledger_transfers t`,
    );
  }
  await dataSource.query('ANALYZE');
  const [{ count }] = await dataSource.query('SELECT count(*)::int AS count FROM ledger_entries');
  return { transfers, entries: count };
}

async function exportOnce(exporter, format) {
  let bytes = 0;
  let lines = 0;
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk, _encoding, done) {
      bytes += chunk.length;
      for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) lines += 1;
      // A consumer that takes a moment: the producer must wait for it (backpressure), not buffer.
      setImmediate(done);
    },
  });
  const started = performance.now();
  await pipeline(exporter.stream({}, format), sink);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { seconds, bytes, lines, peakRss };
}

export async function run(options = {}) {
  const entries = positiveInteger(options.exportEntries, 'BENCH_EXPORT_ENTRIES', 1_000_000);
  const dist = await loadDist();
  const database = await createBenchDatabase();
  const dataSource = new dist.DataSource(dist.dataSourceOptions({ url: database.url, poolSize: 4, statementTimeoutMs: 0 }));
  const results = { csv: [], ndjson: [] };
  let generated;
  try {
    await dataSource.initialize();
    await dist.runPendingMigrations(dataSource);
    progress(`${name}: generating ${formatNumber(entries)} entries`);
    generated = await generate(dataSource, entries);
    const exporter = new dist.LedgerExport(dataSource);
    globalThis.gc?.();
    const baselineRss = process.memoryUsage().rss;
    for (let run = 0; run < RUNS; run += 1)
      for (const format of ['csv', 'ndjson']) {
        progress(`${name}: ${format} run ${run + 1} of ${RUNS}`);
        const result = await exportOnce(exporter, format);
        results[format].push({ ...result, growth: result.peakRss - baselineRss });
      }
    results.baselineRss = baselineRss;
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await database.drop();
  }
  const summary = (format) => {
    const runs = results[format];
    // CSV: one line an entry (plus the header); NDJSON: one line a transfer.
    const rowsPerSec = median(runs.map((r) => (format === 'csv' ? generated.entries : generated.transfers) / r.seconds));
    const entriesPerSec = median(runs.map((r) => generated.entries / r.seconds));
    return {
      format,
      rowsPerSec,
      entriesPerSec,
      seconds: median(runs.map((r) => r.seconds)),
      bytes: runs[0].bytes,
      lines: runs[0].lines,
      peakRss: Math.max(...runs.map((r) => r.peakRss)),
      growth: median(runs.map((r) => r.growth)),
    };
  };
  const csv = summary('csv');
  const ndjson = summary('ndjson');
  const detail = [
    `== ${name}: the ledger export stream, ${formatNumber(generated.entries)} entries ==`,
    formatConditions({
      ledger: `${formatNumber(generated.transfers)} transfers, ${formatNumber(generated.entries)} entries, 1,001 accounts (synthetic rows by SQL)`,
      how: `dist/ LedgerExport.stream({}, format) piped into a Writable that yields a turn per chunk; ${RUNS} runs a format, medians; peak RSS of this process sampled every 50 ms`,
    }),
    '',
    formatTable(
      [
        { key: 'format', title: 'format', align: 'left' },
        { key: 'rows', title: 'rows/s', align: 'right' },
        { key: 'entries', title: 'entries/s', align: 'right' },
        { key: 'seconds', title: 'seconds', align: 'right' },
        { key: 'size', title: 'size', align: 'right' },
        { key: 'lines', title: 'lines', align: 'right' },
        { key: 'peak', title: 'peak RSS', align: 'right' },
        { key: 'growth', title: 'RSS growth', align: 'right' },
      ],
      [csv, ndjson].map((s) => ({
        format: s.format,
        rows: formatNumber(s.rowsPerSec),
        entries: formatNumber(s.entriesPerSec),
        seconds: s.seconds.toFixed(1),
        size: formatBytes(s.bytes),
        lines: formatNumber(s.lines),
        peak: formatBytes(s.peakRss),
        growth: formatBytes(s.growth),
      })),
    ),
  ].join('\n');
  const rows = [csv, ndjson].map((s) => ({
    scenario: `ledger export ${s.format}, ${formatNumber(generated.entries)} entries (rows/s)`,
    requestsPerSec: s.rowsPerSec,
    peakRssBytes: s.peakRss,
    notes: `${formatNumber(s.entriesPerSec)} entries/s; RSS growth ${formatBytes(s.growth)}`,
  }));
  return { name, settings: { entries: generated.entries }, rows, detail };
}

if (isMainModule(import.meta.url)) {
  run().then(
    (result) => process.stdout.write(`${result.detail}\n`),
    (error) => {
      process.stderr.write(`${error.stack}\n`);
      process.exit(1);
    },
  );
}
