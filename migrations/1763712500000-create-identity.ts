import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Real-name identity: one row a user (`identity_records`) and one row an attempt
 * (`identity_verifications`, for the failed-attempt limit and the record of what the authority said).
 * Names and ID numbers are stored only encrypted (`v1.<keyId>.<nonce>.<ciphertext>.<tag>`), and only
 * for a verified identity; a rejected attempt keeps nothing of what was typed. The blind index (an
 * HMAC of the number) is unique among verified identities: one ID number, one account.
 */
export class CreateIdentity1763712500000 implements MigrationInterface {
  name = 'CreateIdentity1763712500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE identity_records (
        user_id           uuid        PRIMARY KEY REFERENCES users (id),
        status            text        NOT NULL CHECK (status IN ('verified', 'rejected')),
        full_name_cipher  text        CHECK (full_name_cipher ~ '^v1\\.[A-Za-z0-9_-]{1,32}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+$'),
        id_number_cipher  text        CHECK (id_number_cipher ~ '^v1\\.[A-Za-z0-9_-]{1,32}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+$'),
        id_number_index   text        CHECK (id_number_index ~ '^[0-9a-f]{64}$'),
        id_number_masked  text        CHECK (id_number_masked ~ '^[0-9]{3}\\*{11}[0-9]{3}[0-9X]$'),
        birth_date        date,
        verified_at       timestamptz,
        rejection_code    text        CHECK (rejection_code IN ('NAME_MISMATCH', 'IDENTITY_NOT_FOUND')),
        updated_at        timestamptz NOT NULL,
        CHECK (
          (status = 'verified'
            AND full_name_cipher IS NOT NULL AND id_number_cipher IS NOT NULL AND id_number_index IS NOT NULL
            AND id_number_masked IS NOT NULL AND birth_date IS NOT NULL AND verified_at IS NOT NULL
            AND rejection_code IS NULL)
          OR
          (status = 'rejected'
            AND full_name_cipher IS NULL AND id_number_cipher IS NULL AND id_number_index IS NULL
            AND id_number_masked IS NULL AND birth_date IS NULL AND verified_at IS NULL
            AND rejection_code IS NOT NULL)
        )
      )
    `);
    await queryRunner.query('CREATE UNIQUE INDEX identity_records_id_number_index ON identity_records (id_number_index)');
    await queryRunner.query(`
      CREATE TABLE identity_verifications (
        id          uuid        PRIMARY KEY,
        user_id     uuid        NOT NULL REFERENCES users (id),
        client_id   text        NOT NULL CHECK (length(client_id) BETWEEN 1 AND 100),
        outcome     text        NOT NULL CHECK (outcome IN ('PENDING', 'VERIFIED', 'NAME_MISMATCH', 'IDENTITY_NOT_FOUND', 'ALREADY_BOUND', 'AUTHORITY_UNAVAILABLE', 'SUPERSEDED')),
        created_at  timestamptz NOT NULL,
        decided_at  timestamptz
      )
    `);
    await queryRunner.query('CREATE INDEX identity_verifications_user_time ON identity_verifications (user_id, created_at)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE identity_verifications');
    await queryRunner.query('DROP TABLE identity_records');
  }
}
