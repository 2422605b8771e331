import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MIGRATIONS } from '../../migrations/index.js';
import { jsonLines, startServiceProcess } from '../support/service-process.js';
import { createTestDatabase, testServerUrl } from '../support/test-database.js';

describe('the service as a process', () => {
  it('refuses to start on bad configuration, with exit code 1 and every bad variable named', async () => {
    const service = await startServiceProcess({ PORT: '99999', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://root:hunter2@db/x' });
    const code = await service.exited;
    expect(code).toBe(1);
    const stderr = service.stderr();
    expect(stderr).toMatch(/PORT=/);
    expect(stderr).toMatch(/LOG_LEVEL=/);
    expect(stderr).toMatch(/DATABASE_URL=\(hidden\)/);
    expect(stderr).not.toContain('hunter2');
  });

  it('runs on the embedded database, keeps its data across restarts, and says where everything is', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'creditgate-test-'));
    try {
      const first = await startServiceProcess({ DATA_DIR: dataDir });
      await first.waitUntilReady();
      expect(await first.stop()).toBe(0);
      const firstLog = jsonLines(first.stdout());
      const listening = firstLog.find((line) => typeof line.msg === 'string' && line.msg.startsWith('creditgate listening'));
      expect(listening).toMatchObject({ database: { kind: 'embedded PGlite', location: join(dataDir, 'pglite') } });
      expect(listening?.urls).toMatchObject({ docs: expect.stringMatching(/\/docs$/), ready: expect.stringMatching(/\/health\/ready$/) });
      expect(firstLog.some((line) => line.msg === 'migrations applied')).toBe(true);
      expect(firstLog.some((line) => line.msg === 'stopped')).toBe(true);

      const second = await startServiceProcess({ DATA_DIR: dataDir });
      await second.waitUntilReady();
      expect(await second.stop()).toBe(0);
      // Everything was migrated and kept the first time: nothing is applied again.
      expect(jsonLines(second.stdout()).some((line) => line.msg === 'migrations applied')).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  const onServer = testServerUrl() === undefined ? describe.skip : describe;
  onServer('on a PostgreSQL server', () => {
    it('migrates exactly once when two instances start at the same moment on an empty database', async () => {
      const database = await createTestDatabase();
      const url = database.url ?? '';
      try {
        const instances = await Promise.all([startServiceProcess({ DATABASE_URL: url }), startServiceProcess({ DATABASE_URL: url })]);
        await Promise.all(instances.map((instance) => instance.waitUntilReady()));
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const rows = await client.query<{ name: string; count: string }>(
          'SELECT name, count(*) AS count FROM typeorm_migrations GROUP BY name',
        );
        await client.end();
        expect(rows.rows.map((row) => row.name).sort()).toEqual(MIGRATIONS.map((migration) => migration.name).sort());
        for (const row of rows.rows) expect(row.count).toBe('1');
        const appliedBy = instances.filter((instance) => jsonLines(instance.stdout()).some((line) => line.msg === 'migrations applied'));
        expect(appliedBy).toHaveLength(1);
        expect(await Promise.all(instances.map((instance) => instance.stop()))).toEqual([0, 0]);
      } finally {
        await database.drop();
      }
    });

    it('on SIGTERM stops taking traffic, closes its database connections and exits 0', async () => {
      const database = await createTestDatabase();
      const url = database.url ?? '';
      try {
        const service = await startServiceProcess({ DATABASE_URL: url });
        await service.waitUntilReady();
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const connections = async (): Promise<number> =>
          Number(
            (
              await client.query<{ n: string }>(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'creditgate'",
              )
            ).rows[0]?.n,
          );
        expect(await connections()).toBeGreaterThan(0);
        expect(await service.stop('SIGTERM')).toBe(0);
        expect(jsonLines(service.stdout()).map((line) => line.msg)).toEqual(
          expect.arrayContaining(['shutting down: draining requests', 'stopped']),
        );
        expect(await connections()).toBe(0);
        await client.end();
      } finally {
        await database.drop();
      }
    });
  });
});
