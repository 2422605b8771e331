import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProbeModule } from '../support/probe.module.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('health, metrics, docs and HTTP hygiene', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ extraModules: [ProbeModule] });
  });
  afterAll(async () => {
    await t.close();
  });

  it('is live', async () => {
    const response = await t.http().get('/health/live');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('is ready when the database answers', async () => {
    const response = await t.http().get('/health/ready');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok', checks: { database: 'up' } });
  });

  it('counts requests by route pattern and status, and reports the database pool', async () => {
    await t.http().get('/health/live');
    await t.http().get('/no/such/route');
    const response = await t.http().get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(/^http_requests_total\{method="GET",route="\/health\/live",status="200"\} \d+$/m);
    expect(response.text).toMatch(/^http_requests_total\{method="GET",route="unmatched",status="404"\} \d+$/m);
    expect(response.text).toMatch(
      /^http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/health\/live",status="200"\} \d+$/m,
    );
    expect(response.text).toMatch(/^db_pool_connections_total \d+$/m);
    expect(response.text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const document = await t.http().get('/openapi.json');
    expect(document.status).toBe(200);
    expect(document.body.openapi).toMatch(/^3\./);
    expect(Object.keys(document.body.paths)).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
    const ui = await t.http().get('/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger-ui');
  });

  it('sends security headers', async () => {
    const response = await t.http().get('/health/live');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(response.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('leaves CORS off unless configured', async () => {
    const response = await t
      .http()
      .options('/health/live')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'GET');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('drains a request in flight when the application closes', async () => {
    const other = await import('../support/test-app.js').then(({ startTestApp: start }) => start({ extraModules: [ProbeModule] }));
    const inFlight = other.http().post('/test/probe/slow?ms=400').send({});
    const pending = inFlight.then((response) => response);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = other.close();
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ slept: 400 });
    await closing;
  });
});

describe('CORS when configured', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { CORS_ORIGINS: 'https://mini.example, https://console.example' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('allows a listed origin and no other', async () => {
    const allowed = await t.http().get('/health/live').set('Origin', 'https://mini.example');
    expect(allowed.headers['access-control-allow-origin']).toBe('https://mini.example');
    const refused = await t.http().get('/health/live').set('Origin', 'https://evil.example');
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
  });
});
