import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature } from './webhook-signature.js';

describe('webhook signatures', () => {
  const secret = 'whsec_test-secret';
  const body = '{"id":"evt_1","type":"payment_intent.succeeded"}';

  it('is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">', () => {
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(signatureHeader(secret, 1_700_000_000, body)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('verifies its own signature within the tolerance, and nothing altered', () => {
    const header = signatureHeader(secret, 1_700_000_000, body);
    expect(verifySignature(header, secret, body, 1_700_000_100)).toBe(true);
    expect(verifySignature(header, secret, `${body} `, 1_700_000_100)).toBe(false);
    expect(verifySignature(header, 'whsec_other', body, 1_700_000_100)).toBe(false);
    expect(verifySignature(header, secret, body, 1_700_000_301)).toBe(false);
    expect(verifySignature(header.replace('t=1700000000', 't=1700000001'), secret, body, 1_700_000_100)).toBe(false);
    expect(verifySignature('v1=abc', secret, body, 1_700_000_100)).toBe(false);
    expect(verifySignature('garbage', secret, body, 1_700_000_100)).toBe(false);
  });
});
