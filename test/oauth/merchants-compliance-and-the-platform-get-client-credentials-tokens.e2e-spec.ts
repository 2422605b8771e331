import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  claimsOf,
  clientCredentialsGrant,
  createClient,
  createConfidentialClient,
  createMerchant,
  type CryptoKeyPair,
  expectProblem,
  headerOf,
  keyPair,
  oauthRefusal,
  publicJwk,
} from '../support/oauth.js';

type ConfidentialType = 'merchant' | 'compliance' | 'platform';

const cases: { type: ConfidentialType; method: 'client_secret_basic' | 'client_secret_post'; scope: string }[] = [
  { type: 'merchant', method: 'client_secret_basic', scope: 'payments:write payments:refund' },
  { type: 'merchant', method: 'client_secret_post', scope: 'merchant:read' },
  { type: 'compliance', method: 'client_secret_basic', scope: 'audit:read' },
  { type: 'compliance', method: 'client_secret_post', scope: 'audit:read' },
  { type: 'platform', method: 'client_secret_basic', scope: 'admin' },
  { type: 'platform', method: 'client_secret_post', scope: 'admin ledger:write' },
];

describe('merchant, compliance and platform backends get client-credentials tokens for themselves', () => {
  let t: TestApp;
  let merchantId: string;

  beforeAll(async () => {
    t = await startTestApp();
    merchantId = await createMerchant(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it.each(cases)('issues a $type client authenticating with $method an RFC 9068 token for itself', async ({ type, method, scope }) => {
    const client = await createConfidentialClient(t, type, merchantId, undefined, { tokenEndpointAuthMethod: method });
    const auth =
      method === 'client_secret_basic' ? oauth.ClientSecretBasic(client.clientSecret) : oauth.ClientSecretPost(client.clientSecret);
    const tokens = await clientCredentialsGrant(t, client.clientId, auth, scope);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.refresh_token).toBeUndefined();
    expect(headerOf(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const claims = claimsOf(tokens.access_token);
    expect(claims).toMatchObject({
      iss: t.config.publicUrl,
      aud: `${t.config.publicUrl}/v1`,
      sub: client.clientId,
      client_id: client.clientId,
      client_type: type,
    });
    expect(String(claims.scope).split(' ').sort()).toEqual(scope.split(' ').sort());
    if (type === 'merchant') expect(claims.merchant_id).toBe(merchantId);
    else expect(claims).not.toHaveProperty('merchant_id');

    const principal = await t.http().get('/v1/principal').set('Authorization', `Bearer ${tokens.access_token}`);
    expect(principal.status).toBe(200);
    expect(principal.body).toEqual({
      clientId: client.clientId,
      clientType: type,
      merchantId: type === 'merchant' ? merchantId : null,
      userId: null,
      scopes: scope.split(' '),
    });
  });

  it.each(['merchant', 'compliance', 'platform'] as const)(
    'gives a %s client that asks for no scope a token with no scope at all (least privilege), which scoped routes refuse',
    async (type) => {
      // RFC 6749 §3.3: without a scope parameter the server applies its documented default; creditgate's is none.
      const client = await createConfidentialClient(t, type, merchantId);
      const tokens = await clientCredentialsGrant(t, client.clientId, oauth.ClientSecretBasic(client.clientSecret));
      expect(tokens.scope).toBeUndefined();
      expect(claimsOf(tokens.access_token)).not.toHaveProperty('scope');
      const principal = await t.http().get('/v1/principal').set('Authorization', `Bearer ${tokens.access_token}`);
      expect(principal.body).toMatchObject({ clientId: client.clientId, scopes: [] });
      if (type === 'platform') {
        const refused = await t
          .http()
          .post('/v1/admin/merchants')
          .set('Authorization', `Bearer ${tokens.access_token}`)
          .set('Idempotency-Key', randomUUID())
          .send({ name: 'Nobody asked' });
        expectProblem(refused, 403, 'INSUFFICIENT_SCOPE');
      }
    },
  );

  it('never puts a scope beyond the registration in a token: a client registered for fewer scopes is refused the others', async () => {
    const client = await createConfidentialClient(t, 'merchant', merchantId, ['merchant:read']);
    const auth = oauth.ClientSecretBasic(client.clientSecret);
    expect(claimsOf((await clientCredentialsGrant(t, client.clientId, auth, 'merchant:read')).access_token).scope).toBe('merchant:read');
    expect(await oauthRefusal(clientCredentialsGrant(t, client.clientId, auth, 'merchant:read payments:write'))).toEqual({
      status: 400,
      error: 'invalid_scope',
    });
  });

  describe('private_key_jwt (RFC 7523)', () => {
    let keys: CryptoKeyPair;
    let clientId: string;

    beforeAll(async () => {
      keys = await keyPair();
      ({ clientId } = await createClient(t, {
        clientType: 'merchant',
        merchantId,
        name: 'Merchant backend with a key',
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [{ ...(await publicJwk(keys)), alg: 'ES256', use: 'sig' }] },
      }));
    });

    it('authenticates a merchant with a client assertion signed by its registered key', async () => {
      const tokens = await clientCredentialsGrant(t, clientId, oauth.PrivateKeyJwt(keys.privateKey), 'payments:write');
      expect(claimsOf(tokens.access_token)).toMatchObject({
        sub: clientId,
        client_id: clientId,
        client_type: 'merchant',
        merchant_id: merchantId,
        scope: 'payments:write',
      });
    });

    it('refuses an assertion signed by another key with 401 invalid_client', async () => {
      const other = await keyPair();
      expect(await oauthRefusal(clientCredentialsGrant(t, clientId, oauth.PrivateKeyJwt(other.privateKey)))).toEqual({
        status: 401,
        error: 'invalid_client',
      });
    });

    it('refuses a replayed client assertion (same jti) with 401 invalid_client', async () => {
      const jti = `replayed-${Date.now()}`;
      const fixedJti = {
        [oauth.modifyAssertion]: (_header: Record<string, unknown>, payload: Record<string, unknown>) => void (payload.jti = jti),
      };
      await clientCredentialsGrant(t, clientId, oauth.PrivateKeyJwt(keys.privateKey, fixedJti));
      expect(await oauthRefusal(clientCredentialsGrant(t, clientId, oauth.PrivateKeyJwt(keys.privateKey, fixedJti)))).toEqual({
        status: 401,
        error: 'invalid_client',
      });
    });

    it('refuses the client a secret it does not have', async () => {
      expect(await oauthRefusal(clientCredentialsGrant(t, clientId, oauth.ClientSecretBasic('cgs_guessed')))).toEqual({
        status: 401,
        error: 'invalid_client',
      });
    });
  });
});
