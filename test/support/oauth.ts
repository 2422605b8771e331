import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { expect } from '@jest/globals';
import { exportJWK, importJWK, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Response as SupertestResponse } from 'supertest';
import type { TestApp } from './test-app.js';
import { ClientRegistry, type NewClient } from '../../src/oauth/client-registry.js';
import { KeyStore } from '../../src/oauth/key-store.js';
import { UsersService } from '../../src/users/users.service.js';
import type { ClientType, Scope } from '../../src/oauth/scopes.js';

type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const PASSWORD = 'correct horse battery staple';

/** A cookie jar for one "browser": enough of RFC 6265 for the sign-in pages on one host. */
export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const [name, ...value] = (pair ?? '').trim().split('=');
      if (!name) continue;
      const path =
        attributes
          .map((attribute) => attribute.trim())
          .find((attribute) => attribute.toLowerCase().startsWith('path='))
          ?.slice(5) ?? '/';
      const expired = attributes.some((attribute) => /^\s*expires=Thu, 01 Jan 1970/i.test(attribute) || /^\s*max-age=0/i.test(attribute));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, { value: value.join('='), path });
    }
  }

  header(url: string): string {
    const path = new URL(url).pathname;
    return [...this.cookies]
      .filter(([, cookie]) => path.startsWith(cookie.path))
      .map(([name, cookie]) => `${name}=${cookie.value}`)
      .join('; ');
  }

  has(name: string): boolean {
    return this.cookies.has(name);
  }

  /** Forgets a cookie, as a browser whose cookie was never set (or was cleared) would. */
  delete(name: string): void {
    this.cookies.delete(name);
  }
}

/** A browser: follows nothing by itself, keeps cookies, sends forms. */
export class Browser {
  readonly jar = new CookieJar();

  async get(url: string): Promise<Response> {
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: this.jar.header(url) } });
    this.jar.store(response);
    return response;
  }

  async postForm(url: string, fields: Record<string, string>): Promise<Response> {
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.jar.header(url), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    this.jar.store(response);
    return response;
  }
}

export function csrfTokenIn(html: string): string {
  const match = /name="csrfToken" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no CSRF token on the page');
  return match[1];
}

/** The interaction id a sign-in or consent page posts its forms to. */
export function interactionUidIn(html: string): string {
  const uid = /action="\/interaction\/([^/"]+)\//.exec(html)?.[1];
  if (uid === undefined) throw new Error(`not an interaction page: ${html.slice(0, 300)}`);
  return uid;
}

export function absolute(base: string, location: string | null): string {
  if (location === null) throw new Error('no Location header');
  return new URL(location, base).toString();
}

export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export async function discover(t: TestApp): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(t.config.publicUrl);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

export interface Fixture {
  readonly merchantId: string;
  readonly clientId: string;
  readonly clientSecret: string | null;
  readonly redirectUri: string;
}

export async function createMerchant(t: TestApp, name = 'Shanghai Bike Co.'): Promise<string> {
  return (await t.app.get(ClientRegistry).createMerchant(name, null)).id;
}

export async function createClient(t: TestApp, input: NewClient): Promise<{ clientId: string; clientSecret: string | null }> {
  const { client, clientSecret } = await t.app.get(ClientRegistry).createClient(input, null);
  return { clientId: client.clientId, clientSecret };
}

export async function createConfidentialClient(
  t: TestApp,
  clientType: Exclude<ClientType, 'mini_program'>,
  merchantId: string | null,
  scopes?: Scope[],
  options: Pick<NewClient, 'tokenEndpointAuthMethod' | 'dpopBound'> = {},
) {
  const created = await createClient(t, {
    clientType,
    merchantId: clientType === 'merchant' ? merchantId : null,
    name: `${clientType} backend`,
    scopes,
    ...options,
  });
  if (created.clientSecret === null) throw new Error('expected a secret');
  return { clientId: created.clientId, clientSecret: created.clientSecret };
}

export const REDIRECT_URI = 'http://localhost:5173/callback';

/** A mini-program of `merchantId`: public (PKCE only) unless `confidential`, redirecting to REDIRECT_URI. */
export async function createMiniProgram(
  t: TestApp,
  merchantId: string,
  options: { confidential?: boolean; dpopBound?: boolean; name?: string; scopes?: Scope[] } = {},
): Promise<Fixture> {
  const created = await createClient(t, {
    clientType: 'mini_program',
    merchantId,
    name: options.name ?? 'Bike rental',
    tokenEndpointAuthMethod: options.confidential ? 'client_secret_basic' : 'none',
    redirectUris: [REDIRECT_URI],
    dpopBound: options.dpopBound,
    scopes: options.scopes,
  });
  return { merchantId, clientId: created.clientId, clientSecret: created.clientSecret, redirectUri: REDIRECT_URI };
}

export async function createUser(t: TestApp, email: string, password = PASSWORD): Promise<{ id: string; email: string; password: string }> {
  const id = await t.app.get(UsersService).signUp({ email, password, displayName: email.split('@')[0] ?? 'user' });
  if (id === null) throw new Error(`user ${email} exists already`);
  return { id, email, password };
}

/** How a client authenticates at the token, introspection and revocation endpoints. */
export function clientAuth(clientSecret: string | null | undefined): oauth.ClientAuth {
  return clientSecret ? oauth.ClientSecretBasic(clientSecret) : oauth.None();
}

export async function clientCredentialsToken(t: TestApp, clientId: string, clientSecret: string, scope?: string): Promise<string> {
  return (await clientCredentialsGrant(t, clientId, oauth.ClientSecretBasic(clientSecret), scope)).access_token;
}

/** The client credentials grant through oauth4webapi; rejects with its ResponseBodyError when refused. */
export async function clientCredentialsGrant(
  t: TestApp,
  clientId: string,
  auth: oauth.ClientAuth,
  scope?: string,
  options: { dpop?: oauth.DPoPHandle } = {},
): Promise<oauth.TokenEndpointResponse> {
  const as = await discover(t);
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(scope ? { scope } : {}), {
    ...insecure,
    ...(options.dpop ? { DPoP: options.dpop } : {}),
  });
  return oauth.processClientCredentialsResponse(as, client, response);
}

/** The refresh token grant through oauth4webapi; rejects with its ResponseBodyError when refused. */
export async function refreshTokens(
  t: TestApp,
  client: { clientId: string; clientSecret?: string | null },
  refreshToken: string,
  options: { dpop?: oauth.DPoPHandle } = {},
): Promise<oauth.TokenEndpointResponse> {
  const as = await discover(t);
  const oauthClient: oauth.Client = { client_id: client.clientId };
  const response = await oauth.refreshTokenGrantRequest(as, oauthClient, clientAuth(client.clientSecret), refreshToken, {
    ...insecure,
    ...(options.dpop ? { DPoP: options.dpop } : {}),
  });
  return oauth.processRefreshTokenResponse(as, oauthClient, response);
}

/**
 * What the authorization server answered, for a request the test expects it to refuse: the HTTP
 * status and the RFC 6749 `error`. Fails when the request succeeded.
 */
export async function oauthRefusal(request: Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await request;
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) return { status: error.status, error: error.error };
    // A 401 with `WWW-Authenticate: Basic` (a failed client_secret_basic): oauth4webapi reports the challenge, the body has the error.
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      const body = (await error.response.json()) as { error?: unknown };
      return { status: error.status, error: String(body.error) };
    }
    throw error;
  }
  throw new Error('expected the authorization server to refuse the request, and it did not');
}

export interface CodeFlowOptions {
  readonly clientId: string;
  readonly clientSecret?: string | null;
  readonly redirectUri: string;
  readonly scope: string;
  readonly login: string;
  readonly password: string;
  readonly browser?: Browser;
  readonly decision?: 'approve' | 'deny';
  readonly dpop?: oauth.DPoPHandle;
}

export interface AuthorizationOutcome {
  readonly as: oauth.AuthorizationServer;
  /** Where the authorization server finally sent the browser (the client's redirect URI). */
  readonly redirect: URL;
  readonly state: string;
  readonly codeVerifier: string;
  readonly sawLoginPage: boolean;
  readonly sawConsentPage: boolean;
  readonly consentHtml: string | null;
  readonly browser: Browser;
}

export interface CodeFlowResult {
  readonly tokens: oauth.TokenEndpointResponse;
  readonly sawLoginPage: boolean;
  readonly sawConsentPage: boolean;
  readonly consentHtml: string | null;
  readonly browser: Browser;
}

/**
 * The front channel of the authorization code flow as a mini-program runs it: build the request with
 * oauth4webapi (PKCE S256), sign in and consent on the real pages (following redirects with a cookie
 * jar) until the server sends the browser back to the redirect URI.
 */
export async function authorize(t: TestApp, options: CodeFlowOptions): Promise<AuthorizationOutcome> {
  const as = await discover(t);
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorizationUrl = new URL(as.authorization_endpoint ?? '');
  authorizationUrl.search = new URLSearchParams({
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    response_type: 'code',
    scope: options.scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  }).toString();
  const browser = options.browser ?? new Browser();
  let response = await browser.get(authorizationUrl.toString());
  let sawLoginPage = false;
  let sawConsentPage = false;
  let consentHtml: string | null = null;
  for (let step = 0; step < 12; step += 1) {
    if (response.status === 303 || response.status === 302) {
      const next = absolute(t.baseUrl, response.headers.get('location'));
      if (next.startsWith(options.redirectUri)) {
        return { as, redirect: new URL(next), state, codeVerifier, sawLoginPage, sawConsentPage, consentHtml, browser };
      }
      response = await browser.get(next);
      continue;
    }
    if (response.status !== 200) throw new Error(`unexpected ${response.status} at ${response.url}: ${await response.text()}`);
    const html = await response.text();
    const uid = interactionUidIn(html);
    const csrfToken = csrfTokenIn(html);
    if (html.includes('name="password"')) {
      sawLoginPage = true;
      response = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
        csrfToken,
        login: options.login,
        password: options.password,
      });
    } else {
      sawConsentPage = true;
      consentHtml = html;
      response = await browser.postForm(`${t.baseUrl}/interaction/${uid}/consent`, { csrfToken, decision: options.decision ?? 'approve' });
    }
  }
  throw new Error('the flow did not reach the redirect URI');
}

/** The authorization code, checked by oauth4webapi (state, iss; an `error=` redirect throws AuthorizationResponseError). */
export function authorizationCodeOf(outcome: AuthorizationOutcome, clientId: string): URLSearchParams {
  return oauth.validateAuthResponse(outcome.as, { client_id: clientId }, outcome.redirect, outcome.state);
}

/** The back channel: exchanges the code (with the PKCE verifier) at the token endpoint. Returns the raw response. */
export async function redeemAuthorizationCode(
  outcome: AuthorizationOutcome,
  callback: URLSearchParams,
  options: Pick<CodeFlowOptions, 'clientId' | 'clientSecret' | 'redirectUri' | 'dpop'>,
): Promise<Response> {
  return oauth.authorizationCodeGrantRequest(
    outcome.as,
    { client_id: options.clientId },
    clientAuth(options.clientSecret),
    callback,
    options.redirectUri,
    outcome.codeVerifier,
    { ...insecure, ...(options.dpop ? { DPoP: options.dpop } : {}) },
  );
}

/** The whole authorization code flow with PKCE, ending with the tokens oauth4webapi accepted. */
export async function authorizationCodeFlow(t: TestApp, options: CodeFlowOptions): Promise<CodeFlowResult> {
  const outcome = await authorize(t, options);
  const callback = authorizationCodeOf(outcome, options.clientId);
  const response = await redeemAuthorizationCode(outcome, callback, options);
  const tokens = await oauth.processAuthorizationCodeResponse(outcome.as, { client_id: options.clientId }, response);
  const { sawLoginPage, sawConsentPage, consentHtml, browser } = outcome;
  return { tokens, sawLoginPage, sawConsentPage, consentHtml, browser };
}

function decodePart(jwt: string, index: number): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[index] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The claims of a JWT, unverified (tests read what the server issued). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return decodePart(jwt, 1);
}

/** The protected header of a JWT, unverified. */
export function headerOf(jwt: string): Record<string, unknown> {
  return decodePart(jwt, 0);
}

/** Claims exactly as creditgate puts them in an access token, for forging tokens in attack tests. */
export function accessTokenClaims(t: TestApp, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    jti: randomUUID(),
    sub: 'platform_forged0000000000',
    client_id: 'platform_forged0000000000',
    client_type: 'platform',
    scope: 'admin ledger:write',
    iss: t.config.publicUrl,
    aud: `${t.config.publicUrl}/v1`,
    iat: now,
    exp: now + 600,
    ...overrides,
  };
}

/** Signs `claims` with `privateKey` (ES256 unless the header says otherwise). */
export async function signJwt(
  privateKey: CryptoKey | Uint8Array,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(privateKey);
}

/** An unsecured JWT (`alg: none`, RFC 7519 §6): header and claims, and an empty signature. */
export function unsignedJwt(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const encode = (value: Record<string, unknown>) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'at+jwt', ...header })}.${encode(claims)}.`;
}

/** The authorization server's own signing key (the private half), read from its key store. */
export async function serverSigningKey(t: TestApp): Promise<{ key: CryptoKey; kid: string }> {
  const signing = (await t.app.get(KeyStore).load()).signing[0];
  if (signing === undefined || signing.kid === undefined) throw new Error('the authorization server has no signing key');
  return { key: (await importJWK(signing, 'ES256')) as CryptoKey, kid: signing.kid };
}

/** An ES256 key pair, its public half exportable (DPoP keys, private_key_jwt client keys). */
export async function keyPair(): Promise<CryptoKeyPair> {
  return oauth.generateKeyPair('ES256', { extractable: true });
}

export async function publicJwk(pair: CryptoKeyPair): Promise<JWK> {
  const { kty, crv, x, y } = await exportJWK(pair.publicKey);
  return { kty, crv, x, y };
}

/** A DPoP proof (RFC 9449 §4.2) built by hand, so that attack tests can get any part of it wrong. */
export async function dpopProof(
  pair: CryptoKeyPair,
  proof: { htm: string; htu: string; accessToken?: string; jti?: string; iat?: number },
): Promise<string> {
  return new SignJWT({
    htm: proof.htm,
    htu: proof.htu,
    jti: proof.jti ?? randomUUID(),
    iat: proof.iat ?? Math.floor(Date.now() / 1000),
    ...(proof.accessToken === undefined ? {} : { ath: createHash('sha256').update(proof.accessToken).digest('base64url') }),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await publicJwk(pair) })
    .sign(pair.privateKey);
}

/** Asserts an RFC 9457 problem document with creditgate's stable code. */
export function expectProblem(response: SupertestResponse, status: number, code: string): void {
  expect({ status: response.status, code: (response.body as { code?: unknown }).code }).toEqual({ status, code });
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ status, code, type: `/problems/${code.toLowerCase().replace(/_/g, '-')}` });
  expect(typeof (response.body as { detail?: unknown }).detail).toBe('string');
}

/** Waits until the audit trail holds every one of `actions` (some are written after the response). */
export async function auditActionsEventually(t: TestApp, actions: readonly string[], timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows: { action: string }[] = await t.dataSource.query('SELECT DISTINCT action FROM audit_events');
    const found = rows.map((row) => row.action);
    if (actions.every((action) => found.includes(action)) || Date.now() > deadline) return found.sort();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
