import { describe, expect, it } from '@jest/globals';
import {
  canonicalEntry,
  canonicalTransfer,
  checkpointHash,
  entryHash,
  type EntryContent,
  GENESIS_HASH,
  MerkleBuilder,
  merkleLeaf,
  type TransferContent,
  transferDigest,
} from './ledger-hashing.js';

// The expected hashes were computed outside Node, with sha256sum and xxd, from the documented encoding.
const transfer: TransferContent = {
  id: '0190a6f0-0000-7000-8000-0000000000aa',
  kind: 'single',
  debitAccountId: '0190a6f0-0000-7000-8000-000000000001',
  creditAccountId: '0190a6f0-0000-7000-8000-000000000002',
  amount: 9900n,
  currency: 'CNY',
  code: 'payment',
  metadata: { orderId: 'A-1' },
  pendingId: null,
  timeoutAt: null,
  linkedBatchId: null,
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
};
const DIGEST = 'b5115de6ee7bc2cf5d91486b1238573a9fec966001ecb5e9a1e75f06bb70f51d';

const entry: EntryContent = {
  accountId: '0190A6F0-0000-7000-8000-000000000001',
  seq: 1n,
  transferId: '0190a6f0-0000-7000-8000-0000000000aa',
  transferDigest: DIGEST,
  side: 'debit',
  pendingDelta: 0n,
  postedDelta: 9900n,
  debitsPending: 0n,
  debitsPosted: 9900n,
  creditsPending: 0n,
  creditsPosted: 0n,
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
};

describe('the canonical transfer encoding', () => {
  it('is one documented line, metadata as base64url of its canonical JSON', () => {
    expect(canonicalTransfer(transfer)).toBe(
      'v1|0190a6f0-0000-7000-8000-0000000000aa|single|0190a6f0-0000-7000-8000-000000000001|0190a6f0-0000-7000-8000-000000000002|9900|CNY|payment|eyJvcmRlcklkIjoiQS0xIn0||||2026-01-02T03:04:05.678Z',
    );
  });

  it('has a digest matching a vector computed independently', () => {
    expect(transferDigest(transfer)).toBe(DIGEST);
  });

  it('changes with any field the transfer states, and not with key order in its metadata', () => {
    const variants: TransferContent[] = [
      { ...transfer, amount: 9901n },
      { ...transfer, code: 'refund' },
      { ...transfer, metadata: { orderId: 'A-2' } },
      { ...transfer, metadata: null },
      { ...transfer, creditAccountId: '0190a6f0-0000-7000-8000-000000000003' },
      { ...transfer, pendingId: '0190a6f0-0000-7000-8000-0000000000bb' },
    ];
    for (const variant of variants) expect(transferDigest(variant)).not.toBe(DIGEST);
    expect(transferDigest({ ...transfer, metadata: { b: 1, a: 2 } })).toBe(transferDigest({ ...transfer, metadata: { a: 2, b: 1 } }));
  });
});

describe('the canonical entry encoding', () => {
  it('is one documented line, ids in lower case', () => {
    expect(canonicalEntry(entry)).toBe(
      `v1|0190a6f0-0000-7000-8000-000000000001|1|0190a6f0-0000-7000-8000-0000000000aa|${DIGEST}|debit|0|9900|0|9900|0|0|2026-01-02T03:04:05.678Z`,
    );
  });

  it('writes negative deltas with a minus sign and large amounts exactly', () => {
    const line = canonicalEntry({ ...entry, pendingDelta: -9007199254740991n, debitsPosted: 123456789012345678n });
    expect(line).toContain('|-9007199254740991|');
    expect(line).toContain('|123456789012345678|');
  });
});

describe('entry hashes', () => {
  it('match a vector computed independently (sha256 of prevHash, newline, canonical line)', () => {
    expect(entryHash(GENESIS_HASH, entry)).toBe('d2d153c3f60e5fd6f9a2150260b9d66ffb5373f12513ec441b72b6a535218bad');
  });

  it('change when any field or the previous hash changes', () => {
    const base = entryHash(GENESIS_HASH, entry);
    const variants: EntryContent[] = [
      { ...entry, seq: 2n },
      { ...entry, side: 'credit' },
      { ...entry, postedDelta: 9901n },
      { ...entry, pendingDelta: 1n },
      { ...entry, debitsPosted: 9901n },
      { ...entry, creditsPending: 1n },
      { ...entry, transferId: '0190a6f0-0000-7000-8000-0000000000ab' },
      { ...entry, transferDigest: 'f'.repeat(64) },
      { ...entry, createdAt: new Date('2026-01-02T03:04:05.679Z') },
    ];
    for (const variant of variants) expect(entryHash(GENESIS_HASH, variant)).not.toBe(base);
    expect(entryHash('1'.repeat(64), entry)).not.toBe(base);
  });
});

describe('the Merkle tree over account heads', () => {
  const head = (n: number, fill: string) => ({
    accountId: `00000000-0000-7000-8000-00000000000${n}`,
    seq: BigInt(n),
    headHash: fill.repeat(64),
  });

  it('hashes leaves with a 0x00 prefix (independent vector)', () => {
    expect(merkleLeaf(head(1, 'a')).toString('hex')).toBe('1410b8026bda6b619dd3053cbfe232c9eac96c03760ff426a5f021ad70cdfec8');
  });

  it('pairs nodes with a 0x01 prefix and carries an odd one up (independent vectors)', () => {
    const two = new MerkleBuilder();
    two.add(merkleLeaf(head(1, 'a')));
    two.add(merkleLeaf(head(2, 'b')));
    expect(two.root()).toBe('083ab3eb6680735ea09eec4729952cabe62053568b2541f709e5b57cb7040261');
    const three = new MerkleBuilder();
    for (const [n, fill] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const)
      three.add(merkleLeaf(head(n, fill)));
    expect(three.root()).toBe('5719289bcc46b61ee82277e6ad9e0550021efd0ff26bf950e391f68b8615da23');
    expect(three.size).toBe(3);
  });

  it('has the hash of nothing as the root of no accounts, and one leaf as the root of one', () => {
    expect(new MerkleBuilder().root()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const one = new MerkleBuilder();
    one.add(merkleLeaf(head(1, 'a')));
    expect(one.root()).toBe('1410b8026bda6b619dd3053cbfe232c9eac96c03760ff426a5f021ad70cdfec8');
  });

  it('gives a different root when any head changes or the order changes', () => {
    const build = (heads: ReturnType<typeof head>[]) => {
      const builder = new MerkleBuilder();
      for (const item of heads) builder.add(merkleLeaf(item));
      return builder.root();
    };
    const heads = [1, 2, 3, 4, 5].map((n) => head(n, String(n)));
    const root = build(heads);
    expect(build([...heads.slice(0, 4), { ...head(5, '5'), seq: 6n }])).not.toBe(root);
    expect(build([heads[1]!, heads[0]!, ...heads.slice(2)])).not.toBe(root);
  });
});

describe('checkpoint hashes', () => {
  it('chain to the previous checkpoint', () => {
    const content = {
      number: 1n,
      merkleRoot: 'a'.repeat(64),
      accountCount: 3n,
      entryCount: 10n,
      createdAt: new Date('2026-01-01T00:00:00.000Z'),
    };
    const first = checkpointHash(GENESIS_HASH, content);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(checkpointHash('f'.repeat(64), content)).not.toBe(first);
    expect(checkpointHash(GENESIS_HASH, { ...content, entryCount: 11n })).not.toBe(first);
  });
});
