import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ProbeModule } from '../support/probe.module.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

function expectProblem(
  response: { status: number; headers: Record<string, string>; body: Record<string, unknown> },
  status: number,
  code: string,
): void {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ status, code, type: `/problems/${code.toLowerCase().replace(/_/g, '-')}` });
  expect(typeof response.body.title).toBe('string');
  expect(typeof response.body.detail).toBe('string');
  expect(typeof response.body.instance).toBe('string');
}

describe('every error is RFC 9457 problem details', () => {
  let t: TestApp;
  const valid = { name: 'helmet', amountMinor: 100, currency: 'CNY' };

  beforeAll(async () => {
    t = await startTestApp({ extraModules: [ProbeModule], env: { BODY_LIMIT_BYTES: '2048' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND and the path as instance, without the query', async () => {
    const response = await t.http().get('/v1/nothing-here?token=abc');
    expectProblem(response, 404, 'ROUTE_NOT_FOUND');
    expect(response.body.instance).toBe('/v1/nothing-here');
    expect(JSON.stringify(response.body)).not.toContain('abc');
  });

  it('answers bad JSON with 400 MALFORMED_JSON', async () => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('content-type', 'application/json')
      .set('Idempotency-Key', randomUUID())
      .send('{"name": ');
    expectProblem(response, 400, 'MALFORMED_JSON');
  });

  it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('Idempotency-Key', randomUUID())
      .send({ ...valid, name: 'x'.repeat(4096) });
    expectProblem(response, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('answers an unsupported content type with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('content-type', 'application/xml')
      .set('Idempotency-Key', randomUUID())
      .send('<thing/>');
    expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('lists every invalid field with its rule', async () => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('Idempotency-Key', randomUUID())
      .send({ name: 7, amountMinor: 1.5, currency: 'cny', address: { city: 'x'.repeat(30) }, unexpected: true });
    expectProblem(response, 400, 'VALIDATION_FAILED');
    const errors = response.body.errors as { field: string; rule: string; message: string }[];
    const pairs = errors.map((error) => `${error.field}:${error.rule}`);
    expect(pairs).toEqual(
      expect.arrayContaining([
        'name:isString',
        'amountMinor:isAmountMinor',
        'currency:isCurrencyCode',
        'address.city:maxLength',
        'unexpected:whitelistValidation',
      ]),
    );
    for (const error of errors) expect(error.message.length).toBeGreaterThan(0);
  });

  it.each([
    ['a fraction', 1.5],
    ['an exponent string', '1e3'],
    ['a negative amount', -100],
    ['zero', 0],
    ['an amount beyond 2^53 - 1', '9007199254740993'],
  ])('refuses %s as an amount', async (_label, amountMinor) => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('Idempotency-Key', randomUUID())
      .send({ ...valid, amountMinor });
    expectProblem(response, 400, 'VALIDATION_FAILED');
    expect((response.body.errors as { field: string }[]).map((error) => error.field)).toEqual(['amountMinor']);
  });

  it('refuses a JSON number beyond 2^53 - 1, which would lose precision', async () => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('Idempotency-Key', randomUUID())
      .set('content-type', 'application/json')
      .send('{"name":"helmet","amountMinor":9007199254740993,"currency":"CNY"}');
    expectProblem(response, 400, 'VALIDATION_FAILED');
    expect((response.body.errors as { field: string }[]).map((error) => error.field)).toEqual(['amountMinor']);
  });

  it('accepts an amount as a string of digits', async () => {
    const response = await t
      .http()
      .post('/test/probe/things')
      .set('Idempotency-Key', randomUUID())
      .send({ ...valid, amountMinor: '9007199254740991' });
    expect(response.status).toBe(201);
    expect(response.body.amountMinor).toBe('9007199254740991');
  });

  it('hides the message and stack of an unexpected error, and logs it', async () => {
    const response = await t.http().post('/test/probe/crash').send({});
    expectProblem(response, 500, 'INTERNAL_ERROR');
    const text = JSON.stringify(response.body);
    expect(text).not.toMatch(/SELECT|very_internal_table|app\.ts|stack/);
    const logged = t.logLines.find((line) => line.includes('"request failed"'));
    expect(logged).toBeDefined();
    expect(logged).toContain('very_internal_table');
    expect(JSON.parse(logged ?? '{}').reqId).toBe(response.headers['x-request-id']);
  });

  it('answers a method the route does not take with a problem document', async () => {
    const response = await t.http().delete('/health/live');
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('request ids', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ extraModules: [ProbeModule] });
  });
  afterAll(async () => {
    await t.close();
  });

  it('keeps a well-formed X-Request-Id and logs the request under it', async () => {
    const response = await t.http().get('/test/nowhere').set('X-Request-Id', 'mini-program.req:42');
    expect(response.headers['x-request-id']).toBe('mini-program.req:42');
    const line = t.logLines
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.reqId === 'mini-program.req:42');
    expect(line).toMatchObject({ msg: 'request completed', route: 'unmatched', res: { statusCode: 404 } });
  });

  it('replaces a malformed X-Request-Id with a fresh UUIDv7', async () => {
    const response = await t.http().get('/health/live').set('X-Request-Id', 'bad id with spaces');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('gives every response an id, errors included', async () => {
    const response = await t.http().post('/test/probe/things').send({});
    expect(response.status).toBe(400);
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never logs credentials, cookies or the query string', async () => {
    await t
      .http()
      .get('/health/live?access_token=sEcReT-QuErY')
      .set('Authorization', 'Bearer sEcReT-BeArEr')
      .set('Cookie', 'session=sEcReT-CoOkIe');
    await t
      .http()
      .post('/test/probe/things')
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'n', amountMinor: 1, currency: 'CNY', password: 'sEcReT-PaSs' });
    const all = t.logLines.join('\n');
    expect(all).not.toMatch(/sEcReT/);
  });
});
