import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Credit reports: what the (mock) bureau answered for a user, kept so that a report can be reused for a
 * while, quoted by id (an admittance answer names its report) and explained later. Never changed once
 * written; a new report supersedes an old one.
 */
export class CreateCredit1763712510000 implements MigrationInterface {
  name = 'CreateCredit1763712510000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE credit_reports (
        id              uuid        PRIMARY KEY,
        user_id         uuid        NOT NULL REFERENCES users (id),
        score           integer     CHECK (score BETWEEN 350 AND 950),
        band            text        CHECK (band IN ('350-549', '550-599', '600-649', '650-699', '700-950')),
        factors         jsonb       NOT NULL CHECK (jsonb_typeof(factors) = 'array' AND pg_column_size(factors) <= 8192),
        signals_digest  text        NOT NULL CHECK (signals_digest ~ '^[0-9a-f]{64}$'),
        provider        text        NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
        created_at      timestamptz NOT NULL,
        expires_at      timestamptz NOT NULL CHECK (expires_at > created_at),
        CHECK ((score IS NULL) = (band IS NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX credit_reports_user_time ON credit_reports (user_id, created_at DESC)');
    await queryRunner.query(`
      CREATE FUNCTION credit_reports_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'credit reports are never changed or deleted' USING ERRCODE = 'insufficient_privilege';
      END
      $$
    `);
    await queryRunner.query(
      'CREATE TRIGGER credit_reports_append_only BEFORE UPDATE OR DELETE ON credit_reports FOR EACH ROW EXECUTE FUNCTION credit_reports_refuse_change()',
    );
    await queryRunner.query(
      'CREATE TRIGGER credit_reports_no_truncate BEFORE TRUNCATE ON credit_reports FOR EACH STATEMENT EXECUTE FUNCTION credit_reports_refuse_change()',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE credit_reports');
    await queryRunner.query('DROP FUNCTION credit_reports_refuse_change()');
  }
}
