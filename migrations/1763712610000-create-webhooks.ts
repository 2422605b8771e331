import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks: merchants' endpoints, the outbox of events (written in the same transaction as the change
 * they announce), one delivery per event and endpoint, and the log of every attempt.
 */
export class CreateWebhooks1763712610000 implements MigrationInterface {
  name = 'CreateWebhooks1763712610000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhook_endpoints (
        id           uuid        PRIMARY KEY,
        merchant_id  uuid        NOT NULL,
        url          text        NOT NULL CHECK (length(url) <= 2048),
        event_types  text[]      NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 32),
        secret       text        NOT NULL CHECK (length(secret) <= 512),
        description  text        CHECK (length(description) <= 500),
        status       text        NOT NULL CHECK (status IN ('enabled', 'disabled')),
        created_at   timestamptz NOT NULL
      )
    `);
    await queryRunner.query('CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, created_at DESC, id DESC)');
    await queryRunner.query(`
      CREATE TABLE webhook_events (
        id           uuid        PRIMARY KEY,
        merchant_id  uuid        NOT NULL,
        type         text        NOT NULL CHECK (type ~ '^[a-z_]+(\\.[a-z_]+)+$'),
        payload      jsonb       NOT NULL CHECK (octet_length(payload::text) <= 65536),
        created_at   timestamptz NOT NULL
      )
    `);
    await queryRunner.query(`
      CREATE TABLE webhook_deliveries (
        id                uuid        PRIMARY KEY,
        event_id          uuid        NOT NULL REFERENCES webhook_events (id),
        endpoint_id       uuid        NOT NULL REFERENCES webhook_endpoints (id),
        status            text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at   timestamptz NOT NULL,
        give_up_at        timestamptz NOT NULL,
        last_attempt_at   timestamptz,
        last_status_code  integer,
        last_error        text        CHECK (length(last_error) <= 500),
        delivered_at      timestamptz,
        created_at        timestamptz NOT NULL,
        CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
      )
    `);
    await queryRunner.query("CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'");
    await queryRunner.query('CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC)');
    await queryRunner.query(`
      CREATE TABLE webhook_delivery_attempts (
        delivery_id   uuid        NOT NULL REFERENCES webhook_deliveries (id),
        attempt       integer     NOT NULL CHECK (attempt >= 1),
        attempted_at  timestamptz NOT NULL,
        status_code   integer,
        error         text        CHECK (length(error) <= 500),
        duration_ms   integer     NOT NULL CHECK (duration_ms >= 0),
        PRIMARY KEY (delivery_id, attempt)
      )
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['webhook_delivery_attempts', 'webhook_deliveries', 'webhook_events', 'webhook_endpoints']) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
