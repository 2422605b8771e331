import { describe, expect, it } from '@jest/globals';
import { startServiceProcess } from '../support/service-process.js';
import { createTestDatabase, testServerUrl } from '../support/test-database.js';

const PLATFORM = { PLATFORM_CLIENT_ID: 'platform_restarttest01', PLATFORM_CLIENT_SECRET: 'a-platform-secret-of-at-least-32-characters' };

async function platformToken(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${PLATFORM.PLATFORM_CLIENT_ID}:${PLATFORM.PLATFORM_CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=admin',
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

const onServer = testServerUrl() === undefined ? describe.skip : describe;
onServer('signing keys are kept, not regenerated', () => {
  it('accepts after a restart a token issued before it, and signs with the same key', async () => {
    const database = await createTestDatabase();
    // One public URL for both processes, as behind one load balancer: it is the issuer and the audience.
    const env = { DATABASE_URL: database.url ?? '', SEED_DEMO: 'false', PUBLIC_URL: 'https://api.creditgate.test', ...PLATFORM };
    try {
      const first = await startServiceProcess(env);
      await first.waitUntilReady();
      const token = await platformToken(first.baseUrl);
      const jwksBefore = await (await fetch(`${first.baseUrl}/oauth/jwks`)).json();
      expect(await first.stop()).toBe(0);

      const second = await startServiceProcess(env);
      await second.waitUntilReady();
      const principal = await fetch(`${second.baseUrl}/v1/principal`, { headers: { authorization: `Bearer ${token}` } });
      expect(principal.status).toBe(200);
      expect(await principal.json()).toMatchObject({
        clientId: PLATFORM.PLATFORM_CLIENT_ID,
        clientType: 'platform',
        userId: null,
        scopes: ['admin'],
      });
      expect(await (await fetch(`${second.baseUrl}/oauth/jwks`)).json()).toEqual(jwksBefore);
      expect(await second.stop()).toBe(0);
    } finally {
      await database.drop();
    }
  });

  it('lets two instances starting together on an empty database agree on one signing key', async () => {
    const database = await createTestDatabase();
    // One public URL for both processes, as behind one load balancer: it is the issuer and the audience.
    const env = { DATABASE_URL: database.url ?? '', SEED_DEMO: 'false', PUBLIC_URL: 'https://api.creditgate.test', ...PLATFORM };
    try {
      const [a, b] = await Promise.all([startServiceProcess(env), startServiceProcess(env)]);
      if (a === undefined || b === undefined) throw new Error('two instances expected');
      await Promise.all([a.waitUntilReady(), b.waitUntilReady()]);
      const tokenFromA = await platformToken(a.baseUrl);
      const onB = await fetch(`${b.baseUrl}/v1/principal`, { headers: { authorization: `Bearer ${tokenFromA}` } });
      expect(onB.status).toBe(200);
      const keys = (await (await fetch(`${b.baseUrl}/oauth/jwks`)).json()) as { keys: unknown[] };
      expect(keys.keys).toHaveLength(1);
      expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0]);
    } finally {
      await database.drop();
    }
  });
});
