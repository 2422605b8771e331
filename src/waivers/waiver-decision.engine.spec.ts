import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decide, type WaiverFacts, type WaiverTerms } from './waiver-decision.engine.js';

/** The bike-rental policy: the RMB 99 deposit waived in full at 650, half at 600. */
const BIKE: WaiverTerms = {
  depositMinor: 9900n,
  currency: 'CNY',
  tiers: [
    { minScore: 600, waivePercent: 50 },
    { minScore: 650, waivePercent: 100 },
  ],
  scoreUnavailableWaivePercent: 0,
  requireVerifiedIdentity: true,
  minimumAge: 18,
  maxActiveAgreements: 2,
  allowOutstandingDebt: false,
  maxWaivedExposureMinor: 50_000n,
};

const GOOD: WaiverFacts = {
  score: 700,
  band: '700-950',
  identity: 'verified',
  age: 30,
  activeAgreements: 0,
  outstandingDebtMinor: 0n,
  waivedExposureMinor: 0n,
};

const reason = (decision: ReturnType<typeof decide>, code: string) => decision.reasons.find((candidate) => candidate.code === code);

describe('the waiver decision engine', () => {
  it('waives the whole deposit at exactly 650, and half at 649', () => {
    const at650 = decide(BIKE, { ...GOOD, score: 650 });
    expect(at650).toMatchObject({ outcome: 'WAIVED', waivePercent: 100, waivedMinor: 9900n, depositDueMinor: 0n });
    expect(reason(at650, 'CREDIT_SCORE')).toEqual({ code: 'CREDIT_SCORE', passed: true, observed: 650, required: 600 });
    const at649 = decide(BIKE, { ...GOOD, score: 649 });
    expect(at649).toMatchObject({ outcome: 'PARTIAL', waivePercent: 50, waivedMinor: 4950n, depositDueMinor: 4950n });
  });

  it('denies below every tier, and treats 0% and 100% tiers at their edges', () => {
    expect(decide(BIKE, { ...GOOD, score: 599 })).toMatchObject({ outcome: 'DENIED', waivedMinor: 0n, depositDueMinor: 9900n });
    expect(reason(decide(BIKE, { ...GOOD, score: 599 }), 'CREDIT_SCORE')?.passed).toBe(false);
    const zeroThenFull: WaiverTerms = {
      ...BIKE,
      tiers: [
        { minScore: 350, waivePercent: 0 },
        { minScore: 950, waivePercent: 100 },
      ],
    };
    expect(decide(zeroThenFull, { ...GOOD, score: 350 }).outcome).toBe('DENIED');
    expect(decide(zeroThenFull, { ...GOOD, score: 949 }).outcome).toBe('DENIED');
    expect(decide(zeroThenFull, { ...GOOD, score: 950 })).toMatchObject({ outcome: 'WAIVED', waivedMinor: 9900n });
    expect(reason(decide(zeroThenFull, { ...GOOD, score: 350 }), 'CREDIT_SCORE')?.required).toBe(950);
  });

  it('never waives a fraction of a fen: 33% of 99 fen waives 32', () => {
    const odd: WaiverTerms = { ...BIKE, depositMinor: 99n, tiers: [{ minScore: 350, waivePercent: 33 }] };
    expect(decide(odd, GOOD)).toMatchObject({ outcome: 'PARTIAL', waivedMinor: 32n, depositDueMinor: 67n });
    expect(decide({ ...odd, depositMinor: 1n }, GOOD)).toMatchObject({ outcome: 'DENIED', waivedMinor: 0n, depositDueMinor: 1n });
  });

  it('denies an N/A score with the reason named, unless the policy has a fallback tier', () => {
    const na = decide(BIKE, { ...GOOD, score: null, band: null });
    expect(na).toMatchObject({ outcome: 'DENIED', waivedMinor: 0n });
    expect(reason(na, 'CREDIT_SCORE')).toEqual({ code: 'CREDIT_SCORE', passed: false, observed: 'N/A', required: 600 });
    expect(decide({ ...BIKE, scoreUnavailableWaivePercent: 25 }, { ...GOOD, score: null })).toMatchObject({
      outcome: 'PARTIAL',
      waivedMinor: 2475n,
    });
  });

  it.each([
    ['IDENTITY_VERIFIED', { identity: 'unverified' as const }, { passed: false, observed: 'unverified', required: 'verified' }],
    ['MINIMUM_AGE', { age: 17 }, { passed: false, observed: 17, required: 18 }],
    ['MAX_ACTIVE_AGREEMENTS', { activeAgreements: 2 }, { passed: false, observed: 2, required: 2 }],
    ['NO_OUTSTANDING_DEBT', { outstandingDebtMinor: 1n }, { passed: false, observed: '1', required: '0' }],
  ])('denies when %s alone fails, naming it', (code, change, expected) => {
    const decision = decide(BIKE, { ...GOOD, ...change });
    expect(decision).toMatchObject({ outcome: 'DENIED', waivedMinor: 0n, depositDueMinor: 9900n });
    expect(reason(decision, code)).toEqual({ code, ...expected });
    expect(decision.reasons.filter((candidate) => !candidate.passed).map((candidate) => candidate.code)).toEqual([code]);
  });

  it('passes each condition at its edge: age exactly 18, one agreement below the maximum', () => {
    expect(decide(BIKE, { ...GOOD, age: 18, activeAgreements: 1 }).outcome).toBe('WAIVED');
  });

  it('names every failed condition when several fail together', () => {
    const decision = decide(BIKE, { ...GOOD, identity: 'rejected', age: null, outstandingDebtMinor: 500n, score: null });
    expect(decision.outcome).toBe('DENIED');
    expect(decision.reasons.filter((candidate) => !candidate.passed).map((candidate) => candidate.code)).toEqual([
      'IDENTITY_VERIFIED',
      'MINIMUM_AGE',
      'NO_OUTSTANDING_DEBT',
      'CREDIT_SCORE',
    ]);
  });

  it('cuts the waiver to the exposure left, and denies when none is left', () => {
    const cut = decide(BIKE, { ...GOOD, waivedExposureMinor: 45_000n });
    expect(cut).toMatchObject({ outcome: 'PARTIAL', waivedMinor: 5000n, depositDueMinor: 4900n });
    expect(reason(cut, 'MAX_WAIVED_EXPOSURE')).toEqual({
      code: 'MAX_WAIVED_EXPOSURE',
      passed: false,
      observed: '54900',
      required: '50000',
    });
    expect(decide(BIKE, { ...GOOD, waivedExposureMinor: 50_000n })).toMatchObject({ outcome: 'DENIED', waivedMinor: 0n });
    expect(reason(decide(BIKE, { ...GOOD, waivedExposureMinor: 40_100n }), 'MAX_WAIVED_EXPOSURE')?.passed).toBe(true);
  });

  it('checks only the conditions the policy states', () => {
    const lenient: WaiverTerms = {
      ...BIKE,
      requireVerifiedIdentity: false,
      minimumAge: null,
      maxActiveAgreements: null,
      allowOutstandingDebt: true,
      maxWaivedExposureMinor: null,
    };
    const decision = decide(lenient, { ...GOOD, identity: 'unverified', age: null, outstandingDebtMinor: 10n, activeAgreements: 9 });
    expect(decision.outcome).toBe('WAIVED');
    expect(decision.reasons.map((candidate) => candidate.code)).toEqual(['CREDIT_SCORE']);
  });

  it('is deterministic and keeps its books: waived + due = deposit, never more than the deposit', () => {
    const facts = fc.record({
      score: fc.option(fc.integer({ min: 350, max: 950 }), { nil: null }),
      band: fc.constant(null),
      identity: fc.constantFrom('verified' as const, 'unverified' as const, 'rejected' as const),
      age: fc.option(fc.integer({ min: 0, max: 120 }), { nil: null }),
      activeAgreements: fc.integer({ min: 0, max: 5 }),
      outstandingDebtMinor: fc.bigInt({ min: 0n, max: 10_000n }),
      waivedExposureMinor: fc.bigInt({ min: 0n, max: 60_000n }),
    });
    fc.assert(
      fc.property(facts, fc.bigInt({ min: 1n, max: 10_000_000n }), (f, deposit) => {
        const terms = { ...BIKE, depositMinor: deposit };
        const first = decide(terms, f);
        expect(decide(terms, f)).toEqual(first);
        expect(first.waivedMinor + first.depositDueMinor).toBe(deposit);
        expect(first.waivedMinor >= 0n && first.waivedMinor <= deposit).toBe(true);
        expect(first.outcome === 'DENIED').toBe(first.waivedMinor === 0n);
      }),
    );
  });
});
