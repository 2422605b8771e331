import { hash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { newId } from '../common/ids.js';
import { AuditService } from '../audit/audit.service.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';
import { canonicalJson } from '../common/canonical-json.js';
import { Clock } from '../common/clock/clock.js';
import { type Principal, userOf } from '../common/principal.js';
import type { IdentityStatus } from '../identity/identity.service.js';
import { AppConfig } from '../config/app-config.js';
import { CREDIT_SCORE_PROVIDER, type CreditScoreProvider } from './credit-score-provider.js';
import type { CreditSignals, ScoreBand, ScoreFactor } from './credit-score.js';
import { testUserScore } from './credit-score.js';
import { CreditSignalsService } from './credit-signals.js';

export interface CreditReport {
  readonly id: string;
  readonly userId: string;
  /** null: `N/A`, too little to go on. */
  readonly score: number | null;
  readonly band: ScoreBand | null;
  readonly factors: readonly ScoreFactor[];
  readonly provider: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export type Admittance = 'Y' | 'N' | 'N/A';

interface ReportRow {
  id: string;
  user_id: string;
  score: number | null;
  band: ScoreBand | null;
  factors: ScoreFactor[];
  signals_digest: string;
  provider: string;
  created_at: Date;
  expires_at: Date;
}

const LATEST_REPORT = 'SELECT * FROM credit_reports WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1';
/** The same, for many users at once (one index probe each). */
const latestReports = (userIds: string): string => `SELECT r.* FROM unnest(${userIds}) AS u (user_id)
  CROSS JOIN LATERAL (SELECT * FROM credit_reports WHERE user_id = u.user_id ORDER BY created_at DESC, id DESC LIMIT 1) r`;
/** The most users one latest-report query reads. */
const LATEST_REPORTS_BATCH_LIMIT = 256;

const toReport = (row: ReportRow): CreditReport => ({
  id: row.id,
  userId: row.user_id,
  score: row.score,
  band: row.band,
  factors: row.factors,
  provider: row.provider,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

/**
 * What a report depends on, as one digest: when it differs from the latest report's, the report is
 * stale. Account age counts in whole 30-day months (a bureau does not rescore a person every day).
 */
export function signalsDigest(provider: string, email: string | null, signals: CreditSignals): string {
  return hash(
    'sha256',
    canonicalJson({
      provider,
      testUser: testUserScore(email) ?? null,
      identityVerified: signals.identityVerified,
      accountAgeMonths: Math.floor(signals.accountAgeDays / 30),
      completedAgreements: signals.completedAgreements,
      completedPayments: signals.completedPayments,
      outstandingDebtMinor: signals.outstandingDebtMinor.toString(),
      defaults: signals.defaults,
    }),
    'hex',
  );
}

/** `Y` when the score meets the threshold, `N` when not, `N/A` without a score. */
export function admittanceOf(score: number | null, threshold: number): Admittance {
  if (score === null) return 'N/A';
  return score >= threshold ? 'Y' : 'N';
}

/**
 * Credit reports: asks the bureau (through the provider port) when no fresh report fits, reuses the
 * latest one for CREDIT_REPORT_TTL_HOURS while the signals stay the same. The only writer of
 * `credit_reports`. Scores never go to logs; reads are recorded for audit without them.
 */
@Injectable()
export class CreditService {
  /** Latest-report reads join the turn's read round (not a cache: see ReadRound). */
  private readonly latestReports: RoundReader<ReportRow>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly signals: CreditSignalsService,
    @Inject(CREDIT_SCORE_PROVIDER) private readonly provider: CreditScoreProvider,
    reads: ReadRound,
  ) {
    this.latestReports = reads.reader({
      sql: latestReports,
      answer: (rows: ReportRow[]) => new Map(rows.map((row) => [row.user_id, row])),
      maxKeys: LATEST_REPORTS_BATCH_LIMIT,
    });
  }

  /**
   * The user's current report: the latest one if it is younger than the reuse period and nothing it
   * depends on changed, otherwise a new one. Serialised per user, so concurrent reads share a report.
   * For other modules; the caller records why it read it.
   */
  async currentReport(userId: string): Promise<CreditReport> {
    return (await this.assess(userId)).report;
  }

  /**
   * The current report, the signals it was judged on and the identity status behind them (the waiver
   * decision needs all three). A fresh report that still fits is read without a transaction; making a
   * new one is serialised per user.
   *
   * The latest report is read beside the signals, not after them: a report fits only if it was made
   * from exactly the signals just collected (same digest), so it does not matter which was read first;
   * one that does not fit is looked for again under the lock before a new one is made.
   *
   * `writesAfter`: the reads start at once, but a new report is made only once this has settled
   * well (its refusal is the answer then, and nothing is written): a caller that must check something
   * first (the waiver decision, its policy) reads the credit data in the same round as it checks.
   */
  async assess(
    userId: string,
    writesAfter?: Promise<unknown>,
  ): Promise<{ readonly report: CreditReport; readonly signals: CreditSignals; readonly identity: IdentityStatus }> {
    // PostgreSQL answers uuids in lower case: the key must be too, or the report would be missed.
    const [{ email, signals, identity }, latest] = await Promise.all([
      this.signals.collect(userId),
      this.latestReports.load(userId.toLowerCase()),
    ]);
    const digest = signalsDigest(this.provider.name, email, signals);
    const fits = (row: ReportRow | undefined, now: Date): row is ReportRow =>
      row !== undefined && row.signals_digest === digest && row.expires_at.getTime() > now.getTime();
    if (writesAfter !== undefined) await writesAfter;
    if (fits(latest, this.clock.now())) return { report: toReport(latest), signals, identity };
    const report = await this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended('credit:' || $1, 0))`, [userId]);
      const now = this.clock.now();
      // Again under the lock: a concurrent reader may have made the report meanwhile.
      const [last] = (await manager.query(LATEST_REPORT, [userId])) as ReportRow[];
      if (fits(last, now)) return toReport(last);
      const assessment = await this.provider.assess({ userId, email, signals });
      if (assessment.score !== null && (!Number.isInteger(assessment.score) || assessment.score < 350 || assessment.score > 950)) {
        throw new Error(`credit provider ${this.provider.name} answered a score outside 350..950`);
      }
      const inserted: ReportRow[] = await manager.query(
        `INSERT INTO credit_reports (id, user_id, score, band, factors, signals_digest, provider, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
        [
          newId(),
          userId,
          assessment.score,
          assessment.band,
          JSON.stringify(assessment.factors),
          digest,
          this.provider.name,
          now,
          new Date(now.getTime() + this.config.credit.reportTtlHours * 3_600_000),
        ],
      );
      const row = inserted[0];
      if (row === undefined) throw new Error('credit report: the insert returned nothing');
      return toReport(row);
    });
    return { report, signals, identity };
  }

  /** The calling user's report, the read recorded for audit (without the score). */
  async readScore(principal: Principal, purpose: string): Promise<CreditReport> {
    const report = await this.currentReport(userOf(principal));
    await this.audit.record({
      actor: principal,
      action: 'credit.score.read',
      resourceType: 'credit_report',
      resourceId: report.id,
      outcome: 'success',
      purpose,
    });
    return report;
  }

  /** Whether the calling user's score meets `threshold` (Y, N or N/A), never the score itself. */
  async admittance(principal: Principal, threshold: number, purpose: string): Promise<{ admitted: Admittance; reportId: string }> {
    const report = await this.currentReport(userOf(principal));
    const admitted = admittanceOf(report.score, threshold);
    await this.audit.record({
      actor: principal,
      action: 'credit.admittance.read',
      resourceType: 'credit_report',
      resourceId: report.id,
      outcome: 'success',
      purpose,
      details: { threshold, admitted },
    });
    return { admitted, reportId: report.id };
  }
}
