import {
  checkpointHash,
  type CheckpointContent,
  type EntryContent,
  entryHash,
  GENESIS_HASH,
  MerkleBuilder,
  merkleLeaf,
  type TransferContent,
} from './ledger-hashing.js';
import type { Account, Balances, Transfer, TransferKind } from './ledger.types.js';

/**
 * The checks of ledger verification, as pure code: LedgerVerifier (ledger-verifier.ts) streams the
 * tables through them a page at a time. Everything here holds state for one account or one checkpoint
 * at a time, never for the whole ledger, which is what keeps verification in bounded memory.
 */

/** What can be wrong, each named for the thing that no longer matches. Stable: clients branch on these. */
export const VERIFICATION_PROBLEM_KINDS = [
  /** An entry's stored hash is not SHA-256 over its prev_hash and its content (with its transfer's digest). */
  'ENTRY_HASH_MISMATCH',
  /** An entry's prev_hash is not the stored hash of the entry before it (zeros for seq 1). */
  'CHAIN_LINK_BROKEN',
  /** An account's entries do not run 1, 2, ..., head_seq: `seq` is the first one missing. */
  'SEQ_GAP',
  /** Balances after an entry are not those before it plus its deltas; or (without seq) an account row's stored balances are not its last entry's. */
  'BALANCE_MISMATCH',
  /** An account row's head_seq or head_hash is not its last entry's; or entries exist for an account that does not. */
  'ACCOUNT_HEAD_MISMATCH',
  /** An entry does not match its transfer (account, side, deltas, currency), or a transfer does not have exactly its two entries. */
  'TRANSFER_ENTRIES_MISMATCH',
  /** A pending transfer's status and resolved_by disagree with the transfer that resolved it, or a resolution does not fit its pending transfer. */
  'TRANSFER_RESOLUTION_MISMATCH',
  /** For a currency, the sum of debits is not the sum of credits (posted or pending), over the account rows. */
  'CURRENCY_UNBALANCED',
  /** A flagged account is beyond its limit, pending counted: after an entry (with seq) or in its row (without). */
  'LIMIT_EXCEEDED',
  /** A checkpoint's Merkle root, account count or entry count is not what its committed heads give. */
  'CHECKPOINT_ROOT_MISMATCH',
  /** A checkpoint's number, prev_hash or own hash breaks the chain of checkpoints. */
  'CHECKPOINT_CHAIN_BROKEN',
  /** A head a checkpoint committed to is no longer the entry at that seq (or the account is gone). */
  'CHECKPOINT_HEAD_MISMATCH',
] as const;

export type VerificationProblemKind = (typeof VERIFICATION_PROBLEM_KINDS)[number];

/** Kinds that are about one entry of an account's chain: they take part in "the first broken entry". */
const ENTRY_KINDS: ReadonlySet<VerificationProblemKind> = new Set([
  'ENTRY_HASH_MISMATCH',
  'CHAIN_LINK_BROKEN',
  'SEQ_GAP',
  'BALANCE_MISMATCH',
  'TRANSFER_ENTRIES_MISMATCH',
  'LIMIT_EXCEEDED',
]);

export interface VerificationProblem {
  readonly kind: VerificationProblemKind;
  readonly accountId?: string;
  readonly seq?: bigint;
  readonly transferId?: string;
  readonly checkpointNumber?: bigint;
  readonly currency?: string;
  /** For people: what was expected and what was found. Ids and numbers only, never metadata. */
  readonly detail: string;
}

/** Where an account's chain first breaks; later broken entries of that account are only counted. */
export interface BrokenAccount {
  readonly accountId: string;
  readonly accountCode: string;
  readonly seq: bigint;
  /** The first problem found at that entry; an entry is checked for seq, link, hash, balances, transfer, limit, in that order. */
  readonly reason: VerificationProblemKind;
  readonly detail: string;
  /** Entries after `seq` on this account with a problem of their own, not listed in `problems`. */
  readonly laterBrokenEntries: number;
}

export interface VerificationReport {
  readonly ok: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly accountsChecked: number;
  readonly entriesChecked: number;
  readonly transfersChecked: number;
  readonly checkpointsChecked: number;
  /**
   * Problems found, listed or not. Problems of entries after an account's first broken entry are not
   * among them: those entries are counted in firstBrokenEntryByAccount[].laterBrokenEntries.
   */
  readonly problemCount: number;
  /** The first MAX_LISTED_PROBLEMS problems, in the order found (accounts by id, transfers by id, currencies, checkpoints by number). */
  readonly problems: readonly VerificationProblem[];
  /** problemCount less those listed. */
  readonly problemsOmitted: number;
  /** The first MAX_LISTED_BROKEN_ACCOUNTS accounts whose chain is broken, by account id. */
  readonly firstBrokenEntryByAccount: readonly BrokenAccount[];
  readonly brokenAccountsOmitted: number;
}

export const MAX_LISTED_PROBLEMS = 1000;
export const MAX_LISTED_BROKEN_ACCOUNTS = 1000;

/** Collects problems, keeping at most a fixed number listed: a wholly corrupted ledger still gives a small report. */
export class ProblemLog {
  readonly problems: VerificationProblem[] = [];
  problemCount = 0;
  readonly brokenAccounts: BrokenAccount[] = [];
  brokenAccountCount = 0;

  add(problem: VerificationProblem): void {
    this.problemCount += 1;
    if (this.problems.length < MAX_LISTED_PROBLEMS) this.problems.push(problem);
  }

  addBrokenAccount(account: BrokenAccount): void {
    this.brokenAccountCount += 1;
    if (this.brokenAccounts.length < MAX_LISTED_BROKEN_ACCOUNTS) this.brokenAccounts.push(account);
  }
}

/**
 * The deltas a transfer's entries carry on their own side, by kind. A resolution moves its pending
 * transfer's whole reservation out of pending (`-reserved`) and posts what it posts (0 for a void or
 * an expiry). `reserved` is null when the pending transfer cannot be found: the pending delta is then
 * unknown (that absence is reported on its own).
 */
export function expectedEntryDeltas(
  kind: TransferKind,
  amount: bigint,
  reserved: bigint | null,
): { readonly pendingDelta: bigint | null; readonly postedDelta: bigint } {
  switch (kind) {
    case 'single':
      return { pendingDelta: 0n, postedDelta: amount };
    case 'pending':
      return { pendingDelta: amount, postedDelta: 0n };
    case 'post_pending':
      return { pendingDelta: reserved === null ? null : -reserved, postedDelta: amount };
    case 'void_pending':
    case 'expire_pending':
      return { pendingDelta: reserved === null ? null : -reserved, postedDelta: 0n };
  }
}

const ZERO: Balances = { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };

function sameBalances(a: Balances, b: Balances): boolean {
  return (
    a.debitsPending === b.debitsPending &&
    a.debitsPosted === b.debitsPosted &&
    a.creditsPending === b.creditsPending &&
    a.creditsPosted === b.creditsPosted
  );
}

function showBalances(b: Balances): string {
  return `debits ${b.debitsPending} pending/${b.debitsPosted} posted, credits ${b.creditsPending} pending/${b.creditsPosted} posted`;
}

type Limits = Pick<Account, 'debitsMustNotExceedCredits' | 'creditsMustNotExceedDebits'>;

/** Why `balances` break the account's flag, if they do. The same rule as the engine and the table's CHECK. */
export function limitBreach(limits: Limits, balances: Balances): string | undefined {
  if (limits.debitsMustNotExceedCredits && balances.debitsPending + balances.debitsPosted > balances.creditsPosted) {
    return `debits ${balances.debitsPending + balances.debitsPosted} (pending counted) exceed credits posted ${balances.creditsPosted}`;
  }
  if (limits.creditsMustNotExceedDebits && balances.creditsPending + balances.creditsPosted > balances.debitsPosted) {
    return `credits ${balances.creditsPending + balances.creditsPosted} (pending counted) exceed debits posted ${balances.debitsPosted}`;
  }
  return undefined;
}

/** An entry as stored: its content less the transfer digest (which comes from the transfer), and its hashes. */
export type StoredEntry = Omit<EntryContent, 'transferDigest'> & { readonly prevHash: string; readonly hash: string };

/** What an entry is checked against: its transfer as stored, that transfer's digest, and (for a resolution) what its pending transfer reserved. */
export interface EntryTransfer {
  readonly transfer: TransferContent & { readonly kind: TransferKind };
  readonly digest: string;
  readonly reserved: bigint | null;
}

export type AccountUnderCheck = Pick<
  Account,
  | 'id'
  | 'code'
  | 'currency'
  | 'debitsMustNotExceedCredits'
  | 'creditsMustNotExceedDebits'
  | 'debitsPending'
  | 'debitsPosted'
  | 'creditsPending'
  | 'creditsPosted'
  | 'headSeq'
  | 'headHash'
>;

/**
 * Walks one account's entries in seq order, then compares the end of the chain with the account row.
 * Holds only the previous entry's hash and balances. Each entry is checked against its own stored
 * neighbours (its prev_hash against the previous stored hash, its balances against the previous
 * stored balances), so one changed entry shows up at that entry, not at every entry after it.
 */
export class AccountChainCheck {
  private expectedSeq = 1n;
  private lastHash = GENESIS_HASH;
  private balances: Balances = ZERO;
  private firstBroken: { seq: bigint; reason: VerificationProblemKind; detail: string } | undefined;
  private laterBrokenEntries = 0;
  private lastCountedSeq: bigint | undefined;
  entries = 0;

  constructor(
    private readonly account: AccountUnderCheck,
    private readonly log: ProblemLog,
  ) {}

  add(entry: StoredEntry, transfer: EntryTransfer | undefined): void {
    const account = this.account;
    const at = { accountId: account.id, seq: entry.seq, transferId: entry.transferId };
    if (entry.seq !== this.expectedSeq) {
      // The missing entry is the broken one: report it there, then judge this entry on its own.
      this.entryProblem({
        kind: 'SEQ_GAP',
        accountId: account.id,
        seq: this.expectedSeq,
        detail: `entries ${this.expectedSeq}..${entry.seq - 1n} are missing`,
      });
    }
    if (entry.prevHash !== this.lastHash) {
      this.entryProblem({
        kind: 'CHAIN_LINK_BROKEN',
        ...at,
        detail: `prev_hash ${entry.prevHash} is not the hash of the entry before it (${this.lastHash})`,
      });
    }
    if (transfer === undefined) {
      this.entryProblem({
        kind: 'TRANSFER_ENTRIES_MISMATCH',
        ...at,
        detail: `its transfer ${entry.transferId} does not exist, so its hash cannot be recomputed`,
      });
    } else {
      const recomputed = entryHash(entry.prevHash, { ...entry, transferDigest: transfer.digest });
      if (recomputed !== entry.hash) {
        this.entryProblem({ kind: 'ENTRY_HASH_MISMATCH', ...at, detail: `stored hash ${entry.hash}, recomputed ${recomputed}` });
      }
    }
    const expected: Balances =
      entry.side === 'debit'
        ? {
            ...this.balances,
            debitsPending: this.balances.debitsPending + entry.pendingDelta,
            debitsPosted: this.balances.debitsPosted + entry.postedDelta,
          }
        : {
            ...this.balances,
            creditsPending: this.balances.creditsPending + entry.pendingDelta,
            creditsPosted: this.balances.creditsPosted + entry.postedDelta,
          };
    if (!sameBalances(expected, entry)) {
      this.entryProblem({
        kind: 'BALANCE_MISMATCH',
        ...at,
        detail: `balances after are ${showBalances(entry)}; the entry before plus this entry's deltas give ${showBalances(expected)}`,
      });
    }
    if (transfer !== undefined) {
      const mismatch = this.transferMismatch(entry, transfer);
      if (mismatch !== undefined) this.entryProblem({ kind: 'TRANSFER_ENTRIES_MISMATCH', ...at, detail: mismatch });
    }
    const breach = limitBreach(account, entry);
    if (breach !== undefined) this.entryProblem({ kind: 'LIMIT_EXCEEDED', ...at, detail: `after this entry ${breach}` });

    this.entries += 1;
    this.expectedSeq = entry.seq + 1n;
    this.lastHash = entry.hash;
    this.balances = {
      debitsPending: entry.debitsPending,
      debitsPosted: entry.debitsPosted,
      creditsPending: entry.creditsPending,
      creditsPosted: entry.creditsPosted,
    };
  }

  /** Compares the end of the chain with the account row, and records where the chain first broke. */
  finish(): void {
    const account = this.account;
    const lastSeq = this.expectedSeq - 1n;
    if (account.headSeq > lastSeq) {
      this.entryProblem({
        kind: 'SEQ_GAP',
        accountId: account.id,
        seq: lastSeq + 1n,
        detail: `head_seq is ${account.headSeq} but entries end at ${lastSeq}`,
      });
    } else if (account.headSeq < lastSeq) {
      this.log.add({
        kind: 'ACCOUNT_HEAD_MISMATCH',
        accountId: account.id,
        detail: `head_seq is ${account.headSeq} but entries go on to ${lastSeq}`,
      });
    } else if (account.headHash !== this.lastHash) {
      this.log.add({
        kind: 'ACCOUNT_HEAD_MISMATCH',
        accountId: account.id,
        detail: `head_hash is ${account.headHash} but entry ${lastSeq} has hash ${this.lastHash}`,
      });
    }
    if (!sameBalances(account, this.balances)) {
      this.log.add({
        kind: 'BALANCE_MISMATCH',
        accountId: account.id,
        detail: `stored balances are ${showBalances(account)}; its entries give ${showBalances(this.balances)}`,
      });
    }
    const breach = limitBreach(account, account);
    if (breach !== undefined) this.log.add({ kind: 'LIMIT_EXCEEDED', accountId: account.id, detail: `stored balances: ${breach}` });
    if (this.firstBroken !== undefined) {
      this.log.addBrokenAccount({
        accountId: account.id,
        accountCode: account.code,
        ...this.firstBroken,
        laterBrokenEntries: this.laterBrokenEntries,
      });
    }
  }

  private transferMismatch(entry: StoredEntry, { transfer, reserved }: EntryTransfer): string | undefined {
    const sideAccount = entry.side === 'debit' ? transfer.debitAccountId : transfer.creditAccountId;
    if (sideAccount !== this.account.id) {
      return `a ${entry.side} entry on an account that is not its transfer's ${entry.side} account (${sideAccount})`;
    }
    if (transfer.currency !== this.account.currency) {
      return `its transfer is in ${transfer.currency} but the account holds ${this.account.currency}`;
    }
    const expected = expectedEntryDeltas(transfer.kind, transfer.amount, reserved);
    if (entry.postedDelta !== expected.postedDelta || (expected.pendingDelta !== null && entry.pendingDelta !== expected.pendingDelta)) {
      return (
        `deltas pending ${entry.pendingDelta}, posted ${entry.postedDelta}; a ${transfer.kind} transfer of ${transfer.amount}` +
        `${reserved === null ? '' : ` resolving ${reserved} reserved`} gives pending ${expected.pendingDelta ?? '?'}, posted ${expected.postedDelta}`
      );
    }
    return undefined;
  }

  /** Lists every problem of the first broken entry; after it, only counts the entries that break. */
  private entryProblem(problem: VerificationProblem & { seq: bigint }): void {
    if (!ENTRY_KINDS.has(problem.kind)) throw new Error(`${problem.kind} is not a problem of an entry`);
    if (this.firstBroken === undefined) this.firstBroken = { seq: problem.seq, reason: problem.kind, detail: problem.detail };
    if (problem.seq === this.firstBroken.seq) {
      this.log.add(problem);
    } else if (problem.seq !== this.lastCountedSeq) {
      // Usually a consequence of the first break (the next entry's prev_hash no longer links): counted, not listed.
      this.laterBrokenEntries += 1;
      this.lastCountedSeq = problem.seq;
    }
  }
}

/** The sums of debits and credits per currency over the account rows: double entry means they are equal. */
export class CurrencyBalanceCheck {
  private readonly totals = new Map<string, { -readonly [K in keyof Balances]: Balances[K] }>();

  add(currency: string, balances: Balances): void {
    const total = this.totals.get(currency) ?? { ...ZERO };
    total.debitsPending += balances.debitsPending;
    total.debitsPosted += balances.debitsPosted;
    total.creditsPending += balances.creditsPending;
    total.creditsPosted += balances.creditsPosted;
    this.totals.set(currency, total);
  }

  report(log: ProblemLog): void {
    for (const [currency, total] of [...this.totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (total.debitsPosted !== total.creditsPosted || total.debitsPending !== total.creditsPending) {
        log.add({
          kind: 'CURRENCY_UNBALANCED',
          currency,
          detail: `debits ${total.debitsPosted} posted/${total.debitsPending} pending; credits ${total.creditsPosted} posted/${total.creditsPending} pending`,
        });
      }
    }
  }
}

/** What the transfer checks need of a transfer. */
export type TransferLink = Pick<
  Transfer,
  'id' | 'kind' | 'debitAccountId' | 'creditAccountId' | 'amount' | 'currency' | 'status' | 'pendingId' | 'resolvedBy'
>;

/**
 * A transfer has exactly two entries: one on its debit account and one on its credit account. (Which
 * side each says, and its deltas, are checked with the entry, where a mismatch is located.)
 */
export function checkTransferEntries(
  transfer: Pick<Transfer, 'id' | 'debitAccountId' | 'creditAccountId'>,
  entries: readonly { readonly accountId: string; readonly seq: bigint }[],
  log: ProblemLog,
): void {
  const accounts = entries.map((entry) => entry.accountId).sort();
  const expected = [transfer.debitAccountId, transfer.creditAccountId].sort();
  if (accounts.length !== 2 || accounts[0] !== expected[0] || accounts[1] !== expected[1]) {
    const found = entries.map((entry) => `${entry.accountId}#${entry.seq}`).join(', ') || 'none';
    log.add({
      kind: 'TRANSFER_ENTRIES_MISMATCH',
      transferId: transfer.id,
      detail: `expected one entry on ${transfer.debitAccountId} (debit) and one on ${transfer.creditAccountId} (credit); found ${found}`,
    });
  }
}

const RESOLUTION_OF_STATUS = { posted: 'post_pending', voided: 'void_pending', expired: 'expire_pending' } as const;

/**
 * A transfer's place in two-phase resolution. A pending transfer's status and resolved_by are not in
 * any hash (a resolution is itself a transfer, with entries); this check ties them to that transfer:
 * a pending transfer is resolved exactly when a resolution points at it, by the kind its status says.
 * A resolution must fit what it resolves: the same accounts and currency, and at most the reservation.
 *
 * `pendingOf` holds the pending transfers this transfer's resolution points to; `resolverOf` the
 * resolutions of this transfer, by pending id.
 */
export function checkResolution(
  transfer: TransferLink,
  pendingOf: ReadonlyMap<string, TransferLink>,
  resolverOf: ReadonlyMap<string, TransferLink>,
  log: ProblemLog,
): void {
  const problem = (detail: string) => log.add({ kind: 'TRANSFER_RESOLUTION_MISMATCH', transferId: transfer.id, detail });
  switch (transfer.kind) {
    case 'single':
      if (transfer.status !== 'posted' || transfer.resolvedBy !== null) {
        problem(`a single transfer is posted and resolved by nothing; it is ${transfer.status}, resolved by ${transfer.resolvedBy}`);
      }
      return;
    case 'pending': {
      const resolver = resolverOf.get(transfer.id);
      if (transfer.status === 'pending') {
        if (transfer.resolvedBy !== null || resolver !== undefined) {
          problem(`it is pending, yet resolved by ${transfer.resolvedBy ?? resolver?.id}`);
        }
        return;
      }
      const kind = RESOLUTION_OF_STATUS[transfer.status];
      if (resolver === undefined || transfer.resolvedBy !== resolver.id || resolver.kind !== kind) {
        problem(
          `it is ${transfer.status}, resolved by ${transfer.resolvedBy}; the transfer resolving it is ` +
            (resolver === undefined ? 'none' : `${resolver.id} (${resolver.kind})`),
        );
      }
      return;
    }
    case 'post_pending':
    case 'void_pending':
    case 'expire_pending': {
      const pending = transfer.pendingId === null ? undefined : pendingOf.get(transfer.pendingId);
      if (pending === undefined || pending.kind !== 'pending') {
        problem(`it resolves ${transfer.pendingId}, which is not a pending transfer`);
        return;
      }
      if (
        pending.debitAccountId !== transfer.debitAccountId ||
        pending.creditAccountId !== transfer.creditAccountId ||
        pending.currency !== transfer.currency
      ) {
        problem(`its accounts or currency differ from those of the pending transfer ${pending.id}`);
      }
      const amountFits =
        transfer.kind === 'post_pending' ? transfer.amount > 0n && transfer.amount <= pending.amount : transfer.amount === 0n;
      if (!amountFits) problem(`a ${transfer.kind} of ${transfer.amount} does not fit the ${pending.amount} reserved by ${pending.id}`);
      return;
    }
  }
}

export type StoredCheckpoint = CheckpointContent & { readonly prevHash: string; readonly hash: string };

export interface CommittedHead {
  readonly accountId: string;
  readonly seq: bigint;
  readonly headHash: string;
  /** The hash of the account's entry at `seq` now, or null when there is none. */
  readonly entryHash: string | null;
  readonly accountExists: boolean;
}

/**
 * Checks one checkpoint: its link to the one before, its own hash, and its Merkle root recomputed from
 * the heads it committed (fed in account-id order, as they were hashed), each head still being the
 * entry at that seq. Holds O(log n) hashes, whatever the number of accounts.
 */
export class CheckpointCheck {
  private readonly merkle = new MerkleBuilder();
  private entryCount = 0n;

  constructor(
    private readonly checkpoint: StoredCheckpoint,
    private readonly previous: StoredCheckpoint | undefined,
    private readonly log: ProblemLog,
  ) {
    const at = { checkpointNumber: checkpoint.number };
    const expectedNumber = (previous?.number ?? 0n) + 1n;
    if (checkpoint.number !== expectedNumber) {
      log.add({
        kind: 'CHECKPOINT_CHAIN_BROKEN',
        ...at,
        detail: `expected checkpoint ${expectedNumber} here: checkpoints ${expectedNumber}..${checkpoint.number - 1n} are missing`,
      });
    }
    const expectedPrev = previous?.hash ?? GENESIS_HASH;
    if (checkpoint.prevHash !== expectedPrev) {
      log.add({
        kind: 'CHECKPOINT_CHAIN_BROKEN',
        ...at,
        detail: `prev_hash ${checkpoint.prevHash} is not the hash of the checkpoint before it (${expectedPrev})`,
      });
    }
    const recomputed = checkpointHash(checkpoint.prevHash, checkpoint);
    if (recomputed !== checkpoint.hash) {
      log.add({
        kind: 'CHECKPOINT_CHAIN_BROKEN',
        ...at,
        detail: `stored hash ${checkpoint.hash}, recomputed from its content ${recomputed}`,
      });
    }
  }

  addHead(head: CommittedHead): void {
    this.merkle.add(merkleLeaf(head));
    this.entryCount += head.seq;
    const current = head.seq === 0n ? (head.accountExists ? GENESIS_HASH : null) : head.entryHash;
    if (current !== head.headHash) {
      this.log.add({
        kind: 'CHECKPOINT_HEAD_MISMATCH',
        checkpointNumber: this.checkpoint.number,
        accountId: head.accountId,
        seq: head.seq,
        detail:
          current === null
            ? `committed head ${head.headHash} at seq ${head.seq}, but there is no such entry`
            : `committed head ${head.headHash} at seq ${head.seq}, but that entry's hash is ${current}`,
      });
    }
  }

  finish(): void {
    const root = this.merkle.root();
    const accountCount = BigInt(this.merkle.size);
    const differences = [
      root === this.checkpoint.merkleRoot ? undefined : `merkle_root ${this.checkpoint.merkleRoot}, recomputed ${root}`,
      accountCount === this.checkpoint.accountCount ? undefined : `account_count ${this.checkpoint.accountCount}, heads ${accountCount}`,
      this.entryCount === this.checkpoint.entryCount
        ? undefined
        : `entry_count ${this.checkpoint.entryCount}, heads sum to ${this.entryCount}`,
    ].filter((difference) => difference !== undefined);
    if (differences.length > 0) {
      this.log.add({ kind: 'CHECKPOINT_ROOT_MISMATCH', checkpointNumber: this.checkpoint.number, detail: differences.join('; ') });
    }
  }
}
