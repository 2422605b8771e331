import { createHmac } from 'node:crypto';

/**
 * The mock credit bureau's arithmetic, in the style of Sesame Credit: a score from 350 to 950, or
 * `N/A` when there is too little to go on. Pure functions: the provider feeds them facts.
 *
 * The base score is deterministic per user: HMAC-SHA256(key, userId) gives four uniform numbers whose
 * mean (Irwin-Hall, close to normal) is mapped onto a spread centred on 650 with a standard deviation of
 * about 60, clamped to 350..950. What the platform knows then moves it (signals).
 */
export const MIN_SCORE = 350;
export const MAX_SCORE = 950;
const CENTRE = 650;
const SPREAD = 60;
/** The standard deviation of the mean of four uniform [0, 1) numbers: sqrt(1/12 / 4). */
const MEAN_OF_FOUR_SD = Math.sqrt(1 / 48);

export type ScoreBand = '350-549' | '550-599' | '600-649' | '650-699' | '700-950';

export function bandOf(score: number): ScoreBand {
  if (score < 550) return '350-549';
  if (score < 600) return '550-599';
  if (score < 650) return '600-649';
  if (score < 700) return '650-699';
  return '700-950';
}

export function clampScore(score: number): number {
  return Math.min(MAX_SCORE, Math.max(MIN_SCORE, Math.round(score)));
}

export function baseScore(userId: string, key: string | Buffer): number {
  const digest = createHmac('sha256', key).update(userId.toLowerCase()).digest();
  let sum = 0;
  for (let index = 0; index < 4; index += 1) sum += digest.readUInt32BE(index * 4) / 0x1_0000_0000;
  const mean = sum / 4;
  return clampScore(CENTRE + ((mean - 0.5) / MEAN_OF_FOUR_SD) * SPREAD);
}

/** What the platform knows about a user that moves the score. */
export interface CreditSignals {
  readonly identityVerified: boolean;
  readonly accountAgeDays: number;
  readonly completedAgreements: number;
  readonly completedPayments: number;
  /** Minor units the user owes the platform now. */
  readonly outstandingDebtMinor: bigint;
  readonly defaults: number;
}

export interface ScoreFactor {
  readonly code:
    | 'BASE'
    | 'IDENTITY_VERIFIED'
    | 'ACCOUNT_AGE'
    | 'COMPLETED_AGREEMENTS'
    | 'COMPLETED_PAYMENTS'
    | 'OUTSTANDING_DEBT'
    | 'DEFAULTS'
    /** A documented test user: the score is fixed. */
    | 'TEST_USER'
    /** Too little to go on (identity not verified): no score. */
    | 'INSUFFICIENT_DATA';
  /** Points added (positive) or taken away (negative). */
  readonly effect: number;
  readonly detail: string;
}

export interface ScoreResult {
  readonly score: number;
  readonly band: ScoreBand;
  readonly factors: readonly ScoreFactor[];
}

/** The score from the base and the signals, each factor with its effect; capped within 350..950. */
export function scoreFromSignals(base: number, signals: CreditSignals): ScoreResult {
  const factors: ScoreFactor[] = [{ code: 'BASE', effect: base, detail: "The bureau's base score for this person." }];
  if (signals.identityVerified) factors.push({ code: 'IDENTITY_VERIFIED', effect: 20, detail: 'Real-name identity verified.' });
  const ageEffect = Math.min(30, Math.floor(Math.max(0, signals.accountAgeDays) / 30) * 5);
  if (ageEffect > 0) factors.push({ code: 'ACCOUNT_AGE', effect: ageEffect, detail: `Account open for ${signals.accountAgeDays} days.` });
  const agreementEffect = Math.min(40, signals.completedAgreements * 5);
  if (agreementEffect > 0)
    factors.push({
      code: 'COMPLETED_AGREEMENTS',
      effect: agreementEffect,
      detail: `${signals.completedAgreements} deposit agreements completed.`,
    });
  const paymentEffect = Math.min(20, signals.completedPayments * 2);
  if (paymentEffect > 0)
    factors.push({ code: 'COMPLETED_PAYMENTS', effect: paymentEffect, detail: `${signals.completedPayments} payments completed.` });
  if (signals.outstandingDebtMinor > 0n) factors.push({ code: 'OUTSTANDING_DEBT', effect: -80, detail: 'Money owed to the platform.' });
  const defaultEffect = -Math.min(120, signals.defaults * 40);
  if (defaultEffect < 0) factors.push({ code: 'DEFAULTS', effect: defaultEffect, detail: `${signals.defaults} agreements defaulted.` });
  const score = clampScore(factors.reduce((sum, factor) => sum + factor.effect, 0));
  return { score, band: bandOf(score), factors };
}

/**
 * Deterministic test users: an email `score-NNN@test.invalid` (350 <= NNN <= 950) always scores NNN,
 * and `score-na@test.invalid` has no score, so integrators can test 649 against 650.
 */
export function testUserScore(email: string | null): number | 'N/A' | undefined {
  if (email === null) return undefined;
  const match = /^score-(\d{3}|na)@test\.invalid$/.exec(email.toLowerCase());
  if (match === null || match[1] === undefined) return undefined;
  if (match[1] === 'na') return 'N/A';
  const score = Number(match[1]);
  return score >= MIN_SCORE && score <= MAX_SCORE ? score : undefined;
}
