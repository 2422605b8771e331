import * as oauth from 'oauth4webapi';
import type { TestApp } from './test-app.js';
import { ClientRegistry, type NewClient } from '../../src/oauth/client-registry.js';
import { UsersService } from '../../src/users/users.service.js';
import type { ClientType, Scope } from '../../src/oauth/scopes.js';

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
) {
  const created = await createClient(t, {
    clientType,
    merchantId: clientType === 'merchant' ? merchantId : null,
    name: `${clientType} backend`,
    scopes,
  });
  if (created.clientSecret === null) throw new Error('expected a secret');
  return { clientId: created.clientId, clientSecret: created.clientSecret };
}

export async function createUser(
  t: TestApp,
  email: string,
  password = 'correct horse battery staple',
): Promise<{ id: string; email: string; password: string }> {
  const id = await t.app.get(UsersService).signUp({ email, password, displayName: email.split('@')[0] ?? 'user' });
  if (id === null) throw new Error(`user ${email} exists already`);
  return { id, email, password };
}

export async function clientCredentialsToken(t: TestApp, clientId: string, clientSecret: string, scope?: string): Promise<string> {
  const as = await discover(t);
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    { client_id: clientId },
    oauth.ClientSecretBasic(clientSecret),
    new URLSearchParams(scope ? { scope } : {}),
    insecure,
  );
  const result = await oauth.processClientCredentialsResponse(as, { client_id: clientId }, response);
  return result.access_token;
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

export interface CodeFlowResult {
  readonly tokens: oauth.TokenEndpointResponse;
  readonly sawLoginPage: boolean;
  readonly sawConsentPage: boolean;
  readonly consentHtml: string | null;
  readonly browser: Browser;
}

/**
 * The authorization code flow with PKCE as a mini-program runs it: build the request with
 * oauth4webapi, sign in and consent on the real pages (following redirects with a cookie jar),
 * take the code from the redirect, exchange it with oauth4webapi.
 */
export async function authorizationCodeFlow(t: TestApp, options: CodeFlowOptions): Promise<CodeFlowResult> {
  const as = await discover(t);
  const client: oauth.Client = { client_id: options.clientId };
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const authorize = new URL(as.authorization_endpoint ?? '');
  authorize.search = new URLSearchParams({
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    response_type: 'code',
    scope: options.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const browser = options.browser ?? new Browser();
  let response = await browser.get(authorize.toString());
  let sawLoginPage = false;
  let sawConsentPage = false;
  let consentHtml: string | null = null;
  for (let step = 0; step < 12; step += 1) {
    if (response.status === 303 || response.status === 302) {
      const next = absolute(t.baseUrl, response.headers.get('location'));
      if (next.startsWith(options.redirectUri)) {
        const callback = oauth.validateAuthResponse(as, client, new URL(next), state);
        const auth = options.clientSecret ? oauth.ClientSecretBasic(options.clientSecret) : oauth.None();
        const tokenResponse = await oauth.authorizationCodeGrantRequest(as, client, auth, callback, options.redirectUri, verifier, {
          ...insecure,
          ...(options.dpop ? { DPoP: options.dpop } : {}),
        });
        const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse);
        return { tokens, sawLoginPage, sawConsentPage, consentHtml, browser };
      }
      response = await browser.get(next);
      continue;
    }
    if (response.status !== 200) throw new Error(`unexpected ${response.status} at ${response.url}: ${await response.text()}`);
    const html = await response.text();
    const uid = /action="\/interaction\/([^/"]+)\//.exec(html)?.[1];
    if (uid === undefined) throw new Error(`not an interaction page: ${html.slice(0, 300)}`);
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

/** The claims of a JWT, unverified (tests read what the server issued). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
