import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import type { AuditEventRow } from './audit-chain.js';

export interface AuditEventFilter {
  readonly userId?: string;
  readonly clientId?: string;
  readonly merchantId?: string;
  /** Exact, or a prefix when it ends in a dot. */
  readonly action?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly outcome?: 'success' | 'failure';
  readonly from?: Date;
  readonly to?: Date;
}

export interface StoredAuditEvent {
  readonly id: string;
  readonly occurredAt: string;
  readonly actor: {
    readonly clientId: string | null;
    readonly clientType: string | null;
    readonly merchantId: string | null;
    readonly userId: string | null;
    readonly scopes: string[];
  };
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string | null };
  readonly outcome: string;
  readonly problemCode: string | null;
  readonly httpStatus: number | null;
  readonly ip: string | null;
  readonly requestId: string | null;
  readonly userAgent: string | null;
  readonly purpose: string | null;
  readonly details: Record<string, unknown> | null;
  /** Null until the sealer has put the event in the chain. */
  readonly seal: { readonly seq: string; readonly prevHash: string; readonly hash: string; readonly sealedAt: string } | null;
}

/** A stored event: the columns the chain hashes, its time, and its seal from audit_seals (null when there is none yet). */
interface EventRow extends AuditEventRow {
  occurred_at: Date;
  seq: string | null;
  prev_hash: string | null;
  hash: string | null;
  sealed_at: Date | null;
}

function eventFromRow(row: EventRow): StoredAuditEvent {
  return {
    id: row.id,
    occurredAt: row.occurred_at.toISOString(),
    actor: { clientId: row.client_id, clientType: row.client_type, merchantId: row.merchant_id, userId: row.user_id, scopes: row.scopes },
    action: row.action,
    resource: { type: row.resource_type, id: row.resource_id },
    outcome: row.outcome,
    problemCode: row.problem_code,
    httpStatus: row.http_status,
    ip: row.ip,
    requestId: row.request_id,
    userAgent: row.user_agent,
    purpose: row.purpose,
    details: row.details,
    seal:
      row.seq === null || row.prev_hash === null || row.hash === null || row.sealed_at === null
        ? null
        : { seq: row.seq, prevHash: row.prev_hash, hash: row.hash, sealedAt: row.sealed_at.toISOString() },
  };
}

/**
 * Reads the audit trail for compliance: events newest first, filtered by actor, action, resource,
 * outcome and time, in keyset pages over (occurred_at, id), which every filter has an index for
 * (migrations/1763712100000-create-audit-events.ts), each with its seal if it has one (audit_seals, by
 * its unique event_id). The cursor carries the time in microseconds, so a page boundary never skips or
 * repeats an event.
 */
@Injectable()
export class AuditTrail {
  constructor(private readonly dataSource: DataSource) {}

  async events(filter: AuditEventFilter, limit: number, cursor?: string): Promise<Page<StoredAuditEvent>> {
    const where: string[] = [];
    const parameters: unknown[] = [];
    const add = (condition: (placeholder: string) => string, value: unknown): void => {
      parameters.push(value);
      where.push(condition(`$${parameters.length}`));
    };
    if (filter.userId !== undefined) add((p) => `e.user_id = ${p}`, filter.userId);
    if (filter.clientId !== undefined) add((p) => `e.client_id = ${p}`, filter.clientId);
    if (filter.merchantId !== undefined) add((p) => `e.merchant_id = ${p}`, filter.merchantId);
    if (filter.action !== undefined) {
      if (filter.action.endsWith('.')) {
        // A prefix as a range, so that the (action, occurred_at, id) index serves it: '.' + 1 is '/'.
        add((p) => `e.action >= ${p}`, filter.action);
        add((p) => `e.action < ${p}`, `${filter.action.slice(0, -1)}/`);
      } else add((p) => `e.action = ${p}`, filter.action);
    }
    if (filter.resourceType !== undefined) add((p) => `e.resource_type = ${p}`, filter.resourceType);
    if (filter.resourceId !== undefined) add((p) => `e.resource_id = ${p}`, filter.resourceId);
    if (filter.outcome !== undefined) add((p) => `e.outcome = ${p}`, filter.outcome);
    if (filter.from !== undefined) add((p) => `e.occurred_at >= ${p}`, filter.from);
    if (filter.to !== undefined) add((p) => `e.occurred_at < ${p}`, filter.to);
    if (cursor !== undefined) {
      const position = decodeCursor(cursor);
      if (!/^-?[0-9]{1,20}$/.test(position.key) || !/^[0-9a-f-]{36}$/.test(position.id))
        throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
      parameters.push(position.key, position.id);
      const [key, id] = [`$${parameters.length - 1}`, `$${parameters.length}`];
      where.push(`(e.occurred_at, e.id) < (timestamptz 'epoch' + ${key}::bigint * interval '1 microsecond', ${id}::uuid)`);
    }
    parameters.push(limit + 1);
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT e.*, (extract(epoch FROM e.occurred_at) * 1000000)::bigint::text AS occurred_at_us,
              s.seq::text AS seq, s.prev_hash, s.hash, s.sealed_at
         FROM audit_events e LEFT JOIN audit_seals s ON s.event_id = e.id
        ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
        ORDER BY e.occurred_at DESC, e.id DESC
        LIMIT $${parameters.length}`,
      parameters,
    );
    return toPage(rows, limit, (row) => ({ key: row.occurred_at_us, id: row.id }), eventFromRow);
  }
}
