import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Waiver policies, their versions, the decisions made under them, and the deposit agreements that follow.
 * Versions and decisions are never changed once written (triggers refuse UPDATE and DELETE): a decision
 * can always be replayed against the exact terms it was made under. A policy row changes only to point
 * at another active version.
 */
export class CreateWaivers1763712700000 implements MigrationInterface {
  name = 'CreateWaivers1763712700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE waiver_policies (
        id              uuid        PRIMARY KEY,
        merchant_id     uuid        NOT NULL REFERENCES merchants (id),
        name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
        active_version  integer     NOT NULL CHECK (active_version >= 1),
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL
      )
    `);
    await queryRunner.query('CREATE INDEX waiver_policies_merchant ON waiver_policies (merchant_id, created_at, id)');
    await queryRunner.query(`
      CREATE TABLE waiver_policy_versions (
        policy_id                        uuid        NOT NULL REFERENCES waiver_policies (id),
        version                          integer     NOT NULL CHECK (version >= 1),
        deposit_minor                    bigint      NOT NULL CHECK (deposit_minor > 0),
        currency                         char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        tiers                            jsonb       NOT NULL CHECK (jsonb_typeof(tiers) = 'array' AND jsonb_array_length(tiers) BETWEEN 1 AND 10),
        score_unavailable_waive_percent  integer     NOT NULL CHECK (score_unavailable_waive_percent BETWEEN 0 AND 100),
        require_verified_identity        boolean     NOT NULL,
        minimum_age                      integer     CHECK (minimum_age BETWEEN 0 AND 150),
        max_active_agreements            integer     CHECK (max_active_agreements BETWEEN 1 AND 1000),
        allow_outstanding_debt           boolean     NOT NULL,
        max_waived_exposure_minor        bigint      CHECK (max_waived_exposure_minor > 0),
        agreement_lifetime_seconds       integer     NOT NULL CHECK (agreement_lifetime_seconds BETWEEN 60 AND 31536000),
        max_final_charge_minor           bigint      NOT NULL CHECK (max_final_charge_minor >= 0),
        decision_ttl_seconds             integer     NOT NULL CHECK (decision_ttl_seconds BETWEEN 60 AND 86400),
        created_at                       timestamptz NOT NULL,
        PRIMARY KEY (policy_id, version)
      )
    `);
    await queryRunner.query(`
      ALTER TABLE waiver_policies ADD CONSTRAINT waiver_policies_active_version
        FOREIGN KEY (id, active_version) REFERENCES waiver_policy_versions (policy_id, version) DEFERRABLE INITIALLY DEFERRED
    `);
    await queryRunner.query(`
      CREATE TABLE waiver_decisions (
        id                 uuid        PRIMARY KEY,
        policy_id          uuid        NOT NULL,
        policy_version     integer     NOT NULL,
        merchant_id        uuid        NOT NULL REFERENCES merchants (id),
        user_id            uuid        NOT NULL REFERENCES users (id),
        client_id          text        NOT NULL CHECK (length(client_id) BETWEEN 1 AND 100),
        outcome            text        NOT NULL CHECK (outcome IN ('WAIVED', 'PARTIAL', 'DENIED')),
        waive_percent      integer     NOT NULL CHECK (waive_percent BETWEEN 0 AND 100),
        deposit_minor      bigint      NOT NULL CHECK (deposit_minor > 0),
        waived_minor       bigint      NOT NULL CHECK (waived_minor >= 0),
        deposit_due_minor  bigint      NOT NULL CHECK (deposit_due_minor >= 0),
        currency           char(3)     NOT NULL,
        facts              jsonb       NOT NULL CHECK (jsonb_typeof(facts) = 'object' AND pg_column_size(facts) <= 4096),
        reasons            jsonb       NOT NULL CHECK (jsonb_typeof(reasons) = 'array' AND pg_column_size(reasons) <= 4096),
        created_at         timestamptz NOT NULL,
        expires_at         timestamptz NOT NULL CHECK (expires_at > created_at),
        FOREIGN KEY (policy_id, policy_version) REFERENCES waiver_policy_versions (policy_id, version),
        CHECK (waived_minor + deposit_due_minor = deposit_minor),
        CHECK ((outcome = 'DENIED') = (waived_minor = 0)),
        CHECK ((outcome = 'WAIVED') = (deposit_due_minor = 0))
      )
    `);
    await queryRunner.query('CREATE INDEX waiver_decisions_user ON waiver_decisions (user_id, created_at, id)');
    await queryRunner.query(`
      CREATE TABLE deposit_agreements (
        id                  uuid        PRIMARY KEY,
        decision_id         uuid        NOT NULL UNIQUE REFERENCES waiver_decisions (id),
        policy_id           uuid        NOT NULL,
        policy_version      integer     NOT NULL,
        merchant_id         uuid        NOT NULL REFERENCES merchants (id),
        user_id             uuid        NOT NULL REFERENCES users (id),
        client_id           text        NOT NULL CHECK (length(client_id) BETWEEN 1 AND 100),
        status              text        NOT NULL CHECK (status IN ('CREATED', 'ACTIVE', 'COMPLETED', 'CANCELLED', 'EXPIRED', 'DEFAULTED', 'RECOVERED')),
        currency            char(3)     NOT NULL,
        deposit_minor       bigint      NOT NULL CHECK (deposit_minor > 0),
        waived_minor        bigint      NOT NULL CHECK (waived_minor >= 0),
        held_minor          bigint      NOT NULL CHECK (held_minor >= 0),
        hold_transfer_id    uuid,
        final_charge_minor  bigint      CHECK (final_charge_minor >= 0),
        claimed_minor       bigint      CHECK (claimed_minor >= 0),
        debt_minor          bigint      CHECK (debt_minor >= 0),
        expires_at          timestamptz NOT NULL,
        created_at          timestamptz NOT NULL,
        updated_at          timestamptz NOT NULL,
        FOREIGN KEY (policy_id, policy_version) REFERENCES waiver_policy_versions (policy_id, version),
        CHECK (waived_minor + held_minor = deposit_minor),
        CHECK ((held_minor = 0) = (hold_transfer_id IS NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX deposit_agreements_user ON deposit_agreements (user_id, created_at, id)');
    await queryRunner.query('CREATE INDEX deposit_agreements_merchant ON deposit_agreements (merchant_id, created_at, id)');
    await queryRunner.query(
      `CREATE INDEX deposit_agreements_expiring ON deposit_agreements (expires_at) WHERE status IN ('CREATED', 'ACTIVE')`,
    );
    await queryRunner.query(`
      CREATE FUNCTION waivers_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
      END
      $$
    `);
    for (const table of ['waiver_policy_versions', 'waiver_decisions']) {
      await queryRunner.query(
        `CREATE TRIGGER ${table}_immutable BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION waivers_refuse_change()`,
      );
      await queryRunner.query(
        `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION waivers_refuse_change()`,
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE deposit_agreements');
    await queryRunner.query('DROP TABLE waiver_decisions');
    await queryRunner.query('ALTER TABLE waiver_policies DROP CONSTRAINT waiver_policies_active_version');
    await queryRunner.query('DROP TABLE waiver_policy_versions');
    await queryRunner.query('DROP TABLE waiver_policies');
    await queryRunner.query('DROP FUNCTION waivers_refuse_change()');
  }
}
