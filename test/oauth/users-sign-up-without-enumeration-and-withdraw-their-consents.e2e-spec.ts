import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  authorizationCodeFlow,
  createMerchant,
  createMiniProgram,
  expectProblem,
  type Fixture,
  oauthRefusal,
  PASSWORD,
  refreshTokens,
} from '../support/oauth.js';
import { UsersService } from '../../src/users/users.service.js';

describe('users sign up without revealing who has an account, and see and withdraw the consents they gave', () => {
  let t: TestApp;
  let app: Fixture;
  let otherApp: Fixture;

  beforeAll(async () => {
    t = await startTestApp();
    const merchantId = await createMerchant(t, 'Shanghai Bike Co.');
    app = await createMiniProgram(t, merchantId, { name: 'Bike rental' });
    otherApp = await createMiniProgram(t, await createMerchant(t, 'Hangzhou Power Banks'), { name: 'Charge & Go' });
    for (const [email, displayName] of [
      ['ada@example.com', 'Ada'],
      ['grace@example.com', 'Grace'],
    ]) {
      expect((await t.http().post('/v1/users').send({ email, password: PASSWORD, displayName })).status).toBe(202);
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const signUp = (body: Record<string, unknown>) => t.http().post('/v1/users').send(body);

  it('answers 202 with the same body for a new login and for a taken one, and keeps the first password', async () => {
    const fresh = await signUp({ email: 'alan@example.com', password: PASSWORD, displayName: 'Alan' });
    const taken = await signUp({ email: 'ALAN@example.com', password: 'another password entirely', displayName: 'Mallory' });
    expect(fresh.status).toBe(202);
    expect(taken.status).toBe(202);
    expect(taken.body).toEqual(fresh.body);
    expect(Object.keys(taken.headers).sort()).toEqual(Object.keys(fresh.headers).sort());

    const users = t.app.get(UsersService);
    expect(await users.authenticate('alan@example.com', PASSWORD)).toMatchObject({ displayName: 'Alan' });
    expect(await users.authenticate('alan@example.com', 'another password entirely')).toBeNull();
  });

  it('accepts a phone number (E.164) as the login', async () => {
    const response = await signUp({ phone: '+8613800138000', password: PASSWORD, displayName: 'Li Lei' });
    expect(response.status).toBe(202);
    expect(await t.app.get(UsersService).authenticate('+8613800138000', PASSWORD)).toMatchObject({ displayName: 'Li Lei' });
  });

  it('lists every invalid field in a problem document', async () => {
    const response = await signUp({ email: 'not-an-email', password: 'short', displayName: '', role: 'admin' });
    expectProblem(response, 400, 'VALIDATION_FAILED');
    const fields = (response.body.errors as { field: string }[]).map((error) => error.field);
    expect(fields).toEqual(expect.arrayContaining(['email', 'password', 'displayName', 'role']));
    const noLogin = await signUp({ password: PASSWORD, displayName: 'Nobody' });
    expectProblem(noLogin, 400, 'VALIDATION_FAILED');
    const badPhone = await signUp({ phone: '13800138000', password: PASSWORD, displayName: 'Li' });
    expectProblem(badPhone, 400, 'VALIDATION_FAILED');
    expect((badPhone.body.errors as { field: string }[]).map((error) => error.field)).toContain('phone');
    // Nothing was created by the refused requests.
    const count: { count: string }[] = await t.dataSource.query(`SELECT count(*) FROM users WHERE display_name IN ('Nobody', 'Li')`);
    expect(Number(count[0]?.count)).toBe(0);
  });

  const signIn = async (login: string, client: Fixture, scope: string) =>
    (await authorizationCodeFlow(t, { clientId: client.clientId, redirectUri: client.redirectUri, scope, login, password: PASSWORD }))
      .tokens;
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('shows the user with a masked email', async () => {
    const tokens = await signIn('ada@example.com', app, 'identity:read');
    const me = await t.http().get('/v1/me').set(as(tokens.access_token));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      displayName: 'Ada',
      email: 'a***@example.com',
      phone: null,
      client: { clientId: app.clientId, scopes: ['identity:read'] },
    });
    expect(JSON.stringify(me.body)).not.toContain('ada@example.com');
  });

  it('lists consents with the app, its merchant and the scopes; only their owner may withdraw one, once', async () => {
    const tokens = await signIn('ada@example.com', app, 'credit:admittance waivers:request');
    await signIn('ada@example.com', otherApp, 'wallet:read');

    const list = await t.http().get('/v1/me/grants').set(as(tokens.access_token));
    expect(list.status).toBe(200);
    const grants = list.body.data as { id: string; clientId: string; clientName: string; merchantName: string; scopes: string[] }[];
    expect(grants.map((grant) => grant.clientName).sort()).toEqual(['Bike rental', 'Charge & Go']);
    const bike = grants.find((grant) => grant.clientId === app.clientId);
    expect(bike).toMatchObject({ clientName: 'Bike rental', merchantName: 'Shanghai Bike Co.' });
    // The consent remembered covers every scope ever approved for this app (identity:read came first).
    expect(bike?.scopes).toEqual(expect.arrayContaining(['credit:admittance', 'waivers:request']));
    expect(bike?.scopes).not.toContain('openid');
    expect(grants.find((grant) => grant.clientId === otherApp.clientId)).toMatchObject({
      merchantName: 'Hangzhou Power Banks',
      scopes: ['wallet:read'],
    });

    // Another user cannot withdraw Ada's consent, and cannot tell it exists.
    const grace = await signIn('grace@example.com', app, 'identity:read');
    const graceGrants = (await t.http().get('/v1/me/grants').set(as(grace.access_token))).body.data as { id: string }[];
    expect(graceGrants).toHaveLength(1);
    expect(graceGrants[0]?.id).not.toBe(bike?.id);
    expectProblem(await t.http().delete(`/v1/me/grants/${bike?.id}`).set(as(grace.access_token)), 404, 'GRANT_NOT_FOUND');
    expectProblem(await t.http().delete('/v1/me/grants/no-such-grant').set(as(grace.access_token)), 404, 'GRANT_NOT_FOUND');
    // No grant id holds a NUL (or anything but letters, digits, _ and -): refused before the database sees it.
    expectProblem(await t.http().delete('/v1/me/grants/%00').set(as(grace.access_token)), 400, 'VALIDATION_FAILED');
    expectProblem(await t.http().delete('/v1/me/grants/a%20b').set(as(grace.access_token)), 400, 'VALIDATION_FAILED');
    expect((await refreshTokens(t, app, tokens.refresh_token ?? '')).refresh_token).toEqual(expect.any(String));

    const withdrawn = await t.http().delete(`/v1/me/grants/${bike?.id}`).set(as(tokens.access_token));
    expect(withdrawn.status).toBe(204);
    const after = (await t.http().get('/v1/me/grants').set(as(tokens.access_token))).body.data as { clientId: string }[];
    expect(after.map((grant) => grant.clientId)).toEqual([otherApp.clientId]);
    expectProblem(await t.http().delete(`/v1/me/grants/${bike?.id}`).set(as(tokens.access_token)), 404, 'GRANT_NOT_FOUND');
    // Grace's consent to the same app is untouched.
    expect((await t.http().get('/v1/me/grants').set(as(grace.access_token))).body.data).toHaveLength(1);
  });

  it('makes every refresh token of a withdrawn consent fail with invalid_grant, and asks for consent again next time', async () => {
    const first = await authorizationCodeFlow(t, {
      clientId: otherApp.clientId,
      redirectUri: otherApp.redirectUri,
      scope: 'payments:pay',
      login: 'grace@example.com',
      password: PASSWORD,
    });
    const rotated = await refreshTokens(t, otherApp, first.tokens.refresh_token ?? '');
    const grants = (await t.http().get('/v1/me/grants').set(as(rotated.access_token))).body.data as { id: string; clientId: string }[];
    const grant = grants.find((item) => item.clientId === otherApp.clientId);
    expect((await t.http().delete(`/v1/me/grants/${grant?.id}`).set(as(rotated.access_token))).status).toBe(204);
    expect(await oauthRefusal(refreshTokens(t, otherApp, rotated.refresh_token ?? ''))).toEqual({ status: 400, error: 'invalid_grant' });

    const again = await authorizationCodeFlow(t, {
      clientId: otherApp.clientId,
      redirectUri: otherApp.redirectUri,
      scope: 'payments:pay',
      login: 'grace@example.com',
      password: PASSWORD,
    });
    expect(again.sawConsentPage).toBe(true);
  });

  it('keeps the grant routes for user tokens', async () => {
    expectProblem(await t.http().get('/v1/me/grants'), 401, 'TOKEN_MISSING');
    expectProblem(await t.http().delete('/v1/me/grants/anything'), 401, 'TOKEN_MISSING');
  });
});

describe('sign-up is rate limited', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { RATE_LIMIT_SIGN_UP_PER_MINUTE: '2' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers the third sign-up from one address within a minute with 429 and Retry-After', async () => {
    for (const name of ['one', 'two']) {
      expect(
        (
          await t
            .http()
            .post('/v1/users')
            .send({ email: `${name}@example.com`, password: PASSWORD, displayName: name })
        ).status,
      ).toBe(202);
    }
    const limited = await t.http().post('/v1/users').send({ email: 'three@example.com', password: PASSWORD, displayName: 'three' });
    expectProblem(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await t.app.get(UsersService).authenticate('three@example.com', PASSWORD)).toBeNull();
  });
});
