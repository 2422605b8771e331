import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Retention for the audit trail, by one narrow path that keeps the hash chain verifiable (issue 8).
 *
 * `audit_purges` is itself append-only: each row says "every event up to seq `through_seq` was deleted;
 * the last of them had hash `through_hash`". A purge row is accepted only when `through_seq` is beyond
 * the previous purge and names a sealed event with exactly that hash. Verification then starts from
 * the latest purge instead of the genesis hash, so the remaining chain still proves it follows what
 * was purged.
 *
 * audit_events' trigger is replaced by one that refuses the same things as before, except deleting a
 * sealed event whose seq is at or below the latest purge's `through_seq`: a row is deleted only after
 * its purge is on record. Unsealed events are never deleted. The application writes the purge row
 * and deletes in one transaction, under the sealer's advisory lock (src/audit/audit-sealer.ts).
 */
export class AuditChainRetention1763712800000 implements MigrationInterface {
  name = 'AuditChainRetention1763712800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE audit_purges (
        number          bigint      PRIMARY KEY CHECK (number >= 1),
        through_seq     bigint      NOT NULL CHECK (through_seq >= 1),
        through_hash    text        NOT NULL CHECK (through_hash ~ '^[0-9a-f]{64}$'),
        events_purged   bigint      NOT NULL CHECK (events_purged >= 0),
        cutoff          timestamptz NOT NULL,
        purged_at       timestamptz NOT NULL
      )
    `);
    await queryRunner.query(`
      CREATE FUNCTION audit_purges_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        previous bigint;
      BEGIN
        IF TG_OP <> 'INSERT' THEN
          RAISE EXCEPTION 'audit_purges is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
        END IF;
        SELECT max(through_seq) INTO previous FROM audit_purges;
        IF previous IS NOT NULL AND NEW.through_seq <= previous THEN
          RAISE EXCEPTION 'audit_purges: a purge goes beyond the previous one (through_seq % <= %)', NEW.through_seq, previous
            USING ERRCODE = 'restrict_violation';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.through_seq AND hash = NEW.through_hash) THEN
          RAISE EXCEPTION 'audit_purges: through_seq % is no sealed event with that hash', NEW.through_seq
            USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
      END
      $$
    `);
    await queryRunner.query(`
      CREATE TRIGGER audit_purges_append_only_rows
        BEFORE INSERT OR UPDATE OR DELETE ON audit_purges
        FOR EACH ROW EXECUTE FUNCTION audit_purges_guard()
    `);
    await queryRunner.query(`
      CREATE TRIGGER audit_purges_append_only_truncate
        BEFORE TRUNCATE ON audit_purges
        FOR EACH STATEMENT EXECUTE FUNCTION audit_purges_guard()
    `);

    // The same rules as 1763712100000's function, and one more door: DELETE of a purged, sealed event.
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
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
        IF TG_OP = 'DELETE' AND OLD.seq IS NOT NULL
           AND OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_purges) THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
          USING ERRCODE = 'restrict_violation',
                HINT = 'The only update allowed seals an unsealed event; the only delete removes a sealed event a purge in audit_purges covers.';
      END
      $$
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
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
    await queryRunner.query('DROP TABLE audit_purges');
    await queryRunner.query('DROP FUNCTION audit_purges_guard()');
  }
}
