import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { v7 as uuidv7 } from 'uuid';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { testServerUrl } from '../support/test-database.js';

/** Runs the worker until it prints `at <point>`, then kills it with SIGKILL, as a crash would. */
function runUntil(args: string[], point: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['test/support/ledger-crash-worker.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the worker never reached ${point}: ${output}`));
    }, 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`at ${point}\n`)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && output.includes(`at ${point}\n`)) resolve();
      else reject(new Error(`the worker ended without reaching ${point}: ${output}`));
    });
  });
}

// The worker needs its own connection to the test database: a PostgreSQL server.
const onServer = testServerUrl() === undefined ? describe.skip : describe;
onServer("a module's state change and its ledger transfer commit together, even when the process dies", () => {
  let t: TestApp;
  let debit: string;
  let credit: string;

  beforeAll(async () => {
    t = await startTestApp();
    await t.dataSource.query(`CREATE TABLE crash_probe_orders (id uuid PRIMARY KEY, status text NOT NULL)`);
    const ledger = t.app.get(LedgerService);
    debit = (await ledger.openAccount({ code: 'external:crash:CNY', currency: 'CNY' })).account.id;
    credit = (await ledger.openAccount({ code: 'merchant:crash:available', currency: 'CNY' })).account.id;
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  const stateOf = async (orderId: string, transferId: string) => {
    const orders: unknown[] = await t.dataSource.query('SELECT 1 FROM crash_probe_orders WHERE id = $1', [orderId]);
    const transfers: unknown[] = await t.dataSource.query('SELECT 1 FROM ledger_transfers WHERE id = $1', [transferId]);
    const entries: unknown[] = await t.dataSource.query('SELECT 1 FROM ledger_entries WHERE transfer_id = $1', [transferId]);
    return { order: orders.length, transfer: transfers.length, entries: entries.length };
  };

  it.each([
    ['after the state change, before the transfer', 'after-state-change', { order: 0, transfer: 0, entries: 0 }],
    ['after the transfer, before the commit', 'after-transfer', { order: 0, transfer: 0, entries: 0 }],
    ['after the commit', 'committed', { order: 1, transfer: 1, entries: 2 }],
  ])('killed %s: the order and its transfer are both there or both absent', async (_label, point, expected) => {
    const orderId = uuidv7();
    const transferId = uuidv7();
    await runUntil([t.config.database.url ?? '', point, orderId, transferId, debit, credit], point);
    expect(await stateOf(orderId, transferId)).toEqual(expected);
    await expectLedgerInvariants(t.dataSource);
  });
});
