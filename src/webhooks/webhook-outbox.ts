import { Injectable } from '@nestjs/common';
import { newId } from '../common/ids.js';
import type { EntityManager } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { type StatementPart, statementOf } from '../common/statement-parts.js';
import { DELIVERY_WINDOW_MS, type OutboxEvent } from './webhook-events.js';

/**
 * The outbox: other modules write their events here with the EntityManager of the transaction that
 * makes the change, so an event exists if and only if the change committed. One statement writes the
 * events and a delivery for each enabled endpoint of the merchant subscribed to the type; the
 * dispatcher takes it from there.
 */
@Injectable()
export class WebhookOutbox {
  constructor(private readonly clock: Clock) {}

  async enqueue(manager: EntityManager, events: readonly OutboxEvent[]): Promise<string[]> {
    const part = this.enqueuePart(events);
    if (part === undefined) return [];
    const statement = statementOf([part.part], 'webhook events: not every event was written');
    if (statement !== undefined) await manager.query(statement.sql, statement.parameters);
    return part.ids;
  }

  /**
   * The same writes as `enqueue`, as a part of the caller's own statement (CTEs named
   * `webhook_events_new` and `webhook_deliveries_new`): a hot path writes its events with its change in
   * one round trip. Undefined when there are no events.
   */
  enqueuePart(events: readonly OutboxEvent[]): { part: StatementPart; ids: string[] } | undefined {
    if (events.length === 0) return undefined;
    const now = this.clock.now();
    const ids = events.map(() => newId());
    const payloads = events.map((event, index) =>
      JSON.stringify({ id: ids[index], type: event.type, createdAt: now.toISOString(), data: { object: event.object } }),
    );
    const part: StatementPart = {
      ctes: [
        {
          name: 'webhook_events_new',
          sql: `INSERT INTO webhook_events (id, merchant_id, type, payload, created_at)
                SELECT x.id, x.merchant_id, x.type, p.payload, $5
                  FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS x(id, merchant_id, type, position)
                  JOIN jsonb_array_elements($4::jsonb) WITH ORDINALITY AS p(payload, position) USING (position)
                RETURNING id, merchant_id, type`,
          rows: events.length,
        },
        {
          name: 'webhook_deliveries_new',
          sql: `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at, give_up_at, created_at)
                SELECT gen_random_uuid(), e.id, w.id, 'pending', $5, $6, $5
                  FROM webhook_events_new e JOIN webhook_endpoints w ON w.merchant_id = e.merchant_id AND w.status = 'enabled' AND e.type = ANY (w.event_types)
                RETURNING 1`,
        },
      ],
      parameters: [
        ids,
        events.map((event) => event.merchantId),
        events.map((event) => event.type),
        // One JSON document of the payloads, not an array of JSON texts: nothing to escape (pg-array.ts).
        `[${payloads.join(',')}]`,
        now,
        new Date(now.getTime() + DELIVERY_WINDOW_MS),
      ],
    };
    return { part, ids };
  }
}
