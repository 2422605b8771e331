import { expect } from '@jest/globals';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { runPendingMigrations } from '../../src/database/migration-runner.js';

/** A data source on `url` that knows the migrations up to and including `through`, all of them run. */
export async function migratedThrough(url: string, through: string): Promise<DataSource> {
  const last = MIGRATIONS.findIndex((migration) => migration.name === through);
  expect(last).toBeGreaterThanOrEqual(0);
  const dataSource = await new DataSource({
    ...dataSourceOptions({ url, poolSize: 2, statementTimeoutMs: 0 }),
    migrations: MIGRATIONS.slice(0, last + 1),
  }).initialize();
  await runPendingMigrations(dataSource);
  return dataSource;
}
