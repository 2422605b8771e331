import type { MigrationInterface, QueryRunner } from 'typeorm';

/** 1763712910000's audit_events_append_only, which `up` replaces and `down` restores. */
const EVENTS_GUARD_WITH_SEAL_COLUMNS = `
  CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    unsealed audit_events;
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
         AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.sealed_at IS NOT NULL THEN
        unsealed := NEW;
        unsealed.seq := NULL;
        unsealed.prev_hash := NULL;
        unsealed.hash := NULL;
        unsealed.sealed_at := NULL;
        IF unsealed::text = OLD::text THEN
          RETURN NEW;
        END IF;
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
  $$`;

/**
 * audit_purges_guard: a purge goes beyond the previous one and names a sealed event by its seq and
 * hash, looked up in `seals`: audit_events before this migration (1763712800000's guard, which `down`
 * restores), audit_seals after it.
 */
function purgesGuardOn(seals: 'audit_events' | 'audit_seals'): string {
  return `
  CREATE OR REPLACE FUNCTION audit_purges_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF NOT EXISTS (SELECT 1 FROM ${seals} WHERE seq = NEW.through_seq AND hash = NEW.through_hash) THEN
      RAISE EXCEPTION 'audit_purges: through_seq % is no sealed event with that hash', NEW.through_seq
        USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
  END
  $$`;
}

/**
 * The hash chain's seals move out of audit_events into a table of their own, so that audit_events is
 * insert-only (issue 8's sealer, made cheaper).
 *
 * Sealing used to UPDATE each event (seq, prev_hash, hash, sealed_at): a new version of a wide row,
 * re-inserted into all nine of the table's indexes (a seal cannot be a HOT update), and a row trigger
 * comparing the two versions. On the payments benchmark that was about 140 µs of PostgreSQL time an
 * event, 39 ms a batch of some 280, in bursts that reached every request's p99. Now a seal is one
 * narrow row INSERTed into `audit_seals` (two indexes, no trigger on INSERT).
 *
 * `audit_seals`: one row an event in the chain, `seq` 1, 2, 3, ... with the event's id, the previous
 * hash, its hash and when it was sealed; the chain is defined as before (src/audit/audit-chain.ts).
 * There is no foreign key to audit_events, which keeps the insert cheap: the purge deletes the events
 * and then their seals, and verification reports a seal whose event is gone (EVENT_MISSING). The table
 * is append-only as audit_events is: UPDATE and TRUNCATE refused, DELETE only of a seal a purge in
 * audit_purges covers and whose event is already deleted.
 *
 * Which events to seal next, without a column on the event to say "sealed": audit_events gets `xid`,
 * the top-level id (xid8, 64 bits, never wraps) of the transaction that wrote the event, set by the
 * trigger whatever the writer sends. The sealer seals in (xid, occurred_at, id) order, and only the
 * events of transactions older than every transaction still running (src/audit/audit-sealer.ts says
 * why that never skips one); `audit_events_unsealed` on (xid, occurred_at, id) serves it. The rows
 * there before this migration get xid 1 (below every real xid, without a rewrite of the table): the
 * sealed ones have their seals copied, the unsealed ones are sealed first, in (occurred_at, id) order.
 *
 * audit_events' trigger now refuses every UPDATE, and deletes only an event whose seal a purge covers.
 */
export class AuditSealsApart1763713000000 implements MigrationInterface {
  name = 'AuditSealsApart1763713000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE audit_seals (
        seq        bigint      PRIMARY KEY CHECK (seq >= 1),
        event_id   uuid        NOT NULL UNIQUE,
        prev_hash  text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash       text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        sealed_at  timestamptz NOT NULL
      )
    `);
    await queryRunner.query(
      'INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at) SELECT seq, id, prev_hash, hash, sealed_at FROM audit_events WHERE seq IS NOT NULL',
    );

    // A constant default first, so that the existing rows get 1 without the table being rewritten; then
    // the real one (the trigger sets it anyway, so that no writer chooses it).
    await queryRunner.query(`ALTER TABLE audit_events ADD COLUMN xid xid8 NOT NULL DEFAULT '1'`);
    await queryRunner.query('ALTER TABLE audit_events ALTER COLUMN xid SET DEFAULT pg_current_xact_id()');
    await queryRunner.query('DROP INDEX audit_events_unsealed');
    await queryRunner.query('CREATE INDEX audit_events_unsealed ON audit_events (xid, occurred_at, id)');

    // The function no longer names the seal columns, so that they can go.
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          -- The sealer's order rests on this: the writing transaction's own id, never the writer's choice.
          NEW.xid := pg_current_xact_id();
          RETURN NEW;
        END IF;
        IF TG_OP = 'DELETE' AND EXISTS (
             SELECT 1 FROM audit_seals s
              WHERE s.event_id = OLD.id AND s.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_purges)) THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
          USING ERRCODE = 'restrict_violation',
                HINT = 'Events are only inserted; the only delete removes an event whose seal in audit_seals a purge in audit_purges covers.';
      END
      $$
    `);
    await queryRunner.query('ALTER TABLE audit_events DROP CONSTRAINT audit_events_sealed_whole');
    await queryRunner.query('ALTER TABLE audit_events DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash, DROP COLUMN sealed_at');

    // No trigger on INSERT: a seal costs its row and its two index entries, nothing more.
    await queryRunner.query(`
      CREATE FUNCTION audit_seals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE'
           AND OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_purges)
           AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.id = OLD.event_id) THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_seals is append-only: % refused', TG_OP
          USING ERRCODE = 'restrict_violation',
                HINT = 'Seals are only inserted; the only delete removes a seal a purge in audit_purges covers, after its event.';
      END
      $$
    `);
    await queryRunner.query(`
      CREATE TRIGGER audit_seals_append_only_rows
        BEFORE UPDATE OR DELETE ON audit_seals
        FOR EACH ROW EXECUTE FUNCTION audit_seals_guard()
    `);
    await queryRunner.query(`
      CREATE TRIGGER audit_seals_append_only_truncate
        BEFORE TRUNCATE ON audit_seals
        FOR EACH STATEMENT EXECUTE FUNCTION audit_seals_guard()
    `);

    await queryRunner.query(purgesGuardOn('audit_seals'));

    await queryRunner.query(
      "COMMENT ON TABLE audit_events IS 'Append-only audit trail: INSERT only; DELETE only of an event whose seal a purge covers (see audit_events_append_only). Seals are in audit_seals.'",
    );
    await queryRunner.query(
      "COMMENT ON TABLE audit_seals IS 'The audit hash chain, one seal an event in seq order; append-only: DELETE only of a purged seal whose event is gone (see audit_seals_guard).'",
    );
    await queryRunner.query(
      "COMMENT ON COLUMN audit_events.xid IS 'The writing transaction''s id, set by the trigger: the sealer seals in (xid, occurred_at, id) order.'",
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(String.raw`
      ALTER TABLE audit_events
        ADD COLUMN seq       bigint      UNIQUE CHECK (seq >= 1),
        ADD COLUMN prev_hash text        CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        ADD COLUMN hash      text        CHECK (hash ~ '^[0-9a-f]{64}$'),
        ADD COLUMN sealed_at timestamptz,
        ADD CONSTRAINT audit_events_sealed_whole CHECK (
          (seq IS NULL AND prev_hash IS NULL AND hash IS NULL AND sealed_at IS NULL)
          OR (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL AND sealed_at IS NOT NULL))
    `);
    // The old function lets exactly this update through: each event sealed once, nothing else changed.
    await queryRunner.query(EVENTS_GUARD_WITH_SEAL_COLUMNS);
    await queryRunner.query(`
      UPDATE audit_events e SET seq = s.seq, prev_hash = s.prev_hash, hash = s.hash, sealed_at = s.sealed_at
        FROM audit_seals s WHERE s.event_id = e.id
    `);
    await queryRunner.query(purgesGuardOn('audit_events'));
    await queryRunner.query('DROP INDEX audit_events_unsealed');
    await queryRunner.query('ALTER TABLE audit_events DROP COLUMN xid');
    await queryRunner.query('CREATE INDEX audit_events_unsealed ON audit_events (occurred_at, id) WHERE seq IS NULL');
    // DROP TABLE is not a TRUNCATE: the guard does not stop it.
    await queryRunner.query('DROP TABLE audit_seals');
    await queryRunner.query('DROP FUNCTION audit_seals_guard()');
    await queryRunner.query(
      "COMMENT ON TABLE audit_events IS 'Append-only audit trail: no DELETE, no TRUNCATE, no UPDATE but sealing once (see audit_events_append_only).'",
    );
  }
}
