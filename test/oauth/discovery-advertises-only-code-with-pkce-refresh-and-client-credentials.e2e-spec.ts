import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { discover, insecure } from '../support/oauth.js';

describe('discovery advertises only the authorization code flow with PKCE, refresh tokens and client credentials', () => {
  let t: TestApp;
  let metadata: oauth.AuthorizationServer;

  beforeAll(async () => {
    t = await startTestApp();
    metadata = await discover(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves RFC 8414 and OpenID discovery documents whose issuer is the public URL', async () => {
    const issuer = new URL(t.config.publicUrl);
    // oauth4webapi checks the issuer against the URL it asked, for each well-known path.
    const oauthMetadata = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    );
    const oidcMetadata = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
    );
    expect(oauthMetadata.issuer).toBe(t.config.publicUrl);
    expect(oidcMetadata).toEqual(oauthMetadata);
    const raw = await t.http().get('/.well-known/oauth-authorization-server');
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toMatch(/^application\/json/);
  });

  it('names the endpoints under /oauth', () => {
    const base = t.config.publicUrl;
    expect(metadata).toMatchObject({
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      introspection_endpoint: `${base}/oauth/introspect`,
      revocation_endpoint: `${base}/oauth/revoke`,
      jwks_uri: `${base}/oauth/jwks`,
    });
  });

  it('allows PKCE with S256 only and the code response type only', () => {
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.response_types_supported).toEqual(['code']);
  });

  it('offers the authorization code, refresh token and client credentials grants, and neither implicit nor password', () => {
    const grants = metadata.grant_types_supported ?? [];
    expect(grants).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(grants).not.toContain('implicit');
    expect(grants).not.toContain('password');
  });

  it('advertises DPoP with asymmetric algorithms and the client authentication methods of the design', () => {
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
    for (const alg of metadata.dpop_signing_alg_values_supported ?? []) expect(alg).not.toMatch(/^(none|HS\d+)$/);
    expect([...(metadata.token_endpoint_auth_methods_supported ?? [])].sort()).toEqual(
      ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt'].sort(),
    );
    // client_secret_jwt would key HMAC off the stored secret hash.
    expect(metadata.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt');
  });

  it('publishes the public half of the ES256 signing key at the JWKS URI', async () => {
    const response = await t.http().get('/oauth/jwks');
    expect(response.status).toBe(200);
    const keys = (response.body as { keys: Record<string, unknown>[] }).keys;
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
  });
});
