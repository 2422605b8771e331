import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jsonLines, startServiceProcess } from '../support/service-process.js';
import { createTestDatabase, testServerUrl } from '../support/test-database.js';

const run = promisify(execFile);

async function cli(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/src/cli/main.js', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

async function clientCredentials(baseUrl: string, clientId: string, clientSecret: string, scope: string): Promise<Response> {
  return fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
}

describe('demo data and the CLI', () => {
  it('creates the demo merchant, clients and users on the first start only, printing the secrets outside the log', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'creditgate-demo-test-'));
    try {
      const first = await startServiceProcess({ DATA_DIR: dataDir });
      await first.waitUntilReady();
      const file = join(dataDir, 'demo-credentials.json');
      const credentials = JSON.parse(readFileSync(file, 'utf8')) as {
        merchant: { id: string };
        miniProgram: { clientId: string };
        merchantBackend: { clientId: string; clientSecret: string };
        platform: { clientId: string; clientSecret: string };
        users: { email: string }[];
      };
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(first.stdout()).toContain('creditgate demo data');
      expect(first.stdout()).toContain(credentials.merchantBackend.clientSecret);
      // The JSON log lines never carry a secret.
      for (const line of first
        .stdout()
        .split('\n')
        .filter((text) => text.startsWith('{')))
        expect(line).not.toContain('cgs_');
      expect(credentials.users.map((user) => user.email)).toEqual(
        expect.arrayContaining(['score-649@test.invalid', 'score-650@test.invalid', 'score-na@test.invalid']),
      );

      const merchantToken = await clientCredentials(
        first.baseUrl,
        credentials.merchantBackend.clientId,
        credentials.merchantBackend.clientSecret,
        'payments:write',
      );
      expect(merchantToken.status).toBe(200);
      const platformToken = await clientCredentials(
        first.baseUrl,
        credentials.platform.clientId,
        credentials.platform.clientSecret,
        'admin ledger:write',
      );
      expect(platformToken.status).toBe(200);
      expect(await first.stop()).toBe(0);

      const second = await startServiceProcess({ DATA_DIR: dataDir });
      await second.waitUntilReady();
      expect(await second.stop()).toBe(0);
      expect(second.stdout()).not.toContain('creditgate demo data');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('plays the whole story with npm run demo against the embedded database, and can play it again', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'creditgate-story-test-'));
    let stopLater: { stop(): Promise<unknown> } | undefined;
    try {
      const service = await startServiceProcess({ DATA_DIR: dataDir });
      stopLater = service;
      await service.waitUntilReady();
      const story = () =>
        run(process.execPath, ['dist/src/demo/story.js'], {
          env: { PATH: process.env.PATH ?? '', DEMO_URL: service.baseUrl, DATA_DIR: dataDir },
        });
      const { stdout } = await story();
      expect(stdout).toContain('score 650 (band 650-699)');
      expect(stdout).toContain('admitted at 650: Y');
      expect(stdout).toMatch(/WAIVED: waived RMB 99\.00, deposit due RMB 0\.00/);
      expect(stdout).toMatch(/DENIED: waived RMB 0\.00, deposit due RMB 99\.00[\s\S]*FAIL {2}CREDIT_SCORE +observed 649, required 650/);
      expect(stdout).toContain('completed: COMPLETED, fare RMB 3.50');
      expect(stdout).toContain('refund');
      expect(stdout).toContain('claim: RECOVERED, RMB 99.00 recovered; RMB 9.50 paid by the credit guarantee');
      expect(stdout).toMatch(/FAIL {2}NO_OUTSTANDING_DEBT +observed "950"/);
      expect(stdout).toContain('RMB 9.50 repaid');
      expect(stdout).toContain('CNY available RMB 109.43');
      // Again, on the same data: every step reads before it writes.
      expect((await story()).stdout).toContain('already verified: 110***********002X');
      stopLater = undefined;
      expect(await service.stop()).toBe(0);
    } finally {
      await stopLater?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('refuses to open an embedded database another process is using', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'creditgate-lock-test-'));
    try {
      const service = await startServiceProcess({ DATA_DIR: dataDir, SEED_DEMO: 'false' });
      await service.waitUntilReady();
      const refused = await cli({ DATA_DIR: dataDir }, 'merchants:create', '--name', 'Second writer');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/in use by process \d+/);
      expect(await service.stop()).toBe(0);
      const allowed = await cli({ DATA_DIR: dataDir }, 'merchants:create', '--name', 'After the service stopped');
      expect(allowed.code).toBe(0);
      expect(JSON.parse(allowed.stdout)).toMatchObject({ name: 'After the service stopped' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  const onServer = testServerUrl() === undefined ? describe.skip : describe;
  onServer('on a PostgreSQL server', () => {
    it('registers a merchant and its client from the command line, the secret shown once, and the client can get a token', async () => {
      const database = await createTestDatabase();
      const env = { DATABASE_URL: database.url ?? '' };
      try {
        const merchant = await cli(env, 'merchants:create', '--name', 'CLI Bikes');
        expect(merchant.code).toBe(0);
        const merchantId = (JSON.parse(merchant.stdout) as { id: string }).id;
        const client = await cli(
          env,
          'clients:create',
          '--type',
          'merchant',
          '--merchant',
          merchantId,
          '--name',
          'CLI backend',
          '--scopes',
          'payments:write merchant:read',
        );
        expect(client.code).toBe(0);
        const created = JSON.parse(client.stdout) as { clientId: string; clientSecret: string; scopes: string[] };
        expect(created.scopes).toEqual(['payments:write', 'merchant:read']);
        expect(created.clientSecret).toMatch(/^cgs_/);

        const refused = await cli(
          env,
          'clients:create',
          '--type',
          'merchant',
          '--merchant',
          merchantId,
          '--name',
          'Greedy',
          '--scopes',
          'admin',
        );
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('CLIENT_INVALID');

        const service = await startServiceProcess({ ...env, SEED_DEMO: 'false' });
        await service.waitUntilReady();
        const token = await clientCredentials(service.baseUrl, created.clientId, created.clientSecret, 'merchant:read');
        expect(token.status).toBe(200);
        const wrong = await clientCredentials(service.baseUrl, created.clientId, `${created.clientSecret}x`, 'merchant:read');
        expect(wrong.status).toBe(401);
        expect(await service.stop()).toBe(0);
        expect(jsonLines(service.stdout()).some((line) => JSON.stringify(line).includes(created.clientSecret))).toBe(false);
      } finally {
        await database.drop();
      }
    });

    it('rotates identity encryption keys from the command line (the rotation itself: test/identity)', async () => {
      const database = await createTestDatabase();
      const keys = `k9:${Buffer.alloc(32, 9).toString('base64')},k1:${Buffer.alloc(32, 1).toString('base64')}`;
      try {
        const rotated = await cli({ DATABASE_URL: database.url ?? '', PII_ENCRYPTION_KEYS: keys }, 'identity:rotate-keys');
        expect(rotated.code).toBe(0);
        expect(JSON.parse(rotated.stdout)).toEqual({ rotated: 0, keyId: 'k9' });
        const bad = await cli({ DATABASE_URL: database.url ?? '', PII_ENCRYPTION_KEYS: 'k9:short' }, 'identity:rotate-keys');
        expect(bad.code).toBe(1);
        expect(bad.stderr).toContain('PII_ENCRYPTION_KEYS=(hidden)');
      } finally {
        await database.drop();
      }
    });
  });
});
