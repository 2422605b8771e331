import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint } from 'jose';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeFlow,
  claimsOf,
  clientCredentialsGrant,
  createConfidentialClient,
  createMerchant,
  type CryptoKeyPair,
  createMiniProgram,
  createUser,
  dpopProof,
  expectProblem,
  type Fixture,
  insecure,
  keyPair,
  oauthRefusal,
  PASSWORD,
  publicJwk,
  refreshTokens,
} from '../support/oauth.js';

describe('DPoP (RFC 9449) binds tokens to the key of the client that holds them', () => {
  let t: TestApp;
  let merchantId: string;
  let boundApp: Fixture;
  let boundBackend: { clientId: string; clientSecret: string };
  let principalUrl: string;

  beforeAll(async () => {
    t = await startTestApp();
    merchantId = await createMerchant(t);
    boundApp = await createMiniProgram(t, merchantId, { dpopBound: true });
    boundBackend = await createConfidentialClient(t, 'merchant', merchantId, undefined, { dpopBound: true });
    await createUser(t, 'ada@example.com');
    principalUrl = `${t.baseUrl}/v1/principal`;
  });
  afterAll(async () => {
    await t.close();
  });

  const getPrincipal = (headers: Record<string, string>) => t.http().get('/v1/principal').set(headers);

  describe('a client registered as DPoP-bound', () => {
    it('gets no token without a DPoP proof at the token endpoint (invalid_grant)', async () => {
      expect(
        await oauthRefusal(clientCredentialsGrant(t, boundBackend.clientId, oauth.ClientSecretBasic(boundBackend.clientSecret))),
      ).toEqual({
        status: 400,
        error: 'invalid_grant',
      });
      await expect(
        authorizationCodeFlow(t, {
          clientId: boundApp.clientId,
          redirectUri: boundApp.redirectUri,
          scope: 'wallet:read',
          login: 'ada@example.com',
          password: PASSWORD,
        }),
      ).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    });

    it('gets a DPoP token bound to the thumbprint of its key (cnf.jkt) when it proves possession', async () => {
      const keys = await keyPair();
      const tokens = await clientCredentialsGrant(
        t,
        boundBackend.clientId,
        oauth.ClientSecretBasic(boundBackend.clientSecret),
        'merchant:read',
        {
          dpop: oauth.DPoP({}, keys),
        },
      );
      expect(tokens.token_type).toBe('dpop');
      expect(claimsOf(tokens.access_token).cnf).toEqual({ jkt: await calculateJwkThumbprint(await publicJwk(keys)) });
    });

    it('uses a user token only with DPoP, at every refresh too', async () => {
      const keys = await keyPair();
      const dpop = oauth.DPoP({}, keys);
      const { tokens } = await authorizationCodeFlow(t, {
        clientId: boundApp.clientId,
        redirectUri: boundApp.redirectUri,
        scope: 'wallet:read',
        login: 'ada@example.com',
        password: PASSWORD,
        dpop,
      });
      expect(tokens.token_type).toBe('dpop');
      const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${t.baseUrl}/v1/me`), undefined, undefined, {
        DPoP: dpop,
        ...insecure,
      });
      expect(me.status).toBe(200);

      expect(await oauthRefusal(refreshTokens(t, boundApp, tokens.refresh_token ?? ''))).toEqual({ status: 400, error: 'invalid_grant' });
      const refreshed = await refreshTokens(t, boundApp, tokens.refresh_token ?? '', { dpop });
      expect(refreshed.token_type).toBe('dpop');
      // A public client's refresh token is bound to its key: another key cannot use it.
      const stolen = oauth.DPoP({}, await keyPair());
      expect(await oauthRefusal(refreshTokens(t, boundApp, refreshed.refresh_token ?? '', { dpop: stolen }))).toEqual({
        status: 400,
        error: 'invalid_grant',
      });
    });
  });

  describe('a DPoP-bound access token at the API', () => {
    let keys: CryptoKeyPair;
    let dpop: oauth.DPoPHandle;
    let accessToken: string;

    beforeAll(async () => {
      keys = await keyPair();
      dpop = oauth.DPoP({}, keys);
      accessToken = (
        await clientCredentialsGrant(t, boundBackend.clientId, oauth.ClientSecretBasic(boundBackend.clientSecret), 'merchant:read', {
          dpop,
        })
      ).access_token;
    });

    it('works with `Authorization: DPoP` and a fresh proof for this request, every time', async () => {
      for (let call = 0; call < 2; call += 1) {
        const response = await oauth.protectedResourceRequest(accessToken, 'GET', new URL(principalUrl), undefined, undefined, {
          DPoP: dpop,
          ...insecure,
        });
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ clientId: boundBackend.clientId, scopes: ['merchant:read'] });
      }
    });

    it('is refused with the Bearer scheme (401), with or without a proof', async () => {
      await expect(
        oauth.protectedResourceRequest(accessToken, 'GET', new URL(principalUrl), undefined, undefined, insecure),
      ).rejects.toMatchObject({ status: 401 });
      const bearer = await getPrincipal({ Authorization: `Bearer ${accessToken}` });
      expectProblem(bearer, 401, 'TOKEN_INVALID');
      const proof = await dpopProof(keys, { htm: 'GET', htu: principalUrl, accessToken });
      expectProblem(await getPrincipal({ Authorization: `Bearer ${accessToken}`, DPoP: proof }), 401, 'TOKEN_INVALID');
    });

    it('is refused without a proof', async () => {
      const response = await getPrincipal({ Authorization: `DPoP ${accessToken}` });
      expectProblem(response, 401, 'DPOP_PROOF_INVALID');
      expect(response.headers['www-authenticate']).toMatch(/^DPoP /);
    });

    it('is refused with a proof for another URL or another method', async () => {
      const otherUrl = await dpopProof(keys, { htm: 'GET', htu: `${t.baseUrl}/v1/me`, accessToken });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: otherUrl }), 401, 'DPOP_PROOF_INVALID');
      const otherHost = await dpopProof(keys, { htm: 'GET', htu: `https://evil.example/v1/principal`, accessToken });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: otherHost }), 401, 'DPOP_PROOF_INVALID');
      const otherMethod = await dpopProof(keys, { htm: 'POST', htu: principalUrl, accessToken });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: otherMethod }), 401, 'DPOP_PROOF_INVALID');
    });

    it('is refused with a replayed proof', async () => {
      const proof = await dpopProof(keys, { htm: 'GET', htu: principalUrl, accessToken });
      expect((await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: proof })).status).toBe(200);
      const replay = await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: proof });
      expectProblem(replay, 401, 'DPOP_PROOF_INVALID');
      expect(replay.body.detail).toMatch(/already used/);
    });

    it('is refused with a proof signed by another key (a stolen token)', async () => {
      const thief = await keyPair();
      const proof = await dpopProof(thief, { htm: 'GET', htu: principalUrl, accessToken });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: proof }), 401, 'DPOP_PROOF_INVALID');
      const thiefHandle = oauth.DPoP({}, thief);
      await expect(
        oauth.protectedResourceRequest(accessToken, 'GET', new URL(principalUrl), undefined, undefined, { DPoP: thiefHandle, ...insecure }),
      ).rejects.toMatchObject({ status: 401 });
    });

    it('is refused with a proof that does not carry the hash of this token, or is stale', async () => {
      const otherToken = await dpopProof(keys, { htm: 'GET', htu: principalUrl, accessToken: `${accessToken}x` });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: otherToken }), 401, 'DPOP_PROOF_INVALID');
      const noAth = await dpopProof(keys, { htm: 'GET', htu: principalUrl });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: noAth }), 401, 'DPOP_PROOF_INVALID');
      const stale = await dpopProof(keys, { htm: 'GET', htu: principalUrl, accessToken, iat: Math.floor(Date.now() / 1000) - 600 });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${accessToken}`, DPoP: stale }), 401, 'DPOP_PROOF_INVALID');
    });
  });

  describe('a client not registered as DPoP-bound', () => {
    it('may opt in: a merchant backend that sends a proof gets a bound token, which then needs DPoP', async () => {
      const backend = await createConfidentialClient(t, 'merchant', merchantId);
      const keys = await keyPair();
      const dpop = oauth.DPoP({}, keys);
      const tokens = await clientCredentialsGrant(t, backend.clientId, oauth.ClientSecretBasic(backend.clientSecret), 'merchant:read', {
        dpop,
      });
      expect(tokens.token_type).toBe('dpop');
      expect(claimsOf(tokens.access_token).cnf).toEqual({ jkt: await calculateJwkThumbprint(await publicJwk(keys)) });
      expectProblem(await getPrincipal({ Authorization: `Bearer ${tokens.access_token}` }), 401, 'TOKEN_INVALID');
      const ok = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(principalUrl), undefined, undefined, {
        DPoP: dpop,
        ...insecure,
      });
      expect(ok.status).toBe(200);
    });

    it('may also do without: its Bearer token carries no cnf and is refused under the DPoP scheme', async () => {
      const backend = await createConfidentialClient(t, 'merchant', merchantId);
      const tokens = await clientCredentialsGrant(t, backend.clientId, oauth.ClientSecretBasic(backend.clientSecret), 'merchant:read');
      expect(tokens.token_type).toBe('bearer');
      expect(claimsOf(tokens.access_token)).not.toHaveProperty('cnf');
      expect((await getPrincipal({ Authorization: `Bearer ${tokens.access_token}` })).status).toBe(200);
      const proof = await dpopProof(await keyPair(), { htm: 'GET', htu: principalUrl, accessToken: tokens.access_token });
      expectProblem(await getPrincipal({ Authorization: `DPoP ${tokens.access_token}`, DPoP: proof }), 401, 'TOKEN_INVALID');
    });

    it('refuses at the token endpoint a proof for another URL (invalid_dpop_proof)', async () => {
      const backend = await createConfidentialClient(t, 'merchant', merchantId);
      const keys = await keyPair();
      const response = await fetch(`${t.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${backend.clientId}:${backend.clientSecret}`).toString('base64')}`,
          dpop: await dpopProof(keys, { htm: 'POST', htu: `${t.baseUrl}/oauth/other` }),
        },
        body: 'grant_type=client_credentials&scope=merchant%3Aread',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    });
  });
});
