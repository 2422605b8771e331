import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair } from 'jose';
import type { Response as SupertestResponse } from 'supertest';
import { ManualClock } from '../../src/common/clock/clock.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  accessTokenClaims,
  authorizationCodeFlow,
  claimsOf,
  clientCredentialsToken,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  createUser,
  expectProblem,
  headerOf,
  PASSWORD,
  serverSigningKey,
  signJwt,
  unsignedJwt,
} from '../support/oauth.js';

/** 401 invalid_token, as RFC 6750 §3.1 says, in a problem document. */
function expectInvalidToken(response: SupertestResponse): void {
  expectProblem(response, 401, 'TOKEN_INVALID');
  expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="creditgate", error="invalid_token"/);
}

describe('forged, expired and misused access tokens are refused', () => {
  let t: TestApp;
  let merchantId: string;
  let platformToken: string;
  let merchantToken: string;
  let userToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    merchantId = await createMerchant(t);
    const platform = await createConfidentialClient(t, 'platform', null);
    platformToken = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'admin ledger:write');
    const merchant = await createConfidentialClient(t, 'merchant', merchantId);
    merchantToken = await clientCredentialsToken(t, merchant.clientId, merchant.clientSecret, 'payments:write merchant:read');
    const app = await createMiniProgram(t, merchantId);
    await createUser(t, 'ada@example.com');
    userToken = (
      await authorizationCodeFlow(t, {
        clientId: app.clientId,
        redirectUri: app.redirectUri,
        scope: 'wallet:read identity:read',
        login: 'ada@example.com',
        password: PASSWORD,
      })
    ).tokens.access_token;
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (path: string, authorization?: string) => {
    const request = t.http().get(path);
    return authorization === undefined ? request : request.set('Authorization', authorization);
  };
  const createMerchantAs = (authorization: string) =>
    t
      .http()
      .post('/v1/admin/merchants')
      .set('Authorization', authorization)
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'Forged Co.' });

  it('accepts the genuine platform token (the control for every forgery below)', async () => {
    expect((await get('/v1/principal', `Bearer ${platformToken}`)).status).toBe(200);
    expect((await createMerchantAs(`Bearer ${platformToken}`)).status).toBe(201);
  });

  describe('forged tokens', () => {
    it('refuses a token with alg none, whatever its claims', async () => {
      const { kid } = await serverSigningKey(t);
      for (const header of [{}, { kid }, { alg: 'NONE' }, { alg: 'None', kid }]) {
        const forged = unsignedJwt(accessTokenClaims(t), header);
        expectInvalidToken(await get('/v1/principal', `Bearer ${forged}`));
        expectInvalidToken(await createMerchantAs(`Bearer ${forged}`));
      }
      // The genuine token with its signature stripped and alg set to none.
      const [, payload] = platformToken.split('.');
      const stripped = `${Buffer.from(JSON.stringify({ ...headerOf(platformToken), alg: 'none' })).toString('base64url')}.${payload}.`;
      expectInvalidToken(await get('/v1/principal', `Bearer ${stripped}`));
    });

    it('refuses a token signed by another key, even one naming the server key id', async () => {
      const { kid } = await serverSigningKey(t);
      const foreign = await generateKeyPair('ES256');
      expectInvalidToken(await get('/v1/principal', `Bearer ${await signJwt(foreign.privateKey, accessTokenClaims(t), { kid })}`));
      expectInvalidToken(await get('/v1/principal', `Bearer ${await signJwt(foreign.privateKey, accessTokenClaims(t))}`));
      // The genuine header and claims with another key's signature.
      const [header, payload] = platformToken.split('.');
      const resigned = await signJwt(foreign.privateKey, claimsOf(platformToken), headerOf(platformToken));
      expectInvalidToken(await get('/v1/principal', `Bearer ${header}.${payload}.${resigned.split('.')[2]}`));
    });

    it('refuses a genuine token whose claims were changed (the signature no longer matches)', async () => {
      const [header, , signature] = platformToken.split('.');
      const widened = Buffer.from(JSON.stringify({ ...claimsOf(platformToken), scope: 'admin ledger:write audit:read' })).toString(
        'base64url',
      );
      expectInvalidToken(await get('/v1/principal', `Bearer ${header}.${widened}.${signature}`));
    });

    it('refuses a token for another audience or issuer even when signed with the server key', async () => {
      // Signed with the real key, so that only the claim under test is wrong.
      const { key, kid } = await serverSigningKey(t);
      const sign = (overrides: Record<string, unknown>, header: Record<string, unknown> = {}) =>
        signJwt(key, accessTokenClaims(t, overrides), { kid, ...header });
      expect((await get('/v1/principal', `Bearer ${await sign({})}`)).status).toBe(200);
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({ aud: 'https://other-api.example/v1' })}`));
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({ aud: t.config.publicUrl })}`));
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({ iss: 'https://other-issuer.example' })}`));
      // An ID-token-shaped JWT (typ JWT) is not an access token.
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({}, { typ: 'JWT' })}`));
      // Not yet valid, or without the claims the API needs.
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({ nbf: Math.floor(Date.now() / 1000) + 600 })}`));
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({ client_type: 'superuser' })}`));
      expectInvalidToken(await get('/v1/principal', `Bearer ${await sign({ exp: undefined })}`));
    });

    it('refuses on one deployment a token another deployment issued (other keys, issuer and audience)', async () => {
      const other = await startTestApp();
      try {
        const platform = await createConfidentialClient(other, 'platform', null);
        const foreignToken = await clientCredentialsToken(other, platform.clientId, platform.clientSecret, 'admin');
        expect((await other.http().get('/v1/principal').set('Authorization', `Bearer ${foreignToken}`)).status).toBe(200);
        expect(claimsOf(foreignToken).aud).not.toBe(claimsOf(platformToken).aud);
        expectInvalidToken(await get('/v1/principal', `Bearer ${foreignToken}`));
        expectInvalidToken(await createMerchantAs(`Bearer ${foreignToken}`));
        // And the other way round.
        const back = await other.http().get('/v1/principal').set('Authorization', `Bearer ${platformToken}`);
        expect(back.status).toBe(401);
      } finally {
        await other.close();
      }
    });
  });

  describe('tokens used by the wrong caller or without the scope', () => {
    it('refuses a user token on a route for clients acting for themselves (403 WRONG_CALLER)', async () => {
      const response = await createMerchantAs(`Bearer ${userToken}`);
      expectProblem(response, 403, 'WRONG_CALLER');
      expect(response.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    });

    it('refuses a merchant token on a route for users (403 WRONG_CALLER)', async () => {
      for (const path of ['/v1/me', '/v1/me/grants']) expectProblem(await get(path, `Bearer ${merchantToken}`), 403, 'WRONG_CALLER');
    });

    it('refuses a token lacking the scope with 403 insufficient_scope naming the scope', async () => {
      const response = await createMerchantAs(`Bearer ${merchantToken}`);
      expectProblem(response, 403, 'INSUFFICIENT_SCOPE');
      expect(response.headers['www-authenticate']).toBe('Bearer realm="creditgate", error="insufficient_scope", scope="admin"');
      expect(response.body.requiredScopes).toEqual(['admin']);

      const platform = await createConfidentialClient(t, 'platform', null);
      const ledgerOnly = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'ledger:write');
      expectProblem(await createMerchantAs(`Bearer ${ledgerOnly}`), 403, 'INSUFFICIENT_SCOPE');
    });
  });

  it('answers many concurrent requests each with the principal of its own token', async () => {
    const tokens = [platformToken, merchantToken, userToken];
    const expected = tokens.map((token) => claimsOf(token).client_id);
    const responses = await Promise.all(Array.from({ length: 60 }, (_, index) => get('/v1/principal', `Bearer ${tokens[index % 3]}`)));
    expect(responses.map((response) => response.body.clientId)).toEqual(Array.from({ length: 60 }, (_, index) => expected[index % 3]));
  });

  describe('missing and malformed Authorization headers', () => {
    it('answers no token with 401, a Bearer challenge and a problem document', async () => {
      for (const request of [get('/v1/me'), get('/v1/principal'), createMerchantAs('')]) {
        const response = await request;
        expectProblem(response, 401, 'TOKEN_MISSING');
        expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="creditgate"/);
        expect(response.headers['www-authenticate']).not.toMatch(/error=/);
      }
    });

    it.each([
      ['a bare scheme', 'Bearer'],
      ['a scheme with spaces only', 'Bearer    '],
      ['Basic credentials', 'Basic dXNlcjpwYXNz'],
      ['an unknown scheme', 'Token abc.def.ghi'],
      ['a token that is not a JWT', 'Bearer not-a-jwt'],
      ['two tokens', 'Bearer abc.def.ghi abc.def.ghi'],
      ['characters outside token68', 'Bearer abc.def.ghi!'],
      ['a JWT of garbage', 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJ.AAAA'],
      ['a huge token', `Bearer ${'a'.repeat(9000)}`],
    ])('answers %s with 401', async (_name, header) => {
      const response = await get('/v1/principal', header);
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(['TOKEN_INVALID', 'TOKEN_MISSING']).toContain(response.body.code);
      expect(JSON.stringify(response.body)).not.toContain(header.slice(7, 40) || '\u0000');
    });
  });
});

describe('an expired access token is refused', () => {
  const clock = new ManualClock(new Date());
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { ACCESS_TOKEN_TTL_SECONDS: '60' }, clock });
  });
  afterAll(async () => {
    await t.close();
  });

  it('lives ACCESS_TOKEN_TTL_SECONDS, then answers 401 invalid_token saying it expired', async () => {
    const platform = await createConfidentialClient(t, 'platform', null);
    const token = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'admin');
    const { iat, exp } = claimsOf(token) as { iat: number; exp: number };
    expect(exp - iat).toBe(60);
    const principal = () => t.http().get('/v1/principal').set('Authorization', `Bearer ${token}`);

    // The verifier reads the application clock: move it to just before and just after expiry.
    clock.set(new Date((exp - 1) * 1000));
    expect((await principal()).status).toBe(200);
    // jose allows the verifier's 5 s of clock tolerance; past that the token is dead.
    clock.set(new Date((exp + 6) * 1000));
    const expired = await principal();
    expectInvalidToken(expired);
    expect(expired.body.detail).toMatch(/expired/);
    clock.advance(3_600_000);
    expectInvalidToken(await principal());
  });
});
