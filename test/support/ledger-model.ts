import { LedgerErrorCode } from '../../src/ledger/ledger.errors.js';
import { defaultResolutionId } from '../../src/ledger/ledger.service.js';
import type { LedgerCommand, NewTransfer, Resolution, TransferKind, TransferStatus } from '../../src/ledger/ledger.types.js';

/**
 * A small in-memory ledger written from the rules (DESIGN.md, issue 4), not from the engine: what a
 * command should do to accounts and transfers, and which refusal it should get. The model-based test
 * runs every command against this and the database and compares them after each step.
 *
 * Where the rules leave an order open (which refusal wins when two apply), the model takes the order
 * the engine documents by its checks: validation, then an existing id (replay), then accounts (same,
 * missing, then closed or another currency, debit account first), then limits; for a resolution:
 * missing, not pending, resolved, timed out, amount.
 */

export interface ModelAccount {
  readonly id: string;
  readonly code: string;
  readonly currency: string;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
  /** A closed account takes no new transfer. */
  closed: boolean;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

export interface ModelTransfer {
  readonly id: string;
  readonly kind: TransferKind;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  /** For a resolution: the amount it posted (0 for a void or an expiry). */
  readonly amount: bigint;
  readonly currency: string;
  readonly code: string;
  readonly metadata: unknown;
  readonly pendingId: string | null;
  /** As asked for (0: never expires); a retry must ask for the same. */
  readonly timeoutSeconds: number;
  readonly timeoutAtMs: number | null;
  status: TransferStatus;
  resolvedBy: string | null;
  readonly linkedBatchId: string | null;
}

/** What a command came to: the first result (or the same again), or a refusal with what it names. */
export type Outcome =
  | {
      readonly ok: true;
      readonly replayed: boolean;
      readonly id: string;
      readonly kind: TransferKind;
      readonly status: TransferStatus;
      readonly amount: bigint;
    }
  | {
      readonly ok: false;
      readonly code: string;
      readonly field?: string;
      readonly accountId?: string;
      readonly failedTransferId?: string;
    };

export type AccountOutcome =
  | { readonly ok: true; readonly created: boolean; readonly id: string }
  | { readonly ok: false; readonly code: string; readonly field?: string };

export type CloseOutcome =
  | { readonly ok: true; readonly found: false }
  | { readonly ok: true; readonly found: true; readonly closed: boolean }
  | { readonly ok: false; readonly code: string };

export interface ModelNewAccount {
  readonly id?: string;
  readonly code: string;
  readonly currency: string;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
}

const MAX_AMOUNT = BigInt(Number.MAX_SAFE_INTEGER);
const BIGINT_MAX = 9_223_372_036_854_775_807n;

/** JSON with object keys sorted: two metadata values are the same when these are equal. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function refused(code: LedgerErrorCode, named: { field?: string; accountId?: string; failedTransferId?: string } = {}): Outcome {
  return { ok: false, code, ...named };
}

function succeeded(transfer: ModelTransfer, replayed: boolean): Outcome {
  return { ok: true, replayed, id: transfer.id, kind: transfer.kind, status: transfer.status, amount: transfer.amount };
}

export class LedgerModel {
  private accounts = new Map<string, ModelAccount>();
  private transfers = new Map<string, ModelTransfer>();

  account(id: string): ModelAccount | undefined {
    return this.accounts.get(id);
  }

  transfer(id: string): ModelTransfer | undefined {
    return this.transfers.get(id);
  }

  allAccounts(): ModelAccount[] {
    return [...this.accounts.values()];
  }

  allTransfers(): ModelTransfer[] {
    return [...this.transfers.values()];
  }

  /** Opens an account, or returns the one with the code when every field given matches. */
  openAccount(input: ModelNewAccount): AccountOutcome {
    if (input.debitsMustNotExceedCredits && input.creditsMustNotExceedDebits) return { ok: false, code: LedgerErrorCode.InvalidCommand };
    const existing = [...this.accounts.values()].find((account) => account.code === input.code);
    if (existing === undefined) {
      const id = input.id;
      if (id === undefined) throw new Error('the model opens accounts with ids chosen up front');
      this.accounts.set(id, {
        id,
        code: input.code,
        currency: input.currency,
        debitsMustNotExceedCredits: input.debitsMustNotExceedCredits,
        creditsMustNotExceedDebits: input.creditsMustNotExceedDebits,
        closed: false,
        debitsPending: 0n,
        debitsPosted: 0n,
        creditsPending: 0n,
        creditsPosted: 0n,
      });
      return { ok: true, created: true, id };
    }
    const differs = (field: string): AccountOutcome => ({ ok: false, code: LedgerErrorCode.AccountCodeTaken, field });
    if (input.id !== undefined && input.id !== existing.id) return differs('id');
    if (input.currency !== existing.currency) return differs('currency');
    if (input.debitsMustNotExceedCredits !== existing.debitsMustNotExceedCredits) return differs('debitsMustNotExceedCredits');
    if (input.creditsMustNotExceedDebits !== existing.creditsMustNotExceedDebits) return differs('creditsMustNotExceedDebits');
    return { ok: true, created: false, id: existing.id };
  }

  /** Closes an account; refused while it has pending amounts; closing a closed account changes nothing. */
  closeAccount(id: string): CloseOutcome {
    const account = this.accounts.get(id);
    if (account === undefined) return { ok: true, found: false };
    if (!account.closed && (account.debitsPending !== 0n || account.creditsPending !== 0n))
      return { ok: false, code: LedgerErrorCode.AccountHasPending };
    account.closed = true;
    return { ok: true, found: true, closed: true };
  }

  /**
   * Applies one group of commands at `nowMs`: each on its own, or (`linked`) all or none, the first
   * failure named and every other command of the group refused as LINKED_TRANSFER_FAILED.
   */
  submit(commands: readonly LedgerCommand[], linked: boolean, nowMs: number): Outcome[] {
    const linkedBatchId = linked && commands.length > 1 ? (commands[0]?.id ?? null) : null;
    if (!linked) return commands.map((command) => this.apply(command, nowMs, linkedBatchId));
    const saved = { accounts: structuredClone(this.accounts), transfers: structuredClone(this.transfers) };
    const outcomes: Outcome[] = [];
    for (const [index, command] of commands.entries()) {
      const outcome = this.apply(command, nowMs, linkedBatchId);
      if (!outcome.ok) {
        this.accounts = saved.accounts;
        this.transfers = saved.transfers;
        return commands.map((other, otherIndex) =>
          otherIndex === index ? outcome : refused(LedgerErrorCode.LinkedTransferFailed, { failedTransferId: command.id }),
        );
      }
      outcomes.push(outcome);
    }
    return outcomes;
  }

  /** What the expiry sweeper should do at `nowMs`: expire every pending transfer past its timeout. */
  expireDue(nowMs: number): { expired: number; commands: Resolution[] } {
    const due = [...this.transfers.values()].filter(
      (transfer) =>
        transfer.kind === 'pending' && transfer.status === 'pending' && transfer.timeoutAtMs !== null && transfer.timeoutAtMs <= nowMs,
    );
    const commands: Resolution[] = due.map((transfer) => ({
      type: 'resolve',
      id: defaultResolutionId(transfer.id, 'expire'),
      pendingId: transfer.id,
      action: 'expire',
    }));
    const outcomes = this.submit(commands, false, nowMs);
    return { expired: outcomes.filter((outcome) => outcome.ok && !outcome.replayed).length, commands };
  }

  private apply(command: LedgerCommand, nowMs: number, linkedBatchId: string | null): Outcome {
    if (this.invalid(command)) return refused(LedgerErrorCode.InvalidCommand);
    const existing = this.transfers.get(command.id);
    if (existing !== undefined) return this.replay(existing, command);
    return command.type === 'transfer'
      ? this.applyTransfer(command, nowMs, linkedBatchId)
      : this.applyResolution(command, nowMs, linkedBatchId);
  }

  /** The checks of the command alone (the model only gets commands whose ids and codes are well formed). */
  private invalid(command: LedgerCommand): boolean {
    if (command.type === 'transfer') {
      if (command.amount <= 0n || command.amount > MAX_AMOUNT) return true;
      const timeout = command.timeoutSeconds ?? 0;
      return timeout > 0 && command.pending !== true;
    }
    return command.amount !== undefined && (command.action !== 'post' || command.amount <= 0n || command.amount > MAX_AMOUNT);
  }

  /** The same id again: the transfer as it stands now, or a refusal naming the first field that differs. */
  private replay(existing: ModelTransfer, command: LedgerCommand): Outcome {
    const differs = (field: string) => refused(LedgerErrorCode.TransferExistsWithDifferentFields, { field });
    if (command.type === 'transfer') {
      if (existing.kind !== (command.pending === true ? 'pending' : 'single')) return differs('pending');
      if (existing.debitAccountId !== command.debitAccountId) return differs('debitAccountId');
      if (existing.creditAccountId !== command.creditAccountId) return differs('creditAccountId');
      if (existing.amount !== command.amount) return differs('amount');
      if (existing.currency !== command.currency) return differs('currency');
      if (existing.code !== command.code) return differs('code');
      if (canonical(existing.metadata) !== canonical(command.metadata)) return differs('metadata');
      if (existing.timeoutSeconds !== (command.timeoutSeconds ?? 0)) return differs('timeoutSeconds');
      return succeeded(existing, true);
    }
    const kind = { post: 'post_pending', void: 'void_pending', expire: 'expire_pending' }[command.action];
    if (existing.kind !== kind) return differs('action');
    if (existing.pendingId !== command.pendingId) return differs('pendingId');
    // A resolution's optional fields count only when given: left out, they mean "as before".
    if (command.amount !== undefined && existing.amount !== command.amount) return differs('amount');
    if (command.code !== undefined && existing.code !== command.code) return differs('code');
    if (command.metadata !== undefined && canonical(existing.metadata) !== canonical(command.metadata)) return differs('metadata');
    return succeeded(existing, true);
  }

  private applyTransfer(command: NewTransfer, nowMs: number, linkedBatchId: string | null): Outcome {
    if (command.debitAccountId === command.creditAccountId) return refused(LedgerErrorCode.AccountsMustDiffer);
    const debit = this.accounts.get(command.debitAccountId);
    if (debit === undefined) return refused(LedgerErrorCode.AccountNotFound, { accountId: command.debitAccountId });
    const credit = this.accounts.get(command.creditAccountId);
    if (credit === undefined) return refused(LedgerErrorCode.AccountNotFound, { accountId: command.creditAccountId });
    for (const account of [debit, credit]) {
      if (account.closed) return refused(LedgerErrorCode.AccountClosed, { accountId: account.id });
      if (account.currency !== command.currency) return refused(LedgerErrorCode.CurrencyMismatch, { accountId: account.id });
    }
    const pending = command.pending === true;
    const next = {
      debit: {
        ...debit,
        debitsPending: debit.debitsPending + (pending ? command.amount : 0n),
        debitsPosted: debit.debitsPosted + (pending ? 0n : command.amount),
      },
      credit: {
        ...credit,
        creditsPending: credit.creditsPending + (pending ? command.amount : 0n),
        creditsPosted: credit.creditsPosted + (pending ? 0n : command.amount),
      },
    };
    const beyond = this.beyondLimits(next.debit, next.credit);
    if (beyond !== undefined) return beyond;
    const timeoutSeconds = command.timeoutSeconds ?? 0;
    const transfer: ModelTransfer = {
      id: command.id,
      kind: pending ? 'pending' : 'single',
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      amount: command.amount,
      currency: command.currency,
      code: command.code,
      metadata: command.metadata ?? null,
      pendingId: null,
      timeoutSeconds,
      timeoutAtMs: pending && timeoutSeconds > 0 ? nowMs + timeoutSeconds * 1000 : null,
      status: pending ? 'pending' : 'posted',
      resolvedBy: null,
      linkedBatchId,
    };
    this.accounts.set(debit.id, next.debit);
    this.accounts.set(credit.id, next.credit);
    this.transfers.set(transfer.id, transfer);
    return succeeded(transfer, false);
  }

  private applyResolution(command: Resolution, nowMs: number, linkedBatchId: string | null): Outcome {
    const pending = this.transfers.get(command.pendingId);
    if (pending === undefined) return refused(LedgerErrorCode.PendingTransferNotFound);
    if (pending.kind !== 'pending') return refused(LedgerErrorCode.NotPending);
    // Resolved exactly once: a second post, void or expiry of it is refused, whatever the first was.
    if (pending.status !== 'pending') return refused(LedgerErrorCode.PendingTransferAlreadyResolved);
    const due = pending.timeoutAtMs !== null && pending.timeoutAtMs <= nowMs;
    if (command.action === 'expire' && !due) return refused(LedgerErrorCode.PendingTransferNotDue);
    if (command.action !== 'expire' && due) return refused(LedgerErrorCode.PendingTransferExpired);
    const posted = command.action === 'post' ? (command.amount ?? pending.amount) : 0n;
    if (posted > pending.amount) return refused(LedgerErrorCode.AmountExceedsPending);
    const debit = this.accounts.get(pending.debitAccountId);
    const credit = this.accounts.get(pending.creditAccountId);
    if (debit === undefined || credit === undefined) throw new Error(`the model lost the accounts of ${pending.id}`);
    // The whole reservation is released; what is posted (all, part, or nothing) moves for good.
    const next = {
      debit: { ...debit, debitsPending: debit.debitsPending - pending.amount, debitsPosted: debit.debitsPosted + posted },
      credit: { ...credit, creditsPending: credit.creditsPending - pending.amount, creditsPosted: credit.creditsPosted + posted },
    };
    const beyond = this.beyondLimits(next.debit, next.credit);
    if (beyond !== undefined) return beyond;
    const kind: TransferKind = command.action === 'post' ? 'post_pending' : command.action === 'void' ? 'void_pending' : 'expire_pending';
    const resolution: ModelTransfer = {
      id: command.id,
      kind,
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      amount: posted,
      currency: pending.currency,
      code: command.code ?? pending.code,
      metadata: command.metadata ?? null,
      pendingId: pending.id,
      timeoutSeconds: 0,
      timeoutAtMs: null,
      status: 'posted',
      resolvedBy: null,
      linkedBatchId,
    };
    this.accounts.set(debit.id, next.debit);
    this.accounts.set(credit.id, next.credit);
    this.transfers.set(pending.id, {
      ...pending,
      status: command.action === 'post' ? 'posted' : command.action === 'void' ? 'voided' : 'expired',
      resolvedBy: resolution.id,
    });
    this.transfers.set(resolution.id, resolution);
    return succeeded(resolution, false);
  }

  /**
   * No flagged account beyond its limit, pending counted on the side that could grow: debits
   * (pending + posted) within posted credits, or credits (pending + posted) within posted debits.
   */
  private beyondLimits(debit: ModelAccount, credit: ModelAccount): Outcome | undefined {
    for (const account of [debit, credit]) {
      if ([account.debitsPending, account.debitsPosted, account.creditsPending, account.creditsPosted].some((value) => value > BIGINT_MAX))
        return refused(LedgerErrorCode.Overflow, { accountId: account.id });
    }
    const overDebited = (account: ModelAccount) =>
      account.debitsMustNotExceedCredits && account.debitsPending + account.debitsPosted > account.creditsPosted;
    const overCredited = (account: ModelAccount) =>
      account.creditsMustNotExceedDebits && account.creditsPending + account.creditsPosted > account.debitsPosted;
    for (const account of [debit, credit]) {
      if (overDebited(account)) return refused(LedgerErrorCode.ExceedsCredits, { accountId: account.id });
      if (overCredited(account)) return refused(LedgerErrorCode.ExceedsDebits, { accountId: account.id });
    }
    return undefined;
  }
}
