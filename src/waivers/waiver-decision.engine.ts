/**
 * The waiver decision engine: a pure function of a policy version and the facts about a user. No I/O, no
 * clock, no randomness: the same inputs always give the same decision, so a stored decision can be
 * replayed and explained later (`decide(storedTerms, storedFacts)` equals the stored outcome).
 *
 * Rules, in order:
 * 1. Each condition of the policy is checked and becomes a reason `{ code, passed, observed, required }`:
 *    IDENTITY_VERIFIED, MINIMUM_AGE, MAX_ACTIVE_AGREEMENTS, NO_OUTSTANDING_DEBT. A missing fact (no age
 *    without a verified identity) fails its condition. Any failed condition denies the waiver.
 * 2. The score picks a tier: the highest `minScore` the score reaches, its `waivePercent`; a score below
 *    every tier waives 0%. Without a score (`N/A`) the policy's `scoreUnavailableWaivePercent` applies
 *    (0 unless the merchant chose a fallback). The reason CREDIT_SCORE passes when the percentage is above 0.
 * 3. waived = floor(deposit × percent / 100): any fraction of a fen is never waived, it is held.
 * 4. MAX_WAIVED_EXPOSURE: the user's waived amounts in active agreements plus this one may not exceed the
 *    policy's maximum; when they would, the waiver is cut to what is left (possibly 0) and the reason fails.
 * 5. outcome: WAIVED when all of the deposit is waived, PARTIAL when some, DENIED when none.
 */

export interface ScoreTier {
  readonly minScore: number;
  readonly waivePercent: number;
}

/** The terms of one policy version that decisions depend on. */
export interface WaiverTerms {
  readonly depositMinor: bigint;
  readonly currency: string;
  /** Sorted by minScore, ascending. */
  readonly tiers: readonly ScoreTier[];
  readonly scoreUnavailableWaivePercent: number;
  readonly requireVerifiedIdentity: boolean;
  readonly minimumAge: number | null;
  readonly maxActiveAgreements: number | null;
  readonly allowOutstandingDebt: boolean;
  readonly maxWaivedExposureMinor: bigint | null;
}

export type IdentityFact = 'verified' | 'unverified' | 'rejected';

export interface WaiverFacts {
  /** null: `N/A`. */
  readonly score: number | null;
  readonly band: string | null;
  readonly identity: IdentityFact;
  /** null without a verified identity. */
  readonly age: number | null;
  readonly activeAgreements: number;
  readonly outstandingDebtMinor: bigint;
  /** Waived amounts of the user's active agreements, in the policy's currency. */
  readonly waivedExposureMinor: bigint;
}

export type ReasonCode =
  'IDENTITY_VERIFIED' | 'MINIMUM_AGE' | 'MAX_ACTIVE_AGREEMENTS' | 'NO_OUTSTANDING_DEBT' | 'CREDIT_SCORE' | 'MAX_WAIVED_EXPOSURE';

export type ReasonValue = string | number | boolean | null;

export interface Reason {
  readonly code: ReasonCode;
  readonly passed: boolean;
  readonly observed: ReasonValue;
  readonly required: ReasonValue;
}

export type Outcome = 'WAIVED' | 'PARTIAL' | 'DENIED';

export interface Decision {
  readonly outcome: Outcome;
  readonly waivePercent: number;
  readonly waivedMinor: bigint;
  readonly depositDueMinor: bigint;
  readonly reasons: readonly Reason[];
}

/** The tier a score reaches: its percentage, and the lowest score that waives anything (for the reason). */
export function tierFor(tiers: readonly ScoreTier[], score: number): number {
  let percent = 0;
  for (const tier of tiers) if (score >= tier.minScore) percent = tier.waivePercent;
  return percent;
}

export function decide(terms: WaiverTerms, facts: WaiverFacts): Decision {
  const reasons: Reason[] = [];
  if (terms.requireVerifiedIdentity) {
    reasons.push({ code: 'IDENTITY_VERIFIED', passed: facts.identity === 'verified', observed: facts.identity, required: 'verified' });
  }
  if (terms.minimumAge !== null) {
    reasons.push({
      code: 'MINIMUM_AGE',
      passed: facts.age !== null && facts.age >= terms.minimumAge,
      observed: facts.age,
      required: terms.minimumAge,
    });
  }
  if (terms.maxActiveAgreements !== null) {
    reasons.push({
      code: 'MAX_ACTIVE_AGREEMENTS',
      // This decision would add one more agreement.
      passed: facts.activeAgreements < terms.maxActiveAgreements,
      observed: facts.activeAgreements,
      required: terms.maxActiveAgreements,
    });
  }
  if (!terms.allowOutstandingDebt) {
    reasons.push({
      code: 'NO_OUTSTANDING_DEBT',
      passed: facts.outstandingDebtMinor === 0n,
      observed: facts.outstandingDebtMinor.toString(),
      required: '0',
    });
  }
  const conditionsPassed = reasons.every((reason) => reason.passed);

  const lowestWaivingScore = terms.tiers.find((tier) => tier.waivePercent > 0)?.minScore ?? null;
  const tierPercent = facts.score === null ? terms.scoreUnavailableWaivePercent : tierFor(terms.tiers, facts.score);
  reasons.push({
    code: 'CREDIT_SCORE',
    passed: tierPercent > 0,
    observed: facts.score === null ? 'N/A' : facts.score,
    required: lowestWaivingScore,
  });

  const waivePercent = conditionsPassed ? tierPercent : 0;
  let waivedMinor = (terms.depositMinor * BigInt(waivePercent)) / 100n;
  if (terms.maxWaivedExposureMinor !== null) {
    const headroom = terms.maxWaivedExposureMinor - facts.waivedExposureMinor;
    const wanted = conditionsPassed ? (terms.depositMinor * BigInt(tierPercent)) / 100n : 0n;
    reasons.push({
      code: 'MAX_WAIVED_EXPOSURE',
      passed: facts.waivedExposureMinor + wanted <= terms.maxWaivedExposureMinor,
      observed: (facts.waivedExposureMinor + wanted).toString(),
      required: terms.maxWaivedExposureMinor.toString(),
    });
    if (waivedMinor > headroom) waivedMinor = headroom > 0n ? headroom : 0n;
  }
  const outcome: Outcome = waivedMinor === 0n ? 'DENIED' : waivedMinor === terms.depositMinor ? 'WAIVED' : 'PARTIAL';
  return { outcome, waivePercent, waivedMinor, depositDueMinor: terms.depositMinor - waivedMinor, reasons };
}
