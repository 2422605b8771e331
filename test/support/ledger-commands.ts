import { v7 as uuidv7 } from 'uuid';
import type { Account, CommandResult, NewTransfer, Transfer } from '../../src/ledger/ledger.types.js';

/** A CNY transfer between two accounts with a fresh id; `extra` overrides any field. */
export function transferCommand(debit: Account, credit: Account, amount: bigint, extra: Partial<NewTransfer> = {}): NewTransfer {
  return {
    type: 'transfer',
    id: uuidv7(),
    debitAccountId: debit.id,
    creditAccountId: credit.id,
    amount,
    currency: 'CNY',
    code: 'test',
    ...extra,
  };
}

/** The transfer of a successful result; a refusal fails the test with its code. */
export function okTransfer(result: CommandResult | undefined): Transfer {
  if (result === undefined || !result.ok) throw new Error(`expected success, got ${result === undefined ? 'nothing' : result.error.code}`);
  return result.transfer;
}

/** The code of a refused result (undefined for a success). */
export function errorCode(result: CommandResult | undefined): string | undefined {
  return result !== undefined && !result.ok ? result.error.code : undefined;
}
