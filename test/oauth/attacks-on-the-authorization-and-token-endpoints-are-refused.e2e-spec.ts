import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeOf,
  authorize,
  Browser,
  clientCredentialsGrant,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  createUser,
  discover,
  type Fixture,
  oauthRefusal,
  PASSWORD,
  redeemAuthorizationCode,
  refreshTokens,
} from '../support/oauth.js';

describe('attacks on the authorization and token endpoints are refused', () => {
  let t: TestApp;
  let as: oauth.AuthorizationServer;
  let merchantId: string;
  let app: Fixture;

  beforeAll(async () => {
    t = await startTestApp();
    as = await discover(t);
    merchantId = await createMerchant(t);
    app = await createMiniProgram(t, merchantId);
    await createUser(t, 'ada@example.com');
  });
  afterAll(async () => {
    await t.close();
  });

  /** An authorization request as a (possibly malicious) client builds it; `null` leaves a parameter out. */
  const authorizationRequest = async (overrides: Record<string, string | null>) => {
    const params: Record<string, string | null> = {
      client_id: app.clientId,
      redirect_uri: app.redirectUri,
      response_type: 'code',
      scope: 'wallet:read',
      state: 'state-123',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
      code_challenge_method: 'S256',
      ...overrides,
    };
    const url = new URL(as.authorization_endpoint ?? '');
    for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.set(name, value);
    return new Browser().get(url.toString());
  };

  /** The error the authorization server sent back to the client's redirect URI, read by oauth4webapi. */
  const redirectedError = (response: Response): string => {
    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('location') ?? '', t.baseUrl);
    expect(`${location.origin}${location.pathname}`).toBe(app.redirectUri);
    try {
      oauth.validateAuthResponse(as, { client_id: app.clientId }, location, 'state-123');
    } catch (error) {
      if (error instanceof oauth.AuthorizationResponseError) return error.error;
      throw error;
    }
    throw new Error('the authorization server issued a code');
  };

  describe('at the authorization endpoint', () => {
    it('refuses a request without PKCE, redirecting back with invalid_request', async () => {
      expect(redirectedError(await authorizationRequest({ code_challenge: null, code_challenge_method: null }))).toBe('invalid_request');
    });

    it('refuses PKCE with the plain method, redirecting back with invalid_request', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      expect(redirectedError(await authorizationRequest({ code_challenge: verifier, code_challenge_method: 'plain' }))).toBe(
        'invalid_request',
      );
    });

    it('refuses a code challenge without its method', async () => {
      expect(redirectedError(await authorizationRequest({ code_challenge_method: null }))).toBe('invalid_request');
    });

    it('refuses the implicit flow and hybrid response types', async () => {
      for (const responseType of ['token', 'id_token', 'code token', 'code id_token']) {
        const response = await authorizationRequest({ response_type: responseType });
        // Refused before anything is issued (the client may only use the query response mode of the code flow).
        expect(response.status).toBe(303);
        const location = new URL(response.headers.get('location') ?? '', t.baseUrl);
        expect(`${location.origin}${location.pathname}`).toBe(app.redirectUri);
        const answer = new URLSearchParams(location.hash.slice(1) || location.search);
        expect(answer.get('error')).toBe('invalid_request');
        for (const issued of ['code', 'access_token', 'id_token']) expect(answer.has(issued)).toBe(false);
      }
    });

    it('does not redirect to an unregistered redirect URI: it shows a 400 page instead', async () => {
      for (const redirectUri of [
        'https://evil.example/callback',
        `${app.redirectUri}/extra`,
        `${app.redirectUri}?next=1`,
        'http://localhost:5174/callback',
      ]) {
        const response = await authorizationRequest({ redirect_uri: redirectUri });
        expect(response.status).toBe(400);
        expect(response.headers.get('location')).toBeNull();
        expect(response.headers.get('content-type')).toMatch(/^text\/html/);
        expect(await response.text()).toContain('redirect_uri did not match');
      }
    });

    it('does not redirect for an unknown client either', async () => {
      const response = await authorizationRequest({ client_id: 'mini_unknown000000000000' });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
    });

    it('refuses a scope beyond what a mini-program may hold, redirecting back with invalid_scope', async () => {
      expect(redirectedError(await authorizationRequest({ scope: 'wallet:read admin' }))).toBe('invalid_scope');
      expect(redirectedError(await authorizationRequest({ scope: 'payments:write' }))).toBe('invalid_scope');
    });
  });

  describe('at the token endpoint', () => {
    const flow = () => ({
      clientId: app.clientId,
      redirectUri: app.redirectUri,
      scope: 'wallet:read',
      login: 'ada@example.com',
      password: PASSWORD,
    });

    it('refuses a replayed authorization code and revokes the refresh token the first exchange issued', async () => {
      const outcome = await authorize(t, flow());
      const callback = authorizationCodeOf(outcome, app.clientId);
      const first = await oauth.processAuthorizationCodeResponse(
        as,
        { client_id: app.clientId },
        await redeemAuthorizationCode(outcome, callback, flow()),
      );
      // The refresh token works (and rotates) until the replay.
      const rotated = await refreshTokens(t, app, first.refresh_token ?? '');

      const replay = redeemAuthorizationCode(outcome, callback, flow()).then((response) =>
        oauth.processAuthorizationCodeResponse(as, { client_id: app.clientId }, response),
      );
      expect(await oauthRefusal(replay)).toEqual({ status: 400, error: 'invalid_grant' });
      // RFC 9700 §4.2.4 / RFC 6749 §4.1.2: what the code issued is revoked.
      expect(await oauthRefusal(refreshTokens(t, app, rotated.refresh_token ?? ''))).toEqual({ status: 400, error: 'invalid_grant' });
    });

    it('refuses a code with the wrong PKCE verifier, or for another redirect URI', async () => {
      const outcome = await authorize(t, flow());
      const callback = authorizationCodeOf(outcome, app.clientId);
      const wrongVerifier = oauth
        .authorizationCodeGrantRequest(
          as,
          { client_id: app.clientId },
          oauth.None(),
          callback,
          app.redirectUri,
          oauth.generateRandomCodeVerifier(),
          {
            [oauth.allowInsecureRequests]: true,
          },
        )
        .then((response) => oauth.processAuthorizationCodeResponse(as, { client_id: app.clientId }, response));
      expect(await oauthRefusal(wrongVerifier)).toEqual({ status: 400, error: 'invalid_grant' });

      const second = await authorize(t, flow());
      const otherRedirect = redeemAuthorizationCode(second, authorizationCodeOf(second, app.clientId), {
        ...flow(),
        redirectUri: 'http://localhost:5173/other',
      }).then((response) => oauth.processAuthorizationCodeResponse(as, { client_id: app.clientId }, response));
      expect(await oauthRefusal(otherRedirect)).toEqual({ status: 400, error: 'invalid_grant' });
    });

    it('refuses a code presented by another client', async () => {
      const other = await createMiniProgram(t, merchantId, { name: 'Other app' });
      const outcome = await authorize(t, flow());
      const stolen = redeemAuthorizationCode(outcome, authorizationCodeOf(outcome, app.clientId), {
        ...flow(),
        clientId: other.clientId,
      }).then((response) => oauth.processAuthorizationCodeResponse(as, { client_id: other.clientId }, response));
      expect(await oauthRefusal(stolen)).toEqual({ status: 400, error: 'invalid_grant' });
    });

    it('refuses a wrong client secret, and an unknown client, with 401 invalid_client, by header or by body', async () => {
      const backend = await createConfidentialClient(t, 'merchant', merchantId);
      for (const auth of [oauth.ClientSecretBasic(`${backend.clientSecret}x`), oauth.ClientSecretPost('cgs_not-the-secret')]) {
        expect(await oauthRefusal(clientCredentialsGrant(t, backend.clientId, auth))).toEqual({ status: 401, error: 'invalid_client' });
      }
      expect(
        await oauthRefusal(clientCredentialsGrant(t, 'merchant_unknown0000000000', oauth.ClientSecretBasic(backend.clientSecret))),
      ).toEqual({
        status: 401,
        error: 'invalid_client',
      });
    });

    it('refuses a scope beyond the client type with invalid_scope', async () => {
      const backend = await createConfidentialClient(t, 'merchant', merchantId);
      const auth = oauth.ClientSecretBasic(backend.clientSecret);
      for (const scope of ['admin', 'audit:read', 'payments:write ledger:write', 'wallet:read', 'openid']) {
        expect({ scope, ...(await oauthRefusal(clientCredentialsGrant(t, backend.clientId, auth, scope))) }).toEqual({
          scope,
          status: 400,
          error: 'invalid_scope',
        });
      }
      const compliance = await createConfidentialClient(t, 'compliance', null);
      expect(
        await oauthRefusal(
          clientCredentialsGrant(t, compliance.clientId, oauth.ClientSecretBasic(compliance.clientSecret), 'audit:read admin'),
        ),
      ).toEqual({
        status: 400,
        error: 'invalid_scope',
      });
    });

    it('refuses the password grant, the implicit grant and client credentials for a mini-program', async () => {
      const backend = await createConfidentialClient(t, 'merchant', merchantId);
      const password = oauth
        .genericTokenEndpointRequest(
          as,
          { client_id: backend.clientId },
          oauth.ClientSecretBasic(backend.clientSecret),
          'password',
          { username: 'ada@example.com', password: PASSWORD },
          { [oauth.allowInsecureRequests]: true },
        )
        .then((response) => oauth.processGenericTokenEndpointResponse(as, { client_id: backend.clientId }, response));
      expect(await oauthRefusal(password)).toEqual({ status: 400, error: 'unsupported_grant_type' });
      const implicit = oauth
        .genericTokenEndpointRequest(
          as,
          { client_id: backend.clientId },
          oauth.ClientSecretBasic(backend.clientSecret),
          'implicit',
          {},
          { [oauth.allowInsecureRequests]: true },
        )
        .then((response) => oauth.processGenericTokenEndpointResponse(as, { client_id: backend.clientId }, response));
      expect(await oauthRefusal(implicit)).toEqual({ status: 400, error: 'unsupported_grant_type' });
      const confidentialApp = await createMiniProgram(t, merchantId, { confidential: true });
      expect(
        await oauthRefusal(
          clientCredentialsGrant(t, confidentialApp.clientId, oauth.ClientSecretBasic(confidentialApp.clientSecret ?? '')),
        ),
      ).toEqual({
        status: 400,
        error: 'invalid_request',
      });
    });
  });
});
