import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  ChecksWithoutCountedRepetition1763713100000,
  REWRITTEN_CHECKS,
} from '../../migrations/1763713100000-checks-without-counted-repetition.js';
import { arrayLiteral } from '../../src/common/pg-array.js';
import { revertLastMigration, runPendingMigrations } from '../../src/database/migration-runner.js';
import type { DataSource } from 'typeorm';
import { migratedThrough } from '../support/migrated-through.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { createTestDatabase, testServerUrl } from '../support/test-database.js';

const MIGRATION = new ChecksWithoutCountedRepetition1763713100000().name;

/** Values each rewritten check accepts; the corpus is built around them. */
const ACCEPTED: Record<string, string[]> = {
  audit_events_client_type_check: ['mini_program', 'a'],
  audit_events_resource_type_check: ['waiver_decision', 'a'],
  audit_events_problem_code_check: ['INSUFFICIENT_FUNDS', 'A'],
  audit_events_request_id_check: ['0190f3c2-7a1b-7c3d-8e4f-123456789abc', 'smoke-1', 'a.b:c_d'],
  identity_records_full_name_cipher_check: ['v1.key-2026_01.aGVsbG8.iv-part.dGFn', 'v1.k.a..b'],
  identity_records_id_number_cipher_check: ['v1.key-2026_01.aGVsbG8.iv-part.dGFn', 'v1.k.a..b'],
  identity_records_id_number_masked_check: ['110***********123X', '110***********1234'],
  ledger_transfers_code_check: ['payment.fee', 'a'],
  oauth_clients_client_id_check: ['mini_bike_Ab3dEf9h', 'abc_12345678', 'platform_benchmark03', 'a_b_c_d_AbCdEfGh12'],
  payment_accounts_purpose_check: ['wallet', 'merchant-available', 'a'],
  users_phone_check: ['+8613800138000', '+1234567'],
};
const HEX_64 = ['90019673aa8b0ad1c1d1f2e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c3f4', '0'.repeat(64)];

/** Characters inside and outside the patterns' classes. */
const HOSTILE = ['', 'a', 'z', 'A', 'Z', 'X', '0', '9', '_', '-', '.', ':', '*', '+', '$', '/', ' ', '\n', 'é', '中'];

/**
 * Around each accepted value: every prefix; a character of it repeated in the middle, 0 to 140 times
 * (every length bound is crossed); each hostile character put in, swapped in and the character taken
 * out at the start, the second place, the middle and the end; and random strings of those characters.
 */
function corpusAround(accepted: readonly string[], seed: number): string[] {
  const values = new Set<string>();
  for (const value of accepted) {
    const places = [...new Set([0, 1, Math.floor(value.length / 2), value.length - 1, value.length])].filter(
      (place) => place >= 0 && place <= value.length,
    );
    for (let length = 0; length <= value.length; length++) values.add(value.slice(0, length));
    for (const place of places) {
      const repeated = value[Math.min(place, value.length - 1)] ?? 'a';
      for (let times = 0; times <= 140; times++) values.add(value.slice(0, place) + repeated.repeat(times) + value.slice(place));
      values.add(value.slice(0, place) + value.slice(place + 1));
      for (const character of HOSTILE) {
        values.add(value.slice(0, place) + character + value.slice(place));
        values.add(value.slice(0, place) + character + value.slice(place + 1));
      }
    }
  }
  const alphabet = [...new Set([...accepted.join(''), ...HOSTILE.join('')])];
  const random = fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 140 });
  for (const value of fc.sample(random, { numRuns: 500, seed })) values.add(value);
  return [...values];
}

/** Scopes: none, up to 65, each element one of the corpus around a scope, null elements, two dimensions. */
function scopesCorpus(seed: number): { corpus: string[]; accepted: string[] } {
  const token = 'waivers:request';
  const accepted = [arrayLiteral([]), arrayLiteral(['openid', token]), arrayLiteral(Array.from({ length: 64 }, () => 'a'.repeat(64)))];
  const elements = corpusAround(['openid', 'a'.repeat(64), token], seed);
  const values = new Set<string>(accepted);
  for (const element of elements) {
    values.add(arrayLiteral([element]));
    values.add(arrayLiteral([token, element]));
    values.add(arrayLiteral([element, token, 'openid']));
  }
  for (const count of [63, 64, 65]) values.add(arrayLiteral(Array.from({ length: count }, () => token)));
  values
    .add(arrayLiteral([null]))
    .add(arrayLiteral([token, null]))
    .add(arrayLiteral(['a\nb']))
    .add(arrayLiteral([`${'a'.repeat(64)}\n${'b'.repeat(64)}`]));
  values.add('{{openid,a},{b,c}}').add('{{openid}}');
  const random = fc.array(fc.constantFrom(...elements.slice(0, 400), null), { maxLength: 5 });
  for (const array of fc.sample(random, { numRuns: 500, seed })) values.add(arrayLiteral(array));
  return { corpus: [...values], accepted };
}

/** The rewritten constraints' definitions, as PostgreSQL prints them, by name. */
async function definitions(dataSource: DataSource): Promise<Record<string, string>> {
  const rows: { name: string; definition: string }[] = await dataSource.query(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = ANY($1)`,
    [REWRITTEN_CHECKS.map((check) => check.name)],
  );
  expect(rows).toHaveLength(REWRITTEN_CHECKS.length);
  return Object.fromEntries(rows.map((row) => [row.name, row.definition]));
}

/** Constraints whose pattern counts a repetition above three times (`{64}`, `{0,63}`, `{6,}`). */
async function countingChecks(app: TestApp): Promise<string[]> {
  const rows: { name: string; definition: string }[] = await app.dataSource.query(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS definition
       FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace ORDER BY conname`,
  );
  return rows
    .filter((row) => [...row.definition.matchAll(/\{(\d+)(?:,(\d*))?\}/g)].some((match) => Number(match[2] || match[1]) > 3))
    .map((row) => row.name)
    .sort();
}

describe('CHECK constraints bound lengths instead of counting repetitions (PostgreSQL builds a counted pattern afresh on every row)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app.close();
  });

  it('leaves no counted repetition above three in any CHECK', async () => {
    expect(await countingChecks(app)).toEqual([]);
  });

  it.each(REWRITTEN_CHECKS.map((check) => [check.name, check] as const))(
    '%s accepts exactly the values its earlier form accepted',
    async (name, check) => {
      const examples = check.before.includes('{64}') ? HEX_64 : ACCEPTED[name];
      const { corpus, accepted } =
        check.type === 'text[]' ? scopesCorpus(name.length) : { corpus: corpusAround(examples ?? [], name.length), accepted: examples };
      expect(accepted).toBeDefined();
      // Each value as text, cast to the column's type (an array from its literal).
      const rows: { value: string | null; before: boolean | null; after: boolean | null }[] = await app.dataSource.query(
        `SELECT value, (${check.before}) AS before, (${check.after}) AS after
           FROM (SELECT value, value::${check.type} AS ${check.column} FROM unnest($1::text[]) AS u(value)) AS t`,
        [[...corpus, null]],
      );
      expect(rows).toHaveLength(corpus.length + 1);
      const disagreements = rows.filter((row) => row.before !== row.after);
      expect(disagreements).toEqual([]);
      // Not a vacuous agreement: the corpus has values either side of the rule, the examples among the accepted.
      const passing = new Set(rows.filter((row) => row.after !== false).map((row) => row.value));
      for (const value of accepted ?? []) expect(passing.has(value)).toBe(true);
      expect(rows.filter((row) => row.after === false).length).toBeGreaterThan(50);
    },
  );

  it('puts the earlier constraints back when reverted, and the rewritten ones again when migrated', async () => {
    // On a server: the constraints as the earlier migrations made them, from a database of its own.
    const serverUrl = testServerUrl();
    let earlier: Record<string, string> | undefined;
    if (serverUrl !== undefined) {
      const database = await createTestDatabase();
      try {
        const before = await migratedThrough(database.url ?? serverUrl, 'AuditSealsApart1763713000000');
        earlier = await definitions(before).finally(() => before.destroy());
      } finally {
        await database.drop();
      }
    }
    const applied = async (): Promise<boolean> =>
      (await app.dataSource.query('SELECT 1 FROM typeorm_migrations WHERE name = $1', [MIGRATION])).length > 0;
    // Reverted with whatever came after it, then everything migrated again.
    while (await applied()) await revertLastMigration(app.dataSource);
    expect(await countingChecks(app)).toEqual(REWRITTEN_CHECKS.map((check) => check.name).sort());
    if (earlier !== undefined) expect(await definitions(app.dataSource)).toEqual(earlier);
    await runPendingMigrations(app.dataSource);
    expect(await countingChecks(app)).toEqual([]);
  });
});
