import { describe, expect, it } from '@jest/globals';
import type { Principal } from '../common/principal.js';
import {
  AUDIT_LIMITS,
  auditDetailsBytes,
  type AuditEventInput,
  FORBIDDEN_DETAILS_KEY_PARTS,
  isForbiddenDetailsKey,
  jsonbText,
  validateAuditEvent,
} from './audit-event.js';

const USER_ID = '0193e0a4-7c1b-7000-8000-000000000001';
const MERCHANT_ID = '0193e0a4-7c1b-7000-8000-0000000000aa';

const principal: Principal = {
  clientId: 'bike-rental-mini',
  clientType: 'mini_program',
  merchantId: MERCHANT_ID,
  userId: USER_ID,
  scopes: ['identity:verify', 'credit:score'],
};

const base: AuditEventInput = {
  action: 'oauth.consent.granted',
  actor: principal,
  resourceType: 'oauth_grant',
  resourceId: 'grant-1',
  outcome: 'success',
};

const validate = (overrides: Partial<Record<keyof AuditEventInput, unknown>>, context?: Parameters<typeof validateAuditEvent>[1]) =>
  validateAuditEvent({ ...base, ...overrides } as AuditEventInput, context);

/** The message an invalid event is refused with (and that it is a plain Error). */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  }
  throw new Error('the event was accepted');
}

describe('validateAuditEvent', () => {
  it('takes a Principal as the actor, as it is', () => {
    const event = validateAuditEvent(base, undefined);
    expect(event).toEqual({
      action: 'oauth.consent.granted',
      clientId: 'bike-rental-mini',
      clientType: 'mini_program',
      merchantId: MERCHANT_ID,
      userId: USER_ID,
      scopes: ['identity:verify', 'credit:score'],
      resourceType: 'oauth_grant',
      resourceId: 'grant-1',
      outcome: 'success',
      problemCode: null,
      httpStatus: null,
      ip: null,
      requestId: null,
      userAgent: null,
      purpose: null,
      details: null,
    });
  });

  it('takes a partial actor (a sign-in that knows only the user) and no actor at all', () => {
    const known = validate({ action: 'oauth.sign_in.succeeded', actor: { userId: USER_ID } });
    expect(known).toMatchObject({ userId: USER_ID, clientId: null, clientType: null, merchantId: null, scopes: [] });
    const nobody = validate({ action: 'oauth.sign_in.failed', actor: null, outcome: 'failure', problemCode: 'INVALID_CREDENTIALS' });
    expect(nobody).toMatchObject({
      userId: null,
      clientId: null,
      clientType: null,
      merchantId: null,
      scopes: [],
      problemCode: 'INVALID_CREDENTIALS',
    });
  });

  it('lower-cases UUIDs as PostgreSQL returns them', () => {
    expect(validate({ actor: { userId: USER_ID.toUpperCase() } }).userId).toBe(USER_ID);
  });

  it('refuses a missing actor: null says nobody is known, undefined is a mistake', () => {
    expect(refusal(() => validate({ actor: undefined }))).toMatch(/actor is required/);
  });

  describe('the action naming rule', () => {
    it.each([
      'user.signed_up',
      'oauth.sign_in.failed',
      'oauth.consent.granted',
      'oauth.token.issued',
      'merchant.created',
      'a.b',
      'v2.x9_y',
    ])('accepts %p', (action) => {
      expect(validate({ action }).action).toBe(action);
    });

    it.each([
      ['a single segment', 'created'],
      ['upper case', 'User.signed_up'],
      ['a dash', 'user.signed-up'],
      ['a leading digit', 'user.2fa_enabled'],
      ['an empty segment', 'user..created'],
      ['a trailing dot', 'user.created.'],
      ['a space', 'user.signed up'],
      ['an empty string', ''],
      ['more than 128 characters', `a.${'b'.repeat(127)}`],
    ])('refuses %s', (_what, action) => {
      expect(refusal(() => validate({ action }))).toMatch(/^audit event: action /);
    });

    it('accepts exactly 128 characters', () => {
      const action = `a.${'b'.repeat(126)}`;
      expect(validate({ action }).action).toBe(action);
    });
  });

  describe('bounds on every field', () => {
    it.each<[string, Partial<Record<keyof AuditEventInput, unknown>>, RegExp]>([
      ['an unknown outcome', { outcome: 'partial' }, /outcome must be/],
      ['a problem code with success', { problemCode: 'LOGIN_TAKEN' }, /problemCode is only given with outcome 'failure'/],
      ['a lower-case problem code', { outcome: 'failure', problemCode: 'login_taken' }, /problemCode must match/],
      ['a problem code of 65 characters', { outcome: 'failure', problemCode: `A${'B'.repeat(64)}` }, /problemCode must be 1 to 64/],
      ['an HTTP status of 99', { httpStatus: 99 }, /httpStatus/],
      ['an HTTP status of 600', { httpStatus: 600 }, /httpStatus/],
      ['a fractional HTTP status', { httpStatus: 200.5 }, /httpStatus/],
      ['an upper-case resource type', { resourceType: 'User' }, /resourceType must match/],
      ['a resource type of 65 characters', { resourceType: 'r'.repeat(65) }, /resourceType must be 1 to 64/],
      ['an empty resource type', { resourceType: '' }, /resourceType must be 1 to 64/],
      ['a resource id of 256 characters', { resourceId: 'x'.repeat(256) }, /resourceId must be 1 to 255/],
      ['an empty resource id', { resourceId: '' }, /resourceId must be 1 to 255/],
      ['a resource id with a line break', { resourceId: 'a\nb' }, /resourceId must not hold control characters/],
      ['a resource id that is an e-mail address', { resourceId: 'ada@example.com' }, /resourceId looks like an e-mail address/],
      ['a purpose in prose', { purpose: 'because I wanted to' }, /purpose must match/],
      ['a purpose of 129 characters', { purpose: 'p'.repeat(129) }, /purpose must be 1 to 128/],
      ['a malformed request id', { requestId: 'has space' }, /requestId must match/],
      ['a request id of 129 characters', { requestId: 'r'.repeat(129) }, /requestId must be 1 to 128/],
      ['an IP address that is not one', { ip: '10.0.0.300' }, /ip must be an IPv4 or IPv6 address/],
      ['details that are an array', { details: [1, 2] }, /details must be an object/],
    ])('refuses %s', (_what, overrides, message) => {
      expect(refusal(() => validate(overrides))).toMatch(message);
    });

    it.each<[string, Record<string, unknown>, RegExp]>([
      ['a client id of 256 characters', { clientId: 'c'.repeat(256) }, /actor.clientId must be 1 to 255/],
      ['a client id with a space', { clientId: 'my client' }, /actor.clientId must match/],
      ['a client type in upper case', { clientId: 'c', clientType: 'Merchant' }, /actor.clientType must match/],
      ['a client type without a client', { clientType: 'merchant' }, /actor.clientType is only given with actor.clientId/],
      ['a user id that is not a UUID', { userId: '42' }, /actor.userId must be a UUID/],
      ['a merchant id that is not a UUID', { merchantId: 'acme' }, /actor.merchantId must be a UUID/],
      ['65 scopes', { scopes: Array.from({ length: 65 }, (_, index) => `s${index}`) }, /actor.scopes must hold at most 64/],
      ['a scope with a space', { scopes: ['credit:score', 'a b'] }, /actor.scopes.1 must match/],
      ['a scope with a quote', { scopes: ['a"b'] }, /actor.scopes.0 must match/],
      ['a scope of 65 characters', { scopes: ['s'.repeat(65)] }, /actor.scopes.0 must be 1 to 64/],
      ['an empty scope', { scopes: [''] }, /actor.scopes.0 must be 1 to 64/],
    ])('refuses an actor with %s', (_what, actor, message) => {
      expect(refusal(() => validate({ actor }))).toMatch(message);
    });

    it('accepts the longest of everything', () => {
      const event = validate({
        actor: { clientId: 'c'.repeat(255), clientType: `m${'_'.repeat(31)}`, scopes: Array.from({ length: 64 }, () => 's'.repeat(64)) },
        resourceType: 'r'.repeat(64),
        resourceId: 'x'.repeat(255),
        outcome: 'failure',
        problemCode: `A${'B'.repeat(63)}`,
        httpStatus: 599,
        purpose: 'p'.repeat(128),
        requestId: 'r'.repeat(128),
      });
      expect(event.scopes).toHaveLength(64);
      expect(event.resourceId).toHaveLength(255);
    });
  });

  describe('where the event came from', () => {
    const context = { requestId: 'req-42', ip: '203.0.113.7', userAgent: 'MiniProgram/8.0 (iPhone)' };

    it('takes ip, request id and user agent from the request context when they are not given', () => {
      expect(validate({}, context)).toMatchObject({ ip: '203.0.113.7', requestId: 'req-42', userAgent: 'MiniProgram/8.0 (iPhone)' });
    });

    it('prefers what is given over the context, and null over both', () => {
      expect(validate({ ip: '2001:db8::1', requestId: 'other-req', userAgent: 'curl/8' }, context)).toMatchObject({
        ip: '2001:db8::1',
        requestId: 'other-req',
        userAgent: 'curl/8',
      });
      expect(validate({ ip: null, requestId: null, userAgent: null }, context)).toMatchObject({
        ip: null,
        requestId: null,
        userAgent: null,
      });
    });

    it('records an address from the context that is no IP address (a forged forwarded header) as unknown, not as a failure', () => {
      expect(validate({}, { requestId: 'r', ip: 'not-an-ip, 10.0.0.1' }).ip).toBeNull();
    });

    it('drops an IPv6 zone, which inet does not take', () => {
      expect(validate({ ip: 'fe80::1%eth0' }).ip).toBe('fe80::1');
    });

    it('cuts a user agent to 256 characters and replaces control characters, never refusing it', () => {
      const event = validate({ userAgent: `${'u'.repeat(300)}` });
      expect(event.userAgent).toBe('u'.repeat(256));
      expect(validate({ userAgent: 'a\u0000b\tc' }).userAgent).toBe('a\ufffdb\ufffdc');
      expect(validate({ userAgent: '' }).userAgent).toBeNull();
      // Characters, not UTF-16 units: an emoji is not split into a lone surrogate.
      expect(Array.from(validate({ userAgent: '😀'.repeat(300) }).userAgent ?? '')).toHaveLength(256);
    });
  });
});

describe('details', () => {
  it('are kept as given, less undefined members', () => {
    const event = validate({
      details: { grantType: 'authorization_code', scopeCount: 2, reused: false, parent: null, skipped: undefined },
    });
    expect(event.details).toEqual({ grantType: 'authorization_code', scopeCount: 2, reused: false, parent: null });
    expect(Object.keys(event.details ?? {})).not.toContain('skipped');
  });

  describe('keys that look like personal data or a secret', () => {
    it.each([
      'password',
      'PASSWORD',
      'newPassword',
      'secret',
      'clientSecret',
      'client_secret',
      'token',
      'accessToken',
      'refresh_token',
      'idNumber',
      'id_number',
      'ID-NUMBER',
      'fullName',
      'full_name',
      'name',
      'lastName',
      'username',
      'phone',
      'phoneNumber',
      'email',
      'E-Mail',
      'authorization',
      'Authorization',
      'cookie',
      'set-cookie',
    ])('refuses %p', (key) => {
      expect(isForbiddenDetailsKey(key)).toBe(true);
      expect(refusal(() => validate({ details: { [key]: 'x' } }))).toMatch(/is a key for personal data or a secret/);
    });

    it.each(['reason', 'grantType', 'scopeCount', 'amountMinor', 'clientId', 'userId', 'jti', 'policyVersion', 'credit:score'])(
      'accepts %p',
      (key) => {
        expect(isForbiddenDetailsKey(key)).toBe(false);
        expect(validate({ details: { [key]: 1 } }).details).toEqual({ [key]: 1 });
      },
    );

    it('covers every listed word, in any case', () => {
      for (const part of FORBIDDEN_DETAILS_KEY_PARTS) {
        expect(isForbiddenDetailsKey(part.toUpperCase())).toBe(true);
        expect(isForbiddenDetailsKey(`my_${part}_field`)).toBe(true);
      }
    });

    it('refuses them at any depth, in objects inside arrays, naming the path and never the value', () => {
      const message = refusal(() => validate({ details: { changes: [{ field: 'x' }, { nested: { deeper: { Password: 'hunter2' } } }] } }));
      expect(message).toBe(
        'audit event: details.changes.1.nested.deeper.Password is a key for personal data or a secret, which an audit event never holds',
      );
      expect(message).not.toContain('hunter2');
    });

    it('refuses them even when the value is empty or null', () => {
      expect(refusal(() => validate({ details: { email: null } }))).toMatch(/details.email is a key/);
      expect(refusal(() => validate({ details: { a: { token: undefined } } }))).toMatch(/details.a.token is a key/);
    });
  });

  describe('values that are personal data or a secret whatever their key', () => {
    it.each([
      ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl', /looks like a JWT/],
      ['a bearer header', 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2ln', /looks like a JWT/],
      ['a resident ID number', '11010519491231002X', /looks like a resident ID number/],
      ['a resident ID number inside a sentence', 'lookup of 110105194912310021 failed', /looks like a resident ID number/],
      ['an e-mail address', 'ada@example.com', /looks like an e-mail address/],
    ])('refuses %s, without echoing it', (_what, value, message) => {
      const refused = refusal(() => validate({ details: { list: ['ok', { note: value }] } }));
      expect(refused).toMatch(message);
      expect(refused).toMatch(/details.list.1.note/);
      expect(refused).not.toContain(value);
    });

    it.each([USER_ID, '2026-01-01T00:00:00.000Z', '12345678901234567890', 'a@b', 'https://example.com/callback', '650'])(
      'accepts %p',
      (value) => {
        expect(validate({ details: { value } }).details).toEqual({ value });
      },
    );
  });

  describe('values that JSON or PostgreSQL would change or cannot keep', () => {
    it.each<[string, unknown, RegExp]>([
      ['a fraction', 1.5, /must be a safe integer/],
      ['an unsafe integer', 2 ** 53, /must be a safe integer/],
      ['NaN', Number.NaN, /must be a safe integer/],
      ['Infinity', Number.POSITIVE_INFINITY, /must be a safe integer/],
      ['a bigint', 10n, /cannot hold a bigint/],
      ['a function', () => 1, /cannot hold a function/],
      ['a Date', new Date(0), /must be a plain object/],
      ['a Map', new Map(), /must be a plain object/],
      ['a NUL character', 'a\u0000b', /must not hold NUL/],
      ['a lone surrogate', 'a\ud800b', /lone surrogates/],
      ['an undefined array element', [1, undefined], /details.v.1 must not be undefined/],
      ['a sparse array', [1, , 3], /details.v.1 must not be undefined/], // eslint-disable-line no-sparse-arrays
    ])('refuses %s', (_what, v, message) => {
      expect(refusal(() => validate({ details: { v } }))).toMatch(message);
    });

    it.each([
      ['a key with a space', 'the reason'],
      ['an empty key', ''],
      ['a key of 65 characters', 'k'.repeat(65)],
    ])('refuses %s', (_what, key) => {
      expect(refusal(() => validate({ details: { [key]: 1 } }))).toMatch(/key must be 1 to 64/);
    });

    it(`refuses nesting deeper than ${AUDIT_LIMITS.detailsDepth} levels`, () => {
      const nest = (levels: number): unknown => (levels === 0 ? 'leaf' : { a: nest(levels - 1) });
      expect(validate({ details: nest(AUDIT_LIMITS.detailsDepth) as Record<string, unknown> }).details).toBeTruthy();
      expect(refusal(() => validate({ details: nest(AUDIT_LIMITS.detailsDepth + 1) as Record<string, unknown> }))).toMatch(
        /nested deeper than 8 levels/,
      );
    });
  });

  describe('size', () => {
    it('is measured as PostgreSQL prints jsonb: a space after every comma and colon', () => {
      expect(jsonbText({ a: 1, b: [1, 'two', null, true], c: {}, d: [] })).toBe('{"a": 1, "b": [1, "two", null, true], "c": {}, "d": []}');
      expect(auditDetailsBytes({ a: 1 })).toBe(8);
    });

    it('counts bytes of UTF-8, not characters, and escapes as stored', () => {
      expect(auditDetailsBytes({ s: '押金' })).toBe('{"s": "押金"}'.length + 4);
      expect(auditDetailsBytes({ s: 'a\nb"' })).toBe('{"s": "a\\nb\\""}'.length);
    });

    /** Details of exactly `bytes` bytes as stored. */
    const ofSize = (bytes: number) => ({ note: 'x'.repeat(bytes - '{"note": ""}'.length) });

    it('accepts exactly 8192 bytes', () => {
      const details = ofSize(8192);
      expect(auditDetailsBytes(details)).toBe(8192);
      expect(validate({ details }).details).toEqual(details);
    });

    it('refuses 8193 bytes, saying the limit and the size', () => {
      expect(refusal(() => validate({ details: ofSize(8193) }))).toBe(
        'audit event: details must be at most 8192 bytes as stored (are 8193)',
      );
    });

    it('refuses a string that cannot fit before searching it for personal data', () => {
      expect(refusal(() => validate({ details: { note: 'a@'.repeat(1_000_000) } }))).toBe(
        'audit event: details.note is longer than details may be (8192 bytes)',
      );
    });
  });
});
