// A process that dies at a chosen point between a module's own state change and its ledger transfer:
// the test SIGKILLs it when it prints where it stands. It runs the compiled service code (dist/), as
// the service itself would; jest's global setup builds it.
//   node test/support/ledger-crash-worker.mjs <databaseUrl> <stopAt> <orderId> <transferId> <debitAccountId> <creditAccountId>
import { DataSource } from 'typeorm';
import { AuditService } from '../../dist/src/audit/audit.service.js';
import { SystemClock } from '../../dist/src/common/clock/clock.js';
import { dataSourceOptions } from '../../dist/src/database/data-source-options.js';
import { PostingEngine } from '../../dist/src/ledger/posting-engine.js';

const [url, stopAt, orderId, transferId, debitAccountId, creditAccountId] = process.argv.slice(2);
const hang = () => new Promise(() => {});
const dataSource = await new DataSource(dataSourceOptions({ url, poolSize: 1, statementTimeoutMs: 0 })).initialize();
const clock = new SystemClock();
const engine = new PostingEngine(dataSource, clock, new AuditService(dataSource, clock));

await dataSource.transaction(async (manager) => {
  await manager.query(`INSERT INTO crash_probe_orders (id, status) VALUES ($1, 'paid')`, [orderId]);
  if (stopAt === 'after-state-change') {
    process.stdout.write('at after-state-change\n');
    await hang();
  }
  const [results] = await engine.execute(manager, [
    {
      commands: [{ type: 'transfer', id: transferId, debitAccountId, creditAccountId, amount: 100n, currency: 'CNY', code: 'payment' }],
      linked: false,
    },
  ]);
  if (!results[0].ok) throw results[0].error;
  if (stopAt === 'after-transfer') {
    process.stdout.write('at after-transfer\n');
    await hang();
  }
});
process.stdout.write('at committed\n');
await hang();
