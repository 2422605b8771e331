/* global setInterval, clearInterval */
// Audit: events written per second with the sealer off and on, the sealing lag meanwhile, and what
// sealing costs the ledger's hot path (the posting engine writes an audit event with every batch):
// transfers/s with the sealer off and on, as a ratio. In-process, the dist/ build, a fresh database each part.
//
//   node bench/audit.mjs            (after npm run build)    BENCH_AUDIT_CALLERS (64), BENCH_DURATION_SECONDS (10)
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import {
  createBenchDatabase,
  formatConditions,
  formatNumber,
  formatRatio,
  formatTable,
  isMainModule,
  loadSettings,
  positiveInteger,
  progress,
  repositoryRoot,
  sleep,
} from './lib.mjs';

export const name = 'audit';

async function loadDist() {
  await import('reflect-metadata');
  const load = (path) => import(pathToFileURL(resolve(repositoryRoot, path)).href);
  const [typeorm, prom, options, migrations, clock, audit, sealer, engine, service] = await Promise.all([
    import('typeorm'),
    import('prom-client'),
    load('dist/src/database/data-source-options.js'),
    load('dist/src/database/migration-runner.js'),
    load('dist/src/common/clock/clock.js'),
    load('dist/src/audit/audit.service.js'),
    load('dist/src/audit/audit-sealer.js'),
    load('dist/src/ledger/posting-engine.js'),
    load('dist/src/ledger/ledger.service.js'),
  ]);
  return { typeorm, prom, options, migrations, clock, audit, sealer, engine, service };
}

/** A migrated database with the audit writer, the sealer (timer on or off) and the posting engine. */
async function open(dist, sealing) {
  const database = await createBenchDatabase();
  const dataSource = new dist.typeorm.DataSource(
    dist.options.dataSourceOptions({ url: database.url, poolSize: 10, statementTimeoutMs: 0 }),
  );
  await dataSource.initialize();
  await dist.migrations.runPendingMigrations(dataSource);
  const clock = new dist.clock.SystemClock();
  const audit = new dist.audit.AuditService(dataSource, clock);
  const config = { audit: { sealIntervalMs: sealing ? 250 : 0, retentionDays: 0 } };
  const sealer = new dist.sealer.AuditSealer(dataSource, clock, config, audit, { registry: new dist.prom.Registry() });
  const engine = new dist.engine.PostingEngine(dataSource, clock, audit);
  const ledger = new dist.service.LedgerService(dataSource, engine, clock);
  sealer.onApplicationBootstrap();
  const close = async () => {
    await sealer.beforeApplicationShutdown();
    await engine.onApplicationShutdown();
    await audit.onApplicationShutdown();
    await dataSource.destroy();
    await database.drop();
  };
  return { dataSource, audit, sealer, engine, ledger, close };
}

/** `callers` loops of `call` for warm-up then `durationSeconds`; counts completions in the measured window; samples the lag. */
async function closedLoop({ callers, warmupSeconds, durationSeconds, call, sealer }) {
  let measuring = false;
  let stop = false;
  let done = 0;
  let failures = 0;
  const loops = Array.from({ length: callers }, async () => {
    while (!stop) {
      try {
        await call();
        if (measuring) done += 1;
      } catch {
        failures += 1;
      }
    }
  });
  await sleep(warmupSeconds * 1000);
  measuring = true;
  const started = performance.now();
  let maxLag = 0;
  let maxUnsealed = 0;
  const lagTimer = setInterval(() => {
    sealer
      .lag()
      .then((lag) => {
        maxLag = Math.max(maxLag, lag.lagSeconds);
        maxUnsealed = Math.max(maxUnsealed, lag.unsealedEvents);
      })
      .catch(() => undefined);
  }, 500);
  await sleep(durationSeconds * 1000);
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  clearInterval(lagTimer);
  stop = true;
  await Promise.all(loops);
  return { perSec: done / seconds, done, failures, maxLag, maxUnsealed };
}

async function part(dist, settings, sealing, kind) {
  const handle = await open(dist, sealing);
  try {
    let call;
    if (kind === 'record') {
      call = () =>
        handle.audit.record({
          actor: null,
          action: 'bench.thing.happened',
          resourceType: 'bench',
          resourceId: randomUUID(),
          outcome: 'success',
        });
    } else {
      const merchant = (await handle.ledger.openAccount({ code: 'merchant:bench:available', currency: 'CNY' })).account;
      const funding = [];
      for (let index = 0; index < 100; index += 1)
        funding.push((await handle.ledger.openAccount({ code: `external:bench:${index}`, currency: 'CNY' })).account);
      call = async () => {
        const [result] = await handle.engine.submit({
          commands: [
            {
              type: 'transfer',
              id: randomUUID(),
              debitAccountId: funding[Math.floor(Math.random() * funding.length)].id,
              creditAccountId: merchant.id,
              amount: 100n,
              currency: 'CNY',
              code: 'bench',
            },
          ],
          linked: false,
        });
        if (!result.ok) throw result.error;
      };
    }
    const figures = await closedLoop({ ...settings, call, sealer: handle.sealer });
    // After the load: how long the sealer takes to catch up, and that the chain it built is whole.
    const drainStarted = performance.now();
    await handle.sealer.sealPending();
    figures.drainMs = performance.now() - drainStarted;
    const [{ events, sealed }] = await handle.dataSource.query(
      'SELECT (SELECT count(*) FROM audit_events)::int AS events, (SELECT count(*) FROM audit_seals)::int AS sealed',
    );
    figures.events = events;
    figures.sealed = sealed;
    return figures;
  } finally {
    await handle.close();
  }
}

export async function run(options = {}) {
  const shared = loadSettings({ durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds });
  const settings = {
    callers: positiveInteger(options.auditCallers, 'BENCH_AUDIT_CALLERS', 64),
    durationSeconds: shared.durationSeconds,
    warmupSeconds: shared.warmupSeconds,
  };
  const dist = await loadDist();
  const parts = {};
  for (const [key, sealing, kind] of [
    ['recordOff', false, 'record'],
    ['recordOn', true, 'record'],
    ['engineOff', false, 'engine'],
    ['engineOn', true, 'engine'],
  ]) {
    progress(`${name}: ${kind}, sealer ${sealing ? 'on (250 ms)' : 'off'}`);
    parts[key] = await part(dist, settings, sealing, kind);
  }
  const row = (label, figures, unit) => ({
    label,
    perSec: `${formatNumber(figures.perSec)} ${unit}/s`,
    maxLag: figures.maxLag.toFixed(2),
    maxUnsealed: formatNumber(figures.maxUnsealed),
    drain: `${figures.drainMs.toFixed(0)} ms`,
    failures: figures.failures,
  });
  const recordRatio = parts.recordOn.perSec / parts.recordOff.perSec;
  const engineRatio = parts.engineOn.perSec / parts.engineOff.perSec;
  const detail = [
    `== ${name}: audit events written, and sealing's cost ==`,
    formatConditions({
      connections: settings.callers,
      durationSeconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
      how: 'dist/ build in-process, DataSource pool 10; AuditService.record (group commit) or PostingEngine.submit (one transfer, its audit event in the batch); the sealer on a 250 ms timer or off; lag sampled every 500 ms',
    }),
    '',
    formatTable(
      [
        { key: 'label', title: 'load', align: 'left' },
        { key: 'perSec', title: 'throughput', align: 'right' },
        { key: 'maxLag', title: 'max seal lag (s)', align: 'right' },
        { key: 'maxUnsealed', title: 'max unsealed', align: 'right' },
        { key: 'drain', title: 'drain after', align: 'right' },
        { key: 'failures', title: 'failures', align: 'right' },
      ],
      [
        row('audit.record, sealer off', parts.recordOff, 'events'),
        row('audit.record, sealer on', parts.recordOn, 'events'),
        row('engine transfers, sealer off', parts.engineOff, 'transfers'),
        row('engine transfers, sealer on', parts.engineOn, 'transfers'),
      ],
    ),
    '',
    `sealer on / off: audit.record ${formatRatio(recordRatio)}, engine transfers ${formatRatio(engineRatio)}`,
  ].join('\n');
  const rows = [
    {
      scenario: 'audit events written, sealer on (events/s)',
      requestsPerSec: parts.recordOn.perSec,
      baseline: `sealer off: ${formatNumber(parts.recordOff.perSec)}/s`,
      ratio: formatRatio(recordRatio),
      notes: `max seal lag ${parts.recordOn.maxLag.toFixed(2)} s`,
    },
    {
      scenario: 'engine transfers, sealer on (transfers/s)',
      requestsPerSec: parts.engineOn.perSec,
      baseline: `sealer off: ${formatNumber(parts.engineOff.perSec)}/s`,
      ratio: formatRatio(engineRatio),
      notes: `max seal lag ${parts.engineOn.maxLag.toFixed(2)} s`,
    },
  ];
  return { name, settings: { callers: settings.callers }, rows, detail };
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
