import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateOauth1763712300000 implements MigrationInterface {
  name = 'CreateOauth1763712300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE merchants (
        id          uuid        PRIMARY KEY,
        name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
        created_at  timestamptz NOT NULL
      )
    `);
    // Client ids are never UUID-shaped, so a client can never be mistaken for a user (users are UUIDs).
    await queryRunner.query(`
      CREATE TABLE oauth_clients (
        client_id                   text        PRIMARY KEY CHECK (client_id ~ '^[a-z][a-z0-9_]{2,30}_[A-Za-z0-9]{8,40}$'),
        client_type                 text        NOT NULL CHECK (client_type IN ('mini_program', 'merchant', 'compliance', 'platform')),
        merchant_id                 uuid        REFERENCES merchants (id),
        name                        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
        token_endpoint_auth_method  text        NOT NULL CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt')),
        secret_hash                 text        CHECK (secret_hash IS NULL OR length(secret_hash) <= 512),
        redirect_uris               text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(redirect_uris) <= 10),
        jwks                        jsonb       CHECK (jwks IS NULL OR octet_length(jwks::text) <= 16384),
        scopes                      text[]      NOT NULL,
        dpop_bound                  boolean     NOT NULL DEFAULT false,
        first_party                 boolean     NOT NULL DEFAULT false,
        created_at                  timestamptz NOT NULL,
        CHECK ((client_type IN ('mini_program', 'merchant')) = (merchant_id IS NOT NULL)),
        CHECK ((token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post')) = (secret_hash IS NOT NULL)),
        CHECK ((token_endpoint_auth_method = 'private_key_jwt') = (jwks IS NOT NULL)),
        CHECK (token_endpoint_auth_method <> 'none' OR client_type = 'mini_program')
      )
    `);
    await queryRunner.query('CREATE INDEX oauth_clients_merchant ON oauth_clients (merchant_id)');
    // Keys the authorization server signs with (ES256 JWKs) and signs its cookies with. Kept, never
    // regenerated at restart: tokens issued before a restart stay valid.
    await queryRunner.query(`
      CREATE TABLE oauth_keys (
        kid          text        PRIMARY KEY CHECK (length(kid) BETWEEN 8 AND 128),
        use          text        NOT NULL CHECK (use IN ('sig', 'cookie')),
        material     jsonb       NOT NULL CHECK (octet_length(material::text) <= 8192),
        created_at   timestamptz NOT NULL,
        retired_at   timestamptz
      )
    `);
    // Everything oidc-provider stores (codes, tokens, sessions, grants, interactions), one row a model instance.
    await queryRunner.query(`
      CREATE TABLE oidc_payloads (
        id           text        NOT NULL CHECK (length(id) <= 255),
        type         text        NOT NULL CHECK (length(type) <= 64),
        payload      jsonb       NOT NULL CHECK (octet_length(payload::text) <= 65536),
        grant_id     text,
        user_code    text,
        uid          text,
        account_id   text,
        expires_at   timestamptz,
        consumed_at  timestamptz,
        PRIMARY KEY (id, type)
      )
    `);
    await queryRunner.query('CREATE INDEX oidc_payloads_grant ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL');
    await queryRunner.query('CREATE INDEX oidc_payloads_uid ON oidc_payloads (uid) WHERE uid IS NOT NULL');
    await queryRunner.query('CREATE INDEX oidc_payloads_user_code ON oidc_payloads (user_code) WHERE user_code IS NOT NULL');
    await queryRunner.query(`CREATE INDEX oidc_payloads_account_grants ON oidc_payloads (account_id) WHERE type = 'Grant'`);
    await queryRunner.query('CREATE INDEX oidc_payloads_expires ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE oidc_payloads');
    await queryRunner.query('DROP TABLE oauth_keys');
    await queryRunner.query('DROP TABLE oauth_clients');
    await queryRunner.query('DROP TABLE merchants');
  }
}
