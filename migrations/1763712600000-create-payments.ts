import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Payments: the registry of the ledger accounts the payments module opened (by deterministic code),
 * merchants' fee settings, wallet top-ups, payment intents, refunds and payouts. Money itself lives
 * only in the ledger; these rows say why it moved and hold the ids of the transfers that moved it.
 */
export class CreatePayments1763712600000 implements MigrationInterface {
  name = 'CreatePayments1763712600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE payment_accounts (
        code        text        PRIMARY KEY CHECK (length(code) <= 160),
        account_id  uuid        NOT NULL UNIQUE REFERENCES ledger_accounts (id),
        owner_type  text        NOT NULL CHECK (owner_type IN ('user', 'merchant', 'platform', 'external')),
        owner_id    uuid,
        purpose     text        NOT NULL CHECK (purpose ~ '^[a-z][a-z-]{0,31}$'),
        currency    char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        created_at  timestamptz NOT NULL,
        CHECK ((owner_type IN ('user', 'merchant')) = (owner_id IS NOT NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX payment_accounts_owner ON payment_accounts (owner_type, owner_id, purpose, currency)');
    await queryRunner.query(`
      CREATE TABLE merchant_payment_settings (
        merchant_id        uuid        PRIMARY KEY,
        fee_basis_points   integer     NOT NULL CHECK (fee_basis_points BETWEEN 0 AND 10000),
        updated_at         timestamptz NOT NULL
      )
    `);
    await queryRunner.query(`
      CREATE TABLE wallet_top_ups (
        id                     uuid        PRIMARY KEY,
        user_id                uuid        NOT NULL,
        amount                 bigint      NOT NULL CHECK (amount > 0),
        currency               char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        repaid_amount          bigint      NOT NULL CHECK (repaid_amount >= 0 AND repaid_amount <= amount),
        rail_reference         text        NOT NULL CHECK (length(rail_reference) <= 128),
        funding_transfer_id    uuid        NOT NULL,
        repayment_transfer_id  uuid,
        created_at             timestamptz NOT NULL,
        CHECK ((repaid_amount > 0) = (repayment_transfer_id IS NOT NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX wallet_top_ups_user ON wallet_top_ups (user_id, created_at DESC, id DESC)');
    await queryRunner.query(`
      CREATE TABLE payment_intents (
        id                          uuid        PRIMARY KEY,
        merchant_id                 uuid        NOT NULL,
        user_id                     uuid,
        payer_user_id               uuid,
        amount                      bigint      NOT NULL CHECK (amount > 0),
        currency                    char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        capture_method              text        NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
        status                      text        NOT NULL CHECK (status IN ('requires_confirmation', 'requires_capture', 'succeeded', 'canceled', 'expired')),
        description                 text        CHECK (length(description) <= 500),
        merchant_reference          text        CHECK (length(merchant_reference) <= 128),
        fee_basis_points            integer     NOT NULL CHECK (fee_basis_points BETWEEN 0 AND 10000),
        amount_captured             bigint      NOT NULL DEFAULT 0 CHECK (amount_captured >= 0 AND amount_captured <= amount),
        fee_amount                  bigint      NOT NULL DEFAULT 0 CHECK (fee_amount >= 0 AND fee_amount <= amount_captured),
        amount_refunded             bigint      NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount_captured),
        fee_refunded                bigint      NOT NULL DEFAULT 0 CHECK (fee_refunded >= 0 AND fee_refunded <= fee_amount),
        authorization_transfer_id   uuid,
        authorization_expires_at    timestamptz,
        created_by_client_id        text        NOT NULL,
        confirmed_at                timestamptz,
        completed_at                timestamptz,
        created_at                  timestamptz NOT NULL,
        updated_at                  timestamptz NOT NULL,
        CHECK (status = 'requires_confirmation' OR status = 'canceled' OR payer_user_id IS NOT NULL),
        CHECK (user_id IS NULL OR payer_user_id IS NULL OR payer_user_id = user_id),
        CHECK (status <> 'requires_capture' OR (authorization_transfer_id IS NOT NULL AND authorization_expires_at IS NOT NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX payment_intents_merchant ON payment_intents (merchant_id, created_at DESC, id DESC)');
    await queryRunner.query(
      "CREATE INDEX payment_intents_authorization_expiry ON payment_intents (authorization_expires_at) WHERE status = 'requires_capture'",
    );
    await queryRunner.query('CREATE INDEX payment_intents_payer ON payment_intents (payer_user_id) WHERE payer_user_id IS NOT NULL');
    await queryRunner.query(`
      CREATE TABLE refunds (
        id                   uuid        PRIMARY KEY,
        payment_intent_id    uuid        NOT NULL REFERENCES payment_intents (id),
        merchant_id          uuid        NOT NULL,
        amount               bigint      NOT NULL CHECK (amount > 0),
        fee_returned         bigint      NOT NULL CHECK (fee_returned >= 0 AND fee_returned <= amount),
        currency             char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        reason               text        CHECK (length(reason) <= 500),
        status               text        NOT NULL CHECK (status IN ('succeeded')),
        merchant_transfer_id uuid,
        fee_transfer_id      uuid,
        created_by_client_id text        NOT NULL,
        created_at           timestamptz NOT NULL,
        CHECK ((amount > fee_returned) = (merchant_transfer_id IS NOT NULL)),
        CHECK ((fee_returned > 0) = (fee_transfer_id IS NOT NULL))
      )
    `);
    await queryRunner.query('CREATE INDEX refunds_merchant ON refunds (merchant_id, created_at DESC, id DESC)');
    await queryRunner.query('CREATE INDEX refunds_intent ON refunds (payment_intent_id)');
    await queryRunner.query(`
      CREATE TABLE payouts (
        id                   uuid        PRIMARY KEY,
        merchant_id          uuid        NOT NULL,
        amount               bigint      NOT NULL CHECK (amount > 0),
        currency             char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        description          text        CHECK (length(description) <= 500),
        status               text        NOT NULL CHECK (status IN ('paid')),
        transfer_id          uuid        NOT NULL,
        created_by_client_id text        NOT NULL,
        created_at           timestamptz NOT NULL
      )
    `);
    await queryRunner.query('CREATE INDEX payouts_merchant ON payouts (merchant_id, created_at DESC, id DESC)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['payouts', 'refunds', 'payment_intents', 'wallet_top_ups', 'merchant_payment_settings', 'payment_accounts']) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
