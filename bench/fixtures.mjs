// Setup shared by the scenarios that drive the service over its API as its real callers do: a platform
// session on the admin API, a merchant with its backend and mini-program, a compliance client, users who
// sign up, and access tokens that renew themselves before they expire (a run longer than
// ACCESS_TOKEN_TTL_SECONDS needs that). The sign-in flow itself (authorization code with PKCE on the
// real pages) and the client-credentials grant are bench/payments.mjs's, imported, not copied.
import { randomUUID } from 'node:crypto';
import { basicAuthorization, call, expectStatus } from './lib.mjs';
import { clientToken, inBatches, REDIRECT_URI, userToken } from './payments.mjs';

export { inBatches, REDIRECT_URI };

/** A POST with a JSON body, a bearer token and (by default) a fresh Idempotency-Key. */
export function postJson(baseUrl, token, path, body, { idempotent = true, timeoutMs } = {}) {
  return call(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(idempotent ? { 'idempotency-key': randomUUID() } : {}),
    },
    body: JSON.stringify(body),
    timeoutMs,
  });
}

/** When a JWT access token expires, in ms since the epoch (read, not verified: the service verifies it). */
export function tokenExpiresAtMs(token) {
  const [, payload] = token.split('.');
  const exp = payload === undefined ? undefined : JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).exp;
  if (!Number.isSafeInteger(exp)) throw new Error('the access token has no exp claim');
  return exp * 1000;
}

/**
 * An access token fetched by `obtain()` and fetched again when it has less than `marginMs` left; one
 * renewal at a time, however many callers ask. `renewals` counts the fetches after the first.
 */
export class RenewingToken {
  #obtain;
  #marginMs;
  #token;
  #expiresAtMs = 0;
  #pending;
  renewals = 0;

  constructor(obtain, { marginMs = 90_000 } = {}) {
    this.#obtain = obtain;
    this.#marginMs = marginMs;
  }

  async get() {
    if (this.#token !== undefined && Date.now() < this.#expiresAtMs - this.#marginMs) return this.#token;
    this.#pending ??= (async () => {
      const renewing = this.#token !== undefined;
      const token = await this.#obtain();
      this.#token = token;
      this.#expiresAtMs = tokenExpiresAtMs(token);
      if (renewing) this.renewals += 1;
      return token;
    })().finally(() => (this.#pending = undefined));
    return this.#pending;
  }
}

/** A client-credentials token for `clientId` with `scope`, renewed before it expires. */
export function clientCredentialsToken(baseUrl, clientId, clientSecret, scope) {
  return new RenewingToken(() => clientToken(baseUrl, basicAuthorization(clientId, clientSecret), scope));
}

/** A user's token through the real sign-in and consent pages, signed in again before it expires. */
export function signedInUserToken(baseUrl, miniProgramClientId, email, password, scope) {
  return new RenewingToken(() => userToken(baseUrl, miniProgramClientId, email, scope, password));
}

/**
 * A merchant, its confidential backend (every merchant scope), its public mini-program (every user
 * scope, the bench redirect URI) and a compliance client (`audit:read`), made by the platform client.
 * Returns { merchantId, backend: { clientId, clientSecret }, miniProgram: { clientId }, compliance: { clientId, clientSecret } }.
 */
export async function createMerchantAndClients(baseUrl, platformClientId, platformSecret, { merchantName = 'Benchmark bikes' } = {}) {
  const admin = await clientToken(baseUrl, basicAuthorization(platformClientId, platformSecret), 'admin');
  const merchant = await postJson(baseUrl, admin, '/v1/admin/merchants', { name: merchantName });
  expectStatus('create merchant', merchant, 201);
  const client = async (what, body) => {
    const created = await postJson(baseUrl, admin, '/v1/admin/clients', body);
    expectStatus(`create ${what}`, created, 201);
    return { clientId: created.body.clientId, clientSecret: created.body.clientSecret };
  };
  const miniProgram = await client('mini-program', {
    clientType: 'mini_program',
    merchantId: merchant.body.id,
    name: `${merchantName} mini-program`,
    tokenEndpointAuthMethod: 'none',
    redirectUris: [REDIRECT_URI],
  });
  const backend = await client('merchant backend', {
    clientType: 'merchant',
    merchantId: merchant.body.id,
    name: `${merchantName} backend`,
  });
  const compliance = await client('compliance client', { clientType: 'compliance', name: 'Benchmark compliance' });
  return { merchantId: merchant.body.id, miniProgram: { clientId: miniProgram.clientId }, backend, compliance };
}

/** `count` users signed up over POST /v1/users, eight at a time; returns their e-mail addresses. */
export async function signUpUsers(baseUrl, count, password, label = 'bench') {
  const emails = Array.from({ length: count }, (_, index) => `${label}-${index}-${randomUUID().slice(0, 8)}@bench.invalid`);
  await inBatches(emails, 8, async (email) => {
    const signUp = await call(`${baseUrl}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: 'Bench' }),
    });
    if (signUp.status >= 300) throw new Error(`sign-up answered ${signUp.status}: ${signUp.text.slice(0, 200)}`);
  });
  return emails;
}
