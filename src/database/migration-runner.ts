import { type DataSource, MigrationExecutor } from 'typeorm';

/**
 * The advisory lock key that serialises migrations: any two creditgate instances starting at once on
 * one database take turns; the second finds nothing left to run. (0x63726564 is "cred".)
 */
export const MIGRATION_LOCK_KEY = 0x63726564;

export interface MigrationReport {
  readonly applied: string[];
}

async function withMigrationLock<T>(dataSource: DataSource, work: (executor: MigrationExecutor) => Promise<T>): Promise<T> {
  // One connection holds the session-level lock and runs every migration, so the embedded database
  // (one connection in all) needs no second one.
  const queryRunner = dataSource.createQueryRunner();
  await queryRunner.connect();
  try {
    await queryRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const executor = new MigrationExecutor(dataSource, queryRunner);
      executor.transaction = 'each';
      return await work(executor);
    } finally {
      await queryRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await queryRunner.release();
  }
}

/** Runs every pending migration, holding the migration lock. */
export async function runPendingMigrations(dataSource: DataSource): Promise<MigrationReport> {
  return withMigrationLock(dataSource, async (executor) => {
    const applied = await executor.executePendingMigrations();
    return { applied: applied.map((migration) => migration.name) };
  });
}

/** Reverts the most recent migration, holding the migration lock. */
export async function revertLastMigration(dataSource: DataSource): Promise<void> {
  await withMigrationLock(dataSource, (executor) => executor.undoLastMigration());
}
