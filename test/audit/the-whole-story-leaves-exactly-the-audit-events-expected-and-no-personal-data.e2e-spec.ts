import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEMO_USER_PASSWORD, DemoSeeder } from '../../src/demo/demo-seeder.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);

/**
 * The whole story (`npm run demo`, the built script, over HTTP) against a fresh service: every kind of
 * action it takes leaves the audit events expected, each with its actor, and no event holds personal
 * data, a secret or a token.
 */
describe('the whole story leaves exactly the audit events expected, and no personal data', () => {
  let t: TestApp;
  let dataDir: string;
  let stdout = '';
  let secrets: string[] = [];
  /** When the story began: what the demo seeder recorded before it is the system's own doing. */
  let storyBegan: Date;

  beforeAll(async () => {
    t = await startTestApp();
    const credentials = await t.app.get(DemoSeeder).seedIfEmpty();
    if (credentials === null) throw new Error('the fresh database was not empty');
    dataDir = mkdtempSync(join(tmpdir(), 'creditgate-audit-story-'));
    writeFileSync(join(dataDir, 'demo-credentials.json'), JSON.stringify(credentials));
    secrets = [
      credentials.merchantBackend.clientSecret,
      credentials.compliance.clientSecret,
      credentials.platform.clientSecret,
      DEMO_USER_PASSWORD,
      '11010519491231002X',
      '440524188001010014',
      '张三',
      '李四',
      ...credentials.users.map((user) => user.email),
    ];
    storyBegan = new Date();
    ({ stdout } = await run(process.execPath, ['dist/src/demo/story.js'], {
      env: { PATH: process.env.PATH ?? '', DEMO_URL: t.baseUrl, DATA_DIR: dataDir },
    }));
  }, 180_000);
  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await t.close();
  });

  it('records each kind of action the story takes, with who did it', async () => {
    expect(stdout).toContain('claim: RECOVERED');
    const rows: { action: string; outcome: string; n: number; without_actor: number; without_purpose: number }[] = await t.dataSource.query(
      `SELECT action, outcome, count(*)::int AS n,
              count(*) FILTER (WHERE client_id IS NULL AND user_id IS NULL AND occurred_at >= $1)::int AS without_actor,
              count(*) FILTER (WHERE purpose IS NULL)::int AS without_purpose
         FROM audit_events GROUP BY action, outcome ORDER BY action, outcome`,
      [storyBegan],
    );
    const count = (action: string, outcome = 'success') => rows.find((row) => row.action === action && row.outcome === outcome)?.n ?? 0;
    // Two users sign in, consent and get tokens; the merchant gets a token too.
    expect(count('oauth.sign_in.succeeded')).toBe(2);
    expect(count('oauth.consent.granted')).toBe(2);
    expect(count('oauth.token.issued')).toBeGreaterThanOrEqual(3);
    expect(count('identity.verification.completed')).toBe(2);
    expect(count('identity.record.read')).toBe(2);
    expect(count('credit.score.read')).toBe(1);
    expect(count('credit.admittance.read')).toBe(1);
    expect(count('waiver.decision.made')).toBe(6);
    expect(count('wallet.topped_up')).toBe(2);
    for (const action of ['created', 'activated', 'completed', 'defaulted', 'recovered']) {
      expect({ action, n: count(`deposit_agreement.${action}`) }).toEqual({
        action,
        n: action === 'created' || action === 'activated' ? 2 : 1,
      });
    }
    expect(count('payment_intent.created')).toBe(1);
    expect(count('refund.created') + count('refund.succeeded')).toBeGreaterThanOrEqual(1);
    // Reads of personal and credit data say why.
    for (const action of ['identity.record.read', 'credit.score.read', 'credit.admittance.read', 'waiver.decision.made']) {
      expect({
        action,
        withoutPurpose: rows.filter((row) => row.action === action).reduce((sum, row) => sum + row.without_purpose, 0),
      }).toEqual({
        action,
        withoutPurpose: 0,
      });
    }
    // Everything the API did on someone's behalf names them.
    const anonymous = rows.filter((row) => row.without_actor > 0 && !row.action.startsWith('oauth.') && !row.action.startsWith('audit.'));
    expect(anonymous).toEqual([]);
  });

  it('holds no ID number, name, e-mail, password, client secret or token in any event', async () => {
    const events: { row: string }[] = await t.dataSource.query('SELECT row_to_json(e)::text AS row FROM audit_events e');
    expect(events.length).toBeGreaterThan(40);
    const text = events.map((event) => event.row).join('\n');
    for (const secret of secrets) {
      if (text.includes(secret)) throw new Error(`an audit event holds a secret or personal value (${secret.length} characters)`);
    }
    // No bearer token (a JWT) either.
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
  });
});
