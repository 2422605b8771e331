import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server tests run on, when one is configured; otherwise they use embedded PGlite. */
export function testServerUrl(): string | undefined {
  const url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  return url === undefined || url.trim() === '' ? undefined : url;
}

export interface TestDatabase {
  /** The URL of the fresh database, or undefined for embedded PGlite in memory. */
  readonly url: string | undefined;
  drop(): Promise<void>;
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database whose name contains `test`; the application's migrations build its schema. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  if (serverUrl === undefined) return { url: undefined, drop: async () => {} };
  const name = `creditgate_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(serverUrl, name),
    drop: () => admin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
