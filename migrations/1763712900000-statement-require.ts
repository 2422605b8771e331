import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `statement_require(ok, message)`: raises a serialization failure (SQLSTATE 40001) unless `ok`. A
 * statement made of several data-modifying CTEs (src/common/statement-parts.ts) asserts with it that
 * each wrote the rows it had to: the posting engine's write from the account states it remembers,
 * for one, changes each account only where it is still at the head it remembered, and if another
 * transaction moved one, the whole statement fails and nothing is written.
 */
export class StatementRequire1763712900000 implements MigrationInterface {
  name = 'StatementRequire1763712900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION statement_require(ok boolean, message text) RETURNS boolean LANGUAGE plpgsql AS $$
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
    await queryRunner.query('DROP FUNCTION statement_require(boolean, text)');
  }
}
