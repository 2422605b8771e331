import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateUsers1763712200000 implements MigrationInterface {
  name = 'CreateUsers1763712200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE users (
        id             uuid        PRIMARY KEY,
        email          text        CHECK (email IS NULL OR (length(email) BETWEEN 3 AND 254 AND email = lower(email))),
        phone          text        CHECK (phone IS NULL OR phone ~ '^\\+[1-9][0-9]{6,14}$'),
        password_hash  text        NOT NULL CHECK (length(password_hash) BETWEEN 20 AND 512),
        display_name   text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
        roles          text[]      NOT NULL DEFAULT '{}' CHECK (roles <@ ARRAY['compliance']::text[]),
        created_at     timestamptz NOT NULL,
        CHECK (email IS NOT NULL OR phone IS NOT NULL)
      )
    `);
    await queryRunner.query('CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL');
    await queryRunner.query('CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE users');
  }
}
