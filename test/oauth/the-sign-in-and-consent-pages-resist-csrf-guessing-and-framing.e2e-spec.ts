import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  absolute,
  authorizationCodeFlow,
  Browser,
  createMerchant,
  createMiniProgram,
  createUser,
  csrfTokenIn,
  discover,
  type Fixture,
  interactionUidIn,
  PASSWORD,
} from '../support/oauth.js';

/** Starts an authorization request in a fresh browser and follows it to the sign-in page. */
async function openSignInPage(t: TestApp, app: Fixture, scope = 'wallet:read') {
  const as = await discover(t);
  const url = new URL(as.authorization_endpoint ?? '');
  url.search = new URLSearchParams({
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
    response_type: 'code',
    scope,
    state: oauth.generateRandomState(),
    code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
    code_challenge_method: 'S256',
  }).toString();
  const browser = new Browser();
  const redirect = await browser.get(url.toString());
  expect(redirect.status).toBe(303);
  const page = await browser.get(absolute(t.baseUrl, redirect.headers.get('location')));
  expect(page.status).toBe(200);
  const html = await page.text();
  return { browser, page, html, uid: interactionUidIn(html), csrfToken: csrfTokenIn(html) };
}

/** Every page of the interaction: no framing, no script, not cached. */
function expectSafePage(response: Response, html: string): void {
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/\son[a-z]+\s*=/i);
}

describe('the sign-in and consent pages', () => {
  let t: TestApp;
  let app: Fixture;

  beforeAll(async () => {
    t = await startTestApp();
    const merchantId = await createMerchant(t, 'Hangzhou Power Banks');
    app = await createMiniProgram(t, merchantId, { name: 'Charge & Go' });
    await createUser(t, 'ada@example.com');
    await createUser(t, 'grace@example.com');
  });
  afterAll(async () => {
    await t.close();
  });

  it('are plain HTML forms that work without JavaScript and may not be framed', async () => {
    const { browser, page, html, uid, csrfToken } = await openSignInPage(t, app, 'wallet:read credit:score');
    expectSafePage(page, html);
    expect(html).toContain(`action="/interaction/${uid}/login"`);
    expect(html).toContain('Charge &#38; Go');

    const afterLogin = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
      csrfToken,
      login: 'grace@example.com',
      password: PASSWORD,
    });
    expect(afterLogin.status).toBe(303);
    let consent = await browser.get(absolute(t.baseUrl, afterLogin.headers.get('location')));
    while (consent.status === 303) consent = await browser.get(absolute(t.baseUrl, consent.headers.get('location')));
    const consentHtml = await consent.text();
    expectSafePage(consent, consentHtml);
    expect(consentHtml).toContain('Charge &#38; Go by Hangzhou Power Banks');
    expect(consentHtml).toContain('Read your credit score and what makes it up');
    expect(consentHtml).toContain('See your wallet balance and recent activity');
    expect(consentHtml).toMatch(/name="decision" value="approve"/);
    expect(consentHtml).toMatch(/name="decision" value="deny"/);
  });

  it('sends the user back with access_denied when consent is denied, and remembers nothing', async () => {
    const denied = authorizationCodeFlow(t, {
      clientId: app.clientId,
      redirectUri: app.redirectUri,
      scope: 'identity:read',
      login: 'ada@example.com',
      password: PASSWORD,
      decision: 'deny',
    });
    await expect(denied).rejects.toBeInstanceOf(oauth.AuthorizationResponseError);
    await expect(denied).rejects.toMatchObject({ error: 'access_denied' });
    const grants: unknown[] = await t.dataSource.query(
      `SELECT 1 FROM oidc_payloads WHERE type = 'Grant' AND payload->>'clientId' = $1 AND payload::text LIKE '%identity:read%'`,
      [app.clientId],
    );
    expect(grants).toHaveLength(0);
  });

  describe('CSRF protection (double-submit token)', () => {
    it('refuses a sign-in form posted without the CSRF cookie with a 403 page', async () => {
      const { browser, uid, csrfToken } = await openSignInPage(t, app);
      expect(browser.jar.has('cg_csrf')).toBe(true);
      browser.jar.delete('cg_csrf');
      const response = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
        csrfToken,
        login: 'ada@example.com',
        password: PASSWORD,
      });
      expect(response.status).toBe(403);
      expect(response.headers.get('location')).toBeNull();
      expectSafePage(response, await response.text());
    });

    it('refuses a form with a wrong or missing CSRF token, and a consent forged the same way', async () => {
      const { browser, uid, csrfToken } = await openSignInPage(t, app);
      const forged = `${csrfToken.slice(0, -1)}${csrfToken.endsWith('A') ? 'B' : 'A'}`;
      for (const fields of [
        { csrfToken: forged, login: 'ada@example.com', password: PASSWORD },
        { csrfToken: '', login: 'ada@example.com', password: PASSWORD },
      ]) {
        const response = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, fields);
        expect(response.status).toBe(403);
        expect(response.headers.get('location')).toBeNull();
      }
      // The page still works with the right token: the refusals did nothing.
      const ok = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
        csrfToken,
        login: 'ada@example.com',
        password: PASSWORD,
      });
      expect(ok.status).toBe(303);

      let consent = await browser.get(absolute(t.baseUrl, ok.headers.get('location')));
      while (consent.status === 303) consent = await browser.get(absolute(t.baseUrl, consent.headers.get('location')));
      const consentHtml = await consent.text();
      expect(consentHtml).toContain('value="approve"');
      const consentUid = interactionUidIn(consentHtml);
      const forgedConsent = await browser.postForm(`${t.baseUrl}/interaction/${consentUid}/consent`, {
        csrfToken: forged,
        decision: 'approve',
      });
      expect(forgedConsent.status).toBe(403);
      expect(forgedConsent.headers.get('location')).toBeNull();
      const grants: unknown[] = await t.dataSource.query(`SELECT 1 FROM oidc_payloads WHERE type = 'Grant' AND payload->>'clientId' = $1`, [
        app.clientId,
      ]);
      expect(grants).toHaveLength(0);
    });

    it('refuses a form for an interaction this browser did not start', async () => {
      const victim = await openSignInPage(t, app);
      const attacker = await openSignInPage(t, app);
      const response = await attacker.browser.postForm(`${t.baseUrl}/interaction/${victim.uid}/login`, {
        csrfToken: attacker.csrfToken,
        login: 'ada@example.com',
        password: PASSWORD,
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
    });
  });

  it('shows the page again with 401 on a wrong password, and says the same for an unknown login', async () => {
    const { browser, uid, csrfToken } = await openSignInPage(t, app);
    const wrongPassword = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
      csrfToken,
      login: 'ada@example.com',
      password: 'not the password at all',
    });
    const wrongHtml = await wrongPassword.text();
    const unknownLogin = await browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
      csrfToken,
      login: 'nobody@example.com',
      password: 'not the password at all',
    });
    const unknownHtml = await unknownLogin.text();
    for (const [response, html] of [
      [wrongPassword, wrongHtml],
      [unknownLogin, unknownHtml],
    ] as const) {
      expect(response.status).toBe(401);
      expectSafePage(response, html);
      expect(html).toContain('name="password"');
      expect(html).not.toContain('not the password at all');
    }
    // No hint whether the account exists: the pages differ only by the login typed in.
    expect(unknownHtml.replace('nobody@example.com', 'ada@example.com')).toBe(wrongHtml);
    expect(wrongHtml).not.toMatch(/no (such )?account|not found|unknown|does not exist|wrong password|incorrect password/i);
  });

  it('ends at a 400 page, not a redirect, when the interaction cookie is missing', async () => {
    const { uid, csrfToken } = await openSignInPage(t, app);
    const stranger = new Browser();
    const response = await stranger.postForm(`${t.baseUrl}/interaction/${uid}/login`, {
      csrfToken,
      login: 'ada@example.com',
      password: PASSWORD,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expectSafePage(response, await response.text());
  });
});

describe('sign-in attempts are rate limited', () => {
  let t: TestApp;
  let app: Fixture;

  beforeAll(async () => {
    t = await startTestApp({ env: { RATE_LIMIT_LOGIN_PER_MINUTE: '3' } });
    app = await createMiniProgram(t, await createMerchant(t));
    await createUser(t, 'ada@example.com');
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers the fourth attempt for one account within a minute with a 429 page and Retry-After, even with the right password', async () => {
    const { browser, uid, csrfToken } = await openSignInPage(t, app);
    const attempt = (password: string) =>
      browser.postForm(`${t.baseUrl}/interaction/${uid}/login`, { csrfToken, login: 'ADA@example.com ', password });
    for (let tries = 0; tries < 3; tries += 1) expect((await attempt(`guess number ${tries}`)).status).toBe(401);
    const limited = await attempt(PASSWORD);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const html = await limited.text();
    expectSafePage(limited, html);
    expect(html).toContain('Too many attempts');
    expect(limited.headers.get('location')).toBeNull();
  });
});
