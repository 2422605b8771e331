import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The compliance console is a browser page: a public client (PKCE, no secret), like a mini-program.
 * 1763712300000 allowed public clients to mini-programs only (its fourth unnamed CHECK, which
 * PostgreSQL named oauth_clients_check3); this lets a first-party compliance client be one too.
 */
export class ConsolePublicClient1763712810000 implements MigrationInterface {
  name = 'ConsolePublicClient1763712810000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_check3');
    await queryRunner.query(`
      ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_public_client CHECK (
        token_endpoint_auth_method <> 'none' OR client_type = 'mini_program' OR (client_type = 'compliance' AND first_party))
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_public_client');
    await queryRunner.query(
      `ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_check3 CHECK (token_endpoint_auth_method <> 'none' OR client_type = 'mini_program')`,
    );
  }
}
