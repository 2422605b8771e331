import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/common/clock/clock.js';
import { WebhookDispatcher } from '../../src/webhooks/webhook-dispatcher.js';
import { verifySignature } from '../../src/webhooks/webhook-signature.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { expectProblem } from '../support/oauth.js';
import {
  bearer,
  createIntent,
  type MerchantFixture,
  payingUser,
  paymentsMerchant,
  postAndRetry,
  postOnce,
  topUp,
} from '../support/payments.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTP receiver on loopback: answers 503 on a path while it is "down", 200 otherwise, and keeps every request. */
class Receiver {
  readonly received: Received[] = [];
  readonly down = new Set<string>();
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        this.received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.statusCode = this.down.has(path) ? 503 : 200;
        response.end(this.down.has(path) ? 'down for maintenance' : 'ok');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server?.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((entry) => entry.path === path);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('webhooks: signed, retried with backoff, delivered once the receiver recovers', () => {
  let t: TestApp;
  let shop: MerchantFixture;
  let rival: MerchantFixture;
  let ada: { id: string; token: string };
  const receiver = new Receiver();
  const clock = new ManualClock('2026-06-01T09:00:00.000Z');
  let endpoint: { id: string; secret: string };
  const dispatch = () => t.app.get(WebhookDispatcher).dispatchDue();
  const deliveries = async (endpointId: string, token = shop.token) => {
    const response = await t.http().get(`/v1/webhook-endpoints/${endpointId}/deliveries`).set(bearer(token));
    return response;
  };

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp({ clock, env: { WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_DISPATCH_INTERVAL_MS: '0' } });
    shop = await paymentsMerchant(t, 'Shanghai Bike Co.');
    rival = await paymentsMerchant(t, 'Rival Scooters');
    ada = await payingUser(t, shop, 'ada@example.com');
    await topUp(t, ada.token, '100000');
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
    await receiver.stop();
  });

  it('registers an endpoint and shows its secret once', async () => {
    const key = crypto.randomUUID();
    const body = { url: receiver.url('/hooks'), eventTypes: ['payment_intent.succeeded', 'refund.succeeded'] };
    const created = await postOnce(t, '/v1/webhook-endpoints', shop.token, body, key);
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    endpoint = { id: created.body.id as string, secret: created.body.secret as string };
    const replay = await postOnce(t, '/v1/webhook-endpoints', shop.token, body, key);
    expect(replay.status).toBe(201);
    expect(replay.body).toMatchObject({ id: endpoint.id, secret: null });
    const shown = await t.http().get(`/v1/webhook-endpoints/${endpoint.id}`).set(bearer(shop.token));
    expect(shown.body).not.toHaveProperty('secret');
    expectProblem(await t.http().get(`/v1/webhook-endpoints/${endpoint.id}`).set(bearer(rival.token)), 404, 'WEBHOOK_ENDPOINT_NOT_FOUND');
    expectProblem(
      await postOnce(t, '/v1/webhook-endpoints', shop.token, { url: 'ftp://example.com/x', eventTypes: ['payout.paid'] }),
      400,
      'INVALID_WEBHOOK_URL',
    );
    expect((await postOnce(t, '/v1/webhook-endpoints', shop.token, { url: receiver.url('/x'), eventTypes: ['nope'] })).status).toBe(400);
  });

  it('retries a failing receiver with growing delays, then delivers once it recovers, signed and with a stable event id', async () => {
    receiver.down.add('/hooks');
    const intent = await createIntent(t, shop.token, { amountMinor: 1234 });
    await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);

    expect(await dispatch()).toBe(1);
    expect(receiver.at('/hooks')).toHaveLength(1);
    let log = (await deliveries(endpoint.id)).body.data[0];
    expect(log).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 503, eventType: 'payment_intent.succeeded' });
    const firstRetryAt = new Date(log.nextAttemptAt as string).getTime() - clock.nowMs();
    // The first retry comes after 5 to 10 seconds (10 s base, jittered).
    expect(firstRetryAt).toBeGreaterThanOrEqual(5000);
    expect(firstRetryAt).toBeLessThanOrEqual(10_000);
    // Not due yet: nothing is sent.
    expect(await dispatch()).toBe(0);

    clock.advance(firstRetryAt);
    expect(await dispatch()).toBe(1);
    log = (await deliveries(endpoint.id)).body.data[0];
    expect(log).toMatchObject({ status: 'pending', attempts: 2, lastStatusCode: 503 });
    const secondRetryAt = new Date(log.nextAttemptAt as string).getTime() - clock.nowMs();
    expect(secondRetryAt).toBeGreaterThanOrEqual(10_000);
    expect(secondRetryAt).toBeLessThanOrEqual(20_000);

    receiver.down.delete('/hooks');
    clock.advance(secondRetryAt);
    expect(await dispatch()).toBe(1);
    log = (await deliveries(endpoint.id)).body.data[0];
    expect(log).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200, nextAttemptAt: null });
    expect(await dispatch()).toBe(0);

    const attempts = receiver.at('/hooks');
    expect(attempts).toHaveLength(3);
    const eventIds = new Set(attempts.map((attempt) => attempt.headers['creditgate-event-id']));
    expect(eventIds.size).toBe(1);
    const delivered = attempts[2] as Received;
    const signature = String(delivered.headers['creditgate-signature']);
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(signature, endpoint.secret, delivered.body, Math.floor(clock.nowMs() / 1000))).toBe(true);
    expect(verifySignature(signature, 'whsec_wrong', delivered.body, Math.floor(clock.nowMs() / 1000))).toBe(false);
    const event = JSON.parse(delivered.body) as { id: string; type: string; data: { object: { id: string; status: string } } };
    expect(event).toMatchObject({
      id: [...eventIds][0],
      type: 'payment_intent.succeeded',
      data: { object: { id: intent.id, status: 'succeeded' } },
    });
    // The secret never reaches a log line.
    expect(t.logLines.some((line) => line.includes(endpoint.secret))).toBe(false);
  });

  it('sends only the subscribed event types, and redelivers on request with the same event id', async () => {
    const before = receiver.at('/hooks').length;
    await postAndRetry(t, '/v1/payouts', shop.token, { amountMinor: 100, currency: 'CNY' });
    expect(await dispatch()).toBe(0);
    expect(receiver.at('/hooks')).toHaveLength(before);

    const [delivered] = (await deliveries(endpoint.id)).body.data as { id: string; eventId: string }[];
    const redelivery = await postAndRetry(t, `/v1/webhook-endpoints/${endpoint.id}/deliveries/${delivered?.id}/redeliver`, shop.token);
    expect(redelivery.status).toBe(201);
    expect(redelivery.body).toMatchObject({ status: 'pending', eventId: delivered?.eventId });
    expectProblem(
      await postAndRetry(t, `/v1/webhook-endpoints/${endpoint.id}/deliveries/${delivered?.id}/redeliver`, rival.token),
      404,
      'WEBHOOK_ENDPOINT_NOT_FOUND',
    );
    expect(await dispatch()).toBe(1);
    const again = receiver.at('/hooks').at(-1);
    expect(again?.headers['creditgate-event-id']).toBe(delivered?.eventId);
    expectProblem(await deliveries(endpoint.id, rival.token), 404, 'WEBHOOK_ENDPOINT_NOT_FOUND');
  });

  it('delivers each event once even with two dispatchers racing', async () => {
    const before = receiver.at('/hooks').length;
    const intents = await Promise.all(Array.from({ length: 6 }, () => createIntent(t, shop.token, { amountMinor: 10 })));
    for (const intent of intents) await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    const [a, b] = await Promise.all([dispatch(), dispatch()]);
    expect((a ?? 0) + (b ?? 0)).toBe(6);
    expect(receiver.at('/hooks').length - before).toBe(6);
  });

  it('stops sending to a disabled endpoint at once, and sends new events only once it is enabled again', async () => {
    const created = await postOnce(t, '/v1/webhook-endpoints', shop.token, {
      url: receiver.url('/paused'),
      eventTypes: ['payment_intent.succeeded'],
    });
    const id = created.body.id as string;
    const pay = async () => {
      const intent = await createIntent(t, shop.token, { amountMinor: 20 });
      await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    };
    receiver.down.add('/paused');
    await pay();
    await dispatch();
    expect(receiver.at('/paused')).toHaveLength(1);
    const [pending] = (await deliveries(id)).body.data as { id: string; status: string }[];
    expect(pending?.status).toBe('pending');

    expectProblem(await postAndRetry(t, `/v1/webhook-endpoints/${id}/disable`, rival.token), 404, 'WEBHOOK_ENDPOINT_NOT_FOUND');
    const disabled = await postAndRetry(t, `/v1/webhook-endpoints/${id}/disable`, shop.token);
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ id, status: 'disabled' });
    expect((await postAndRetry(t, `/v1/webhook-endpoints/${id}/disable`, shop.token)).body).toMatchObject({ status: 'disabled' });
    expect((await deliveries(id)).body.data[0]).toMatchObject({ id: pending?.id, status: 'failed', lastError: 'endpoint disabled' });

    receiver.down.delete('/paused');
    clock.advance(60 * 60 * 1000);
    await pay();
    await dispatch();
    expect(receiver.at('/paused')).toHaveLength(1);
    expect((await deliveries(id)).body.data).toHaveLength(1);
    expectProblem(
      await postAndRetry(t, `/v1/webhook-endpoints/${id}/deliveries/${pending?.id}/redeliver`, shop.token),
      409,
      'WEBHOOK_ENDPOINT_DISABLED',
    );

    expect((await postAndRetry(t, `/v1/webhook-endpoints/${id}/enable`, shop.token)).body).toMatchObject({ status: 'enabled' });
    await pay();
    await dispatch();
    expect(receiver.at('/paused')).toHaveLength(2);
    const events: { action: string; details: Record<string, unknown> }[] = await t.dataSource.query(
      `SELECT action, details FROM audit_events WHERE resource_id = $1 AND action LIKE 'webhook.endpoint.%abled' ORDER BY occurred_at, id`,
      [id],
    );
    expect(events).toEqual([
      { action: 'webhook.endpoint.disabled', details: { changed: true, failedDeliveries: 1 } },
      { action: 'webhook.endpoint.disabled', details: { changed: false, failedDeliveries: 0 } },
      { action: 'webhook.endpoint.enabled', details: { changed: true, failedDeliveries: 0 } },
    ]);
  });

  it('gives up after 24 hours of failures, with every attempt in the log', async () => {
    const created = await postOnce(t, '/v1/webhook-endpoints', shop.token, {
      url: receiver.url('/dead'),
      eventTypes: ['refund.succeeded'],
    });
    receiver.down.add('/dead');
    const intent = await createIntent(t, shop.token, { amountMinor: 500 });
    await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: intent.id, amountMinor: 100 });
    let rounds = 0;
    for (; rounds < 60; rounds += 1) {
      await dispatch();
      const log = (await deliveries(created.body.id as string)).body.data[0];
      if (log.status !== 'pending') break;
      clock.set(log.nextAttemptAt as string);
    }
    const log = (await deliveries(created.body.id as string)).body.data[0];
    expect(log.status).toBe('failed');
    expect(log.attempts).toBeGreaterThan(10);
    expect(receiver.at('/dead')).toHaveLength(log.attempts as number);
    const attempts: { attempt: number }[] = await t.dataSource.query(
      'SELECT attempt FROM webhook_delivery_attempts WHERE delivery_id = $1',
      [log.id],
    );
    expect(attempts).toHaveLength(log.attempts as number);
  });
});
