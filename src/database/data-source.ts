import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options.js';

/**
 * The data source the TypeORM CLI uses (`npm run migration:generate`): it compares the compiled
 * entities with the database at DATABASE_URL and writes the difference as a new migration.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL must point at a PostgreSQL database for the migration CLI');

export default new DataSource({
  ...dataSourceOptions({ url, poolSize: 2, statementTimeoutMs: 0 }),
  entities: [new URL('../**/*.entity.js', import.meta.url).pathname],
});
