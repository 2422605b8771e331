import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { isLowerCaseUuid, newId } from '../common/ids.js';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import type { Principal } from '../common/principal.js';
import { AppConfig } from '../config/app-config.js';
import { DELIVERY_WINDOW_MS, type WebhookEventType } from './webhook-events.js';
import { WebhookSecretCipher } from './webhook-secret-cipher.js';
import { checkEndpointUrl } from './webhook-url.js';
import { WebhookError, WebhookErrorCode } from './webhooks.errors.js';

const MAX_ENDPOINTS_PER_MERCHANT = 16;

export interface WebhookEndpoint {
  readonly id: string;
  readonly merchantId: string;
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description: string | null;
  readonly status: 'enabled' | 'disabled';
  readonly createdAt: Date;
}

export interface WebhookDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly endpointId: string;
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly nextAttemptAt: Date | null;
  readonly lastAttemptAt: Date | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: Date | null;
  readonly createdAt: Date;
}

interface EndpointRow {
  id: string;
  merchant_id: string;
  url: string;
  event_types: string[];
  description: string | null;
  status: 'enabled' | 'disabled';
  created_at: Date;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  endpoint_id: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
}

function endpointFromRow(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    status: row.status,
    createdAt: row.created_at,
  };
}

function deliveryFromRow(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    endpointId: row.endpoint_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  };
}

const endpointNotFound = () => new WebhookError(WebhookErrorCode.EndpointNotFound, 'No webhook endpoint with this id.');

/** Merchants' webhook endpoints and their delivery logs. A merchant reaches only its own (others' are 404). */
@Injectable()
export class WebhookEndpointsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly cipher: WebhookSecretCipher,
    private readonly audit: AuditService,
  ) {}

  /** Registers an endpoint; the signing secret is returned here and never again. */
  async create(
    actor: Principal,
    merchantId: string,
    input: { url: string; eventTypes: readonly WebhookEventType[]; description?: string | null },
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const url = checkEndpointUrl(input.url, this.config.webhooks.allowLoopback).toString();
    const id = newId();
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    return this.dataSource.transaction(async (manager) => {
      // One merchant's endpoints are counted under its advisory lock, so two concurrent creations cannot both pass the limit.
      await manager.query("SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints:' || $1))", [merchantId]);
      const [{ count }] = (await manager.query('SELECT count(*)::int AS count FROM webhook_endpoints WHERE merchant_id = $1', [
        merchantId,
      ])) as [{ count: number }];
      if (count >= MAX_ENDPOINTS_PER_MERCHANT)
        throw new WebhookError(
          WebhookErrorCode.TooManyEndpoints,
          `A merchant has at most ${MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints.`,
        );
      const rows: EndpointRow[] = await manager.query(
        `INSERT INTO webhook_endpoints (id, merchant_id, url, event_types, secret, description, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'enabled', $7) RETURNING *`,
        [id, merchantId, url, [...new Set(input.eventTypes)], this.cipher.seal(id, secret), input.description ?? null, this.clock.now()],
      );
      const row = rows[0];
      if (row === undefined) throw new Error('webhook endpoint insert returned nothing');
      await this.audit.record(
        {
          actor,
          action: 'webhook.endpoint.created',
          resourceType: 'webhook_endpoint',
          resourceId: id,
          outcome: 'success',
          details: { eventTypes: [...new Set(input.eventTypes)] },
        },
        manager,
      );
      return { endpoint: endpointFromRow(row), secret };
    });
  }

  async get(merchantId: string, id: string): Promise<WebhookEndpoint> {
    const rows: EndpointRow[] = await this.dataSource.query('SELECT * FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2', [
      id,
      merchantId,
    ]);
    if (rows[0] === undefined) throw endpointNotFound();
    return endpointFromRow(rows[0]);
  }

  async list(merchantId: string, limit: number, cursor?: string): Promise<Page<WebhookEndpoint>> {
    const after = cursor === undefined ? undefined : this.position(cursor);
    const rows: EndpointRow[] = await this.dataSource.query(
      `SELECT * FROM webhook_endpoints WHERE merchant_id = $1 ${after ? 'AND (created_at, id) < ($3, $4::uuid)' : ''}
        ORDER BY created_at DESC, id DESC LIMIT $2`,
      after ? [merchantId, limit + 1, after.at, after.id] : [merchantId, limit + 1],
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), endpointFromRow);
  }

  /** The delivery log of one endpoint, newest first. */
  async deliveries(merchantId: string, endpointId: string, limit: number, cursor?: string): Promise<Page<WebhookDelivery>> {
    await this.get(merchantId, endpointId);
    const after = cursor === undefined ? undefined : this.position(cursor);
    const rows: DeliveryRow[] = await this.dataSource.query(
      `SELECT d.*, e.type AS event_type FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
        WHERE d.endpoint_id = $1 ${after ? 'AND (d.created_at, d.id) < ($3, $4::uuid)' : ''}
        ORDER BY d.created_at DESC, d.id DESC LIMIT $2`,
      after ? [endpointId, limit + 1, after.at, after.id] : [endpointId, limit + 1],
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), deliveryFromRow);
  }

  /**
   * Turns an endpoint off or back on, idempotently, recorded every time. Disabling stops it at once:
   * no delivery is created for it while it is off (the outbox subscribes enabled endpoints only) and
   * its pending deliveries are marked failed ("endpoint disabled"), so turning it back on resumes with
   * new events only; a past one can still be sent with a redelivery. A delivery the dispatcher had
   * already claimed may complete its one attempt in flight.
   */
  async setStatus(actor: Principal, merchantId: string, id: string, status: WebhookEndpoint['status']): Promise<WebhookEndpoint> {
    return this.dataSource.transaction(async (manager) => {
      const previous: { status: WebhookEndpoint['status'] }[] = await manager.query(
        'SELECT status FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2 FOR UPDATE',
        [id, merchantId],
      );
      if (previous[0] === undefined) throw endpointNotFound();
      // An UPDATE answers [rows, affected count] through TypeORM.
      const [rows] = (await manager.query('UPDATE webhook_endpoints SET status = $2 WHERE id = $1 RETURNING *', [id, status])) as [
        EndpointRow[],
        number,
      ];
      let failedDeliveries = 0;
      if (status === 'disabled') {
        const [, count] = (await manager.query(
          `UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled' WHERE endpoint_id = $1 AND status = 'pending'`,
          [id],
        )) as [unknown, number];
        failedDeliveries = count;
      }
      await this.audit.record(
        {
          actor,
          action: status === 'disabled' ? 'webhook.endpoint.disabled' : 'webhook.endpoint.enabled',
          resourceType: 'webhook_endpoint',
          resourceId: id,
          outcome: 'success',
          details: { changed: previous[0].status !== status, failedDeliveries },
        },
        manager,
      );
      const row = rows[0];
      if (row === undefined) throw new Error('webhook endpoint update returned nothing');
      return endpointFromRow(row);
    });
  }

  /**
   * Sends an event again: a new delivery of the same event (same event id, so the receiver can
   * deduplicate), due now, with a fresh 24-hour retry window.
   */
  async redeliver(actor: Principal, merchantId: string, endpointId: string, deliveryId: string): Promise<WebhookDelivery> {
    const endpoint = await this.get(merchantId, endpointId);
    if (endpoint.status === 'disabled')
      throw new WebhookError(WebhookErrorCode.EndpointDisabled, 'This endpoint is disabled: enable it before asking for a redelivery.');
    return this.dataSource.transaction(async (manager) => {
      const now = this.clock.now();
      const rows: DeliveryRow[] = await manager.query(
        `WITH original AS (SELECT event_id FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2),
              inserted AS (
                INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at, give_up_at, created_at)
                SELECT $3, event_id, $2, 'pending', $4, $5, $4 FROM original RETURNING *)
         SELECT inserted.*, e.type AS event_type FROM inserted JOIN webhook_events e ON e.id = inserted.event_id`,
        [deliveryId, endpointId, newId(), now, new Date(now.getTime() + DELIVERY_WINDOW_MS)],
      );
      const row = rows[0];
      if (row === undefined) throw new WebhookError(WebhookErrorCode.DeliveryNotFound, 'No delivery with this id for this endpoint.');
      await this.audit.record(
        {
          actor,
          action: 'webhook.delivery.redelivered',
          resourceType: 'webhook_delivery',
          resourceId: row.id,
          outcome: 'success',
          details: { originalDeliveryId: deliveryId, endpointId },
        },
        manager,
      );
      return deliveryFromRow(row);
    });
  }

  private position(cursor: string): { at: Date; id: string } {
    const { key, id } = decodeCursor(cursor);
    const at = new Date(key);
    if (Number.isNaN(at.getTime()) || !isLowerCaseUuid(id))
      throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
    return { at, id };
  }
}
