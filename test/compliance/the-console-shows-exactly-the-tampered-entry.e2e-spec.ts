import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CheckpointService } from '../../src/ledger/checkpoints.js';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import type { Account } from '../../src/ledger/ledger.types.js';
import { CONSOLE_CLIENT_ID } from '../../src/oauth/client-registry.js';
import { okTransfer, transferCommand } from '../support/ledger-commands.js';
import {
  authorizationCodeFlow,
  authorizationCodeOf,
  authorize,
  clientCredentialsToken,
  createConfidentialClient,
  createUser,
} from '../support/oauth.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Debian's Chromium, installed by .ci/run. No fallback: a browser that cannot start fails the test. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The README's screenshots are rewritten only on request (UPDATE_SCREENSHOTS=1); otherwise into a temporary folder. */
const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? new URL('../../docs/screenshots/', import.meta.url).pathname
    : `${join(tmpdir(), `creditgate-screenshots-${process.pid}`)}/`;

describe('the compliance console, in a real browser', () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let platformToken: string;
  let officer: { id: string; email: string; password: string };
  let accounts: Record<'funding' | 'wallet' | 'merchant', Account>;
  const consoleRedirect = () => `${t.baseUrl}/console`;

  beforeAll(async () => {
    t = await startTestApp();
    const platform = await createConfidentialClient(t, 'platform', null);
    platformToken = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'admin');
    officer = await createUser(t, 'officer@compliance.test');
    const ledger = t.app.get(LedgerService);
    const open = async (code: string) => (await ledger.openAccount({ code, currency: 'CNY' })).account;
    accounts = {
      funding: await open('external:funding:CNY'),
      wallet: await open('user:console:wallet'),
      merchant: await open('merchant:console:available'),
    };
    okTransfer((await ledger.submit([transferCommand(accounts.funding, accounts.wallet, 50_000n)]))[0]);
    for (const amount of [1_200n, 3_400n, 990n, 12_000n])
      okTransfer((await ledger.submit([transferCommand(accounts.wallet, accounts.merchant, amount)]))[0]);
    await t.app.get(CheckpointService).create();
    await mkdir(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const setRole = (method: 'put' | 'delete', userId: string, token = platformToken) =>
    t.http()[method](`/v1/admin/users/${userId}/roles/compliance`).auth(token, { type: 'bearer' });

  it('only the platform gives and takes the compliance role, and each change is recorded', async () => {
    const compliance = await createConfidentialClient(t, 'compliance', null);
    const auditToken = await clientCredentialsToken(t, compliance.clientId, compliance.clientSecret, 'audit:read');
    expect((await setRole('put', officer.id, auditToken)).status).toBe(403);
    expect((await t.http().put(`/v1/admin/users/${officer.id}/roles/compliance`)).status).toBe(401);
    const granted = await setRole('put', officer.id);
    expect(granted.status).toBe(200);
    expect(granted.body).toEqual({ userId: officer.id, roles: ['compliance'], changed: true });
    expect((await setRole('put', officer.id)).body).toMatchObject({ roles: ['compliance'], changed: false });
    expect((await setRole('put', '0193e0a4-7c1b-7000-8000-000000000999')).status).toBe(404);
    const events: { action: string; details: Record<string, unknown>; client_id: string }[] = await t.dataSource.query(
      `SELECT action, details, client_id FROM audit_events WHERE action LIKE 'user.role.%' AND resource_id = $1 ORDER BY occurred_at, id`,
      [officer.id],
    );
    expect(events.map((event) => [event.action, event.details.changed])).toEqual([
      ['user.role.granted', true],
      ['user.role.granted', false],
    ]);
  });

  it('a user without the role cannot grant audit:read to the console; the refusal is recorded', async () => {
    const clerk = await createUser(t, 'clerk@compliance.test');
    const outcome = await authorize(t, {
      clientId: CONSOLE_CLIENT_ID,
      redirectUri: consoleRedirect(),
      scope: 'audit:read',
      login: clerk.email,
      password: clerk.password,
    });
    expect(outcome.sawConsentPage).toBe(false);
    expect(() => authorizationCodeOf(outcome, CONSOLE_CLIENT_ID)).toThrow();
    expect(outcome.redirect.searchParams.get('error')).toBe('access_denied');
    const refused: { problem_code: string }[] = await t.dataSource.query(
      `SELECT problem_code FROM audit_events WHERE action = 'oauth.consent.denied' AND user_id = $1`,
      [clerk.id],
    );
    expect(refused).toEqual([{ problem_code: 'COMPLIANCE_ROLE_REQUIRED' }]);
  });

  it('signs in with the code flow and PKCE, shows the trial balance, verifies the ledger, then names exactly the tampered entry', async () => {
    await page.goto(`${t.baseUrl}/console`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#login').fill(officer.email);
    await page.locator('#password').fill(officer.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${t.baseUrl}/console`);

    // The trial balance: 50,000 + the four payments, in minor units (CNY 676.90 each side when posted: 500 + 176.90).
    const trial = page.locator('#trial-balance table');
    await trial.waitFor();
    expect(await trial.locator('caption').textContent()).toBe('Debits equal credits in every currency');
    const cells = await trial.locator('tbody tr').first().locator('td').allTextContents();
    expect(cells).toEqual(['CNY', '3', '675.90', '675.90', '0.00', '0.00', 'yes']);
    expect(await page.locator('#checkpoint dd').first().textContent()).toBe('1');
    await page.screenshot({ path: `${SCREENSHOTS}console-overview.png`, fullPage: true });

    await page.getByRole('button', { name: 'Verify the ledger now' }).click();
    await page.locator('#verification-outcome').waitFor();
    expect(await page.locator('#verification-outcome strong').textContent()).toBe('The ledger verifies.');

    // Tamper with the merchant's second entry (3,400 becomes 3,401), as a superuser with the triggers off.
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.query('SET LOCAL session_replication_role = replica');
      const changed = await runner.query(
        'UPDATE ledger_entries SET posted_delta = posted_delta + 1, credits_posted = credits_posted + 1 WHERE account_id = $1 AND seq = 2',
        [accounts.merchant.id],
        true,
      );
      expect(changed.affected).toBe(1);
      await runner.commitTransaction();
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }

    await page.getByRole('button', { name: 'Verify the ledger now' }).click();
    await page.getByText('The ledger does NOT verify.').waitFor();
    const broken = page.locator('#verification-report table').filter({ hasText: 'First broken entry of each account' });
    const rows = broken.locator('tbody tr');
    expect(await rows.count()).toBe(1);
    const row = await rows.first().locator('td').allTextContents();
    expect(row[0]).toBe(`merchant:console:available${accounts.merchant.id}`);
    expect(row[1]).toBe('2');
    expect(await page.locator('#status').textContent()).toBe('Verification finished: problems found.');
    await page.screenshot({ path: `${SCREENSHOTS}console-verification-tampered.png`, fullPage: true });
  });

  it('shows the journal with a transfer’s entries and hashes, a balance chart, audit events and exports', async () => {
    await page.getByRole('link', { name: 'Journal' }).click();
    await page.locator('#journal-form').getByLabel('Account id').fill(accounts.merchant.id);
    await page.locator('#journal-form').getByRole('button', { name: 'Search' }).click();
    const transfers = page.locator('#journal-results tbody tr');
    await transfers.first().waitFor();
    expect(await transfers.count()).toBe(4);
    await transfers.first().getByRole('button').click();
    const entries = page.locator('#transfer-detail tbody tr');
    await entries.first().waitFor();
    expect(await entries.count()).toBe(2);
    expect(await page.locator('#transfer-detail dd').first().textContent()).toBe('120.00 CNY');
    await page.screenshot({ path: `${SCREENSHOTS}console-journal.png`, fullPage: true });

    await page.getByRole('link', { name: 'Balance over time' }).click();
    await page.locator('#balance-form').getByLabel('Account id').fill(accounts.wallet.id);
    const now = new Date();
    const local = (date: Date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page
      .locator('#balance-form')
      .getByLabel('From')
      .fill(local(new Date(now.getTime() - 60_000)));
    await page
      .locator('#balance-form')
      .getByLabel('To')
      .fill(local(new Date(now.getTime() + 60_000)));
    await page.locator('#balance-form').getByRole('button', { name: 'Draw' }).click();
    const chart = page.getByRole('img', { name: /Posted balance of user:console:wallet/ });
    await chart.waitFor();
    expect(await chart.getAttribute('aria-label')).toMatch(/from 0\.00 to 324\.10$/);
    await page.screenshot({ path: `${SCREENSHOTS}console-balance.png`, fullPage: true });

    await page.getByRole('link', { name: 'Audit events' }).click();
    await page.locator('#audit-form').getByLabel('Action or family').fill('ledger.verification.');
    await page.locator('#audit-form').getByRole('button', { name: 'Search' }).click();
    await page.locator('#audit-results caption').getByText('2 events, newest first').waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}console-audit-events.png`, fullPage: true });

    await page.getByRole('link', { name: 'Exports' }).click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^creditgate-ledger-.+\.csv$/);
    const path = await download.path();
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(path, 'utf8');
    // A header and two rows a transfer.
    expect(text.trimEnd().split('\r\n')).toHaveLength(1 + 5 * 2);
    await page.screenshot({ path: `${SCREENSHOTS}console-exports.png`, fullPage: true });
  });

  it('taking the role away revokes the console grant and stops its access tokens at once, and is recorded', async () => {
    const { tokens } = await authorizationCodeFlow(t, {
      clientId: CONSOLE_CLIENT_ID,
      redirectUri: consoleRedirect(),
      scope: 'audit:read',
      login: officer.email,
      password: officer.password,
    });
    const readAudit = () => t.http().get('/v1/audit/events?limit=1').auth(tokens.access_token, { type: 'bearer' });
    const readLedger = () => t.http().get(`/v1/ledger/accounts/${accounts.wallet.id}`).auth(tokens.access_token, { type: 'bearer' });
    expect((await readAudit()).status).toBe(200);
    expect((await readLedger()).status).toBe(200);
    const grantsBefore: unknown[] = await t.dataSource.query(
      `SELECT 1 FROM oidc_payloads WHERE type = 'Grant' AND account_id = $1 AND payload->>'clientId' = $2`,
      [officer.id, CONSOLE_CLIENT_ID],
    );
    expect(grantsBefore).toHaveLength(1);
    expect((await setRole('delete', officer.id)).status).toBe(204);
    const grantsAfter: unknown[] = await t.dataSource.query(
      `SELECT 1 FROM oidc_payloads WHERE type = 'Grant' AND account_id = $1 AND payload->>'clientId' = $2`,
      [officer.id, CONSOLE_CLIENT_ID],
    );
    expect(grantsAfter).toHaveLength(0);
    // The access token is a signed JWT that has not expired; it is refused all the same.
    for (const refused of [await readAudit(), await readLedger()]) {
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('error="invalid_token"');
    }
    const events: { action: string }[] = await t.dataSource.query(
      `SELECT action FROM audit_events WHERE (action = 'user.role.revoked' AND resource_id = $1) OR (action = 'oauth.grant.revoked' AND details->>'by' = 'role_removed')`,
      [officer.id],
    );
    expect(events.map((event) => event.action).sort()).toEqual(['oauth.grant.revoked', 'user.role.revoked']);
  });
});
