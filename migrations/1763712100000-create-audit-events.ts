import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail: who did what, to which resource, with what outcome, when and from where (issue 8).
 *
 * Append-only, enforced here in the database and not only in code: a trigger refuses every DELETE and
 * TRUNCATE, and every UPDATE but one, the sealer's: setting `seq`, `prev_hash`, `hash` and `sealed_at`
 * from NULL, once, with every other column unchanged. An event is always inserted unsealed. Sealing
 * (the hash chain over `seq` order, `hash = sha256(prev_hash || canonical event)`, the first event's
 * `prev_hash` being 64 zeros) is done later, off the request path, by the sealer issue 8 builds.
 *
 * The trigger stops the application and anyone using its connection; it does not stop the table's owner
 * or a superuser who disables triggers. In production the service should not connect as the owner, and the
 * hash chain is what detects a change made past the trigger.
 *
 * Retention: events are kept for ever for now. Issue 8 adds a configurable retention; it will have to pass
 * this trigger by one deliberate, narrow path (for example partitions by month of `occurred_at`, detached
 * and dropped whole, or a purge function of its own) and keep the chain verifiable across the purge (a
 * checkpoint of the last purged `seq` and `hash`). Nothing here purges.
 *
 * Bounds: every text column has a length CHECK, formats are checked where there is one, `details` is a
 * JSON object of at most 8 KiB in its stored text form. AuditService checks the same rules before it
 * writes (src/audit/audit-event.ts), so these CHECKs only ever catch a writer that went around it.
 */
export class CreateAuditEvents1763712100000 implements MigrationInterface {
  name = 'CreateAuditEvents1763712100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // String.raw: the regular expressions below keep their backslashes.
    await queryRunner.query(String.raw`
      CREATE TABLE audit_events (
        id            uuid        PRIMARY KEY,
        occurred_at   timestamptz NOT NULL,
        client_id     text        CHECK (length(client_id) BETWEEN 1 AND 255 AND client_id ~ '^[!-~]+$'),
        client_type   text        CHECK (client_type ~ '^[a-z][a-z0-9_]{0,31}$'),
        merchant_id   uuid,
        user_id       uuid,
        scopes        text[]      NOT NULL DEFAULT '{}' CHECK (
                        cardinality(scopes) <= 64
                        AND (cardinality(scopes) = 0 OR (
                          array_ndims(scopes) = 1
                          AND array_to_string(scopes, E'\n', '') ~ '^[!#-\[\]-~]{1,64}(\n[!#-\[\]-~]{1,64})*$'))),
        action        text        NOT NULL CHECK (length(action) <= 128 AND action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
        resource_type text        NOT NULL CHECK (resource_type ~ '^[a-z][a-z0-9_]{0,63}$'),
        resource_id   text        CHECK (length(resource_id) BETWEEN 1 AND 255 AND resource_id !~ '[[:cntrl:]]'),
        outcome       text        NOT NULL CHECK (outcome IN ('success', 'failure')),
        problem_code  text        CHECK (problem_code ~ '^[A-Z][A-Z0-9_]{0,63}$'),
        http_status   integer     CHECK (http_status BETWEEN 100 AND 599),
        ip            inet,
        request_id    text        CHECK (request_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
        user_agent    text        CHECK (length(user_agent) BETWEEN 1 AND 256),
        purpose       text        CHECK (length(purpose) <= 128 AND purpose ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
        details       jsonb       CHECK (jsonb_typeof(details) = 'object' AND octet_length(details::text) <= 8192),
        seq           bigint      UNIQUE CHECK (seq >= 1),
        prev_hash     text        CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash          text        CHECK (hash ~ '^[0-9a-f]{64}$'),
        sealed_at     timestamptz,
        CONSTRAINT audit_events_client_type_needs_client CHECK (client_type IS NULL OR client_id IS NOT NULL),
        CONSTRAINT audit_events_problem_code_only_on_failure CHECK (problem_code IS NULL OR outcome = 'failure'),
        CONSTRAINT audit_events_sealed_whole CHECK (
          (seq IS NULL AND prev_hash IS NULL AND hash IS NULL AND sealed_at IS NULL)
          OR (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL AND sealed_at IS NOT NULL))
      )
    `);

    // The queries of GET /v1/audit/events (issue 8): by time, action, actor or resource, newest first,
    // paginated by (occurred_at, id). And the sealer's: the events not sealed yet, oldest first.
    await queryRunner.query('CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at, id)');
    await queryRunner.query('CREATE INDEX audit_events_action ON audit_events (action, occurred_at, id)');
    await queryRunner.query('CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at, id) WHERE user_id IS NOT NULL');
    await queryRunner.query('CREATE INDEX audit_events_client ON audit_events (client_id, occurred_at, id) WHERE client_id IS NOT NULL');
    await queryRunner.query(
      'CREATE INDEX audit_events_merchant ON audit_events (merchant_id, occurred_at, id) WHERE merchant_id IS NOT NULL',
    );
    await queryRunner.query('CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, occurred_at, id)');
    await queryRunner.query('CREATE INDEX audit_events_unsealed ON audit_events (occurred_at, id) WHERE seq IS NULL');

    // Every column but the four seal columns is compared through to_jsonb, so a column a later migration
    // adds is protected without touching this function; compared as text, so that even a change jsonb
    // equality would overlook (1 to 1.0 inside details) is refused.
    await queryRunner.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL OR NEW.sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'audit_events: an event is inserted unsealed; only the sealer seals it'
              USING ERRCODE = 'restrict_violation';
          END IF;
          RETURN NEW;
        END IF;
        IF TG_OP = 'UPDATE' THEN
          IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL AND OLD.sealed_at IS NULL
             AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.sealed_at IS NOT NULL
             AND (to_jsonb(NEW) - '{seq,prev_hash,hash,sealed_at}'::text[])::text
               = (to_jsonb(OLD) - '{seq,prev_hash,hash,sealed_at}'::text[])::text THEN
            RETURN NEW;
          END IF;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
          USING ERRCODE = 'restrict_violation',
                HINT = 'The only update allowed seals an unsealed event: seq, prev_hash, hash and sealed_at set once, nothing else changed.';
      END
      $$
    `);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_append_only_rows
        BEFORE INSERT OR UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    `);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_append_only_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    `);
    await queryRunner.query(
      "COMMENT ON TABLE audit_events IS 'Append-only audit trail: no DELETE, no TRUNCATE, no UPDATE but sealing once (see audit_events_append_only).'",
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // DROP TABLE takes its indexes and triggers with it; it is not a TRUNCATE, so the trigger does not stop it.
    await queryRunner.query('DROP TABLE audit_events');
    await queryRunner.query('DROP FUNCTION audit_events_append_only()');
  }
}
