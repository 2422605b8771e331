import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Response } from 'supertest';
import { checkCharacter } from '../../src/identity/resident-id-number.js';
import type { AccessRule } from '../../src/oauth/access.decorators.js';
import { CLIENT_TYPES, type ClientType, SCOPES_BY_CLIENT_TYPE } from '../../src/oauth/scopes.js';
import { businessTablesDigest, changedTables } from '../support/business-tables.js';
import { claimsOf, clientCredentialsToken, createConfidentialClient, expectProblem, serverSigningKey, signJwt } from '../support/oauth.js';
import {
  bearer,
  createIntent,
  type MerchantFixture,
  payingUser,
  paymentsMerchant,
  postAndRetry,
  postOnce,
  topUp,
  userTokenAt,
} from '../support/payments.js';
import { type DeclaredRoute, RouteInventory, RouteInventoryModule, type ServedRoute } from '../support/route-inventory.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The authorization sweep. Every route the running application serves is listed below, with who may
 * call it and how the sweep proves that nobody else can:
 * - every protected route is called with no token, an expired token (signed with the service's own
 *   key), a token lacking each required scope in turn (every other scope of its kind present), the
 *   wrong kind of token where the route declares one (a user token on a client route and the other way
 *   round), and every real token of the fixtures that the route does not admit: 401 or 403, a problem
 *   document, and no business table changed; the same token with the missing scope put back passes;
 * - every route that takes an object id (in the path or the body) is called by another merchant,
 *   another user of the same mini-program, a user of another merchant, and the same user through
 *   another merchant's mini-program, as applies, with the owner's real id: refused the way the codebase
 *   refuses another owner's object (404, as if it did not exist), changing nothing, and then the owner's
 *   own identical call succeeds (so the object was in a state where the call would have worked);
 * - every list and "mine" route shows the owner its objects and nobody else any of them;
 * - a route whose only object is the caller itself, or that is platform- or compliance-wide by design,
 *   says so.
 * A route served but not listed, or listed but no longer served, fails the sweep: a new route cannot
 * slip past it. (The authorization server's own endpoints, /oauth/* and /.well-known/*, are answered by
 * oidc-provider from a request hook, not from routes; their client authentication is tested in test/oauth.)
 */

interface Person {
  readonly id: string;
  readonly token: string;
}

interface Fixtures {
  readonly A: MerchantFixture;
  readonly B: MerchantFixture;
  readonly platform: string;
  readonly compliance: string;
  /** ada signed in to merchant A's mini-program: the owner of the user-side objects. */
  readonly ada: Person;
  /** ada's token from merchant B's mini-program. */
  readonly adaAtB: string;
  /** Another user of merchant A's mini-program. */
  readonly bo: Person;
  /** A user of merchant B's mini-program. */
  readonly cy: Person;
  readonly id: {
    endpointA: string;
    /** A second endpoint of merchant A, the one its owner disables and enables (the first keeps its deliveries). */
    endpointToToggle: string;
    endpointB: string;
    deliveryA: string;
    intentToConfirm: string;
    intentToCapture: string;
    intentToCancel: string;
    intentPaid: string;
    refund: string;
    payout: string;
    policyA: string;
    decision: string;
    decisionToSign: string;
    agreementToActivate: string;
    agreementToCancel: string;
    agreementToComplete: string;
    agreementToDefault: string;
    agreementToClaim: string;
    grantAtA: string;
    grantAtB: string;
    maskedIdNumber: string;
  };
}

interface Caller {
  readonly who: string;
  readonly token: (f: Fixtures) => string;
}

const merchantA: Caller = { who: 'merchant A (the owner)', token: (f) => f.A.token };
const merchantB: Caller = { who: 'merchant B', token: (f) => f.B.token };
const ada: Caller = { who: "ada through merchant A's mini-program (the owner)", token: (f) => f.ada.token };
const adaAtB: Caller = { who: "ada herself through merchant B's mini-program", token: (f) => f.adaAtB };
const bo: Caller = { who: "bo, another user of merchant A's mini-program", token: (f) => f.bo.token };
const cy: Caller = { who: "cy, a user of merchant B's mini-program", token: (f) => f.cy.token };

interface Target {
  readonly params?: Readonly<Record<string, string>>;
  readonly body?: object;
  readonly query?: string;
}

interface Intruder extends Caller {
  /** Another request than the owner's (another object of the intruder's own mixed in). */
  readonly target?: (f: Fixtures) => Target;
  readonly refused?: readonly [number, string];
}

/** Another's object: each intruder is refused and changes nothing; then each owner's identical call succeeds. */
interface ObjectCheck {
  readonly target: (f: Fixtures) => Target;
  readonly refused: readonly [number, string];
  readonly intruders: readonly Intruder[];
  readonly owners: readonly (readonly [Caller, number])[];
}

/** A list or "mine" route: the owners see every marker, the others none. */
interface IsolationCheck {
  readonly query?: string;
  /** What the owners see and nobody else may: fixture ids, or what the owner's own answer holds (`body`). */
  readonly markers: (f: Fixtures, body: Record<string, unknown>) => string[];
  readonly owners: readonly Caller[];
  readonly others: readonly Caller[];
}

type Entry =
  | { readonly access: 'public'; readonly why: string }
  | { readonly access: string; readonly objects: ObjectCheck }
  | { readonly access: string; readonly isolation: IsolationCheck }
  | { readonly access: string; readonly ownerless: string };

/** Waive the whole RMB 99 deposit from a score of 600; many open agreements allowed. */
const TERMS = {
  deposit: { amountMinor: '9900', currency: 'CNY' },
  tiers: [{ minScore: 600, waivePercent: 100 }],
  conditions: { requireVerifiedIdentity: true, maxActiveAgreements: 1000 },
  agreementLifetimeSeconds: 3600,
  maxFinalChargeMinor: '5000',
};

const PLATFORM_LEDGER = "the platform's ledger: operated with ledger:write, read with audit:read; no merchant or user token reaches it";
const COMPLIANCE_WIDE = 'compliance reads everything by design, and writes nothing';
const PLATFORM_ADMIN = 'platform administration: the platform acts on every merchant, client and user by design';

/**
 * Every route of the application: `access` is the rule the route must declare, as
 * `<caller> <every required scope> <one|of|these>` (caller: user, client or any), or `public`.
 */
const SWEEP: Readonly<Record<string, Entry>> = {
  'GET /health/live': { access: 'public', why: 'liveness probe' },
  'GET /health/ready': { access: 'public', why: 'readiness probe' },
  'GET /metrics': { access: 'public', why: 'Prometheus scrape, as the README documents' },
  'POST /v1/users': { access: 'public', why: 'sign-up: the same answer whether or not the login was free' },
  'GET /interaction/:uid': { access: 'public', why: "the sign-in and consent pages, bound to the authorization server's interaction" },
  'POST /interaction/:uid/login': { access: 'public', why: 'the sign-in form (CSRF token, interaction cookie)' },
  'POST /interaction/:uid/consent': { access: 'public', why: 'the consent form (CSRF token, interaction cookie)' },
  'POST /interaction/:uid/abort': { access: 'public', why: 'the abort form (CSRF token, interaction cookie)' },
  'GET /console': { access: 'public', why: 'the compliance console page; its data needs an audit:read token' },
  'GET /console/console.js': { access: 'public', why: 'the console script' },
  'GET /console/console.css': { access: 'public', why: 'the console styles' },
  'GET /openapi.json': { access: 'public', why: 'the OpenAPI document' },
  'GET /openapi.yaml': { access: 'public', why: 'the OpenAPI document' },
  'GET /docs': { access: 'public', why: 'Swagger UI' },
  'GET /docs/': { access: 'public', why: 'Swagger UI' },
  'GET /docs/*': { access: 'public', why: 'Swagger UI assets' },
  'GET /docs/index.html': { access: 'public', why: 'Swagger UI' },
  'GET /docs/LICENSE': { access: 'public', why: 'Swagger UI licence' },
  'GET /docs/swagger-ui-init.js': { access: 'public', why: 'Swagger UI' },
  'GET /docs/docs/swagger-ui-init.js': { access: 'public', why: 'Swagger UI' },

  'GET /v1/principal': { access: 'any', ownerless: 'describes the calling token, nothing else' },
  'GET /v1/me': { access: 'user', isolation: { markers: (f) => [f.ada.id], owners: [ada], others: [bo, cy] } },
  'GET /v1/me/grants': {
    access: 'user',
    isolation: { markers: (f) => [f.id.grantAtA], owners: [ada], others: [bo, cy] },
  },
  'DELETE /v1/me/grants/:id': {
    access: 'user',
    objects: {
      target: (f) => ({ params: { id: f.id.grantAtB } }),
      refused: [404, 'GRANT_NOT_FOUND'],
      intruders: [bo, cy],
      owners: [[adaAtB, 204]],
    },
  },
  'POST /v1/admin/merchants': { access: 'client admin', ownerless: PLATFORM_ADMIN },
  'POST /v1/admin/clients': { access: 'client admin', ownerless: PLATFORM_ADMIN },
  'GET /v1/admin/merchants/:id/payment-settings': { access: 'client admin', ownerless: PLATFORM_ADMIN },
  'PUT /v1/admin/merchants/:id/payment-settings': { access: 'client admin', ownerless: PLATFORM_ADMIN },
  'PUT /v1/admin/users/:id/roles/compliance': { access: 'client admin', ownerless: PLATFORM_ADMIN },
  'DELETE /v1/admin/users/:id/roles/compliance': { access: 'client admin', ownerless: PLATFORM_ADMIN },

  'POST /v1/identity/verifications': { access: 'user identity:verify', ownerless: "verifies the token's own user; no id in the request" },
  'GET /v1/identity': {
    access: 'user identity:read',
    isolation: { markers: (f) => [f.id.maskedIdNumber], owners: [ada], others: [bo, cy] },
  },
  'GET /v1/credit/score': {
    access: 'user credit:score',
    // A report is recomputed when what it depends on changes: the owner's current one is the marker.
    isolation: { markers: (_f, body) => [String(body.reportId)], owners: [ada], others: [bo, cy] },
  },
  'GET /v1/credit/admittance': {
    access: 'user credit:admittance',
    isolation: { query: 'threshold=650', markers: (_f, body) => [String(body.reportId)], owners: [ada], others: [bo, cy] },
  },

  'POST /v1/webhook-endpoints': { access: 'client webhooks:manage', ownerless: "registers an endpoint of the token's merchant" },
  'GET /v1/webhook-endpoints': {
    access: 'client webhooks:manage',
    isolation: { markers: (f) => [f.id.endpointA], owners: [merchantA], others: [merchantB] },
  },
  'GET /v1/webhook-endpoints/:id': {
    access: 'client webhooks:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.endpointA } }),
      refused: [404, 'WEBHOOK_ENDPOINT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'GET /v1/webhook-endpoints/:id/deliveries': {
    access: 'client webhooks:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.endpointA } }),
      refused: [404, 'WEBHOOK_ENDPOINT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'POST /v1/webhook-endpoints/:id/disable': {
    access: 'client webhooks:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.endpointToToggle } }),
      refused: [404, 'WEBHOOK_ENDPOINT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'POST /v1/webhook-endpoints/:id/enable': {
    access: 'client webhooks:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.endpointToToggle } }),
      refused: [404, 'WEBHOOK_ENDPOINT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'POST /v1/webhook-endpoints/:id/deliveries/:deliveryId/redeliver': {
    access: 'client webhooks:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.endpointA, deliveryId: f.id.deliveryA } }),
      refused: [404, 'WEBHOOK_ENDPOINT_NOT_FOUND'],
      intruders: [
        merchantB,
        {
          who: "merchant B, through its own endpoint with merchant A's delivery",
          token: (f) => f.B.token,
          target: (f) => ({ params: { id: f.id.endpointB, deliveryId: f.id.deliveryA } }),
          refused: [404, 'WEBHOOK_DELIVERY_NOT_FOUND'],
        },
      ],
      owners: [[merchantA, 201]],
    },
  },

  'POST /v1/payment-intents': {
    access: 'client payments:write',
    ownerless:
      "creates an intent of the token's merchant; `userId` only addresses a payer, who reaches it through this merchant's mini-program alone (checked on GET and confirm)",
  },
  'GET /v1/payment-intents': {
    access: 'any payments:write|merchant:read',
    isolation: {
      query: 'limit=100',
      markers: (f) => [f.id.intentPaid, f.id.intentToConfirm, f.id.intentToCapture, f.id.intentToCancel],
      owners: [merchantA],
      others: [merchantB],
    },
  },
  'GET /v1/payment-intents/:id': {
    access: 'any payments:write|merchant:read|payments:pay',
    objects: {
      target: (f) => ({ params: { id: f.id.intentPaid } }),
      refused: [404, 'PAYMENT_INTENT_NOT_FOUND'],
      intruders: [merchantB, bo, cy, adaAtB],
      owners: [
        [merchantA, 200],
        [ada, 200],
      ],
    },
  },
  'POST /v1/payment-intents/:id/confirm': {
    access: 'user payments:pay',
    objects: {
      target: (f) => ({ params: { id: f.id.intentToConfirm } }),
      refused: [404, 'PAYMENT_INTENT_NOT_FOUND'],
      intruders: [bo, cy, adaAtB],
      owners: [[ada, 200]],
    },
  },
  'POST /v1/payment-intents/:id/capture': {
    access: 'client payments:write',
    objects: {
      target: (f) => ({ params: { id: f.id.intentToCapture }, body: { amountMinor: '600' } }),
      refused: [404, 'PAYMENT_INTENT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'POST /v1/payment-intents/:id/cancel': {
    access: 'client payments:write',
    objects: {
      target: (f) => ({ params: { id: f.id.intentToCancel } }),
      refused: [404, 'PAYMENT_INTENT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'POST /v1/refunds': {
    access: 'client payments:refund',
    objects: {
      target: (f) => ({ body: { paymentIntentId: f.id.intentPaid, amountMinor: '100' } }),
      refused: [404, 'PAYMENT_INTENT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 201]],
    },
  },
  'GET /v1/refunds': {
    access: 'any payments:refund|merchant:read',
    isolation: { query: 'limit=100', markers: (f) => [f.id.refund], owners: [merchantA], others: [merchantB] },
  },
  'GET /v1/refunds/:id': {
    access: 'any payments:refund|merchant:read',
    objects: {
      target: (f) => ({ params: { id: f.id.refund } }),
      refused: [404, 'REFUND_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'POST /v1/payouts': { access: 'client payouts:write', ownerless: "pays out the token's merchant's own balance; no id in the request" },
  'GET /v1/payouts': {
    access: 'any payouts:write|merchant:read',
    isolation: { query: 'limit=100', markers: (f) => [f.id.payout], owners: [merchantA], others: [merchantB] },
  },
  'GET /v1/payouts/:id': {
    access: 'any payouts:write|merchant:read',
    objects: {
      target: (f) => ({ params: { id: f.id.payout } }),
      refused: [404, 'PAYOUT_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 200]],
    },
  },
  'GET /v1/merchant/balance': { access: 'client merchant:read', ownerless: "the token's merchant's balances; no id in the request" },
  'GET /v1/merchant/statement': {
    access: 'client merchant:read',
    isolation: {
      query: 'limit=100',
      markers: (f) => [f.id.intentPaid, f.id.refund, f.id.payout],
      owners: [merchantA],
      others: [merchantB],
    },
  },
  'GET /v1/wallet': {
    access: 'user wallet:read',
    isolation: { markers: (f) => [f.id.intentPaid, f.id.refund], owners: [ada], others: [bo, cy] },
  },
  'POST /v1/wallet/top-ups': { access: 'user payments:pay', ownerless: "tops up the token's own user's wallet; no id in the request" },

  'POST /v1/waiver-policies': { access: 'client policies:manage', ownerless: "creates a policy of the token's merchant" },
  'GET /v1/waiver-policies': {
    access: 'client policies:manage',
    isolation: { query: 'limit=100', markers: (f) => [f.id.policyA], owners: [merchantA], others: [merchantB] },
  },
  'GET /v1/waiver-policies/:id': {
    access: 'any policies:manage|waivers:request',
    objects: {
      target: (f) => ({ params: { id: f.id.policyA } }),
      refused: [404, 'POLICY_NOT_FOUND'],
      intruders: [merchantB, cy, adaAtB],
      owners: [
        [merchantA, 200],
        [ada, 200],
      ],
    },
  },
  'POST /v1/waiver-policies/:id/versions': {
    access: 'client policies:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.policyA }, body: TERMS }),
      refused: [404, 'POLICY_NOT_FOUND'],
      intruders: [merchantB],
      owners: [[merchantA, 201]],
    },
  },
  'GET /v1/waiver-policies/:id/versions/:version': {
    access: 'any policies:manage|waivers:request',
    objects: {
      target: (f) => ({ params: { id: f.id.policyA, version: '1' } }),
      refused: [404, 'POLICY_NOT_FOUND'],
      intruders: [merchantB, cy, adaAtB],
      owners: [
        [merchantA, 200],
        [ada, 200],
      ],
    },
  },
  'POST /v1/waivers/decisions': {
    access: 'user waivers:request',
    objects: {
      target: (f) => ({ body: { policyId: f.id.policyA } }),
      refused: [404, 'POLICY_NOT_FOUND'],
      intruders: [cy, adaAtB],
      owners: [[ada, 201]],
    },
  },
  'GET /v1/waivers/decisions/:id': {
    access: 'any waivers:request|agreements:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.decision } }),
      refused: [404, 'DECISION_NOT_FOUND'],
      intruders: [merchantB, bo, cy, adaAtB],
      owners: [
        [merchantA, 200],
        [ada, 200],
      ],
    },
  },
  'POST /v1/deposit-agreements': {
    access: 'user waivers:request',
    objects: {
      target: (f) => ({ body: { decisionId: f.id.decisionToSign } }),
      refused: [404, 'DECISION_NOT_FOUND'],
      intruders: [bo, cy, adaAtB],
      owners: [[ada, 201]],
    },
  },
  'GET /v1/deposit-agreements': {
    access: 'any waivers:request|agreements:manage',
    isolation: {
      query: 'limit=100',
      markers: (f) => [f.id.agreementToActivate, f.id.agreementToCancel, f.id.agreementToComplete],
      owners: [merchantA, ada],
      others: [merchantB, bo, cy, adaAtB],
    },
  },
  'GET /v1/deposit-agreements/:id': {
    access: 'any waivers:request|agreements:manage',
    objects: {
      target: (f) => ({ params: { id: f.id.agreementToActivate } }),
      refused: [404, 'AGREEMENT_NOT_FOUND'],
      intruders: [merchantB, bo, cy, adaAtB],
      owners: [
        [merchantA, 200],
        [ada, 200],
      ],
    },
  },
  ...Object.fromEntries(
    (
      [
        ['activate', 'agreementToActivate', {}],
        ['complete', 'agreementToComplete', { finalChargeMinor: '100' }],
        ['cancel', 'agreementToCancel', {}],
        ['default', 'agreementToDefault', {}],
        ['claim', 'agreementToClaim', { amountMinor: '100' }],
      ] as const
    ).map(([action, agreement, body]): [string, Entry] => [
      `POST /v1/deposit-agreements/:id/${action}`,
      {
        access: 'client agreements:manage',
        objects: {
          target: (f) => ({ params: { id: f.id[agreement] }, body }),
          refused: [404, 'AGREEMENT_NOT_FOUND'],
          intruders: [merchantB],
          owners: [[merchantA, 200]],
        },
      },
    ]),
  ),

  'POST /v1/ledger/accounts': { access: 'any ledger:write', ownerless: PLATFORM_LEDGER },
  'POST /v1/ledger/accounts/:id/close': { access: 'any ledger:write', ownerless: PLATFORM_LEDGER },
  'POST /v1/ledger/transfers': { access: 'any ledger:write', ownerless: PLATFORM_LEDGER },
  'POST /v1/ledger/transfers/:id/post': { access: 'any ledger:write', ownerless: PLATFORM_LEDGER },
  'POST /v1/ledger/transfers/:id/void': { access: 'any ledger:write', ownerless: PLATFORM_LEDGER },
  'POST /v1/ledger/checkpoints': { access: 'any ledger:write', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/accounts/:id': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/balances': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/accounts/:id/entries': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/transfers': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/transfers/:id': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/checkpoints': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'POST /v1/ledger/verifications': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/trial-balance': { access: 'any ledger:write|audit:read', ownerless: PLATFORM_LEDGER },
  'GET /v1/ledger/export': { access: 'any audit:read', ownerless: COMPLIANCE_WIDE },
  'GET /v1/compliance/reconciliation': { access: 'any audit:read', ownerless: COMPLIANCE_WIDE },
  'GET /v1/compliance/transfers/:id': { access: 'any audit:read', ownerless: COMPLIANCE_WIDE },
  'GET /v1/compliance/accounts/:id/balance-history': { access: 'any audit:read', ownerless: COMPLIANCE_WIDE },
  'GET /v1/audit/events': { access: 'any audit:read', ownerless: COMPLIANCE_WIDE },
  'POST /v1/audit/verifications': { access: 'any audit:read', ownerless: COMPLIANCE_WIDE },
};

const keyOf = (route: ServedRoute) => `${route.method} ${route.path}`;
const entries = Object.entries(SWEEP);
const protectedKeys = entries.filter(([, entry]) => entry.access !== 'public').map(([key]) => key);
const objectRoutes = entries.flatMap(([key, entry]): [string, ObjectCheck][] => ('objects' in entry ? [[key, entry.objects]] : []));
const isolationRoutes = entries.flatMap(([key, entry]): [string, IsolationCheck][] =>
  'isolation' in entry ? [[key, entry.isolation]] : [],
);

/** A declared rule in the sweep's notation. */
function notation(rule: AccessRule | undefined): string {
  if (rule === undefined) return 'no rule';
  if (rule.public) return 'public';
  return [rule.caller, ...rule.allOf, ...(rule.anyOf.length > 0 ? [rule.anyOf.join('|')] : [])].join(' ');
}

/** Whether a token of `kind` holding `scopes` meets the rule (the guard checks the caller kind first). */
function refusalOf(rule: AccessRule, kind: ClientType, scopes: readonly string[]): string | null {
  const isUser = kind === 'mini_program';
  if ((rule.caller === 'user' && !isUser) || (rule.caller === 'client' && isUser)) return 'WRONG_CALLER';
  if (!rule.allOf.every((scope) => scopes.includes(scope))) return 'INSUFFICIENT_SCOPE';
  if (rule.anyOf.length > 0 && !rule.anyOf.some((scope) => scopes.includes(scope))) return 'INSUFFICIENT_SCOPE';
  return null;
}

function fill(path: string, params: Readonly<Record<string, string>>): string {
  return path.replace(/:(\w+)/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${path}`);
    return encodeURIComponent(value);
  });
}

/** Random ids for every path parameter (a version number for `:version`). */
function randomParams(path: string): Record<string, string> {
  return Object.fromEntries([...path.matchAll(/:(\w+)/g)].map(([, name = '']) => [name, name === 'version' ? '1' : randomUUID()]));
}

describe('authorization sweep: every route refuses the wrong caller', () => {
  let t: TestApp;
  let f: Fixtures;
  let declared: Map<string, DeclaredRoute>;
  let served: ServedRoute[];
  let signing: Awaited<ReturnType<typeof serverSigningKey>>;
  /** A real token of each kind: its claims are the template every minted variant starts from. */
  let baseToken: Record<ClientType, string>;

  const send = async (key: string, target: Target, token: string | null): Promise<Response> => {
    const [method = '', path = ''] = key.split(' ');
    const url = `${fill(path, target.params ?? {})}${target.query === undefined ? '' : `?${target.query}`}`;
    let request = t.http()[method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'](url).set('Idempotency-Key', randomUUID());
    if (token !== null) request = request.set(bearer(token));
    return method === 'GET' || method === 'DELETE' ? await request : await request.send(target.body ?? {});
  };

  /** A token minted with the service's own signing key from a real token's claims. */
  const mint = async (kind: ClientType, overrides: Record<string, unknown>): Promise<string> =>
    signJwt(signing.key, { ...claimsOf(baseToken[kind]), jti: randomUUID(), ...overrides }, { kid: signing.kid });

  const digest = () => businessTablesDigest(t.dataSource);

  beforeAll(async () => {
    t = await startTestApp({
      extraModules: [RouteInventoryModule],
      env: { WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_DISPATCH_INTERVAL_MS: '0' },
    });
    const inventory = t.app.get(RouteInventory);
    declared = new Map(inventory.declaredRoutes().map((route) => [keyOf(route), route]));
    served = inventory.servedRoutes();
    signing = await serverSigningKey(t);

    const allMerchantScopes = SCOPES_BY_CLIENT_TYPE.merchant.join(' ');
    const allUserScopes = SCOPES_BY_CLIENT_TYPE.mini_program.join(' ');
    const [A, B] = await Promise.all([
      paymentsMerchant(t, 'Shanghai Bike Co.', allMerchantScopes),
      paymentsMerchant(t, 'Hangzhou Power Banks', allMerchantScopes),
    ]);
    const platformClient = await createConfidentialClient(t, 'platform', null);
    const complianceClient = await createConfidentialClient(t, 'compliance', null);
    const [platform, compliance, adaUser, boUser, cyUser] = await Promise.all([
      clientCredentialsToken(t, platformClient.clientId, platformClient.clientSecret, 'admin ledger:write'),
      clientCredentialsToken(t, complianceClient.clientId, complianceClient.clientSecret, 'audit:read'),
      payingUser(t, A, 'score-700@test.invalid', allUserScopes),
      payingUser(t, A, 'score-660@test.invalid', allUserScopes),
      payingUser(t, B, 'score-680@test.invalid', allUserScopes),
    ]);
    const adaToken = adaUser.token;
    const adaAtBToken = await userTokenAt(t, B, adaUser, allUserScopes);
    baseToken = { mini_program: adaToken, merchant: A.token, compliance, platform };

    const ok = async (response: Promise<Response> | Response, status: number): Promise<Record<string, unknown>> => {
      const settled = await response;
      expect({ status: settled.status, body: settled.body as unknown }).toMatchObject({ status });
      return settled.body as Record<string, unknown>;
    };
    const idOf = (body: Record<string, unknown>) => String(body.id);

    // ada: verified, scored, with money in her wallet.
    const first17 = '31010119880808201';
    await ok(
      postAndRetry(t, '/v1/identity/verifications', adaToken, { fullName: '骑手', idNumber: `${first17}${checkCharacter(first17)}` }),
      201,
    );
    const identity = await ok(t.http().get('/v1/identity').set(bearer(adaToken)), 200);
    await topUp(t, adaToken, '1000000');

    // Webhook endpoints first, so that the payments below leave deliveries.
    const hook = { url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment_intent.succeeded'] };
    const endpointA = idOf(await ok(postOnce(t, '/v1/webhook-endpoints', A.token, hook), 201));
    const endpointB = idOf(await ok(postOnce(t, '/v1/webhook-endpoints', B.token, hook), 201));
    const endpointToToggle = idOf(await ok(postOnce(t, '/v1/webhook-endpoints', A.token, hook), 201));

    const intent = async (captureMethod: 'automatic' | 'manual') =>
      (await createIntent(t, A.token, { amountMinor: '1000', captureMethod, userId: adaUser.id })).id;
    const [intentToConfirm, intentToCapture, intentToCancel, intentPaid] = [
      await intent('automatic'),
      await intent('manual'),
      await intent('automatic'),
      await intent('automatic'),
    ];
    await ok(postAndRetry(t, `/v1/payment-intents/${intentPaid}/confirm`, adaToken), 200);
    await ok(postAndRetry(t, `/v1/payment-intents/${intentToCapture}/confirm`, adaToken), 200);
    const refund = idOf(await ok(postAndRetry(t, '/v1/refunds', A.token, { paymentIntentId: intentPaid, amountMinor: '100' }), 201));
    const payout = idOf(await ok(postAndRetry(t, '/v1/payouts', A.token, { amountMinor: '100', currency: 'CNY' }), 201));
    const deliveries = await ok(t.http().get(`/v1/webhook-endpoints/${endpointA}/deliveries`).set(bearer(A.token)), 200);
    const deliveryA = String((deliveries.data as { id: string }[])[0]?.id);

    const grants = (await ok(t.http().get('/v1/me/grants').set(bearer(adaToken)), 200)).data as { id: string; clientId: string }[];
    const grantOf = (clientId: string) => String(grants.find((grant) => grant.clientId === clientId)?.id);

    // Waivers: a policy of merchant A, ada's decisions under it, her agreements in each state a transition starts from.
    const policyA = idOf(await ok(postAndRetry(t, '/v1/waiver-policies', A.token, { name: 'Bike deposit', version: TERMS }), 201));
    const decide = async () =>
      idOf(await ok(t.http().post('/v1/waivers/decisions').set(bearer(adaToken)).send({ policyId: policyA }), 201));
    const sign = async () => idOf(await ok(postAndRetry(t, '/v1/deposit-agreements', adaToken, { decisionId: await decide() }), 201));
    const act = async (id: string, action: string) => ok(postAndRetry(t, `/v1/deposit-agreements/${id}/${action}`, A.token), 200);
    const decision = await decide();
    const decisionToSign = await decide();
    const [agreementToActivate, agreementToCancel, agreementToComplete, agreementToDefault, agreementToClaim] = [
      await sign(),
      await sign(),
      await sign(),
      await sign(),
      await sign(),
    ];
    for (const id of [agreementToComplete, agreementToDefault, agreementToClaim]) await act(id, 'activate');
    await act(agreementToClaim, 'default');

    f = {
      A,
      B,
      platform,
      compliance,
      ada: { id: adaUser.id, token: adaToken },
      adaAtB: adaAtBToken,
      bo: { id: boUser.id, token: boUser.token },
      cy: { id: cyUser.id, token: cyUser.token },
      id: {
        endpointA,
        endpointToToggle,
        endpointB,
        deliveryA,
        intentToConfirm,
        intentToCapture,
        intentToCancel,
        intentPaid,
        refund,
        payout,
        policyA,
        decision,
        decisionToSign,
        agreementToActivate,
        agreementToCancel,
        agreementToComplete,
        agreementToDefault,
        agreementToClaim,
        grantAtA: grantOf(A.miniProgram.clientId),
        grantAtB: grantOf(B.miniProgram.clientId),
        maskedIdNumber: String(identity.maskedIdNumber),
      },
    };
    // Every fixture id was found (a missing one would read "undefined" and make a check vacuous).
    expect(Object.entries(f.id).filter(([, value]) => value.length < 8 || value === 'undefined')).toEqual([]);
  }, 120_000);
  afterAll(async () => {
    await t.close();
  });

  describe('the route table', () => {
    it('covers every route the application serves, and names none it does not', () => {
      expect(served.length).toBeGreaterThan(80);
      expect(served.map(keyOf).sort()).toEqual(Object.keys(SWEEP).sort());
    });

    it('finds every controller route among the served ones', () => {
      const servedKeys = new Set(served.map(keyOf));
      expect([...declared.keys()].filter((key) => !servedKeys.has(key))).toEqual([]);
    });

    it('holds, for every route, exactly the access the route declares', () => {
      const mismatches = entries
        .map(([key, entry]) => ({
          route: key,
          table: entry.access,
          declared: declared.has(key) ? notation(declared.get(key)?.rule) : 'public (not a controller route)',
        }))
        .filter((row) => row.table !== row.declared && !(row.table === 'public' && row.declared.startsWith('public')));
      expect(mismatches).toEqual([]);
    });

    it('checks the objects of every route that takes an id, or says why a route has none', () => {
      const withId = protectedKeys.filter((key) => key.includes('/:'));
      const unexplained = withId.filter((key) => {
        const entry = SWEEP[key];
        return entry === undefined || !('objects' in entry || 'ownerless' in entry);
      });
      expect(unexplained).toEqual([]);
      expect(objectRoutes.length).toBeGreaterThanOrEqual(20);
    });
  });

  it('answers every public route without asking for a token, and never with a server error', async () => {
    const answers = await Promise.all(
      entries
        .filter(([, entry]) => entry.access === 'public')
        .map(async ([key]) => {
          const response = await send(key.replace('/*', '/swagger-ui.css'), { params: randomParams(key) }, null);
          return { route: key, asksForToken: response.status === 401 || response.status === 403, serverError: response.status >= 500 };
        }),
    );
    expect(answers.filter((answer) => answer.asksForToken || answer.serverError)).toEqual([]);
  });

  describe('who may call', () => {
    it.each(protectedKeys)(
      '%s: no token, an expired token, each missing scope and the wrong caller are refused; the right token passes',
      async (key) => {
        const rule = declared.get(key)?.rule;
        if (rule === undefined || rule.public) throw new Error(`${key} declares no protected rule`);
        const path = key.split(' ')[1] ?? '';
        const target = (): Target => ({ params: randomParams(path), body: {} });
        const fullScopes = (kind: ClientType) => [...SCOPES_BY_CLIENT_TYPE[kind]];
        const admitted = CLIENT_TYPES.filter((kind) => refusalOf(rule, kind, fullScopes(kind)) === null);
        expect({ key, admitted: admitted.length > 0 }).toEqual({ key, admitted: true });
        const now = Math.floor(Date.now() / 1000);

        const attempts: { what: string; token: string | null; status: number; code: string }[] = [
          { what: 'no token', token: null, status: 401, code: 'TOKEN_MISSING' },
          {
            what: `an expired ${admitted[0]} token with every scope`,
            token: await mint(admitted[0] ?? 'platform', {
              scope: fullScopes(admitted[0] ?? 'platform').join(' '),
              iat: now - 7200,
              exp: now - 3600,
            }),
            status: 401,
            code: 'TOKEN_INVALID',
          },
        ];
        for (const kind of admitted) {
          const missing = [...rule.allOf.map((scope) => [scope]), ...(rule.anyOf.length > 0 ? [[...rule.anyOf]] : [])];
          for (const lacking of missing) {
            attempts.push({
              what: `a ${kind} token with every scope but ${lacking.join(', ')}`,
              token: await mint(kind, {
                scope: fullScopes(kind)
                  .filter((scope) => !lacking.includes(scope))
                  .join(' '),
              }),
              status: 403,
              code: 'INSUFFICIENT_SCOPE',
            });
          }
        }
        if (rule.caller !== 'any') {
          const wrongKind: ClientType = rule.caller === 'user' ? 'merchant' : 'mini_program';
          attempts.push({
            what: `a ${wrongKind} token holding the route's scopes`,
            token: await mint(wrongKind, { scope: [...new Set([...fullScopes(wrongKind), ...rule.allOf, ...rule.anyOf])].join(' ') }),
            status: 403,
            code: 'WRONG_CALLER',
          });
        }
        const realTokens: [string, ClientType, string][] = [
          ['ada', 'mini_program', f.ada.token],
          ['ada through B', 'mini_program', f.adaAtB],
          ['bo', 'mini_program', f.bo.token],
          ['cy', 'mini_program', f.cy.token],
          ['merchant A', 'merchant', f.A.token],
          ['merchant B', 'merchant', f.B.token],
          ['the platform', 'platform', f.platform],
          ['compliance', 'compliance', f.compliance],
        ];
        for (const [who, kind, token] of realTokens) {
          const code = refusalOf(rule, kind, String(claimsOf(token).scope ?? '').split(' '));
          if (code !== null) attempts.push({ what: `the real token of ${who}`, token, status: 403, code });
        }

        const before = await digest();
        const responses = await Promise.all(attempts.map((attempt) => send(key, target(), attempt.token)));
        expect(
          responses.map((response, index) => ({ what: attempts[index]?.what, status: response.status, code: response.body?.code })),
        ).toEqual(attempts.map((attempt) => ({ what: attempt.what, status: attempt.status, code: attempt.code })));
        for (const [index, response] of responses.entries()) {
          const attempt = attempts[index];
          if (attempt === undefined) continue;
          expectProblem(response, attempt.status, attempt.code);
          expect({ what: attempt.what, challenge: response.headers['www-authenticate'] }).toEqual({
            what: attempt.what,
            challenge:
              attempt.status === 401 ? expect.stringMatching(/^Bearer /) : expect.stringMatching(/^Bearer .*error="insufficient_scope"/),
          });
        }
        expect(changedTables(before, await digest())).toEqual([]);

        // The same tokens with the scopes put back pass the guard (whatever the handler then makes of random ids).
        for (const kind of admitted) {
          const response = await send(key, target(), await mint(kind, { scope: fullScopes(kind).join(' ') }));
          const code = (response.body as { code?: string } | undefined)?.code;
          expect({
            key,
            kind,
            refusedByGuard: response.status === 401 || code === 'INSUFFICIENT_SCOPE' || code === 'WRONG_CALLER',
            serverError: response.status >= 500,
          }).toEqual({ key, kind, refusedByGuard: false, serverError: false });
        }
      },
    );
  });

  describe("another merchant's or user's object", () => {
    it.each(objectRoutes)('%s: refused, changing nothing; the owner succeeds', async (key, check) => {
      for (const intruder of check.intruders) {
        const target = (intruder.target ?? check.target)(f);
        const [status, code] = intruder.refused ?? check.refused;
        const before = await digest();
        const response = await send(key, target, intruder.token(f));
        expect({ intruder: intruder.who, status: response.status, code: response.body?.code }).toEqual({
          intruder: intruder.who,
          status,
          code,
        });
        expectProblem(response, status, code);
        expect({ intruder: intruder.who, changed: changedTables(before, await digest()) }).toEqual({ intruder: intruder.who, changed: [] });
      }
      for (const [owner, status] of check.owners) {
        const response = await send(key, check.target(f), owner.token(f));
        expect({ owner: owner.who, status: response.status, body: response.status === status ? null : response.body }).toEqual({
          owner: owner.who,
          status,
          body: null,
        });
      }
    });
  });

  describe('lists and "mine" routes', () => {
    it.each(isolationRoutes)('%s shows the owner its objects and nobody else any of them', async (key, check) => {
      const target: Target = check.query === undefined ? {} : { query: check.query };
      const markers = new Set<string>();
      for (const owner of check.owners) {
        const response = await send(key, target, owner.token(f));
        expect({ owner: owner.who, status: response.status }).toEqual({ owner: owner.who, status: 200 });
        const own = check.markers(f, response.body as Record<string, unknown>);
        const text = JSON.stringify(response.body);
        expect({ owner: owner.who, missing: own.filter((marker) => marker.length < 8 || !text.includes(marker)) }).toEqual({
          owner: owner.who,
          missing: [],
        });
        for (const marker of own) markers.add(marker);
      }
      expect(markers.size).toBeGreaterThan(0);
      for (const other of check.others) {
        const response = await send(key, target, other.token(f));
        expect({ other: other.who, status: response.status }).toEqual({ other: other.who, status: 200 });
        const text = JSON.stringify(response.body);
        expect({ other: other.who, sees: [...markers].filter((marker) => text.includes(marker)) }).toEqual({ other: other.who, sees: [] });
      }
    });
  });
});
