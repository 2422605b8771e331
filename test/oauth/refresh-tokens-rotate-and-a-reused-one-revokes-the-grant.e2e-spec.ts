import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeFlow,
  claimsOf,
  createMerchant,
  createMiniProgram,
  createUser,
  type Fixture,
  oauthRefusal,
  PASSWORD,
  refreshTokens,
} from '../support/oauth.js';

describe('refresh tokens rotate on every use, and reusing an old one revokes the whole grant', () => {
  let t: TestApp;
  let publicApp: Fixture;
  let confidentialApp: Fixture;
  let userId: string;

  beforeAll(async () => {
    t = await startTestApp();
    const merchantId = await createMerchant(t);
    publicApp = await createMiniProgram(t, merchantId);
    confidentialApp = await createMiniProgram(t, merchantId, { confidential: true, name: 'Power bank' });
    userId = (await createUser(t, 'ada@example.com')).id;
  });
  afterAll(async () => {
    await t.close();
  });

  const signIn = async (app: Fixture) =>
    (
      await authorizationCodeFlow(t, {
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        redirectUri: app.redirectUri,
        scope: 'identity:read wallet:read',
        login: 'ada@example.com',
        password: PASSWORD,
      })
    ).tokens;

  it.each([
    ['a public mini-program', () => publicApp],
    ['a confidential mini-program', () => confidentialApp],
  ])('rotates the refresh token of %s on every use; the rotated one then fails with invalid_grant', async (_name, app) => {
    const first = await signIn(app());
    const firstRefresh = first.refresh_token ?? '';
    expect(firstRefresh).not.toBe('');

    const second = await refreshTokens(t, app(), firstRefresh);
    expect(second.refresh_token).toEqual(expect.any(String));
    expect(second.refresh_token).not.toBe(firstRefresh);
    expect(second.access_token).not.toBe(first.access_token);
    expect(String(claimsOf(second.access_token).scope).split(' ').sort()).toEqual(['identity:read', 'wallet:read']);

    // The access token from the refresh acts for the same user.
    const me = await t.http().get('/v1/me').set('Authorization', `Bearer ${second.access_token}`);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: userId, client: { clientId: app().clientId } });

    const third = await refreshTokens(t, app(), second.refresh_token ?? '');
    expect(third.refresh_token).not.toBe(second.refresh_token);
    expect(third.refresh_token).not.toBe(firstRefresh);

    expect(await oauthRefusal(refreshTokens(t, app(), firstRefresh))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('revokes the grant when a rotated refresh token comes back: the newest refresh token fails too', async () => {
    const first = await signIn(publicApp);
    const second = await refreshTokens(t, publicApp, first.refresh_token ?? '');
    const newest = second.refresh_token ?? '';
    const grantId = await grantIdOfRefresh(newest);
    expect(grantId).toEqual(expect.any(String));
    expect(await rowsOfGrant(grantId ?? '')).toEqual({ Grant: 1, RefreshToken: 2 });

    // An attacker (or a confused app) replays the token that was already rotated away.
    expect(await oauthRefusal(refreshTokens(t, publicApp, first.refresh_token ?? ''))).toEqual({ status: 400, error: 'invalid_grant' });

    // The legitimate holder of the newest token is cut off as well: the whole grant is gone.
    expect(await oauthRefusal(refreshTokens(t, publicApp, newest))).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await rowsOfGrant(grantId ?? '')).toEqual({});
  });

  it('does not let another client use a refresh token it did not receive', async () => {
    const tokens = await signIn(publicApp);
    expect(await oauthRefusal(refreshTokens(t, confidentialApp, tokens.refresh_token ?? ''))).toEqual({
      status: 400,
      error: 'invalid_grant',
    });
    // Still valid for its own client.
    const again = await refreshTokens(t, publicApp, tokens.refresh_token ?? '');
    expect(again.access_token).toEqual(expect.any(String));
  });

  /** The grant a refresh token belongs to, from the database (an opaque token's value is its row id). */
  async function grantIdOfRefresh(refreshToken: string): Promise<string | null> {
    const rows: { grant_id: string | null }[] = await t.dataSource.query(
      `SELECT grant_id FROM oidc_payloads WHERE type = 'RefreshToken' AND id = $1`,
      [refreshToken],
    );
    return rows[0]?.grant_id ?? null;
  }

  /** How many rows of each kind the authorization server keeps for a grant. */
  async function rowsOfGrant(grantId: string): Promise<Record<string, number>> {
    const rows: { type: string; count: string }[] = await t.dataSource.query(
      `SELECT type, count(*) FROM oidc_payloads WHERE (type = 'Grant' AND id = $1) OR (type = 'RefreshToken' AND grant_id = $1) GROUP BY type`,
      [grantId],
    );
    return Object.fromEntries(rows.map((row) => [row.type, Number(row.count)]));
  }
});
