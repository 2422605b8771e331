import { describe, expect, it } from '@jest/globals';
import { AUDIT_GENESIS_HASH, auditEventHash, canonicalAuditEvent, type AuditEventRow } from './audit-chain.js';

const ROW: AuditEventRow = {
  id: '0193e0a4-7c1b-7000-8000-000000000001',
  occurred_at_us: '1763712000123456',
  client_id: 'bike-rental',
  client_type: 'mini_program',
  merchant_id: '0193e0a4-7c1b-7000-8000-000000000002',
  user_id: '0193e0a4-7c1b-7000-8000-000000000003',
  scopes: ['waivers:request', 'credit:score'],
  action: 'waiver.decision.made',
  resource_type: 'waiver_decision',
  resource_id: '0193e0a4-7c1b-7000-8000-000000000004',
  outcome: 'success',
  problem_code: null,
  http_status: 201,
  ip: '203.0.113.9',
  request_id: 'req-42',
  user_agent: 'Bike/1.0 "quoted" 人民币',
  purpose: 'waiver.decision',
  details: { waivedMinor: '9900', outcome: 'WAIVED', tiers: [{ minScore: 650, waivePercent: 100 }] },
};

describe('the audit chain encoding', () => {
  it('writes an event as documented: keys sorted, nulls kept, seq and times as decimal strings (fixed vector)', () => {
    expect(canonicalAuditEvent(ROW, 7n)).toBe(
      '{"action":"waiver.decision.made","clientId":"bike-rental","clientType":"mini_program",' +
        '"details":{"outcome":"WAIVED","tiers":[{"minScore":650,"waivePercent":100}],"waivedMinor":"9900"},' +
        '"httpStatus":201,"id":"0193e0a4-7c1b-7000-8000-000000000001","ip":"203.0.113.9",' +
        '"merchantId":"0193e0a4-7c1b-7000-8000-000000000002","occurredAtMicros":"1763712000123456","outcome":"success",' +
        '"problemCode":null,"purpose":"waiver.decision","requestId":"req-42",' +
        '"resourceId":"0193e0a4-7c1b-7000-8000-000000000004","resourceType":"waiver_decision",' +
        '"scopes":["waivers:request","credit:score"],"seq":"7","userAgent":"Bike/1.0 \\"quoted\\" 人民币",' +
        '"userId":"0193e0a4-7c1b-7000-8000-000000000003","v":1}',
    );
  });

  it('hashes the previous hash, a line feed and the event (fixed vector)', () => {
    expect(auditEventHash(AUDIT_GENESIS_HASH, ROW, 7n)).toBe(HASH_OF_ROW_AT_7);
  });
});

// As the chain's first implementation (createHash over the generic canonical JSON) computed it.
const HASH_OF_ROW_AT_7 = '90019673aa8bcf63deead88a88d30af4ee6e0667e172dc65fb44d57803b0c3f4';
