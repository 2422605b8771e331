import { describe, expect, it } from '@jest/globals';
import { MockCreditBureau } from './credit-score-provider.js';
import { baseScore, type CreditSignals } from './credit-score.js';
import { admittanceOf, signalsDigest } from './credit.service.js';

const KEY = 'unit-test-bureau-key-0123456789';
const NOTHING: CreditSignals = {
  identityVerified: false,
  accountAgeDays: 0,
  completedAgreements: 0,
  completedPayments: 0,
  outstandingDebtMinor: 0n,
  defaults: 0,
};
const VERIFIED: CreditSignals = { ...NOTHING, identityVerified: true };

describe('the mock credit bureau', () => {
  const bureau = new MockCreditBureau(KEY);

  it('has no score for someone whose identity is not verified', async () => {
    expect(await bureau.assess({ userId: 'u1', email: 'a@example.com', signals: NOTHING })).toEqual({
      score: null,
      band: null,
      factors: [expect.objectContaining({ code: 'INSUFFICIENT_DATA', effect: 0 })],
    });
  });

  it('scores a verified person from the base score and the signals', async () => {
    const report = await bureau.assess({ userId: 'u1', email: null, signals: VERIFIED });
    expect(report.score).toBe(baseScore('u1', KEY) + 20);
    expect(report.factors.map((factor) => factor.code)).toEqual(['BASE', 'IDENTITY_VERIFIED']);
  });

  it('gives test users exactly their score, or none, whatever the signals', async () => {
    const at649 = await bureau.assess({ userId: 'u2', email: 'score-649@test.invalid', signals: { ...VERIFIED, defaults: 3 } });
    expect([at649.score, at649.band]).toEqual([649, '600-649']);
    const at650 = await bureau.assess({ userId: 'u3', email: 'SCORE-650@test.invalid', signals: NOTHING });
    expect([at650.score, at650.band]).toEqual([650, '650-699']);
    expect((await bureau.assess({ userId: 'u4', email: 'score-na@test.invalid', signals: VERIFIED })).score).toBeNull();
  });
});

describe('admittance', () => {
  const cases: [number | null, number, string][] = [
    [649, 650, 'N'],
    [650, 650, 'Y'],
    [950, 950, 'Y'],
    [350, 351, 'N'],
    [null, 350, 'N/A'],
  ];
  it.each(cases)('score %p against %p is %p', (score, threshold, expected) => {
    expect(admittanceOf(score, threshold)).toBe(expected);
  });
});

describe('the signals digest (when a report must be made again)', () => {
  const digest = (signals: CreditSignals, email: string | null = null) => signalsDigest('mock-sesame', email, signals);

  it('stays the same within a 30-day month of account age, and changes with every other signal', () => {
    expect(digest({ ...VERIFIED, accountAgeDays: 30 })).toBe(digest({ ...VERIFIED, accountAgeDays: 59 }));
    expect(digest({ ...VERIFIED, accountAgeDays: 59 })).not.toBe(digest({ ...VERIFIED, accountAgeDays: 60 }));
    const variants: CreditSignals[] = [
      NOTHING,
      VERIFIED,
      { ...VERIFIED, completedAgreements: 1 },
      { ...VERIFIED, completedPayments: 1 },
      { ...VERIFIED, outstandingDebtMinor: 1n },
      { ...VERIFIED, defaults: 1 },
    ];
    expect(new Set(variants.map((signals) => digest(signals))).size).toBe(variants.length);
    expect(digest(VERIFIED, 'score-700@test.invalid')).not.toBe(digest(VERIFIED));
  });
});
