import type { AuditEventInput } from '../audit/audit-event.js';
import type { Principal } from '../common/principal.js';
import { currentRequestContext } from '../common/request-context/request-context.js';
import { LedgerError, LedgerErrorCode } from '../ledger/ledger.errors.js';
import type { CommandResult, Transfer } from '../ledger/ledger.types.js';
import { PaymentsError, PaymentsErrorCode } from './payments.errors.js';

/** Where the request came from, captured now: events written later in a batch have no request context. */
export function requestOrigin(): { ip: string | null; requestId: string | null; userAgent: string | null } {
  const context = currentRequestContext();
  return { ip: context?.ip ?? null, requestId: context?.requestId ?? null, userAgent: context?.userAgent ?? null };
}

/** The refusal that made a (linked) group fail: the one that is not "another transfer of the group failed". */
export function groupFailure(results: readonly CommandResult[]): LedgerError | undefined {
  const errors = results.flatMap((result) => (result.ok ? [] : [result.error]));
  return errors.find((error) => error.ledgerCode !== LedgerErrorCode.LinkedTransferFailed) ?? errors[0];
}

/**
 * The transfers of a group that must all have succeeded, or the refusal in payments' terms: a wallet or
 * merchant account without the money is INSUFFICIENT_FUNDS / INSUFFICIENT_MERCHANT_BALANCE, anything
 * else the ledger's own error.
 */
export function transfersOrThrow(
  results: readonly CommandResult[],
  walletAccountId: string | null,
  merchantAccountId: string | null,
): Transfer[] {
  const failure = groupFailure(results);
  if (failure !== undefined) throw paymentsErrorOf(failure, walletAccountId, merchantAccountId);
  return results.map((result) => {
    if (!result.ok) throw new Error('unreachable: a failed result after the check');
    return result.transfer;
  });
}

export function paymentsErrorOf(error: LedgerError, walletAccountId: string | null, merchantAccountId: string | null): Error {
  if (error.ledgerCode === LedgerErrorCode.ExceedsCredits) {
    const accountId = error.extensions.accountId;
    if (accountId === walletAccountId)
      return new PaymentsError(PaymentsErrorCode.InsufficientFunds, 'The wallet does not hold enough money for this payment.');
    if (accountId === merchantAccountId)
      return new PaymentsError(PaymentsErrorCode.InsufficientMerchantBalance, "The merchant's available balance is not enough.");
  }
  return error;
}

/** An audit event for a change made by `actor` to one resource, with its origin captured now. */
export function auditOf(
  actor: Principal | null,
  action: `${string}.${string}`,
  resourceType: string,
  resourceId: string,
  details: Record<string, unknown>,
  failure?: string,
): AuditEventInput {
  return {
    actor,
    action,
    resourceType,
    resourceId,
    outcome: failure === undefined ? 'success' : 'failure',
    problemCode: failure ?? null,
    details,
    ...requestOrigin(),
  };
}
