import { hash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json.js';

/**
 * The audit trail's hash chain. Each event, once sealed, has a seal in `audit_seals`: its `seq` (1, 2,
 * 3, ... in the order the sealer took the events: (xid, occurred_at, id), see audit-sealer.ts), the
 * previous seal's hash and its own, each committing to the one before:
 *
 *   hash = hex(SHA-256(prev_hash ‖ "\n" ‖ canonical event))      prev_hash of seq 1 = 64 zeros
 *
 * where the canonical event is the canonical JSON (src/common/canonical-json.ts: keys sorted, no white
 * space) of every column the writer set, plus `seq`:
 *
 *   {"action","clientId","clientType","details","httpStatus","id","ip","merchantId","occurredAtMicros",
 *    "outcome","problemCode","purpose","requestId","resourceId","resourceType","scopes","seq","userAgent",
 *    "userId","v":1}
 *
 * `occurredAtMicros` is the time as a decimal string of microseconds since the Unix epoch (exactly what
 * timestamptz holds, so a change below the millisecond is caught too); `seq` a decimal string; `ip`
 * PostgreSQL's output form of the inet. The writing transaction's `xid` only decides the order and is
 * not hashed. Changing any column of a sealed event, deleting it or its seal, or re-ordering the seals
 * breaks the chain at that event.
 */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/** The columns read for hashing, in one form for the sealer and the verifier (see EVENT_COLUMNS). */
export interface AuditEventRow {
  id: string;
  occurred_at_us: string;
  client_id: string | null;
  client_type: string | null;
  merchant_id: string | null;
  user_id: string | null;
  scopes: string[];
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  problem_code: string | null;
  http_status: number | null;
  ip: string | null;
  request_id: string | null;
  user_agent: string | null;
  purpose: string | null;
  details: Record<string, unknown> | null;
}

/** Every hashed column, with the time in exact microseconds. */
export const EVENT_COLUMNS = `id, (extract(epoch FROM occurred_at) * 1000000)::bigint::text AS occurred_at_us, client_id, client_type,
  merchant_id, user_id, scopes, action, resource_type, resource_id, outcome, problem_code, http_status, ip, request_id, user_agent,
  purpose, details`;

export function canonicalAuditEvent(row: AuditEventRow, seq: bigint): string {
  return canonicalJson({
    v: 1,
    id: row.id,
    seq: seq.toString(),
    occurredAtMicros: row.occurred_at_us,
    clientId: row.client_id,
    clientType: row.client_type,
    merchantId: row.merchant_id,
    userId: row.user_id,
    scopes: row.scopes,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    outcome: row.outcome,
    problemCode: row.problem_code,
    httpStatus: row.http_status,
    ip: row.ip,
    requestId: row.request_id,
    userAgent: row.user_agent,
    purpose: row.purpose,
    details: row.details,
  });
}

export function auditEventHash(prevHash: string, row: AuditEventRow, seq: bigint): string {
  return hash('sha256', `${prevHash}\n${canonicalAuditEvent(row, seq)}`, 'hex');
}
