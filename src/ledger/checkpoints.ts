import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { decodeCursor, MAX_PAGE_LIMIT, type Page, toPage } from '../common/pagination/cursor.js';
import { PeriodicTask } from '../common/periodic-task.js';
import type { Principal } from '../common/principal.js';
import { checkpointHash, GENESIS_HASH, MerkleBuilder, merkleLeaf } from './ledger-hashing.js';
import { LedgerError, LedgerErrorCode } from './ledger.errors.js';

/** A checkpoint: a Merkle root over every account's head, chained to the checkpoint before it (see ledger-hashing.ts). */
export interface Checkpoint {
  readonly number: bigint;
  readonly merkleRoot: string;
  readonly accountCount: bigint;
  /** The sum of every account's head seq: how many entries the checkpoint commits to. */
  readonly entryCount: bigint;
  readonly prevHash: string;
  readonly hash: string;
  readonly createdAt: Date;
}

/** A checkpoint as `pg` returns it (bigint columns as strings). */
export interface CheckpointRow {
  number: string;
  merkle_root: string;
  account_count: string;
  entry_count: string;
  prev_hash: string;
  hash: string;
  created_at: Date;
}

export function checkpointFromRow(row: CheckpointRow): Checkpoint {
  return {
    number: BigInt(row.number),
    merkleRoot: row.merkle_root,
    accountCount: BigInt(row.account_count),
    entryCount: BigInt(row.entry_count),
    prevHash: row.prev_hash,
    hash: row.hash,
    createdAt: row.created_at,
  };
}

/** Serialises checkpoint creation across instances ("ckpt"). */
const CHECKPOINT_LOCK_KEY = 0x636b7074;
/** Heads fetched (and inserted) per statement while building a checkpoint. */
const HEAD_PAGE_SIZE = 5000;
const HEADS_CURSOR = 'ledger_checkpoint_heads_cursor';
const CHECKPOINT_INTERVAL_MS = 10 * 60 * 1000;

function invalidCursor(): CommonError {
  return new CommonError(
    ErrorKind.InvalidInput,
    CommonErrorCode.InvalidCursor,
    'cursor is not one this API returned; start again without it.',
  );
}

/**
 * Checkpoints commit the whole ledger at one point in its history: a Merkle root over every account's
 * (id, head seq, head hash), chained to the previous checkpoint. The heads are kept in
 * ledger_checkpoint_heads so that verification can recompute the root, and can tell whether a head a
 * checkpoint committed to is still the entry at that seq.
 */
@Injectable()
export class CheckpointService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  /** Creates the next checkpoint now. `actor`: who asked, for the audit trail (null for the service itself). */
  async create(options: { actor?: Principal | AuditActor | null } = {}): Promise<Checkpoint> {
    const created = await this.build(false, options.actor ?? null);
    if (created === null) throw new Error('a checkpoint was asked for unconditionally but none was created');
    return created;
  }

  /**
   * Creates the next checkpoint unless the ledger has not moved since the last one (same number of
   * accounts and of entries: chains only grow, so equal counts mean equal heads). Null when skipped.
   */
  createIfChanged(): Promise<Checkpoint | null> {
    return this.build(true, null);
  }

  async latest(): Promise<Checkpoint | null> {
    const rows: CheckpointRow[] = await this.dataSource.query('SELECT * FROM ledger_checkpoints ORDER BY number DESC LIMIT 1');
    return rows[0] === undefined ? null : checkpointFromRow(rows[0]);
  }

  /** Checkpoints newest first, `limit` a page (1 to 100), continuing after `cursor` (a nextCursor this returned). */
  async list(limit: number, cursor?: string): Promise<Page<Checkpoint>> {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new LedgerError(LedgerErrorCode.InvalidCommand, `limit is a whole number from 1 to ${MAX_PAGE_LIMIT}.`);
    }
    let before: string | undefined;
    if (cursor !== undefined) {
      const position = decodeCursor(cursor);
      // The key and the id are both the number: a checkpoint's number is its identity and its order.
      if (!/^[1-9][0-9]{0,18}$/.test(position.key) || position.id !== position.key) throw invalidCursor();
      before = position.key;
    }
    const rows: CheckpointRow[] =
      before === undefined
        ? await this.dataSource.query('SELECT * FROM ledger_checkpoints ORDER BY number DESC LIMIT $1', [limit + 1])
        : await this.dataSource.query('SELECT * FROM ledger_checkpoints WHERE number < $1 ORDER BY number DESC LIMIT $2', [
            before,
            limit + 1,
          ]);
    return toPage(rows, limit, (row) => ({ key: row.number, id: row.number }), checkpointFromRow);
  }

  /**
   * Why the heads form one consistent cut of the ledger: they are all read through one cursor, and a
   * cursor reads every row as of the snapshot taken when it was opened, however many fetches it takes.
   * The posting engine changes an account's balances and head, and inserts the entries they point to,
   * in one transaction, so that snapshot holds, for every account, its head as of one moment in the
   * commit order: a transfer is in it on both of its accounts or on neither. Accounts keep changing
   * meanwhile; the checkpoint commits to the ledger as of that moment. Nothing locks an account, so
   * posting never waits for a checkpoint.
   *
   * Why not a REPEATABLE READ transaction, which would give one snapshot just as well: inserting the
   * heads checks their foreign key to ledger_accounts, and in REPEATABLE READ that check fails ("could
   * not serialize access due to concurrent update") for any account updated since the snapshot, which
   * under steady posting is nearly always. In READ COMMITTED the check takes the account's current row.
   *
   * Why the advisory lock: instances take turns, so two never build the same number. Every statement
   * after it sees the checkpoints committed before it was granted, so the previous checkpoint read is
   * the latest. The primary key on number stays the last word: a lost race is an error, never a fork.
   */
  private async build(onlyIfChanged: boolean, actor: Principal | AuditActor | null): Promise<Checkpoint | null> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [CHECKPOINT_LOCK_KEY]);
      const previousRows: CheckpointRow[] = await manager.query('SELECT * FROM ledger_checkpoints ORDER BY number DESC LIMIT 1');
      const previous = previousRows[0] === undefined ? undefined : checkpointFromRow(previousRows[0]);
      if (onlyIfChanged && previous !== undefined) {
        // Chains only grow, so the same number of accounts and of entries means the same heads.
        const [totals]: { accounts: string; entries: string }[] = await manager.query(
          'SELECT count(*)::text AS accounts, coalesce(sum(head_seq), 0)::text AS entries FROM ledger_accounts',
        );
        if (totals !== undefined && BigInt(totals.accounts) === previous.accountCount && BigInt(totals.entries) === previous.entryCount) {
          return null;
        }
      }
      const checkpoint = await this.insert(manager, previous);
      await this.audit.record(
        {
          action: 'ledger.checkpoint.created',
          actor,
          resourceType: 'ledger_checkpoint',
          resourceId: checkpoint.number.toString(),
          outcome: 'success',
          details: {
            merkleRoot: checkpoint.merkleRoot,
            accountCount: checkpoint.accountCount.toString(),
            entryCount: checkpoint.entryCount.toString(),
            hash: checkpoint.hash,
          },
        },
        manager,
      );
      return checkpoint;
    });
  }

  /**
   * Two passes over one SCROLL cursor: the first builds the Merkle root, which the checkpoint row needs;
   * the row is inserted (the heads reference it); the cursor is rewound and the second pass inserts
   * the very same heads, a page at a time with unnest. Memory holds one page and the Merkle stack.
   */
  private async insert(manager: EntityManager, previous: Checkpoint | undefined): Promise<Checkpoint> {
    await manager.query(`DECLARE ${HEADS_CURSOR} SCROLL CURSOR FOR SELECT id, head_seq, head_hash FROM ledger_accounts ORDER BY id`);
    const fetchPage = (): Promise<{ id: string; head_seq: string; head_hash: string }[]> =>
      manager.query(`FETCH FORWARD ${HEAD_PAGE_SIZE} FROM ${HEADS_CURSOR}`);
    const merkle = new MerkleBuilder();
    let entryCount = 0n;
    for (let page = await fetchPage(); page.length > 0; page = await fetchPage()) {
      for (const head of page) {
        const seq = BigInt(head.head_seq);
        merkle.add(merkleLeaf({ accountId: head.id, seq, headHash: head.head_hash }));
        entryCount += seq;
      }
    }
    const content = {
      number: (previous?.number ?? 0n) + 1n,
      merkleRoot: merkle.root(),
      accountCount: BigInt(merkle.size),
      entryCount,
      createdAt: this.clock.now(),
    };
    const prevHash = previous?.hash ?? GENESIS_HASH;
    const checkpoint: Checkpoint = { ...content, prevHash, hash: checkpointHash(prevHash, content) };
    await manager.query(
      `INSERT INTO ledger_checkpoints (number, merkle_root, account_count, entry_count, prev_hash, hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        checkpoint.number.toString(),
        checkpoint.merkleRoot,
        checkpoint.accountCount.toString(),
        checkpoint.entryCount.toString(),
        checkpoint.prevHash,
        checkpoint.hash,
        checkpoint.createdAt,
      ],
    );
    await manager.query(`MOVE ABSOLUTE 0 IN ${HEADS_CURSOR}`);
    // The rows written are checked against those hashed, rather than trusted to be the same.
    const written = new MerkleBuilder();
    let writtenEntries = 0n;
    for (let page = await fetchPage(); page.length > 0; page = await fetchPage()) {
      for (const head of page) {
        written.add(merkleLeaf({ accountId: head.id, seq: BigInt(head.head_seq), headHash: head.head_hash }));
        writtenEntries += BigInt(head.head_seq);
      }
      await manager.query(
        `INSERT INTO ledger_checkpoint_heads (checkpoint_number, account_id, seq, head_hash)
         SELECT $1, * FROM unnest($2::uuid[], $3::bigint[], $4::text[])`,
        [checkpoint.number.toString(), page.map((head) => head.id), page.map((head) => head.head_seq), page.map((head) => head.head_hash)],
      );
    }
    await manager.query(`CLOSE ${HEADS_CURSOR}`);
    if (written.root() !== checkpoint.merkleRoot || writtenEntries !== checkpoint.entryCount) {
      throw new Error(`checkpoint ${checkpoint.number}: the heads written are not the heads hashed`);
    }
    return checkpoint;
  }
}

/**
 * Creates a checkpoint every ten minutes when the ledger has moved, so that a published checkpoint is
 * never far behind. Every instance may run it: creation is serialised in the database (see
 * CheckpointService.build), and an unchanged ledger is skipped. Failures are logged, and the next tick
 * tries again.
 */
@Injectable()
export class PeriodicCheckpointer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PeriodicCheckpointer.name);
  private readonly task = new PeriodicTask('creating a ledger checkpoint', () => this.createIfChanged(), this.logger);

  constructor(private readonly checkpoints: CheckpointService) {}

  onApplicationBootstrap(): void {
    this.task.start(CHECKPOINT_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  /** One turn of the timer (tests call it directly): a checkpoint if the ledger moved, else null. Never throws. */
  async tick(): Promise<Checkpoint | null> {
    return (await this.task.runOnce()) ?? null;
  }

  private async createIfChanged(): Promise<Checkpoint | null> {
    const checkpoint = await this.checkpoints.createIfChanged();
    if (checkpoint !== null) {
      this.logger.log({ number: checkpoint.number.toString(), entryCount: checkpoint.entryCount.toString() }, 'ledger checkpoint created');
    }
    return checkpoint;
  }
}
