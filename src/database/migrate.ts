import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { ConfigValidationError } from '../config/environment.js';
import { dataSourceOptions } from './data-source-options.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { revertLastMigration, runPendingMigrations } from './migration-runner.js';

/**
 * `npm run migration:run` and `npm run migration:revert`: the same migrations, under the same advisory
 * lock, as the service runs at start-up, against DATABASE_URL or the embedded database in DATA_DIR.
 */
async function main(command: string | undefined): Promise<void> {
  if (command !== 'run' && command !== 'revert') throw new Error('usage: migrate run|revert');
  const config = AppConfig.fromEnvironment(process.env);
  const embedded = config.database.url === undefined ? await EmbeddedPostgres.start(config.database.dataDir) : undefined;
  const url = config.database.url ?? embedded?.url;
  if (url === undefined) throw new Error('no database URL');
  const dataSource = await new DataSource(dataSourceOptions({ url, poolSize: 1, statementTimeoutMs: 0 })).initialize();
  try {
    if (command === 'run') {
      const report = await runPendingMigrations(dataSource);
      console.log(report.applied.length === 0 ? 'No pending migrations.' : `Applied: ${report.applied.join(', ')}`);
    } else {
      await revertLastMigration(dataSource);
      console.log('Reverted the most recent migration.');
    }
  } finally {
    await dataSource.destroy();
    await embedded?.stop();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error instanceof ConfigValidationError ? error.message : error);
  process.exit(1);
});
