import { describe, expect, it } from '@jest/globals';
import { bandOf, baseScore, type CreditSignals, MAX_SCORE, MIN_SCORE, scoreFromSignals, testUserScore } from './credit-score.js';

const neutral: CreditSignals = {
  identityVerified: false,
  accountAgeDays: 0,
  completedAgreements: 0,
  completedPayments: 0,
  outstandingDebtMinor: 0n,
  defaults: 0,
};

describe('score bands', () => {
  it.each([
    [350, '350-549'],
    [549, '350-549'],
    [550, '550-599'],
    [599, '550-599'],
    [600, '600-649'],
    [649, '600-649'],
    [650, '650-699'],
    [699, '650-699'],
    [700, '700-950'],
    [950, '700-950'],
  ])('puts %i in %s', (score, band) => {
    expect(bandOf(score)).toBe(band);
  });
});

describe('the base score', () => {
  it('is the same for the same user and key, and differs by key', () => {
    const id = '01a1fd48-94c0-70e4-9251-ffef5c390220';
    expect(baseScore(id, 'key-1')).toBe(baseScore(id, 'key-1'));
    expect(baseScore(id.toUpperCase(), 'key-1')).toBe(baseScore(id, 'key-1'));
    const differs = ['key-2', 'key-3', 'key-4'].some((key) => baseScore(id, key) !== baseScore(id, 'key-1'));
    expect(differs).toBe(true);
  });

  it('spreads 10,000 users around 650, within 350..950', () => {
    const scores = Array.from({ length: 10_000 }, (_, index) => baseScore(`user-${index}`, 'spread-key'));
    const mean = scores.reduce((sum, score) => sum + score, 0) / scores.length;
    const sd = Math.sqrt(scores.reduce((sum, score) => sum + (score - mean) ** 2, 0) / scores.length);
    expect(Math.abs(mean - 650)).toBeLessThan(5);
    expect(sd).toBeGreaterThan(50);
    expect(sd).toBeLessThan(70);
    expect(Math.min(...scores)).toBeGreaterThanOrEqual(MIN_SCORE);
    expect(Math.max(...scores)).toBeLessThanOrEqual(MAX_SCORE);
    expect(scores.every(Number.isInteger)).toBe(true);
  });
});

describe('signals', () => {
  it('leave the base alone when there are none', () => {
    expect(scoreFromSignals(640, neutral)).toEqual({
      score: 640,
      band: '600-649',
      factors: [{ code: 'BASE', effect: 640, detail: expect.any(String) }],
    });
  });

  it('raise the score for a verified identity, account age, completed agreements and payments, each capped', () => {
    const result = scoreFromSignals(600, {
      identityVerified: true,
      accountAgeDays: 400,
      completedAgreements: 20,
      completedPayments: 50,
      outstandingDebtMinor: 0n,
      defaults: 0,
    });
    expect(result.factors.map((factor) => [factor.code, factor.effect])).toEqual([
      ['BASE', 600],
      ['IDENTITY_VERIFIED', 20],
      ['ACCOUNT_AGE', 30],
      ['COMPLETED_AGREEMENTS', 40],
      ['COMPLETED_PAYMENTS', 20],
    ]);
    expect(result.score).toBe(710);
  });

  it('lower the score for debt and defaults, and never below 350', () => {
    const indebted = scoreFromSignals(660, { ...neutral, outstandingDebtMinor: 1n, defaults: 1 });
    expect(indebted.score).toBe(540);
    expect(indebted.factors.map((factor) => factor.code)).toEqual(['BASE', 'OUTSTANDING_DEBT', 'DEFAULTS']);
    expect(scoreFromSignals(400, { ...neutral, outstandingDebtMinor: 9900n, defaults: 10 }).score).toBe(350);
    expect(scoreFromSignals(940, { ...neutral, identityVerified: true, completedAgreements: 8 }).score).toBe(950);
  });
});

describe('deterministic test users', () => {
  it('score exactly what their email says', () => {
    expect(testUserScore('score-649@test.invalid')).toBe(649);
    expect(testUserScore('SCORE-650@test.invalid')).toBe(650);
    expect(testUserScore('score-na@test.invalid')).toBe('N/A');
  });

  it('are only those: other emails and out-of-range numbers are ordinary users', () => {
    expect(testUserScore('score-349@test.invalid')).toBeUndefined();
    expect(testUserScore('score-951@test.invalid')).toBeUndefined();
    expect(testUserScore('score-650@example.com')).toBeUndefined();
    expect(testUserScore(null)).toBeUndefined();
  });
});
