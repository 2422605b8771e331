import {
  baseScore,
  bandOf,
  type CreditSignals,
  type ScoreBand,
  type ScoreFactor,
  scoreFromSignals,
  testUserScore,
} from './credit-score.js';

/** Whom the bureau is asked about: the user, and what the platform knows of them. */
export interface CreditSubject {
  readonly userId: string;
  /** Only to recognise the documented test users; a real bureau is never sent it. */
  readonly email: string | null;
  readonly signals: CreditSignals;
}

/** A bureau's answer: a score from 350 to 950 with its band, or none (`N/A`), and the factors behind it. */
export interface CreditAssessment {
  readonly score: number | null;
  readonly band: ScoreBand | null;
  readonly factors: readonly ScoreFactor[];
}

/**
 * The credit bureau, as a port: the mock below answers here; a real bureau's adapter (Sesame Credit,
 * a national credit reference) replaces it without touching the credit module.
 */
export interface CreditScoreProvider {
  /** Stored with each report (`mock-sesame`). */
  readonly name: string;
  assess(subject: CreditSubject): Promise<CreditAssessment>;
}

export const CREDIT_SCORE_PROVIDER = Symbol('CreditScoreProvider');

/**
 * The mock bureau, in the style of Sesame Credit. Documented for integrators:
 * - `score-NNN@test.invalid` (350 <= NNN <= 950) always scores exactly NNN, and `score-na@test.invalid`
 *   never has a score, whatever else is known;
 * - anyone else without a verified identity has no score (`N/A`: too little to go on);
 * - otherwise a deterministic base score per user (a keyed hash of the user id, spread around 650),
 *   moved by the platform's signals, each factor with its effect.
 */
export class MockCreditBureau implements CreditScoreProvider {
  readonly name = 'mock-sesame';

  constructor(private readonly key: string) {}

  async assess(subject: CreditSubject): Promise<CreditAssessment> {
    const fixed = testUserScore(subject.email);
    if (fixed === 'N/A') {
      return { score: null, band: null, factors: [{ code: 'TEST_USER', effect: 0, detail: 'A documented test user without a score.' }] };
    }
    if (fixed !== undefined) {
      return {
        score: fixed,
        band: bandOf(fixed),
        factors: [{ code: 'TEST_USER', effect: fixed, detail: `A documented test user: always ${fixed}.` }],
      };
    }
    if (!subject.signals.identityVerified) {
      return {
        score: null,
        band: null,
        factors: [{ code: 'INSUFFICIENT_DATA', effect: 0, detail: 'Identity not verified: too little to go on.' }],
      };
    }
    return scoreFromSignals(baseScore(subject.userId, this.key), subject.signals);
  }
}
