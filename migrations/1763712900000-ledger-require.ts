import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `ledger_require(ok, message)`: raises a serialization failure (SQLSTATE 40001) unless `ok`. The
 * posting engine's one-statement write, made from account states it remembers instead of rows it
 * locked, asserts with it that each account is still at the head it remembered: if another
 * transaction moved one, the whole statement fails and nothing is written.
 */
export class LedgerRequire1763712900000 implements MigrationInterface {
  name = 'LedgerRequire1763712900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION ledger_require(ok boolean, message text) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF ok IS NOT TRUE THEN
          RAISE EXCEPTION '%', message USING ERRCODE = '40001';
        END IF;
        RETURN true;
      END
      $$
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION ledger_require(boolean, text)');
  }
}
