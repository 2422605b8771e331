import { describe, expect, it } from '@jest/globals';
import { checkpointHash, entryHash, GENESIS_HASH, MerkleBuilder, merkleLeaf, transferDigest } from './ledger-hashing.js';
import {
  AccountChainCheck,
  type AccountUnderCheck,
  CheckpointCheck,
  checkResolution,
  checkTransferEntries,
  type CommittedHead,
  CurrencyBalanceCheck,
  type EntryTransfer,
  expectedEntryDeltas,
  MAX_LISTED_PROBLEMS,
  ProblemLog,
  type StoredCheckpoint,
  type StoredEntry,
  type TransferLink,
} from './ledger-verification.js';
import type { Transfer, TransferKind } from './ledger.types.js';

const ACCOUNT = '0190a6f0-0000-7000-8000-000000000001';
const OTHER = '0190a6f0-0000-7000-8000-000000000002';
const AT = new Date('2026-03-01T12:00:00.000Z');

function transferOf(id: number, kind: TransferKind, amount: bigint, pendingId: string | null = null): Transfer {
  return {
    id: `0190a6f0-0000-7000-8000-0000000000${id.toString().padStart(2, '0')}`,
    kind,
    // The account under check is the credit side of every transfer here.
    debitAccountId: OTHER,
    creditAccountId: ACCOUNT,
    amount,
    currency: 'CNY',
    code: 'test',
    metadata: null,
    pendingId,
    timeoutAt: null,
    status: kind === 'pending' ? 'pending' : 'posted',
    resolvedBy: null,
    linkedBatchId: null,
    createdAt: AT,
  };
}

/** A correct chain on the credit side of ACCOUNT: +1000 posted, 300 reserved, 200 of it posted (100 released), +50 posted. */
function chain(): { entries: { entry: StoredEntry; transfer: EntryTransfer }[]; account: AccountUnderCheck } {
  const funding = transferOf(1, 'single', 1000n);
  const hold = transferOf(2, 'pending', 300n);
  const post = transferOf(3, 'post_pending', 200n, hold.id);
  const more = transferOf(4, 'single', 50n);
  const steps: [Transfer, bigint | null][] = [
    [funding, null],
    [hold, null],
    [post, 300n],
    [more, null],
  ];
  const entries: { entry: StoredEntry; transfer: EntryTransfer }[] = [];
  let prevHash = GENESIS_HASH;
  let creditsPending = 0n;
  let creditsPosted = 0n;
  steps.forEach(([transfer, reserved], index) => {
    const deltas = expectedEntryDeltas(transfer.kind, transfer.amount, reserved);
    const pendingDelta = deltas.pendingDelta ?? 0n;
    creditsPending += pendingDelta;
    creditsPosted += deltas.postedDelta;
    const digest = transferDigest(transfer);
    const content = {
      accountId: ACCOUNT,
      seq: BigInt(index + 1),
      transferId: transfer.id,
      side: 'credit' as const,
      pendingDelta,
      postedDelta: deltas.postedDelta,
      debitsPending: 0n,
      debitsPosted: 0n,
      creditsPending,
      creditsPosted,
      createdAt: AT,
    };
    const hash = entryHash(prevHash, { ...content, transferDigest: digest });
    entries.push({ entry: { ...content, prevHash, hash }, transfer: { transfer, digest, reserved } });
    prevHash = hash;
  });
  const last = entries.at(-1)!.entry;
  return {
    entries,
    account: {
      id: ACCOUNT,
      code: 'merchant:m1:available',
      currency: 'CNY',
      debitsMustNotExceedCredits: false,
      creditsMustNotExceedDebits: false,
      debitsPending: 0n,
      debitsPosted: 0n,
      creditsPending: last.creditsPending,
      creditsPosted: last.creditsPosted,
      headSeq: last.seq,
      headHash: last.hash,
    },
  };
}

function run(account: AccountUnderCheck, entries: readonly { entry: StoredEntry; transfer: EntryTransfer | undefined }[]): ProblemLog {
  const log = new ProblemLog();
  const check = new AccountChainCheck(account, log);
  for (const { entry, transfer } of entries) check.add(entry, transfer);
  check.finish();
  return log;
}

const kindsAt = (log: ProblemLog) => log.problems.map((problem) => [problem.kind, problem.seq]);

describe('an account chain check', () => {
  it('finds nothing wrong with a chain the engine would write', () => {
    const { entries, account } = chain();
    const log = run(account, entries);
    expect(log.problems).toEqual([]);
    expect(log.brokenAccounts).toEqual([]);
  });

  it('names the entry whose delta changed, and nothing after it', () => {
    const { entries, account } = chain();
    const tampered = entries.map((item, index) => (index === 1 ? { ...item, entry: { ...item.entry, pendingDelta: 301n } } : item));
    const log = run(account, tampered);
    expect(kindsAt(log)).toEqual([
      ['ENTRY_HASH_MISMATCH', 2n],
      ['BALANCE_MISMATCH', 2n],
      ['TRANSFER_ENTRIES_MISMATCH', 2n],
    ]);
    expect(log.brokenAccounts).toEqual([
      expect.objectContaining({ accountId: ACCOUNT, seq: 2n, reason: 'ENTRY_HASH_MISMATCH', laterBrokenEntries: 0 }),
    ]);
  });

  it('lists the first broken entry and only counts the entries it breaks after it', () => {
    const { entries, account } = chain();
    const tampered = entries.map((item, index) => (index === 1 ? { ...item, entry: { ...item.entry, hash: 'f'.repeat(64) } } : item));
    const log = run(account, tampered);
    expect(kindsAt(log)).toEqual([['ENTRY_HASH_MISMATCH', 2n]]);
    // Entry 3's prev_hash no longer links to the stored hash of entry 2.
    expect(log.brokenAccounts).toEqual([expect.objectContaining({ seq: 2n, laterBrokenEntries: 1 })]);
    expect(log.problemCount).toBe(1);
  });

  it('names a missing entry by its seq', () => {
    const { entries, account } = chain();
    const log = run(account, [entries[0]!, entries[2]!, entries[3]!]);
    expect(kindsAt(log)).toEqual([['SEQ_GAP', 2n]]);
    expect(log.brokenAccounts).toEqual([expect.objectContaining({ seq: 2n, reason: 'SEQ_GAP', laterBrokenEntries: 1 })]);
  });

  it('names missing entries at the end by the head seq the account row keeps', () => {
    const { entries, account } = chain();
    const log = run(account, entries.slice(0, 2));
    expect(log.problems.map((problem) => [problem.kind, problem.seq])).toEqual([
      ['SEQ_GAP', 3n],
      ['BALANCE_MISMATCH', undefined],
    ]);
  });

  it('compares the account row with the end of its chain', () => {
    const { entries, account } = chain();
    expect(kindsAt(run({ ...account, creditsPosted: account.creditsPosted + 1n }, entries))).toEqual([['BALANCE_MISMATCH', undefined]]);
    expect(kindsAt(run({ ...account, headHash: GENESIS_HASH }, entries))).toEqual([['ACCOUNT_HEAD_MISMATCH', undefined]]);
    expect(kindsAt(run({ ...account, headSeq: 3n }, entries))).toEqual([['ACCOUNT_HEAD_MISMATCH', undefined]]);
    // An account row with no entries at all is all zeros and the genesis head.
    expect(run({ ...account, creditsPending: 0n, creditsPosted: 0n, headSeq: 0n, headHash: GENESIS_HASH }, []).problems).toEqual([]);
  });

  it('refuses an entry on the wrong side of its transfer, or one without its transfer', () => {
    const { entries, account } = chain();
    const first = entries[0]!;
    const swapped = { ...first.transfer, transfer: { ...first.transfer.transfer, debitAccountId: ACCOUNT, creditAccountId: OTHER } };
    const digest = transferDigest(swapped.transfer);
    // Rehashed, so that only the side is wrong.
    const entry = { ...first.entry, hash: entryHash(GENESIS_HASH, { ...first.entry, transferDigest: digest }) };
    const log = run({ ...account, headSeq: 1n, headHash: entry.hash, creditsPending: 0n, creditsPosted: 1000n }, [
      { entry, transfer: { ...swapped, digest } },
    ]);
    expect(log.problems).toEqual([
      expect.objectContaining({ kind: 'TRANSFER_ENTRIES_MISMATCH', seq: 1n, detail: expect.stringMatching(/credit entry/) }),
    ]);
    expect(kindsAt(run(account, [{ entry: first.entry, transfer: undefined }, ...entries.slice(1)]))).toEqual([
      ['TRANSFER_ENTRIES_MISMATCH', 1n],
    ]);
  });

  it('finds a flagged account beyond its limit after an entry and in its row', () => {
    const { entries, account } = chain();
    const log = run({ ...account, creditsMustNotExceedDebits: true }, entries);
    expect(kindsAt(log)).toEqual([
      ['LIMIT_EXCEEDED', 1n],
      ['LIMIT_EXCEEDED', undefined],
    ]);
    expect(log.brokenAccounts[0]).toMatchObject({ seq: 1n, laterBrokenEntries: 3 });
  });
});

describe('expected entry deltas', () => {
  it('follow the kind: single posts, pending reserves, a resolution releases the whole reservation', () => {
    expect(expectedEntryDeltas('single', 500n, null)).toEqual({ pendingDelta: 0n, postedDelta: 500n });
    expect(expectedEntryDeltas('pending', 500n, null)).toEqual({ pendingDelta: 500n, postedDelta: 0n });
    expect(expectedEntryDeltas('post_pending', 400n, 500n)).toEqual({ pendingDelta: -500n, postedDelta: 400n });
    expect(expectedEntryDeltas('void_pending', 0n, 500n)).toEqual({ pendingDelta: -500n, postedDelta: 0n });
    expect(expectedEntryDeltas('expire_pending', 0n, 500n)).toEqual({ pendingDelta: -500n, postedDelta: 0n });
    expect(expectedEntryDeltas('post_pending', 400n, null)).toEqual({ pendingDelta: null, postedDelta: 400n });
  });
});

describe('the problem log', () => {
  it('lists a bounded number of problems and counts the rest', () => {
    const log = new ProblemLog();
    for (let index = 0; index < MAX_LISTED_PROBLEMS + 5; index += 1) log.add({ kind: 'CURRENCY_UNBALANCED', detail: String(index) });
    expect(log.problems).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(log.problemCount).toBe(MAX_LISTED_PROBLEMS + 5);
  });
});

describe('currency totals', () => {
  it('report a currency whose debits and credits differ, posted or pending', () => {
    const totals = new CurrencyBalanceCheck();
    totals.add('CNY', { debitsPending: 5n, debitsPosted: 100n, creditsPending: 0n, creditsPosted: 0n });
    totals.add('CNY', { debitsPending: 0n, debitsPosted: 0n, creditsPending: 5n, creditsPosted: 100n });
    totals.add('USD', { debitsPending: 0n, debitsPosted: 7n, creditsPending: 0n, creditsPosted: 0n });
    const log = new ProblemLog();
    totals.report(log);
    expect(log.problems).toEqual([expect.objectContaining({ kind: 'CURRENCY_UNBALANCED', currency: 'USD' })]);
  });
});

describe('transfer checks', () => {
  const link = (transfer: Transfer, extra: Partial<TransferLink> = {}): TransferLink => ({ ...transfer, ...extra });

  it('want exactly one entry on each of the two accounts', () => {
    const transfer = transferOf(1, 'single', 10n);
    const check = (entries: { accountId: string; seq: bigint }[]) => {
      const log = new ProblemLog();
      checkTransferEntries(transfer, entries, log);
      return log.problems.map((problem) => problem.kind);
    };
    expect(
      check([
        { accountId: ACCOUNT, seq: 1n },
        { accountId: OTHER, seq: 1n },
      ]),
    ).toEqual([]);
    expect(check([{ accountId: ACCOUNT, seq: 1n }])).toEqual(['TRANSFER_ENTRIES_MISMATCH']);
    expect(
      check([
        { accountId: ACCOUNT, seq: 1n },
        { accountId: ACCOUNT, seq: 2n },
      ]),
    ).toEqual(['TRANSFER_ENTRIES_MISMATCH']);
  });

  it('tie a pending transfer to the one resolution that resolved it', () => {
    const hold = transferOf(2, 'pending', 300n);
    const post = transferOf(3, 'post_pending', 200n, hold.id);
    const resolved = link(hold, { status: 'posted', resolvedBy: post.id });
    const check = (transfer: TransferLink, resolvers: TransferLink[], pendings: TransferLink[] = [resolved]) => {
      const log = new ProblemLog();
      checkResolution(
        transfer,
        new Map(pendings.map((pending) => [pending.id, pending])),
        new Map(resolvers.map((resolver) => [resolver.pendingId!, resolver])),
        log,
      );
      return log.problems.map((problem) => problem.kind);
    };
    expect(check(resolved, [link(post)])).toEqual([]);
    expect(check(link(post), [])).toEqual([]);
    expect(check(link(hold), [])).toEqual([]);
    // A status changed behind the ledger's back: voided, yet what resolved it was a post.
    expect(check(link(hold, { status: 'voided', resolvedBy: post.id }), [link(post)])).toEqual(['TRANSFER_RESOLUTION_MISMATCH']);
    expect(check(link(hold), [link(post)])).toEqual(['TRANSFER_RESOLUTION_MISMATCH']);
    expect(check(link(post, { amount: 301n }), [])).toEqual(['TRANSFER_RESOLUTION_MISMATCH']);
    expect(check(link(post, { creditAccountId: '0190a6f0-0000-7000-8000-000000000003' }), [])).toEqual(['TRANSFER_RESOLUTION_MISMATCH']);
    expect(check(link(post), [], [])).toEqual(['TRANSFER_RESOLUTION_MISMATCH']);
  });
});

describe('a checkpoint check', () => {
  const heads: CommittedHead[] = [
    { accountId: ACCOUNT, seq: 4n, headHash: 'a'.repeat(64), entryHash: 'a'.repeat(64), accountExists: true },
    { accountId: OTHER, seq: 0n, headHash: GENESIS_HASH, entryHash: null, accountExists: true },
  ];
  function checkpoint(number: bigint, previous: StoredCheckpoint | undefined): StoredCheckpoint {
    const merkle = new MerkleBuilder();
    for (const head of heads) merkle.add(merkleLeaf(head));
    const content = { number, merkleRoot: merkle.root(), accountCount: 2n, entryCount: 4n, createdAt: AT };
    const prevHash = previous?.hash ?? GENESIS_HASH;
    return { ...content, prevHash, hash: checkpointHash(prevHash, content) };
  }
  function run(stored: StoredCheckpoint, previous: StoredCheckpoint | undefined, committed = heads): ProblemLog {
    const log = new ProblemLog();
    const check = new CheckpointCheck(stored, previous, log);
    for (const head of committed) check.addHead(head);
    check.finish();
    return log;
  }
  const first = checkpoint(1n, undefined);
  const second = checkpoint(2n, first);

  it('accepts a chain of checkpoints whose roots match their heads', () => {
    expect(run(first, undefined).problems).toEqual([]);
    expect(run(second, first).problems).toEqual([]);
  });

  it('names a changed root, and the hash that no longer covers it', () => {
    const log = run({ ...second, merkleRoot: 'b'.repeat(64) }, first);
    expect(log.problems.map((problem) => [problem.kind, problem.checkpointNumber])).toEqual([
      ['CHECKPOINT_CHAIN_BROKEN', 2n],
      ['CHECKPOINT_ROOT_MISMATCH', 2n],
    ]);
  });

  it('names a broken link, a missing checkpoint, and a head that is no longer the entry at its seq', () => {
    expect(run(second, { ...first, hash: 'c'.repeat(64) }).problems.map((problem) => problem.kind)).toEqual(['CHECKPOINT_CHAIN_BROKEN']);
    expect(run(second, undefined).problems.map((problem) => problem.kind)).toEqual(['CHECKPOINT_CHAIN_BROKEN', 'CHECKPOINT_CHAIN_BROKEN']);
    const changed = [{ ...heads[0]!, entryHash: 'd'.repeat(64) }, heads[1]!];
    expect(run(first, undefined, changed).problems).toEqual([
      expect.objectContaining({ kind: 'CHECKPOINT_HEAD_MISMATCH', checkpointNumber: 1n, accountId: ACCOUNT, seq: 4n }),
    ]);
  });
});
