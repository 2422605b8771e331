import { randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import type { Response } from 'supertest';
import {
  authorizationCodeFlow,
  clientCredentialsToken,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  createUser,
} from './oauth.js';
import type { TestApp } from './test-app.js';

export const MERCHANT_SCOPES = 'payments:write payments:refund payouts:write merchant:read webhooks:manage';
export const USER_SCOPES = 'payments:pay wallet:read';

export interface MerchantFixture {
  readonly merchantId: string;
  /** A merchant backend token with every merchant scope of payments. */
  readonly token: string;
  readonly miniProgram: { clientId: string; redirectUri: string };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A merchant with a backend (token holding `scopes`) and a public mini-program. */
export async function paymentsMerchant(t: TestApp, name: string, scopes = MERCHANT_SCOPES): Promise<MerchantFixture> {
  const merchantId = await createMerchant(t, name);
  const backend = await createConfidentialClient(t, 'merchant', merchantId);
  const token = await clientCredentialsToken(t, backend.clientId, backend.clientSecret, scopes);
  const miniProgram = await createMiniProgram(t, merchantId, { name: `${name} mini-program` });
  return { merchantId, token, miniProgram: { clientId: miniProgram.clientId, redirectUri: miniProgram.redirectUri } };
}

/** A user signed in to `merchant`'s mini-program, consenting to `scope`: the user token it gets. */
export async function payingUser(
  t: TestApp,
  merchant: MerchantFixture,
  email: string,
  scope = USER_SCOPES,
): Promise<{ id: string; token: string; email: string; password: string }> {
  const user = await createUser(t, email);
  const token = await userTokenAt(t, merchant, user, scope);
  return { ...user, token };
}

export async function userTokenAt(
  t: TestApp,
  merchant: MerchantFixture,
  user: { email: string; password: string },
  scope = USER_SCOPES,
): Promise<string> {
  const flow = await authorizationCodeFlow(t, {
    clientId: merchant.miniProgram.clientId,
    redirectUri: merchant.miniProgram.redirectUri,
    scope,
    login: user.email,
    password: user.password,
  });
  return flow.tokens.access_token;
}

/**
 * POSTs with an Idempotency-Key, then retries the very same request: a success must replay exactly
 * (same status and body, `Idempotent-Replayed: true`) and move nothing again; a refusal must be
 * refused again the same way. Returns the first response.
 */
export async function postAndRetry(
  t: TestApp,
  path: string,
  token: string,
  body: object = {},
  key: string = randomUUID(),
): Promise<Response> {
  const send = () => t.http().post(path).set(bearer(token)).set('Idempotency-Key', key).send(body);
  const first = await send();
  const retry = await send();
  expect({ path, status: retry.status, code: (retry.body as { code?: string }).code }).toEqual({
    path,
    status: first.status,
    code: (first.body as { code?: string }).code,
  });
  if (first.status < 300) {
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toEqual(first.body);
  }
  return first;
}

/** A POST without retry (for requests whose refusal is what the test is about, or concurrency). */
export function postOnce(t: TestApp, path: string, token: string, body: object = {}, key: string = randomUUID()) {
  return t.http().post(path).set(bearer(token)).set('Idempotency-Key', key).send(body);
}

export async function topUp(t: TestApp, userToken: string, amountMinor: string, currency = 'CNY'): Promise<Response> {
  const response = await postAndRetry(t, '/v1/wallet/top-ups', userToken, { amountMinor, currency });
  expect(response.status).toBe(201);
  return response;
}

export async function createIntent(
  t: TestApp,
  merchantToken: string,
  body: Record<string, unknown>,
): Promise<{ id: string } & Record<string, unknown>> {
  const response = await postAndRetry(t, '/v1/payment-intents', merchantToken, { currency: 'CNY', captureMethod: 'automatic', ...body });
  expect(response.status).toBe(201);
  return response.body as { id: string } & Record<string, unknown>;
}

export async function walletOf(t: TestApp, userToken: string, currency = 'CNY') {
  const response = await t.http().get('/v1/wallet').set(bearer(userToken));
  expect(response.status).toBe(200);
  const wallet = (
    response.body as {
      data: {
        currency: string;
        balanceMinor: string;
        heldMinor: string;
        availableMinor: string;
        owedMinor: string;
        recentEntries: { code: string; direction: string; amountMinor: string; paymentIntentId: string | null }[];
      }[];
    }
  ).data.find((entry) => entry.currency === currency);
  if (wallet === undefined) throw new Error(`no ${currency} wallet`);
  return wallet;
}

export async function merchantBalance(t: TestApp, merchantToken: string, currency = 'CNY') {
  const response = await t.http().get('/v1/merchant/balance').set(bearer(merchantToken));
  expect(response.status).toBe(200);
  return (
    (response.body as { data: { currency: string; availableMinor: string; pendingMinor: string }[] }).data.find(
      (entry) => entry.currency === currency,
    ) ?? { currency, availableMinor: '0', pendingMinor: '0' }
  );
}

/** The balance of a ledger account by code, straight from the table: posted credits less posted debits. */
export async function accountBalance(t: TestApp, code: string): Promise<bigint> {
  const rows: { balance: string }[] = await t.dataSource.query(
    'SELECT (credits_posted - debits_posted)::text AS balance FROM ledger_accounts WHERE code = $1',
    [code],
  );
  return rows[0] === undefined ? 0n : BigInt(rows[0].balance);
}
