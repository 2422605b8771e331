import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateIdempotencyKeys1763712000000 implements MigrationInterface {
  name = 'CreateIdempotencyKeys1763712000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE idempotency_keys (
        client_id        text        NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
        key              text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        request_hash     text        NOT NULL CHECK (length(request_hash) = 64),
        method           text        NOT NULL,
        path             text        NOT NULL CHECK (length(path) <= 2048),
        state            text        NOT NULL CHECK (state IN ('in_progress', 'completed')),
        locked_at        timestamptz,
        response_status  integer,
        response_body    jsonb       CHECK (response_body IS NULL OR octet_length(response_body::text) <= 1048576),
        created_at       timestamptz NOT NULL DEFAULT now(),
        completed_at     timestamptz,
        expires_at       timestamptz NOT NULL,
        PRIMARY KEY (client_id, key),
        CHECK ((state = 'completed') = (response_status IS NOT NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE idempotency_keys');
  }
}
