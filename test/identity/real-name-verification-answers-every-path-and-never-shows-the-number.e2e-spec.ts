import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditService } from '../../src/audit/audit.service.js';
import { Clock } from '../../src/common/clock/clock.js';
import { ReadRound } from '../../src/common/read-round.js';
import { AppConfig } from '../../src/config/app-config.js';
import { MockIdentityAuthority } from '../../src/identity/identity-authority.js';
import { IdentityService } from '../../src/identity/identity.service.js';
import { PiiCipher } from '../../src/identity/pii-cipher.js';
import { ageOn, checkCharacter, chinaDate } from '../../src/identity/resident-id-number.js';
import {
  clientCredentialsToken,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  expectProblem,
  type Fixture,
} from '../support/oauth.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signedInUser, type SignedInUser } from '../support/users.js';

/** A valid number: region, birth date (YYYYMMDD) and sequence, with its check character. */
function idNumber(region: string, birth: string, sequence: string): string {
  const first17 = `${region}${birth}${sequence}`;
  return `${first17}${checkCharacter(first17)}`;
}

const key = (seed: string): string => Buffer.alloc(32, seed).toString('base64');
const KEYS = { PII_ENCRYPTION_KEYS: `k1:${key('a')}`, PII_BLIND_INDEX_KEY: key('i') };

describe('real-name verification answers every path of the authority, binds one number to one account, and never shows the number', () => {
  let t: TestApp;
  let app: Fixture;
  /** Every raw number and name sent in this file: none may appear anywhere but encrypted. */
  const secrets = new Set<string>();
  const responses: string[] = [];
  let counter = 0;

  beforeAll(async () => {
    t = await startTestApp({ env: KEYS });
    app = await createMiniProgram(t, await createMerchant(t));
  });
  afterAll(async () => {
    await t.close();
  });

  const user = (scopes: Parameters<typeof signedInUser>[3] = ['identity:verify', 'identity:read']): Promise<SignedInUser> =>
    signedInUser(t, app, `person-${(counter += 1)}@example.com`, scopes);

  async function verify(who: SignedInUser, fullName: string, number: string, idempotencyKey: string = randomUUID()) {
    // Short rule-breaking inputs ('12345') could turn up inside any hex digest by chance: only whole numbers count.
    if (number.trim().length >= 15) secrets.add(number);
    secrets.add(fullName);
    const response = await t
      .http()
      .post('/v1/identity/verifications')
      .set('authorization', `Bearer ${who.token}`)
      .set('idempotency-key', idempotencyKey)
      .send({ fullName, idNumber: number });
    responses.push(JSON.stringify({ headers: response.headers, body: response.body as unknown }));
    return response;
  }

  async function status(who: SignedInUser, query = '') {
    const response = await t.http().get(`/v1/identity${query}`).set('authorization', `Bearer ${who.token}`);
    responses.push(JSON.stringify({ headers: response.headers, body: response.body as unknown }));
    return response;
  }

  it('verifies a match, returns only the masked number and the age, and replays the answer for the same key', async () => {
    const ada = await user();
    expect((await status(ada)).body).toEqual({
      status: 'unverified',
      maskedIdNumber: null,
      verifiedAt: null,
      age: null,
      rejectionCode: null,
    });
    const key = randomUUID();
    const first = await verify(ada, '张三', '11010519491231002X', key);
    expect(first.status).toBe(201);
    const age = ageOn('1949-12-31', chinaDate(new Date()));
    expect(first.body).toMatchObject({ status: 'verified', maskedIdNumber: '110***********002X', age, rejectionCode: null });
    expect(Date.parse(first.body.verifiedAt as string)).toBeGreaterThan(Date.now() - 60_000);

    const replay = await verify(ada, '张三', '11010519491231002X', key);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);

    const read = await status(ada, '?purpose=rental.onboarding');
    expect(read.body).toEqual({
      status: 'verified',
      maskedIdNumber: '110***********002X',
      verifiedAt: first.body.verifiedAt,
      age,
      rejectionCode: null,
    });
    const audit: { action: string; outcome: string; purpose: string | null; problem_code: string | null }[] = await t.dataSource.query(
      `SELECT action, outcome, purpose, problem_code FROM audit_events WHERE user_id = $1 AND action LIKE 'identity.%' ORDER BY occurred_at, id`,
      [ada.userId],
    );
    expect(audit).toEqual([
      { action: 'identity.record.read', outcome: 'success', purpose: 'identity.status', problem_code: null },
      { action: 'identity.verification.completed', outcome: 'success', purpose: null, problem_code: null },
      { action: 'identity.record.read', outcome: 'success', purpose: 'rental.onboarding', problem_code: null },
    ]);

    const again = await verify(ada, '张三', '11010519491231002X');
    expectProblem(again, 409, 'ALREADY_VERIFIED');
  });

  it('gives each broken rule its own code, and none of them counts as an attempt', async () => {
    const bob = await user();
    const cases: [string, string, string][] = [
      ['李四', '12345', 'INVALID_FORMAT'],
      ['李四', '1101051949123100', 'INVALID_FORMAT'],
      ['李四', idNumber('991052', '19491231', '002'), 'INVALID_REGION'],
      ['李四', idNumber('110105', '20230229', '001'), 'INVALID_BIRTH_DATE'],
      ['李四', idNumber('110105', '20991231', '001'), 'INVALID_BIRTH_DATE'],
      ['李四', '110105194912310021', 'CHECKSUM_MISMATCH'],
      ['李', '11010519491231002X', 'INVALID_NAME'],
      ['Ada 42', '11010519491231002X', 'INVALID_NAME'],
    ];
    for (const [fullName, number, code] of cases) {
      const response = await verify(bob, fullName, number);
      expectProblem(response, 422, code);
      expect(response.body.errors).toEqual([expect.objectContaining({ field: code === 'INVALID_NAME' ? 'fullName' : 'idNumber' })]);
    }
    const missing = await t
      .http()
      .post('/v1/identity/verifications')
      .set('authorization', `Bearer ${bob.token}`)
      .set('idempotency-key', randomUUID())
      .send({ fullName: 42 });
    expectProblem(missing, 400, 'VALIDATION_FAILED');
    const noKey = await t
      .http()
      .post('/v1/identity/verifications')
      .set('authorization', `Bearer ${bob.token}`)
      .send({ fullName: '李四', idNumber: '440524188001010014' });
    expectProblem(noKey, 400, 'IDEMPOTENCY_KEY_REQUIRED');

    // None counted: a lower-case x, then a verified identity.
    const ok = await verify(bob, ' 李四 ', idNumber('440524', '18800101', '001').toLowerCase());
    expect(ok.status).toBe(201);
    expect(ok.body.maskedIdNumber).toMatch(/^440\*{11}\d{3}[\dX]$/);
  });

  it('reports a name mismatch and an unknown number as rejections the status shows', async () => {
    const carol = await user();
    const mismatch = await verify(carol, '王五', idNumber('110105', '19900101', '990'));
    expectProblem(mismatch, 422, 'NAME_MISMATCH');
    expect((await status(carol)).body).toMatchObject({ status: 'rejected', rejectionCode: 'NAME_MISMATCH', maskedIdNumber: null });
    const unknown = await verify(carol, '王五', idNumber('110105', '19900101', '991'));
    expectProblem(unknown, 422, 'IDENTITY_NOT_FOUND');
    expect((await status(carol)).body).toMatchObject({ status: 'rejected', rejectionCode: 'IDENTITY_NOT_FOUND' });
    // Nothing of what was typed is kept for a rejection.
    const [row] = await t.dataSource.query(
      'SELECT full_name_cipher, id_number_cipher, id_number_index FROM identity_records WHERE user_id = $1',
      [carol.userId],
    );
    expect(row).toEqual({ full_name_cipher: null, id_number_cipher: null, id_number_index: null });
    const fixed = await verify(carol, '王五', idNumber('110105', '19900101', '123'));
    expect(fixed.status).toBe(201);
    expect((await status(carol)).body).toMatchObject({ status: 'verified', rejectionCode: null });
  });

  it('answers 503 with Retry-After while the authority is down, and keeps the key free for the retry', async () => {
    const dan = await user();
    const key = randomUUID();
    const down = await verify(dan, '赵六', idNumber('310101', '19850615', '992'), key);
    expectProblem(down, 503, 'AUTHORITY_UNAVAILABLE');
    expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
    const retried = await verify(dan, '赵六', idNumber('310101', '19850615', '992'), key);
    expectProblem(retried, 503, 'AUTHORITY_UNAVAILABLE');
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    // The key was not spent on the failure: the same key now carries a request that succeeds.
    const later = await verify(dan, '赵六', idNumber('310101', '19850615', '123'), key);
    expect(later.status).toBe(201);
    expect((await status(dan)).body.status).toBe('verified');
  });

  it('refuses the sixth failed attempt in 24 hours with 429 and Retry-After; rule breaks and outages do not count', async () => {
    const erin = await user();
    for (let index = 0; index < 3; index += 1) expectProblem(await verify(erin, '钱七', '110105194912310021'), 422, 'CHECKSUM_MISMATCH');
    expectProblem(await verify(erin, '钱七', idNumber('110105', '19900101', '992')), 503, 'AUTHORITY_UNAVAILABLE');
    for (let index = 0; index < 5; index += 1) {
      const sequence = index % 2 === 0 ? '990' : '991';
      expect((await verify(erin, '钱七', idNumber('110105', `1990010${index + 1}`, sequence))).status).toBe(422);
    }
    const refused = await verify(erin, '钱七', idNumber('110105', '19900101', '124'));
    expectProblem(refused, 429, 'TOO_MANY_ATTEMPTS');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(86_400 - 120);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    // A day later the oldest failure has aged out of the window.
    await t.dataSource.query(`UPDATE identity_verifications SET created_at = created_at - interval '24 hours' WHERE user_id = $1`, [
      erin.userId,
    ]);
    expect((await verify(erin, '钱七', idNumber('110105', '19900101', '124'))).status).toBe(201);
  });

  it('binds one number to one account, even when several accounts try it at once', async () => {
    const number = idNumber('440305', '19951120', '456');
    const people = await Promise.all([user(), user(), user(), user(), user()]);
    const answers = await Promise.all(people.map((person) => verify(person, '孙八', number)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const answer of answers.filter((candidate) => candidate.status === 409)) expectProblem(answer, 409, 'ALREADY_BOUND');
    const [{ n }] = await t.dataSource.query(
      `SELECT count(*)::int AS n FROM identity_records WHERE status = 'verified' AND id_number_masked = $1`,
      [`440***********${number.slice(-4)}`],
    );
    expect(n).toBe(1);
    // The lower-case form of a bound number is the same number.
    const x = await user();
    expectProblem(await verify(x, '张三', '11010519491231002x'), 409, 'ALREADY_BOUND');
  });

  it('admits only user tokens with the right scope', async () => {
    const readOnly = await user(['identity:read']);
    expectProblem(await verify(readOnly, '周九', idNumber('110105', '19900101', '125')), 403, 'INSUFFICIENT_SCOPE');
    const verifyOnly = await user(['identity:verify']);
    expectProblem(await status(verifyOnly), 403, 'INSUFFICIENT_SCOPE');
    const merchant = await createConfidentialClient(t, 'merchant', app.merchantId);
    const merchantToken = await clientCredentialsToken(t, merchant.clientId, merchant.clientSecret, 'merchant:read');
    const asMerchant = await t.http().get('/v1/identity').set('authorization', `Bearer ${merchantToken}`);
    expect(asMerchant.status).toBe(403);
    expect((await t.http().get('/v1/identity')).status).toBe(401);
  });

  it('stores names and numbers only encrypted, and rotates them to a new key', async () => {
    const rows: { user_id: string; full_name_cipher: string; id_number_cipher: string }[] = await t.dataSource.query(
      `SELECT user_id, full_name_cipher, id_number_cipher FROM identity_records WHERE status = 'verified' ORDER BY user_id`,
    );
    expect(rows.length).toBeGreaterThan(3);
    for (const row of rows) {
      expect(row.full_name_cipher).toMatch(/^v1\.k1\./);
      expect(row.id_number_cipher).toMatch(/^v1\.k1\./);
    }
    // The service as it is built when PII_ENCRYPTION_KEYS puts a new key first, on the same database.
    const rotating = new IdentityService(
      t.dataSource,
      t.app.get(Clock),
      t.app.get(AuditService),
      AppConfig.fromEnvironment({ ...KEYS, PII_ENCRYPTION_KEYS: `k2:${key('b')},k1:${key('a')}` }),
      new MockIdentityAuthority(),
      t.app.get(ReadRound),
    );
    expect(await rotating.rotateKeys()).toEqual({ rotated: rows.length, keyId: 'k2' });
    expect(await rotating.rotateKeys()).toEqual({ rotated: 0, keyId: 'k2' });
    const after: { user_id: string; full_name_cipher: string; id_number_cipher: string }[] = await t.dataSource.query(
      `SELECT user_id, full_name_cipher, id_number_cipher FROM identity_records WHERE status = 'verified' ORDER BY user_id`,
    );
    const onlyNewKey = new PiiCipher([{ id: 'k2', key: Buffer.from(key('b'), 'base64') }], Buffer.from(key('i'), 'base64'));
    const oldKey = new PiiCipher([{ id: 'k1', key: Buffer.from(key('a'), 'base64') }], Buffer.from(key('i'), 'base64'));
    for (const [index, row] of after.entries()) {
      const before = rows[index];
      expect(row.user_id).toBe(before?.user_id);
      expect(row.id_number_cipher).toMatch(/^v1\.k2\./);
      expect(onlyNewKey.decrypt('id_number', row.id_number_cipher)).toBe(oldKey.decrypt('id_number', before?.id_number_cipher ?? ''));
      expect(onlyNewKey.decrypt('full_name', row.full_name_cipher)).toBe(oldKey.decrypt('full_name', before?.full_name_cipher ?? ''));
    }
    expect(after.map((row) => onlyNewKey.decrypt('id_number', row.id_number_cipher))).toContain('11010519491231002X');
  });

  it('never shows a raw number or name: not in responses, logs, the audit trail, idempotency keys or any other table', async () => {
    expect(secrets.size).toBeGreaterThan(20);
    const tables: { table_name: string }[] = await t.dataSource.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const dumps: string[] = [];
    for (const { table_name } of tables) {
      const rows: { row: string }[] = await t.dataSource.query(`SELECT row_to_json(x)::text AS row FROM "${table_name}" x`);
      dumps.push(...rows.map((row) => row.row));
    }
    const haystacks = { responses: responses.join('\n'), logs: t.logLines.join('\n'), database: dumps.join('\n') };
    for (const secret of secrets) {
      // Names are checked as typed; numbers also in upper case (the stored form).
      for (const form of new Set([secret, secret.toUpperCase(), secret.trim()])) {
        if (form.length < 2) continue;
        for (const [where, text] of Object.entries(haystacks)) {
          if (text.includes(form)) throw new Error(`a raw name or number appears in ${where}`);
        }
      }
    }
    // The haystacks hold what they should: masked numbers in answers, ciphertexts in the database.
    expect(haystacks.responses).toContain('110***********002X');
    expect(haystacks.database).toContain('110***********002X');
    expect(haystacks.database).toContain('v1.k2.');
    expect(haystacks.logs.length).toBeGreaterThan(1000);
  });
});
