import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/common/clock/clock.js';
import { ExpirySweeper } from '../../src/ledger/expiry-sweeper.js';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import { PaymentIntentsService } from '../../src/payments/payment-intents.service.js';
import { agreementTransferId, DepositAgreementsService } from '../../src/waivers/deposit-agreements.service.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { bearer, createIntent, type MerchantFixture, payingUser, paymentsMerchant, postOnce, topUp } from '../support/payments.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { testServerUrl } from '../support/test-database.js';

const LEDGER_PENDING = 60;
const INTENTS = 15;
const AGREEMENTS = 15;
/** Concurrent calls of each sweeper on each instance: more racers than two timers would ever be. */
const RACERS = 3;
const LIFETIME_SECONDS = 60;

const MERCHANT_SCOPES = 'payments:write payments:refund merchant:read policies:manage agreements:manage';
const USER_SCOPES = 'payments:pay wallet:read waivers:request credit:score';

/** Sums what each call returned (how many items it says it expired). */
const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

// Several instances share only a PostgreSQL server database, not the embedded one.
const onServer = testServerUrl() === undefined ? describe.skip : describe;

onServer('the expiry sweepers of two instances on one database', () => {
  const clock = new ManualClock(new Date());
  let first: TestApp;
  let second: TestApp;
  let merchant: MerchantFixture;
  let rider: { id: string; token: string };

  beforeAll(async () => {
    const env = { PAYMENTS_AUTHORIZATION_TTL_SECONDS: String(LIFETIME_SECONDS) };
    first = await startTestApp({ clock, env });
    // One issuer for both, as behind a load balancer: a token from one is good at the other.
    second = await startTestApp({ clock, env: { ...env, PUBLIC_URL: first.config.publicUrl }, shareDatabaseWith: first });
    merchant = await paymentsMerchant(first, 'Shanghai Bike Co.', MERCHANT_SCOPES);
    rider = await payingUser(first, merchant, 'score-700@test.invalid', USER_SCOPES);
    await topUp(first, rider.token, '1000000');
  });
  afterAll(async () => {
    await expectLedgerInvariants(first.dataSource);
    await second.close();
    await first.close();
  });

  it('expire every due pending transfer, authorisation and deposit agreement exactly once, however many race', async () => {
    // Pending ledger transfers, timing out in a minute.
    const ledger = first.app.get(LedgerService);
    const funding = (await ledger.openAccount({ code: 'external:sweepers:CNY', currency: 'CNY' })).account;
    const wallet = (await ledger.openAccount({ code: 'user:sweepers:wallet', currency: 'CNY' })).account;
    const pendingIds = Array.from({ length: LEDGER_PENDING }, () => randomUUID());
    const submitted = await ledger.submit(
      pendingIds.map((id) => ({
        type: 'transfer' as const,
        id,
        debitAccountId: funding.id,
        creditAccountId: wallet.id,
        amount: 100n,
        currency: 'CNY',
        code: 'sweeper_test',
        pending: true,
        timeoutSeconds: LIFETIME_SECONDS,
      })),
    );
    expect(submitted.every((result) => result.ok)).toBe(true);

    // Manual-capture payment intents, authorised (held) for a minute, never captured.
    const intentIds: string[] = [];
    for (let index = 0; index < INTENTS; index += 1) {
      const intent = await createIntent(first, merchant.token, { amountMinor: 1000 + index, captureMethod: 'manual' });
      const confirmed = await postOnce(second, `/v1/payment-intents/${intent.id}/confirm`, rider.token);
      expect(confirmed.body).toMatchObject({ status: 'requires_capture' });
      intentIds.push(intent.id);
    }

    // Deposit agreements living a minute, half the deposit held on the ledger.
    const policy = await postOnce(first, '/v1/waiver-policies', merchant.token, {
      name: 'Short rides',
      version: {
        deposit: { amountMinor: '9900', currency: 'CNY' },
        tiers: [{ minScore: 350, waivePercent: 50 }],
        conditions: { requireVerifiedIdentity: false },
        agreementLifetimeSeconds: LIFETIME_SECONDS,
      },
    });
    expect(policy.status).toBe(201);
    const agreementIds: string[] = [];
    for (let index = 0; index < AGREEMENTS; index += 1) {
      const decision = await first.http().post('/v1/waivers/decisions').set(bearer(rider.token)).send({ policyId: policy.body.id });
      expect(decision.body).toMatchObject({ outcome: 'PARTIAL', depositDue: '4950' });
      const signed = await postOnce(index % 2 === 0 ? first : second, '/v1/deposit-agreements', rider.token, {
        decisionId: decision.body.id,
      });
      expect(signed.body).toMatchObject({ status: 'CREATED', heldAmount: '4950' });
      agreementIds.push(signed.body.id as string);
    }

    // Everything falls due at once; every sweeper of both instances runs, several times over, together.
    clock.advance((LIFETIME_SECONDS + 1) * 1000);
    const instances = [first, second];
    const race = <T>(work: (t: TestApp) => Promise<T>): Promise<T[]> =>
      Promise.all(instances.flatMap((t) => Array.from({ length: RACERS }, () => work(t))));
    const [ledgerCounts, intentCounts, agreementCounts] = await Promise.all([
      race((t) => t.app.get(ExpirySweeper).sweep()),
      race((t) => t.app.get(PaymentIntentsService).expireDue()),
      race((t) => t.app.get(DepositAgreementsService).expireDue()),
    ]);
    expect(sum(intentCounts)).toBe(INTENTS);
    expect(sum(agreementCounts)).toBe(AGREEMENTS);
    // The ledger's sweeper may get to an authorisation's hold before the intents' sweeper (the same expiry id): never twice.
    const holdIds = (
      (await first.dataSource.query('SELECT authorization_transfer_id::text AS id FROM payment_intents WHERE id = ANY($1)', [
        intentIds,
      ])) as { id: string }[]
    ).map((row) => row.id);
    expect(holdIds).toHaveLength(INTENTS);
    expect(sum(ledgerCounts)).toBeGreaterThanOrEqual(LEDGER_PENDING);
    expect(sum(ledgerCounts)).toBeLessThanOrEqual(LEDGER_PENDING + INTENTS);

    // Each pending transfer has one resolution, an expiry, with its two entries; the sweepers' counts add up to them.
    const expiredPending = [...pendingIds, ...holdIds];
    const resolutions: { pending_id: string; kind: string; status: string; entries: number }[] = await first.dataSource.query(
      `SELECT r.pending_id::text, r.kind, p.status, (SELECT count(*)::int FROM ledger_entries e WHERE e.transfer_id = r.id) AS entries
         FROM ledger_transfers r JOIN ledger_transfers p ON p.id = r.pending_id AND p.resolved_by = r.id
        WHERE r.pending_id = ANY($1)`,
      [expiredPending],
    );
    expect(resolutions.map((row) => row.pending_id).sort()).toEqual([...expiredPending].sort());
    for (const row of resolutions) expect(row).toMatchObject({ kind: 'expire_pending', status: 'expired', entries: 2 });
    const [{ expired }] = await first.dataSource.query(
      `SELECT coalesce(sum((details->>'expired')::int), 0)::int AS expired FROM audit_events WHERE action = 'ledger.transfers.expired'`,
    );
    expect(expired).toBe(sum(ledgerCounts));

    // Each intent expired once: one state change, one audit event, one webhook event.
    const intents: { id: string; status: string; audits: number; events: number }[] = await first.dataSource.query(
      `SELECT i.id::text, i.status,
              (SELECT count(*)::int FROM audit_events a WHERE a.action = 'payment_intent.expired' AND a.resource_id = i.id::text) AS audits,
              (SELECT count(*)::int FROM webhook_events w
                WHERE w.type = 'payment_intent.expired' AND w.payload->'data'->'object'->>'id' = i.id::text) AS events
         FROM payment_intents i WHERE i.id = ANY($1)`,
      [intentIds],
    );
    expect(intents).toHaveLength(INTENTS);
    for (const intent of intents) expect(intent).toMatchObject({ status: 'expired', audits: 1, events: 1 });

    // Each agreement expired once: its hold released by one transfer, one audit event, one webhook event.
    const agreements: { id: string; status: string; audits: number; events: number; hold_status: string; resolved_by: string }[] =
      await first.dataSource.query(
        `SELECT d.id::text, d.status, h.status AS hold_status, h.resolved_by::text,
                (SELECT count(*)::int FROM audit_events a WHERE a.action = 'deposit_agreement.expired' AND a.resource_id = d.id::text) AS audits,
                (SELECT count(*)::int FROM webhook_events w
                  WHERE w.type = 'deposit_agreement.expired' AND w.payload->'data'->'object'->>'id' = d.id::text) AS events
           FROM deposit_agreements d JOIN ledger_transfers h ON h.id = d.hold_transfer_id WHERE d.id = ANY($1)`,
        [agreementIds],
      );
    expect(agreements).toHaveLength(AGREEMENTS);
    for (const agreement of agreements) {
      expect(agreement).toMatchObject({
        status: 'EXPIRED',
        audits: 1,
        events: 1,
        hold_status: 'voided',
        resolved_by: agreementTransferId(agreement.id, 'expire-release'),
      });
    }

    // And a second round, on both instances, finds nothing left to do.
    const again = await Promise.all(
      instances.flatMap((t) => [
        t.app.get(ExpirySweeper).sweep(),
        t.app.get(PaymentIntentsService).expireDue(),
        t.app.get(DepositAgreementsService).expireDue(),
      ]),
    );
    expect(again).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
