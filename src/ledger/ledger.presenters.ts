import type { Checkpoint } from './checkpoints.js';
import type { VerificationReport } from './ledger-verification.js';
import type { Account, CommandResult, Entry, Transfer } from './ledger.types.js';

/** JSON forms of the ledger's records: amounts as strings of minor units (exact in every client), times as RFC 3339. */

export function accountJson(account: Account) {
  return {
    id: account.id,
    code: account.code,
    currency: account.currency,
    flags: {
      debitsMustNotExceedCredits: account.debitsMustNotExceedCredits,
      creditsMustNotExceedDebits: account.creditsMustNotExceedDebits,
    },
    debitsPending: account.debitsPending.toString(),
    debitsPosted: account.debitsPosted.toString(),
    creditsPending: account.creditsPending.toString(),
    creditsPosted: account.creditsPosted.toString(),
    /** Posted credits less posted debits, and what is left after pending debits: what a wallet may still spend. */
    balancePosted: (account.creditsPosted - account.debitsPosted).toString(),
    balanceAvailable: (account.creditsPosted - account.debitsPosted - account.debitsPending).toString(),
    headSeq: account.headSeq.toString(),
    headHash: account.headHash,
    metadata: account.metadata,
    createdAt: account.createdAt.toISOString(),
    closedAt: account.closedAt?.toISOString() ?? null,
  };
}

export function transferJson(transfer: Transfer) {
  return {
    id: transfer.id,
    kind: transfer.kind,
    status: transfer.status,
    debitAccountId: transfer.debitAccountId,
    creditAccountId: transfer.creditAccountId,
    amountMinor: transfer.amount.toString(),
    currency: transfer.currency,
    code: transfer.code,
    metadata: transfer.metadata,
    pendingId: transfer.pendingId,
    resolvedBy: transfer.resolvedBy,
    timeoutAt: transfer.timeoutAt?.toISOString() ?? null,
    linkedBatchId: transfer.linkedBatchId,
    createdAt: transfer.createdAt.toISOString(),
  };
}

export function entryJson(entry: Entry) {
  return {
    accountId: entry.accountId,
    seq: entry.seq.toString(),
    transferId: entry.transferId,
    side: entry.side,
    pendingDelta: entry.pendingDelta.toString(),
    postedDelta: entry.postedDelta.toString(),
    debitsPending: entry.debitsPending.toString(),
    debitsPosted: entry.debitsPosted.toString(),
    creditsPending: entry.creditsPending.toString(),
    creditsPosted: entry.creditsPosted.toString(),
    prevHash: entry.prevHash,
    hash: entry.hash,
    createdAt: entry.createdAt.toISOString(),
  };
}

/** One result of a batch: created, replayed (the same id and fields again), or failed with a stable code. */
export function resultJson(id: string, result: CommandResult) {
  if (result.ok)
    return { id, status: result.replayed ? ('replayed' as const) : ('created' as const), transfer: transferJson(result.transfer) };
  return { id, status: 'failed' as const, error: { code: result.error.code, detail: result.error.detail, ...result.error.extensions } };
}

export function checkpointJson(checkpoint: Checkpoint) {
  return {
    number: checkpoint.number.toString(),
    merkleRoot: checkpoint.merkleRoot,
    accountCount: checkpoint.accountCount.toString(),
    entryCount: checkpoint.entryCount.toString(),
    prevHash: checkpoint.prevHash,
    hash: checkpoint.hash,
    createdAt: checkpoint.createdAt.toISOString(),
  };
}

export function verificationJson(report: VerificationReport) {
  return {
    ok: report.ok,
    startedAt: report.startedAt.toISOString(),
    finishedAt: report.finishedAt.toISOString(),
    durationMs: report.durationMs,
    accountsChecked: report.accountsChecked,
    entriesChecked: report.entriesChecked,
    transfersChecked: report.transfersChecked,
    checkpointsChecked: report.checkpointsChecked,
    problemCount: report.problemCount,
    problemsOmitted: report.problemsOmitted,
    problems: report.problems.map((problem) => ({
      kind: problem.kind,
      accountId: problem.accountId ?? null,
      seq: problem.seq?.toString() ?? null,
      transferId: problem.transferId ?? null,
      checkpointNumber: problem.checkpointNumber?.toString() ?? null,
      currency: problem.currency ?? null,
      detail: problem.detail,
    })),
    firstBrokenEntryByAccount: report.firstBrokenEntryByAccount.map((broken) => ({
      accountId: broken.accountId,
      accountCode: broken.accountCode,
      seq: broken.seq.toString(),
      reason: broken.reason,
      detail: broken.detail,
      laterBrokenEntries: broken.laterBrokenEntries,
    })),
    brokenAccountsOmitted: report.brokenAccountsOmitted,
  };
}
