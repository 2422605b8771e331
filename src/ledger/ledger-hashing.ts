import { createHash, hash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json.js';

/**
 * The ledger's tamper evidence.
 *
 * Every entry is hashed over a canonical encoding of everything it says, chained to the entry before
 * it on the same account:
 *
 *     hash = hex(SHA-256(prevHash || "\n" || canonical(entry)))
 *
 * where `prevHash` is the previous entry's hash on that account (64 zeros for an account's first entry)
 * and `canonical(entry)` is this exact line of ASCII, fields separated by `|`:
 *
 *     v1|<accountId>|<seq>|<transferId>|<transferDigest>|<side>|<pendingDelta>|<postedDelta>|<debitsPending>|<debitsPosted>|<creditsPending>|<creditsPosted>|<createdAt>
 *
 * ids are lower-case UUIDs, `side` is `debit` or `credit`, amounts are base-10 integers (a delta may be
 * negative: `-9900`), and `createdAt` is RFC 3339 UTC with milliseconds (`2026-11-21T08:00:00.000Z`).
 * `transferDigest` commits the entry to everything its transfer says (so a changed transfer breaks the
 * chain too): hex(SHA-256(canonical(transfer))), with
 *
 *     v1|<id>|<kind>|<debitAccountId>|<creditAccountId>|<amount>|<currency>|<code>|<metadata>|<pendingId>|<timeoutAt>|<linkedBatchId>|<createdAt>
 *
 * where `metadata` is the base64url of its canonical JSON (keys sorted; empty when there is none) and an
 * absent id or time is empty. A transfer's status is not part of it: a pending transfer's one
 * resolution is itself a transfer, with its own entries. Nothing in the encodings depends on JSON key
 * order or the database's text format, so anyone can recompute them from an export.
 *
 * A checkpoint commits the whole ledger: a Merkle tree (SHA-256, RFC 6962 style: leaves prefixed 0x00,
 * nodes 0x01, an odd node carried up unpaired) over every account's head, each leaf being
 * `v1|<accountId>|<seq>|<headHash>` in account-id order, and the checkpoint chained to the one before:
 *
 *     checkpointHash = hex(SHA-256(prevCheckpointHash || "\n" || "v1|<number>|<merkleRoot>|<accountCount>|<entryCount>|<createdAt>"))
 */
export const GENESIS_HASH = '0'.repeat(64);

export type EntrySide = 'debit' | 'credit';

export interface TransferContent {
  readonly id: string;
  readonly kind: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly code: string;
  readonly metadata: Record<string, unknown> | null;
  readonly pendingId: string | null;
  readonly timeoutAt: Date | null;
  readonly linkedBatchId: string | null;
  readonly createdAt: Date;
}

export function canonicalTransfer(transfer: TransferContent): string {
  return [
    'v1',
    transfer.id.toLowerCase(),
    transfer.kind,
    transfer.debitAccountId.toLowerCase(),
    transfer.creditAccountId.toLowerCase(),
    transfer.amount.toString(),
    transfer.currency,
    transfer.code,
    transfer.metadata === null ? '' : Buffer.from(canonicalJson(transfer.metadata), 'utf8').toString('base64url'),
    transfer.pendingId?.toLowerCase() ?? '',
    transfer.timeoutAt?.toISOString() ?? '',
    transfer.linkedBatchId?.toLowerCase() ?? '',
    transfer.createdAt.toISOString(),
  ].join('|');
}

export function transferDigest(transfer: TransferContent): string {
  return sha256Hex(canonicalTransfer(transfer));
}

export interface EntryContent {
  readonly accountId: string;
  readonly seq: bigint;
  readonly transferId: string;
  readonly transferDigest: string;
  readonly side: EntrySide;
  readonly pendingDelta: bigint;
  readonly postedDelta: bigint;
  readonly debitsPending: bigint;
  readonly debitsPosted: bigint;
  readonly creditsPending: bigint;
  readonly creditsPosted: bigint;
  readonly createdAt: Date;
}

export function canonicalEntry(entry: EntryContent): string {
  return [
    'v1',
    entry.accountId.toLowerCase(),
    entry.seq.toString(),
    entry.transferId.toLowerCase(),
    entry.transferDigest,
    entry.side,
    entry.pendingDelta.toString(),
    entry.postedDelta.toString(),
    entry.debitsPending.toString(),
    entry.debitsPosted.toString(),
    entry.creditsPending.toString(),
    entry.creditsPosted.toString(),
    entry.createdAt.toISOString(),
  ].join('|');
}

/** SHA-256 of the text's UTF-8 bytes, in hex: node's one-shot hash, about half the time of createHash's three calls. */
function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

export function entryHash(prevHash: string, entry: EntryContent): string {
  return sha256Hex(`${prevHash}\n${canonicalEntry(entry)}`);
}

export interface AccountHead {
  readonly accountId: string;
  readonly seq: bigint;
  readonly headHash: string;
}

export function merkleLeaf(head: AccountHead): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0x00]))
    .update(`v1|${head.accountId.toLowerCase()}|${head.seq.toString()}|${head.headHash}`)
    .digest();
}

/** Incremental Merkle root over leaves given in order: O(log n) memory, so a million accounts stream through. */
export class MerkleBuilder {
  /** stack[i] holds a completed subtree of 2^i leaves, if any. */
  private readonly stack: (Buffer | undefined)[] = [];
  private count = 0;

  add(leaf: Buffer): void {
    let node = leaf;
    let level = 0;
    for (;;) {
      const left = this.stack[level];
      if (left === undefined) {
        this.stack[level] = node;
        break;
      }
      node = createHash('sha256')
        .update(Buffer.from([0x01]))
        .update(left)
        .update(node)
        .digest();
      this.stack[level] = undefined;
      level += 1;
    }
    this.count += 1;
  }

  get size(): number {
    return this.count;
  }

  /** The root; an odd subtree is carried up unpaired. The empty tree's root is SHA-256 of nothing. */
  root(): string {
    let root: Buffer | undefined;
    for (const subtree of this.stack) {
      if (subtree === undefined) continue;
      root =
        root === undefined
          ? subtree
          : createHash('sha256')
              .update(Buffer.from([0x01]))
              .update(subtree)
              .update(root)
              .digest();
    }
    return (root ?? createHash('sha256').digest()).toString('hex');
  }
}

export interface CheckpointContent {
  readonly number: bigint;
  readonly merkleRoot: string;
  readonly accountCount: bigint;
  readonly entryCount: bigint;
  readonly createdAt: Date;
}

export function checkpointHash(prevCheckpointHash: string, checkpoint: CheckpointContent): string {
  return sha256Hex(
    `${prevCheckpointHash}\n` +
      `v1|${checkpoint.number.toString()}|${checkpoint.merkleRoot}|${checkpoint.accountCount.toString()}|${checkpoint.entryCount.toString()}|${checkpoint.createdAt.toISOString()}`,
  );
}
