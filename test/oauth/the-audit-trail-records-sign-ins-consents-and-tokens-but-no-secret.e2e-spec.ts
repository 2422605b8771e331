import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  auditActionsEventually,
  authorizationCodeOf,
  authorize,
  clientCredentialsToken,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  type Fixture,
  redeemAuthorizationCode,
  refreshTokens,
} from '../support/oauth.js';

const PASSWORD = 'a long and very secret passphrase 42';
const WRONG_PASSWORD = 'a wrong but also secret passphrase 43';

interface AuditRow {
  action: string;
  outcome: string;
  user_id: string | null;
  client_id: string | null;
  client_type: string | null;
  resource_id: string | null;
  problem_code: string | null;
}

describe('the audit trail records sign-ins, consents, tokens and revocations, and no secret', () => {
  let t: TestApp;
  let app: Fixture;
  let backend: { clientId: string; clientSecret: string };
  let userId: string;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp();
    const merchantId = await createMerchant(t);
    app = await createMiniProgram(t, merchantId, { confidential: true });
    backend = await createConfidentialClient(t, 'merchant', merchantId);
    secrets.password = PASSWORD;
    secrets.wrongPassword = WRONG_PASSWORD;
    secrets.appSecret = app.clientSecret ?? '';
    secrets.backendSecret = backend.clientSecret;

    expect((await t.http().post('/v1/users').send({ email: 'ada@example.com', password: PASSWORD, displayName: 'Ada' })).status).toBe(202);
    userId = ((await t.dataSource.query(`SELECT id FROM users WHERE email = 'ada@example.com'`)) as { id: string }[])[0]?.id ?? '';

    const flow = {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri: app.redirectUri,
      scope: 'wallet:read',
      login: 'ada@example.com',
    };
    await expect(authorize(t, { ...flow, password: WRONG_PASSWORD })).rejects.toThrow(/unexpected 401/);
    const outcome = await authorize(t, { ...flow, password: PASSWORD });
    const callback = authorizationCodeOf(outcome, app.clientId);
    secrets.code = callback.get('code') ?? '';
    const tokens = await oauth.processAuthorizationCodeResponse(
      outcome.as,
      { client_id: app.clientId },
      await redeemAuthorizationCode(outcome, callback, flow),
    );
    secrets.accessToken = tokens.access_token;
    secrets.refreshToken = tokens.refresh_token ?? '';
    const rotated = await refreshTokens(t, app, secrets.refreshToken);
    secrets.rotatedAccessToken = rotated.access_token;
    secrets.rotatedRefreshToken = rotated.refresh_token ?? '';
    secrets.clientToken = await clientCredentialsToken(t, backend.clientId, backend.clientSecret, 'merchant:read');

    const grants = (await t.http().get('/v1/me/grants').set('Authorization', `Bearer ${rotated.access_token}`)).body.data as {
      id: string;
    }[];
    expect((await t.http().delete(`/v1/me/grants/${grants[0]?.id}`).set('Authorization', `Bearer ${rotated.access_token}`)).status).toBe(
      204,
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const rows = async (action: string): Promise<AuditRow[]> =>
    t.dataSource.query(
      'SELECT action, outcome, user_id, client_id, client_type, resource_id, problem_code FROM audit_events WHERE action = $1 ORDER BY occurred_at, id',
      [action],
    );

  it('has an event for each step, with who did it', async () => {
    const expected = [
      'user.signed_up',
      'oauth.sign_in.failed',
      'oauth.sign_in.succeeded',
      'oauth.consent.granted',
      'oauth.token.issued',
      'oauth.grant.revoked',
    ];
    expect(await auditActionsEventually(t, expected)).toEqual(expect.arrayContaining(expected));

    expect(await rows('user.signed_up')).toEqual([expect.objectContaining({ outcome: 'success', user_id: userId, resource_id: userId })]);
    expect(await rows('oauth.sign_in.failed')).toEqual([
      expect.objectContaining({ outcome: 'failure', problem_code: 'LOGIN_INVALID', user_id: null }),
    ]);
    expect(await rows('oauth.sign_in.succeeded')).toEqual([expect.objectContaining({ outcome: 'success', user_id: userId })]);
    expect(await rows('oauth.consent.granted')).toEqual([expect.objectContaining({ outcome: 'success', user_id: userId })]);
    const issued = await rows('oauth.token.issued');
    // The code exchange and the refresh for the user, the client credentials grant for the backend.
    expect(issued.filter((row) => row.client_id === app.clientId && row.user_id === userId)).toHaveLength(2);
    expect(
      issued.filter((row) => row.client_id === backend.clientId && row.user_id === null && row.client_type === 'merchant'),
    ).toHaveLength(1);
    expect(await rows('oauth.grant.revoked')).toEqual([
      expect.objectContaining({ outcome: 'success', user_id: userId, client_id: app.clientId }),
    ]);
  });

  it('holds no password, client secret, authorization code or token anywhere in the table', async () => {
    await auditActionsEventually(t, ['oauth.grant.revoked', 'oauth.token.issued']);
    const table: { row: string }[] = await t.dataSource.query('SELECT t::text AS row FROM audit_events t');
    expect(table.length).toBeGreaterThanOrEqual(7);
    const text = table.map((item) => item.row).join('\n');
    for (const [name, secret] of Object.entries(secrets)) {
      expect(secret.length).toBeGreaterThanOrEqual(20);
      expect({ name, found: text.includes(secret) }).toEqual({ name, found: false });
      // Nor the signature alone, for a JWT.
      const signature = secret.split('.')[2];
      if (signature !== undefined && signature.length > 20)
        expect({ name, found: text.includes(signature) }).toEqual({ name, found: false });
    }
  });

  it('writes none of them to the logs either', () => {
    const logs = t.logLines.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const [name, secret] of Object.entries(secrets)) expect({ name, found: logs.includes(secret) }).toEqual({ name, found: false });
  });
});
