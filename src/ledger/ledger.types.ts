/** The ledger's vocabulary, shared by the engine, the facade and the API. Money is bigint minor units. */

export type TransferKind = 'single' | 'pending' | 'post_pending' | 'void_pending' | 'expire_pending';
export type TransferStatus = 'posted' | 'pending' | 'voided' | 'expired';

export interface Balances {
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

export interface Account extends Balances {
  readonly id: string;
  readonly code: string;
  readonly currency: string;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
  readonly headSeq: bigint;
  readonly headHash: string;
  readonly metadata: Record<string, unknown> | null;
  readonly createdAt: Date;
  readonly closedAt: Date | null;
}

export interface Transfer {
  readonly id: string;
  readonly kind: TransferKind;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  /** For a resolution: the amount posted (0 for a void or an expiry). */
  readonly amount: bigint;
  readonly currency: string;
  readonly code: string;
  readonly metadata: Record<string, unknown> | null;
  readonly pendingId: string | null;
  readonly timeoutAt: Date | null;
  readonly status: TransferStatus;
  /** For a pending transfer that was resolved: the id of the transfer that resolved it. */
  readonly resolvedBy: string | null;
  readonly linkedBatchId: string | null;
  readonly createdAt: Date;
}

/** One side of a transfer on one account: a link of the account's hash chain. */
export interface Entry extends Balances {
  readonly accountId: string;
  readonly seq: bigint;
  readonly transferId: string;
  readonly side: 'debit' | 'credit';
  readonly pendingDelta: bigint;
  readonly postedDelta: bigint;
  readonly prevHash: string;
  readonly hash: string;
  readonly createdAt: Date;
}

/** Move money now (`pending: false`), or reserve it (`pending: true`) until posted, voided or timed out. */
export interface NewTransfer {
  readonly type: 'transfer';
  /** Chosen by the caller: the transfer's idempotency key. */
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly code: string;
  readonly metadata?: Record<string, unknown> | null;
  readonly pending?: boolean;
  /** A pending transfer not resolved within this many seconds expires (0 or absent: never). */
  readonly timeoutSeconds?: number;
}

/** Resolve a pending transfer: post it (all, or `amount` of it, releasing the rest), void it, or expire it. */
export interface Resolution {
  readonly type: 'resolve';
  /** The resolution's own transfer id, chosen by the caller (idempotency). */
  readonly id: string;
  readonly pendingId: string;
  readonly action: 'post' | 'void' | 'expire';
  /** For `post`: how much to post (default: all of it). */
  readonly amount?: bigint;
  readonly code?: string;
  readonly metadata?: Record<string, unknown> | null;
}

export type LedgerCommand = NewTransfer | Resolution;

export type CommandResult =
  | {
      readonly ok: true;
      readonly transfer: Transfer;
      /** The transfer existed already: this is the first result again. */ readonly replayed: boolean;
    }
  | { readonly ok: false; readonly error: import('./ledger.errors.js').LedgerError };

export const MAX_BATCH_COMMANDS = 1000;
export const MAX_METADATA_BYTES = 4096;
export const MAX_TIMEOUT_SECONDS = 30 * 86_400;
