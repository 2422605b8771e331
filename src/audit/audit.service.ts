import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Clock } from '../common/clock/clock.js';
import { currentRequestContext } from '../common/request-context/request-context.js';
import { type AuditEventInput, validateAuditEvent } from './audit-event.js';

const INSERT_EVENT = `
  INSERT INTO audit_events (
    id, occurred_at, client_id, client_type, merchant_id, user_id, scopes, action, resource_type, resource_id,
    outcome, problem_code, http_status, ip, request_id, user_agent, purpose, details
  ) VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11, $12, $13, $14::inet, $15, $16, $17, $18::jsonb)
  RETURNING id`;

/**
 * Writes the audit trail: one row in `audit_events` an event, never changed afterwards (the table
 * refuses it). Sealing into the hash chain happens later, elsewhere; reading is issue 8's.
 */
@Injectable()
export class AuditService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

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
    const id = uuidv7();
    const rows: { id: string }[] = await (manager ?? this.dataSource.manager).query(INSERT_EVENT, [
      id,
      this.clock.now(),
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
    ]);
    if (rows.length !== 1 || rows[0]?.id !== id) throw new Error('audit event: the insert did not return the event it wrote');
    return id;
  }
}
