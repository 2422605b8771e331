import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeFlow,
  clientAuth,
  clientCredentialsGrant,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  createUser,
  discover,
  type Fixture,
  insecure,
  oauthRefusal,
  PASSWORD,
  refreshTokens,
} from '../support/oauth.js';

describe('introspection (RFC 7662) and revocation (RFC 7009) answer only the client that holds the token', () => {
  let t: TestApp;
  let as: oauth.AuthorizationServer;
  let confidentialApp: Fixture;
  let publicApp: Fixture;
  let merchantBackend: { clientId: string; clientSecret: string };
  let userId: string;

  beforeAll(async () => {
    t = await startTestApp();
    as = await discover(t);
    const merchantId = await createMerchant(t);
    confidentialApp = await createMiniProgram(t, merchantId, { confidential: true });
    publicApp = await createMiniProgram(t, merchantId, { name: 'Public bike app' });
    merchantBackend = await createConfidentialClient(t, 'merchant', merchantId);
    userId = (await createUser(t, 'ada@example.com')).id;
  });
  afterAll(async () => {
    await t.close();
  });

  const signIn = async (app: Fixture) =>
    (
      await authorizationCodeFlow(t, {
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        redirectUri: app.redirectUri,
        scope: 'credit:admittance wallet:read',
        login: 'ada@example.com',
        password: PASSWORD,
      })
    ).tokens;

  const introspect = async (client: { clientId: string; clientSecret: string | null }, token: string) =>
    oauth.processIntrospectionResponse(
      as,
      { client_id: client.clientId },
      await oauth.introspectionRequest(as, { client_id: client.clientId }, clientAuth(client.clientSecret), token, insecure),
    );

  const revoke = async (client: { clientId: string; clientSecret: string | null }, token: string) =>
    oauth.processRevocationResponse(
      await oauth.revocationRequest(as, { client_id: client.clientId }, clientAuth(client.clientSecret), token, insecure),
    );

  it('tells a confidential client about its own refresh token, and says inactive once that token is revoked', async () => {
    const tokens = await signIn(confidentialApp);
    const refreshToken = tokens.refresh_token ?? '';

    const active = await introspect(confidentialApp, refreshToken);
    expect(active).toMatchObject({ active: true, client_id: confidentialApp.clientId, sub: userId, iss: t.config.publicUrl });
    expect(active.exp).toBeGreaterThan(Date.now() / 1000);
    expect(String(active.scope).split(' ').sort()).toEqual(['credit:admittance', 'wallet:read']);

    await revoke(confidentialApp, refreshToken);

    expect(await introspect(confidentialApp, refreshToken)).toEqual({ active: false });
    expect(await oauthRefusal(refreshTokens(t, confidentialApp, refreshToken))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('tells another confidential client nothing about a token it does not hold', async () => {
    const tokens = await signIn(confidentialApp);
    expect(await introspect({ ...merchantBackend }, tokens.refresh_token ?? '')).toEqual({ active: false });
    // The owner still sees it active: the answer above was about the asker, not the token.
    expect(await introspect(confidentialApp, tokens.refresh_token ?? '')).toMatchObject({ active: true });
  });

  it('does not let a public client introspect, not even its own token', async () => {
    const tokens = await signIn(publicApp);
    expect(await introspect({ clientId: publicApp.clientId, clientSecret: null }, tokens.refresh_token ?? '')).toEqual({ active: false });
  });

  it("does not let another client revoke someone else's refresh token, and answers it as it answers an unknown token", async () => {
    const tokens = await signIn(confidentialApp);
    const refreshToken = tokens.refresh_token ?? '';
    // RFC 7009 §2.2: 200 whatever the token; the asker learns nothing about a token that is not its own.
    const raw = await oauth.revocationRequest(
      as,
      { client_id: merchantBackend.clientId },
      clientAuth(merchantBackend.clientSecret),
      refreshToken,
      insecure,
    );
    const unknown = await oauth.revocationRequest(
      as,
      { client_id: merchantBackend.clientId },
      clientAuth(merchantBackend.clientSecret),
      'no-such-token',
      insecure,
    );
    expect([raw.status, await raw.text()]).toEqual([unknown.status, await unknown.text()]);
    expect(raw.status).toBe(200);
    // And the token is untouched.
    expect(await introspect(confidentialApp, refreshToken)).toMatchObject({ active: true });
    const refreshed = await refreshTokens(t, confidentialApp, refreshToken);
    expect(refreshed.access_token).toEqual(expect.any(String));
  });

  it('lets a public mini-program revoke its own refresh token (sign-out), which then fails', async () => {
    const tokens = await signIn(publicApp);
    await revoke({ clientId: publicApp.clientId, clientSecret: null }, tokens.refresh_token ?? '');
    expect(await oauthRefusal(refreshTokens(t, publicApp, tokens.refresh_token ?? ''))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('refuses to introspect or revoke a JWT access token (unsupported_token_type): access tokens are verified locally and expire', async () => {
    const user = await signIn(confidentialApp);
    expect(await oauthRefusal(introspect(confidentialApp, user.access_token))).toEqual({ status: 400, error: 'unsupported_token_type' });
    expect(await oauthRefusal(revoke(confidentialApp, user.access_token))).toEqual({ status: 400, error: 'unsupported_token_type' });
    const merchant = await clientCredentialsGrant(t, merchantBackend.clientId, oauth.ClientSecretBasic(merchantBackend.clientSecret));
    expect(await oauthRefusal(introspect(merchantBackend, merchant.access_token))).toEqual({
      status: 400,
      error: 'unsupported_token_type',
    });
  });

  it('refuses introspection to a client that fails to authenticate', async () => {
    const tokens = await signIn(confidentialApp);
    expect(
      await oauthRefusal(introspect({ clientId: confidentialApp.clientId, clientSecret: 'cgs_wrong' }, tokens.refresh_token ?? '')),
    ).toEqual({
      status: 401,
      error: 'invalid_client',
    });
  });
});
