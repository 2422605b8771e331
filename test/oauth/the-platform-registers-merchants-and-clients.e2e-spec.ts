import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeFlow,
  claimsOf,
  clientCredentialsGrant,
  clientCredentialsToken,
  createConfidentialClient,
  createMerchant,
  createUser,
  expectProblem,
  keyPair,
  oauthRefusal,
  PASSWORD,
  publicJwk,
  REDIRECT_URI,
} from '../support/oauth.js';

const PLATFORM_CLIENT_ID = 'platform_bootstrap000001';
const PLATFORM_CLIENT_SECRET = 'a-platform-secret-from-configuration-0123456789';

describe('the platform registers merchants and clients', () => {
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { PLATFORM_CLIENT_ID, PLATFORM_CLIENT_SECRET } });
    admin = await clientCredentialsToken(t, PLATFORM_CLIENT_ID, PLATFORM_CLIENT_SECRET, 'admin');
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (path: string, body: object, token = admin, key: string | null = randomUUID()) => {
    const request = t.http().post(path).set('Authorization', `Bearer ${token}`);
    return (key === null ? request : request.set('Idempotency-Key', key)).send(body);
  };

  it('bootstraps the platform client from PLATFORM_CLIENT_ID and PLATFORM_CLIENT_SECRET, with admin and ledger:write', async () => {
    const tokens = await clientCredentialsGrant(
      t,
      PLATFORM_CLIENT_ID,
      oauth.ClientSecretPost(PLATFORM_CLIENT_SECRET),
      'admin ledger:write',
    );
    expect(claimsOf(tokens.access_token)).toMatchObject({ sub: PLATFORM_CLIENT_ID, client_type: 'platform', scope: 'admin ledger:write' });
    const rows: { secret_hash: string; scopes: string[] }[] = await t.dataSource.query(
      'SELECT secret_hash, scopes FROM oauth_clients WHERE client_id = $1',
      [PLATFORM_CLIENT_ID],
    );
    expect(rows[0]?.scopes.sort()).toEqual(['admin', 'ledger:write']);
    expect(rows[0]?.secret_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rows[0]?.secret_hash).not.toContain(PLATFORM_CLIENT_SECRET);
    expect(
      await oauthRefusal(clientCredentialsGrant(t, PLATFORM_CLIENT_ID, oauth.ClientSecretBasic(`${PLATFORM_CLIENT_SECRET}!`))),
    ).toEqual({
      status: 401,
      error: 'invalid_client',
    });
  });

  it('registers a merchant, once per Idempotency-Key, and requires the key', async () => {
    expectProblem(await post('/v1/admin/merchants', { name: 'No key Co.' }, admin, null), 400, 'IDEMPOTENCY_KEY_REQUIRED');
    const key = randomUUID();
    const created = await post('/v1/admin/merchants', { name: '  Shanghai Bike Co.  ' }, admin, key);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), name: 'Shanghai Bike Co.', createdAt: expect.any(String) });
    const replayed = await post('/v1/admin/merchants', { name: '  Shanghai Bike Co.  ' }, admin, key);
    expect(replayed.status).toBe(201);
    expect(replayed.body).toEqual(created.body);
    const rows: unknown[] = await t.dataSource.query(`SELECT 1 FROM merchants WHERE name = 'Shanghai Bike Co.'`);
    expect(rows).toHaveLength(1);
    expectProblem(await post('/v1/admin/merchants', { name: '' }), 400, 'VALIDATION_FAILED');
  });

  it('registers a merchant backend and shows its secret once; only a hash of it is stored', async () => {
    const merchantId = await createMerchant(t);
    const key = randomUUID();
    const body = { clientType: 'merchant', merchantId, name: 'Bike backend', scopes: ['payments:write', 'merchant:read'] };
    const created = await post('/v1/admin/clients', body, admin, key);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      clientType: 'merchant',
      merchantId,
      name: 'Bike backend',
      tokenEndpointAuthMethod: 'client_secret_basic',
      redirectUris: [],
      scopes: ['payments:write', 'merchant:read'],
      dpopBound: false,
    });
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    expect(clientSecret).toMatch(/^cgs_[A-Za-z0-9_-]{43}$/);

    // The secret works, for exactly the scopes registered.
    const token = await clientCredentialsToken(t, clientId, clientSecret, 'payments:write');
    expect(claimsOf(token)).toMatchObject({ sub: clientId, merchant_id: merchantId });

    const rows: { secret_hash: string }[] = await t.dataSource.query('SELECT secret_hash FROM oauth_clients WHERE client_id = $1', [
      clientId,
    ]);
    expect(rows[0]?.secret_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rows[0]?.secret_hash).not.toContain(clientSecret);

    // Shown once: a retry with the same key replays the registration, not the secret.
    const replayed = await post('/v1/admin/clients', body, admin, key);
    expect(replayed.status).toBe(201);
    expect(replayed.body).toMatchObject({ clientId, clientSecret: null });

    // Nowhere in the database is the secret kept in clear.
    for (const table of ['oauth_clients', 'idempotency_keys', 'audit_events']) {
      const found: unknown[] = await t.dataSource.query(`SELECT 1 FROM ${table} t WHERE t::text LIKE $1`, [`%${clientSecret}%`]);
      expect({ table, rows: found.length }).toEqual({ table, rows: 0 });
    }
  });

  it('registers a public mini-program of a merchant, which can then sign users in', async () => {
    const merchantId = await createMerchant(t);
    const created = await post('/v1/admin/clients', {
      clientType: 'mini_program',
      merchantId,
      name: 'Bike rental',
      tokenEndpointAuthMethod: 'none',
      redirectUris: [REDIRECT_URI, 'https://bikes.example/callback'],
      scopes: ['identity:verify', 'credit:admittance'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ clientType: 'mini_program', tokenEndpointAuthMethod: 'none', clientSecret: null });
    await createUser(t, 'ada@example.com');
    const { tokens } = await authorizationCodeFlow(t, {
      clientId: (created.body as { clientId: string }).clientId,
      redirectUri: REDIRECT_URI,
      scope: 'credit:admittance',
      login: 'ada@example.com',
      password: PASSWORD,
    });
    expect(claimsOf(tokens.access_token)).toMatchObject({
      client_type: 'mini_program',
      merchant_id: merchantId,
      scope: 'credit:admittance',
    });
  });

  it('refuses a registration that breaks the rules of its type, with a problem document', async () => {
    const merchantId = await createMerchant(t);
    const refusals: [object, number, string][] = [
      [{ clientType: 'mini_program', name: 'No merchant', redirectUris: ['https://app.example/cb'] }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'merchant', merchantId, name: 'Greedy', scopes: ['payments:write', 'admin'] }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'compliance', name: 'Writer', scopes: ['audit:read', 'ledger:write'] }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'mini_program', merchantId, name: 'Plain http', redirectUris: ['http://app.example/cb'] }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'mini_program', merchantId, name: 'Fragment', redirectUris: ['https://app.example/cb#x'] }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'mini_program', merchantId, name: 'No redirect' }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'merchant', merchantId, name: 'Public backend', tokenEndpointAuthMethod: 'none' }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'platform', merchantId, name: 'Platform of a merchant' }, 400, 'CLIENT_INVALID'],
      [{ clientType: 'merchant', merchantId: randomUUID(), name: 'Ghost merchant' }, 404, 'MERCHANT_NOT_FOUND'],
      [{ clientType: 'superuser', name: 'Unknown type' }, 400, 'VALIDATION_FAILED'],
      [{ clientType: 'merchant', merchantId, name: 'Unknown scope', scopes: ['everything'] }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [body, status, code] of refusals) {
      const response = await post('/v1/admin/clients', body);
      expect({ body, status: response.status, code: response.body.code }).toEqual({ body, status, code });
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const privateKey = { ...(await publicJwk(await keyPair())), d: 'AAAA' };
    const withPrivateKey = await post('/v1/admin/clients', {
      clientType: 'merchant',
      merchantId,
      name: 'Leaky keys',
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: { keys: [privateKey] },
    });
    expectProblem(withPrivateKey, 400, 'CLIENT_INVALID');
    const registered: { count: string }[] = await t.dataSource.query(`SELECT count(*) FROM oauth_clients WHERE merchant_id = $1`, [
      merchantId,
    ]);
    expect(Number(registered[0]?.count)).toBe(0);
  });

  it('refuses merchant and user tokens, and a platform token without admin', async () => {
    const merchantId = await createMerchant(t);
    const merchant = await createConfidentialClient(t, 'merchant', merchantId);
    const merchantToken = await clientCredentialsToken(t, merchant.clientId, merchant.clientSecret);
    expectProblem(await post('/v1/admin/merchants', { name: 'Mine' }, merchantToken), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(
      await post('/v1/admin/clients', { clientType: 'merchant', merchantId, name: 'Mine' }, merchantToken),
      403,
      'INSUFFICIENT_SCOPE',
    );
    const ledgerOnly = await clientCredentialsToken(t, PLATFORM_CLIENT_ID, PLATFORM_CLIENT_SECRET, 'ledger:write');
    expectProblem(await post('/v1/admin/merchants', { name: 'Ledger' }, ledgerOnly), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(
      await t.http().post('/v1/admin/merchants').set('Idempotency-Key', randomUUID()).send({ name: 'Anonymous' }),
      401,
      'TOKEN_MISSING',
    );
  });
});
