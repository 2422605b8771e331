import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { newId } from '../common/ids.js';
import { Clock } from '../common/clock/clock.js';
import { GroupCommitter, type Settled } from '../common/group-commit.js';
import type { StatementPart } from '../common/statement-parts.js';
import { currentRequestContext } from '../common/request-context/request-context.js';
import { AppConfig } from '../config/app-config.js';
import { type AuditEventInput, validateAuditEvent } from './audit-event.js';
import { withArrayLiterals } from '../common/pg-array.js';

type ValidEvent = ReturnType<typeof validateAuditEvent>;

/** The columns of one event, in INSERT_EVENT's order. */
function parametersOf(id: string, occurredAt: Date, valid: ValidEvent): unknown[] {
  return [
    id,
    occurredAt,
    valid.clientId,
    valid.clientType,
    valid.merchantId,
    valid.userId,
    valid.scopes,
    valid.action,
    valid.resourceType,
    valid.resourceId,
    valid.outcome,
    valid.problemCode,
    valid.httpStatus,
    valid.ip,
    valid.requestId,
    valid.userAgent,
    valid.purpose,
    valid.details === null ? null : JSON.stringify(valid.details),
  ];
}

/** Many events in one statement (one commit): the same columns, each an array. */
const INSERT_EVENTS = `
  INSERT INTO audit_events (
    id, occurred_at, client_id, client_type, merchant_id, user_id, scopes, action, resource_type, resource_id,
    outcome, problem_code, http_status, ip, request_id, user_agent, purpose, details
  )
  SELECT e.id, e.occurred_at, e.client_id, e.client_type, e.merchant_id, e.user_id,
         CASE WHEN e.scopes IS NULL THEN '{}'::text[] ELSE string_to_array(e.scopes, ' ') END,
         e.action, e.resource_type, e.resource_id, e.outcome, e.problem_code, e.http_status, e.ip::inet, e.request_id,
         e.user_agent, e.purpose, e.details::jsonb
    FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[],
                $10::text[], $11::text[], $12::text[], $13::int[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])
      AS e(id, occurred_at, client_id, client_type, merchant_id, user_id, scopes, action, resource_type, resource_id,
           outcome, problem_code, http_status, ip, request_id, user_agent, purpose, details)
  RETURNING id`;

/** INSERT_EVENTS's parameters: one array a column, each with one element an event. */
function columnsOf(events: readonly unknown[][]): unknown[] {
  return Array.from({ length: 18 }, (_, index) =>
    // scopes travel as one space-separated string each (an array of arrays is not a PostgreSQL array).
    index === 6
      ? events.map((event) => ((event[6] as string[]).length === 0 ? null : (event[6] as string[]).join(' ')))
      : events.map((event) => event[index]),
  );
}

/** Events written together by one statement at most. */
const AUDIT_BATCH_LIMIT = 500;

const INSERT_EVENT = `
  INSERT INTO audit_events (
    id, occurred_at, client_id, client_type, merchant_id, user_id, scopes, action, resource_type, resource_id,
    outcome, problem_code, http_status, ip, request_id, user_agent, purpose, details
  ) VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11, $12, $13, $14::inet, $15, $16, $17, $18::jsonb)
  RETURNING id`;

/**
 * Writes the audit trail: one row in `audit_events` an event, never changed afterwards (the table
 * refuses it). The row's `xid`, the writing transaction's id, is set by the table's trigger and never
 * here. Sealing into the hash chain happens later, in `audit_seals` (audit-sealer.ts); reading is
 * issue 8's.
 *
 * With BENCHMARK_AUDIT_OFF (benchmarks only; configuration refuses it in production) events are
 * still checked, but not written: the payments benchmark measures what auditing costs its hot path.
 */
@Injectable()
export class AuditService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private readonly off: boolean;

  /**
   * Events recorded outside a transaction share one INSERT and one commit with whatever else is being
   * recorded at that moment (group commit); each caller still waits until its event is committed.
   */
  private readonly batcher: GroupCommitter<unknown[], string>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    // Optional for code that builds the service by hand (tools, the crash test's worker): auditing on.
    @Optional() config?: AppConfig,
  ) {
    this.off = config?.audit.benchmarkOff ?? false;
    this.batcher = new GroupCommitter((events) => this.insertMany(events), { maxWeight: AUDIT_BATCH_LIMIT });
  }

  onApplicationBootstrap(): void {
    if (this.off) this.logger.warn('BENCHMARK_AUDIT_OFF is on: audit events are NOT written (benchmarks only)');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.batcher.stop();
  }

  /**
   * Records one event and returns its id (a UUIDv7). With `manager`, the insert is part of that
   * manager's transaction: the change and its event commit together or not at all. Pass it whenever a
   * transaction is open: without it the insert takes another connection, commits on its own, and on the
   * embedded database (a pool of one connection) waits for ever behind the open transaction.
   *
   * Throws a plain Error, before touching the database, for an event that breaks a rule of
   * audit-event.ts: that is a bug in the caller, not a condition to handle.
   */
  async record(event: AuditEventInput, manager?: EntityManager): Promise<string> {
    const valid = validateAuditEvent(event, currentRequestContext());
    const id = newId();
    if (this.off) return id;
    const parameters = parametersOf(id, this.clock.now(), valid);
    if (manager === undefined) return this.batcher.submit(parameters);
    const rows: { id: string }[] = await manager.query(INSERT_EVENT, parameters);
    if (rows.length !== 1 || rows[0]?.id !== id) throw new Error('audit event: the insert did not return the event it wrote');
    return id;
  }

  /**
   * Several events as a part of the caller's own statement (a CTE named `audited`), so that they
   * commit with the caller's change in one round trip: the posting engine writes a batch's events in
   * the statement that writes its transfers. Each event's request context must be in the event: the
   * ambient one belongs to whichever request is running the batch. Undefined when there is nothing
   * to write. Throws, as `record` does, for an event that breaks a rule of audit-event.ts.
   */
  insertPart(events: readonly AuditEventInput[]): StatementPart | undefined {
    if (events.length === 0) return undefined;
    const now = this.clock.now();
    const rows = events.map((event) => parametersOf(newId(), now, validateAuditEvent(event, undefined)));
    if (this.off) return undefined;
    return { ctes: [{ name: 'audited', sql: INSERT_EVENTS, rows: rows.length }], parameters: columnsOf(rows) };
  }

  private async insertMany(events: unknown[][], manager?: EntityManager): Promise<Settled<string>[]> {
    const rows: { id: string }[] = await (manager ?? this.dataSource.manager).query(INSERT_EVENTS, withArrayLiterals(columnsOf(events)));
    if (rows.length !== events.length) throw new Error(`audit events: inserted ${rows.length} of ${events.length}`);
    return events.map((event) => ({ ok: true, value: event[0] as string }));
  }
}
