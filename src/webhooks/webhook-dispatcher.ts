import http from 'node:http';
import https from 'node:https';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { PeriodicTask } from '../common/periodic-task.js';
import { AppConfig } from '../config/app-config.js';
import { retryDelayMs } from './webhook-events.js';
import { WebhookSecretCipher } from './webhook-secret-cipher.js';
import { signatureHeader } from './webhook-signature.js';
import { guardedLookup } from './webhook-url.js';

/** Deliveries one instance claims at a time. */
const CLAIM_BATCH = 50;
/** A claimed delivery is hidden from other instances this much longer than an attempt may take. */
const LEASE_MARGIN_MS = 30_000;
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_ERROR_LENGTH = 500;

interface ClaimedRow {
  id: string;
  attempts: number;
  give_up_at: Date;
  endpoint_id: string;
  url: string;
  secret: string;
  payload: Record<string, unknown>;
  event_id: string;
}

interface AttemptOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * Delivers the outbox at least once. Several instances may run it: each claims due deliveries with
 * `FOR UPDATE SKIP LOCKED` and pushes their next attempt time forward by a lease, commits, and only
 * then makes the HTTP calls (no transaction is held open across the network). A 2xx answer marks the
 * delivery delivered; anything else (or a timeout) schedules a retry with exponential backoff and
 * jitter until 24 hours after the event, then marks it failed. Every attempt is logged. An instance
 * that dies mid-attempt leaves the lease to run out, and another instance tries again: at least once.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly task = new PeriodicTask('webhook dispatch', () => this.dispatchDue(), this.logger);

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly cipher: WebhookSecretCipher,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(this.config.webhooks.dispatchIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  /** Attempts every delivery due now (in claims of CLAIM_BATCH); returns how many attempts were made. */
  async dispatchDue(): Promise<number> {
    let attempted = 0;
    for (;;) {
      const claimed = await this.claim();
      if (claimed.length === 0) return attempted;
      await Promise.all(claimed.map((row) => this.attempt(row)));
      attempted += claimed.length;
      if (claimed.length < CLAIM_BATCH) return attempted;
    }
  }

  private async claim(): Promise<ClaimedRow[]> {
    const now = this.clock.now();
    const leaseUntil = new Date(now.getTime() + this.config.webhooks.timeoutMs + LEASE_MARGIN_MS);
    return this.dataSource.transaction(async (manager) => {
      const [rows]: [ClaimedRow[], number] = await manager.query(
        `WITH due AS (
           SELECT id FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= $1
            ORDER BY next_attempt_at, id LIMIT ${CLAIM_BATCH}
            FOR UPDATE SKIP LOCKED)
         UPDATE webhook_deliveries d SET next_attempt_at = $2
           FROM due, webhook_endpoints w, webhook_events e
          WHERE d.id = due.id AND w.id = d.endpoint_id AND e.id = d.event_id
         RETURNING d.id, d.attempts, d.give_up_at, w.id AS endpoint_id, w.url, w.secret, e.payload, e.id AS event_id`,
        [now, leaseUntil],
      );
      return rows;
    });
  }

  private async attempt(row: ClaimedRow): Promise<void> {
    let outcome: AttemptOutcome;
    try {
      const secret = this.cipher.open(row.endpoint_id, row.secret);
      outcome = await this.post(row, secret);
    } catch (error) {
      outcome = { statusCode: null, error: String((error as Error).message ?? error).slice(0, MAX_ERROR_LENGTH), durationMs: 0 };
    }
    const now = this.clock.now();
    const attempt = row.attempts + 1;
    const delivered = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const next = new Date(Math.min(now.getTime() + retryDelayMs(attempt), row.give_up_at.getTime()));
    const status = delivered ? 'delivered' : now.getTime() >= row.give_up_at.getTime() ? 'failed' : 'pending';
    await this.dataSource.transaction(async (manager) => {
      // Only the holder of this attempt number records it: a lease that ran out and was taken over is not recorded twice.
      const [, updated]: [unknown, number] = await manager.query(
        `UPDATE webhook_deliveries
            SET attempts = $2, status = $3::text, next_attempt_at = $4, last_attempt_at = $5::timestamptz, last_status_code = $6, last_error = $7,
                delivered_at = CASE WHEN $3::text = 'delivered' THEN $5::timestamptz ELSE NULL END
          WHERE id = $1 AND attempts = $8 AND status = 'pending'`,
        [row.id, attempt, status, next, now, outcome.statusCode, outcome.error, row.attempts],
      );
      if (updated !== 1) return;
      await manager.query(
        `INSERT INTO webhook_delivery_attempts (delivery_id, attempt, attempted_at, status_code, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [row.id, attempt, now, outcome.statusCode, outcome.error, outcome.durationMs],
      );
    });
    if (!delivered) {
      this.logger.log(
        { deliveryId: row.id, eventId: row.event_id, attempt, statusCode: outcome.statusCode, status },
        'webhook delivery attempt failed',
      );
    }
  }

  /** One signed POST. The secret goes into the HMAC only, never into a log line or an error. */
  private post(row: ClaimedRow, secret: string): Promise<AttemptOutcome> {
    const body = JSON.stringify(row.payload);
    const timestamp = Math.floor(this.clock.nowMs() / 1000);
    const url = new URL(row.url);
    const client = url.protocol === 'https:' ? https : http;
    const started = performance.now();
    const timeoutMs = this.config.webhooks.timeoutMs;
    return new Promise((resolve) => {
      const finish = (statusCode: number | null, error: string | null) =>
        resolve({ statusCode, error: error?.slice(0, MAX_ERROR_LENGTH) ?? null, durationMs: Math.round(performance.now() - started) });
      const request = client.request(
        url,
        {
          method: 'POST',
          lookup: guardedLookup(this.config.webhooks.allowLoopback) as never,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'creditgate-webhooks/1',
            'creditgate-event-id': String(row.event_id),
            'creditgate-delivery-id': row.id,
            'creditgate-signature': signatureHeader(secret, timestamp, body),
          },
          signal: AbortSignal.timeout(timeoutMs),
        },
        (response) => {
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > MAX_RESPONSE_BYTES) response.destroy();
          });
          response.on('end', () => finish(response.statusCode ?? null, null));
          response.on('close', () => finish(response.statusCode ?? null, null));
          response.on('error', () => finish(response.statusCode ?? null, null));
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) =>
        finish(null, error.name === 'AbortError' ? `timed out after ${timeoutMs} ms` : `${error.code ?? 'error'}: ${error.message}`),
      );
      request.end(body);
    });
  }
}
