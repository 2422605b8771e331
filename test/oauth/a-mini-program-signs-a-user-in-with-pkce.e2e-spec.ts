import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeFlow,
  claimsOf,
  clientCredentialsToken,
  createClient,
  createConfidentialClient,
  createMerchant,
  createUser,
} from '../support/oauth.js';

describe('a mini-program signs a user in with the authorization code flow and PKCE', () => {
  let t: TestApp;
  let merchantId: string;
  let miniProgram: { clientId: string };
  const redirectUri = 'http://localhost:5173/callback';

  beforeAll(async () => {
    t = await startTestApp();
    merchantId = await createMerchant(t);
    miniProgram = await createClient(t, {
      clientType: 'mini_program',
      merchantId,
      name: 'Bike rental',
      tokenEndpointAuthMethod: 'none',
      redirectUris: [redirectUri],
    });
    await createUser(t, 'ada@example.com');
  });
  afterAll(async () => {
    await t.close();
  });

  it('signs in, asks for consent naming the app and its merchant, and issues an RFC 9068 access token for the user', async () => {
    const result = await authorizationCodeFlow(t, {
      clientId: miniProgram.clientId,
      redirectUri,
      scope: 'identity:verify credit:admittance',
      login: 'ada@example.com',
      password: 'correct horse battery staple',
    });
    expect(result.sawLoginPage).toBe(true);
    expect(result.sawConsentPage).toBe(true);
    expect(result.consentHtml).toContain('Bike rental');
    expect(result.consentHtml).toContain('Shanghai Bike Co.');
    expect(result.consentHtml).toContain('Verify your real name and national ID number');
    const accessToken = result.tokens.access_token;
    const header = JSON.parse(Buffer.from(accessToken.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const claims = claimsOf(accessToken);
    expect(claims).toMatchObject({
      iss: t.config.publicUrl,
      aud: `${t.config.publicUrl}/v1`,
      client_id: miniProgram.clientId,
      client_type: 'mini_program',
      merchant_id: merchantId,
    });
    expect(String(claims.scope).split(' ').sort()).toEqual(['credit:admittance', 'identity:verify']);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(600);
    expect(result.tokens.refresh_token).toEqual(expect.any(String));

    const me = await t.http().get('/v1/me').set('Authorization', `Bearer ${accessToken}`);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ displayName: 'ada', email: 'a***@example.com', client: { clientId: miniProgram.clientId } });
  });

  it('remembers the consent: the next sign-in in a new browser asks for the password only', async () => {
    const result = await authorizationCodeFlow(t, {
      clientId: miniProgram.clientId,
      redirectUri,
      scope: 'identity:verify',
      login: 'ada@example.com',
      password: 'correct horse battery staple',
    });
    expect(result.sawLoginPage).toBe(true);
    expect(result.sawConsentPage).toBe(false);
  });

  it('lets a merchant backend get a client-credentials token, which is refused on a user route', async () => {
    const backend = await createConfidentialClient(t, 'merchant', merchantId);
    const token = await clientCredentialsToken(t, backend.clientId, backend.clientSecret, 'payments:write');
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ sub: backend.clientId, client_type: 'merchant', scope: 'payments:write' });
    const me = await t.http().get('/v1/me').set('Authorization', `Bearer ${token}`);
    expect(me.status).toBe(403);
    expect(me.body.code).toBe('WRONG_CALLER');
  });
});
