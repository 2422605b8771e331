/**
 * `npm run demo`: plays creditgate's story against a running service, over HTTP only, as a bike-rental
 * mini-program and its merchant's backend would, printing each step and its result:
 *
 *   sign-in and consent (code flow with PKCE), identity, score, admittance, the waiver decision at 650
 *   and at 649, a top-up, a deposit agreement, the ride, completion, a payment, a refund, a default and
 *   its recovery (wallet, then the credit guarantee as debt), the debt closing the door to new waivers,
 *   and a top-up repaying it.
 *
 * It uses the demo data of the first start (DATA_DIR/demo-credentials.json, or DEMO_CREDENTIALS), and
 * DEMO_URL (default http://localhost:3000). It can be run again: each step reads before it writes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatMajor } from '../common/money/money.js';
import type { DemoCredentials } from './demo-seeder.js';

const BASE = (process.env.DEMO_URL ?? 'http://localhost:3000').replace(/\/$/, '');
const CREDENTIALS_FILE = process.env.DEMO_CREDENTIALS ?? join(process.env.DATA_DIR ?? './data', 'demo-credentials.json');
const USER_SCOPES = 'identity:verify identity:read credit:score credit:admittance waivers:request payments:pay wallet:read';
const MERCHANT_SCOPES = 'policies:manage agreements:manage payments:write payments:refund merchant:read';
/** Documented valid numbers (GB 11643-1999) that the mock authority matches with any valid name. */
const DEMO_IDENTITIES: Record<string, { fullName: string; idNumber: string }> = {
  'score-650@test.invalid': { fullName: '张三', idNumber: '11010519491231002X' },
  'score-649@test.invalid': { fullName: '李四', idNumber: '440524188001010014' },
};

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

let stepNumber = 0;
function step(title: string): void {
  stepNumber += 1;
  process.stdout.write(`\n${String(stepNumber).padStart(2, ' ')}. ${title}\n`);
}
function show(line: string): void {
  process.stdout.write(`    ${line}\n`);
}
/** Minor units as the API sends them (a string of digits) to `RMB 99.00`, exactly. */
const yuan = (minor: unknown): string => `RMB ${formatMajor({ amountMinor: BigInt(String(minor)), currency: 'CNY' })}`;

async function call(method: string, path: string, token: string | null, body?: object, expected: number[] = [200, 201]): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST') headers['idempotency-key'] = randomUUID();
  const response = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!expected.includes(response.status)) {
    throw new Error(
      `${method} ${path} answered ${response.status}: ${String(parsed.code ?? '')} ${String(parsed.detail ?? text.slice(0, 200))}`,
    );
  }
  return { status: response.status, body: parsed };
}

/** The code flow with PKCE, as the mini-program and the user's browser do it: sign in, consent, code, token. */
async function signIn(credentials: DemoCredentials, email: string, password: string): Promise<string> {
  const { clientId, redirectUri } = credentials.miniProgram;
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(`${BASE}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: USER_SCOPES,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const cookies = new Map<string, string>();
  const browse = async (url: string, form?: Record<string, string>): Promise<Response> => {
    const response = await fetch(url, {
      method: form === undefined ? 'GET' : 'POST',
      redirect: 'manual',
      headers: {
        cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body: form === undefined ? undefined : new URLSearchParams(form).toString(),
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const at = pair.indexOf('=');
      if (at > 0) cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1));
    }
    return response;
  };
  let response = await browse(authorize.toString());
  for (let hop = 0; hop < 12; hop += 1) {
    if (response.status === 302 || response.status === 303) {
      const next = new URL(response.headers.get('location') ?? '', BASE).toString();
      if (next.startsWith(redirectUri)) {
        const callback = new URL(next).searchParams;
        if (callback.get('state') !== state) throw new Error('the state came back changed');
        const code = callback.get('code');
        if (code === null) throw new Error(`sign-in refused: ${callback.get('error') ?? 'no code'}`);
        const token = await fetch(`${BASE}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: redirectUri,
            client_id: clientId,
            code_verifier: verifier,
          }),
        });
        const tokens = (await token.json()) as { access_token?: string; scope?: string; error?: string };
        if (tokens.access_token === undefined) throw new Error(`token refused: ${tokens.error ?? token.status}`);
        show(`signed in as ${email}; the mini-program holds a token with: ${tokens.scope ?? USER_SCOPES}`);
        return tokens.access_token;
      }
      response = await browse(next);
      continue;
    }
    const html = await response.text();
    const uid = /action="\/interaction\/([^/"]+)\//.exec(html)?.[1];
    const csrfToken = /name="csrfToken" value="([^"]+)"/.exec(html)?.[1];
    if (uid === undefined || csrfToken === undefined) throw new Error(`unexpected page (${response.status}) during sign-in`);
    response = html.includes('name="password"')
      ? await browse(`${BASE}/interaction/${uid}/login`, { csrfToken, login: email, password })
      : await browse(`${BASE}/interaction/${uid}/consent`, { csrfToken, decision: 'approve' });
  }
  throw new Error('the sign-in did not come back to the mini-program');
}

async function merchantToken(credentials: DemoCredentials): Promise<string> {
  const { clientId, clientSecret } = credentials.merchantBackend;
  const response = await fetch(`${BASE}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: MERCHANT_SCOPES }).toString(),
  });
  const tokens = (await response.json()) as { access_token?: string; error?: string };
  if (tokens.access_token === undefined) throw new Error(`merchant token refused: ${tokens.error ?? response.status}`);
  return tokens.access_token;
}

async function verifyIdentity(token: string, email: string): Promise<void> {
  const current = await call('GET', '/v1/identity?purpose=rental.onboarding', token);
  if (current.body.status !== 'verified') {
    const identity = DEMO_IDENTITIES[email];
    if (identity === undefined) throw new Error(`no demo identity for ${email}`);
    const verified = await call('POST', '/v1/identity/verifications', token, identity);
    show(`verified: ${String(verified.body.maskedIdNumber)}, age ${String(verified.body.age)}`);
  } else {
    show(`already verified: ${String(current.body.maskedIdNumber)}, age ${String(current.body.age)}`);
  }
}

function showDecision(decision: Record<string, unknown>): void {
  show(
    `${String(decision.outcome)}: waived ${yuan(decision.waivedAmount)}, deposit due ${yuan(decision.depositDue)} (policy version ${String(decision.policyVersion)})`,
  );
  for (const reason of decision.reasons as { code: string; passed: boolean; observed: unknown; required: unknown }[]) {
    show(
      `  ${reason.passed ? 'pass' : 'FAIL'}  ${reason.code.padEnd(22)} observed ${JSON.stringify(reason.observed)}, required ${JSON.stringify(reason.required)}`,
    );
  }
}

async function wallet(token: string): Promise<Record<string, unknown>> {
  const answer = await call('GET', '/v1/wallet', token);
  return ((answer.body.data as Record<string, unknown>[]).find((entry) => entry.currency === 'CNY') ?? {}) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const credentials = JSON.parse(readFileSync(CREDENTIALS_FILE, 'utf8')) as DemoCredentials;
  const password = credentials.users[0]?.password ?? '';
  const policyId = credentials.policy.id;
  process.stdout.write(`creditgate demo against ${BASE}: ${credentials.merchant.name}, policy "${credentials.policy.name}"\n`);

  step('The mini-program signs in a user at 650 (code flow with PKCE, consent to the scopes it needs)');
  const user = await signIn(credentials, 'score-650@test.invalid', password);
  const merchant = await merchantToken(credentials);

  step('Real-name verification (name and ID number; only the masked number ever comes back)');
  await verifyIdentity(user, 'score-650@test.invalid');

  step('Credit: the score, and the privacy-preserving admittance answer');
  const score = await call('GET', '/v1/credit/score?purpose=rental.onboarding', user);
  show(`score ${String(score.body.score)} (band ${String(score.body.band)}), report ${String(score.body.reportId)}`);
  const admittance = await call('GET', '/v1/credit/admittance?threshold=650', user);
  show(`admitted at 650: ${String(admittance.body.admitted)} (no score in this answer)`);

  step('The waiver decision at 650');
  showDecision((await call('POST', '/v1/waivers/decisions', user, { policyId })).body);

  step('The same question for a user at 649');
  const other = await signIn(credentials, 'score-649@test.invalid', password);
  await verifyIdentity(other, 'score-649@test.invalid');
  showDecision((await call('POST', '/v1/waivers/decisions', other, { policyId })).body);

  step('The user at 650 tops up the wallet (a top-up repays any debt first)');
  const topUp = await call('POST', '/v1/wallet/top-ups', user, { amountMinor: '10000', currency: 'CNY' });
  show(
    `topped up ${yuan(topUp.body.amountMinor)}: ${yuan(topUp.body.repaidMinor)} repaid, ${yuan(topUp.body.creditedMinor)} to the wallet`,
  );

  step('A deposit agreement from a fresh decision: nothing held, the deposit is waived');
  const decision = (await call('POST', '/v1/waivers/decisions', user, { policyId })).body;
  const agreement = (await call('POST', '/v1/deposit-agreements', user, { decisionId: decision.id })).body;
  show(
    `agreement ${String(agreement.id)}: ${String(agreement.status)}, held ${yuan(agreement.heldAmount)}, waived ${yuan(agreement.waivedAmount)}`,
  );

  step('The ride: the merchant activates the agreement, then completes it with the fare');
  show(`activated: ${String((await call('POST', `/v1/deposit-agreements/${String(agreement.id)}/activate`, merchant, {})).body.status)}`);
  const completed = (await call('POST', `/v1/deposit-agreements/${String(agreement.id)}/complete`, merchant, { finalChargeMinor: '350' }))
    .body;
  show(`completed: ${String(completed.status)}, fare ${yuan(completed.finalCharge)} charged from the wallet`);
  show(`wallet: ${yuan((await wallet(user)).availableMinor)} available`);

  step('A payment: the merchant asks RMB 12.00 for a helmet, the user confirms in the mini-program');
  const intent = (
    await call('POST', '/v1/payment-intents', merchant, {
      amountMinor: '1200',
      currency: 'CNY',
      captureMethod: 'automatic',
      description: 'Helmet',
      userId: (await call('GET', '/v1/me', user)).body.id,
    })
  ).body;
  const confirmed = (await call('POST', `/v1/payment-intents/${String(intent.id)}/confirm`, user, {})).body;
  show(`payment ${String(confirmed.id)}: ${String(confirmed.status)}`);

  step('A refund of RMB 5.00 (the platform fee comes back in proportion)');
  const refund = (await call('POST', '/v1/refunds', merchant, { paymentIntentId: intent.id, amountMinor: '500' })).body;
  show(`refund ${String(refund.id)}: ${String(refund.status)}, ${yuan(refund.amountMinor)}`);
  show(`wallet: ${yuan((await wallet(user)).availableMinor)} available`);

  step('A default: another ride, the bike is not returned, the merchant claims the RMB 99 deposit');
  const second = (await call('POST', '/v1/waivers/decisions', user, { policyId })).body;
  const lost = (await call('POST', '/v1/deposit-agreements', user, { decisionId: second.id })).body;
  await call('POST', `/v1/deposit-agreements/${String(lost.id)}/activate`, merchant, {});
  show(`defaulted: ${String((await call('POST', `/v1/deposit-agreements/${String(lost.id)}/default`, merchant, {})).body.status)}`);
  const claimed = (await call('POST', `/v1/deposit-agreements/${String(lost.id)}/claim`, merchant, { amountMinor: '9900' })).body;
  show(
    `claim: ${String(claimed.status)}, ${yuan(claimed.claimedAmount)} recovered; ${yuan(claimed.debtAmount)} paid by the credit guarantee and owed by the user`,
  );
  const indebted = await wallet(user);
  show(`wallet: ${yuan(indebted.availableMinor)} available, ${yuan(indebted.owedMinor)} owed`);

  step('The debt closes the door to a new waiver');
  showDecision((await call('POST', '/v1/waivers/decisions', user, { policyId })).body);

  step('A top-up repays the debt first, and the waiver is back');
  const repay = await call('POST', '/v1/wallet/top-ups', user, { amountMinor: '2000', currency: 'CNY' });
  show(
    `topped up ${yuan(repay.body.amountMinor)}: ${yuan(repay.body.repaidMinor)} repaid, ${yuan(repay.body.creditedMinor)} to the wallet`,
  );
  showDecision((await call('POST', '/v1/waivers/decisions', user, { policyId })).body);

  step('What the merchant sees');
  const balance = (await call('GET', '/v1/merchant/balance', merchant)).body.data as Record<string, unknown>[];
  for (const entry of balance) show(`${String(entry.currency)} available ${yuan(entry.availableMinor)}`);
  const agreements = (await call('GET', '/v1/deposit-agreements?limit=5', merchant)).body.data as Record<string, unknown>[];
  for (const entry of agreements) show(`agreement ${String(entry.id)}: ${String(entry.status)}`);
  process.stdout.write('\nThe whole story is in the ledger and the audit trail: see /v1/ledger/trial-balance and /console.\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
