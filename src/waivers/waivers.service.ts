import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { isLowerCaseUuid, isUuid, newId } from '../common/ids.js';
import type { AuditEventInput } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { GroupCommitter, type Settled } from '../common/group-commit.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';
import { type StatementPart, statementOf } from '../common/statement-parts.js';
import { parseAmountMinor } from '../common/money/money.js';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import { merchantOf, type Principal, userOf } from '../common/principal.js';
import { currentRequestContext } from '../common/request-context/request-context.js';
import { CreditService } from '../credit/credit.service.js';
import { DepositAgreementTallies, sumTallies } from './deposit-agreement-tallies.js';
import type { PolicyVersionInput } from './dto/waivers.dto.js';
import { decide, type Outcome, type Reason, type ScoreTier, type WaiverFacts, type WaiverTerms } from './waiver-decision.engine.js';
import { WaiversError, WaiversErrorCode } from './waivers.errors.js';

export interface PolicyVersion extends WaiverTerms {
  readonly policyId: string;
  readonly version: number;
  readonly agreementLifetimeSeconds: number;
  readonly maxFinalChargeMinor: bigint;
  readonly decisionTtlSeconds: number;
  readonly createdAt: Date;
}

export interface Policy {
  readonly id: string;
  readonly merchantId: string;
  readonly name: string;
  readonly activeVersion: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a decision stores about the user, with the credit report it read. */
export interface StoredFacts extends WaiverFacts {
  readonly creditReportId: string;
}

export interface WaiverDecision {
  readonly id: string;
  readonly policyId: string;
  readonly policyVersion: number;
  readonly merchantId: string;
  readonly userId: string;
  readonly clientId: string;
  readonly outcome: Outcome;
  readonly waivePercent: number;
  readonly depositMinor: bigint;
  readonly waivedMinor: bigint;
  readonly depositDueMinor: bigint;
  readonly currency: string;
  readonly facts: StoredFacts;
  readonly reasons: readonly Reason[];
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

interface PolicyRow {
  id: string;
  merchant_id: string;
  name: string;
  active_version: number;
  created_at: Date;
  updated_at: Date;
}

interface VersionRow {
  policy_id: string;
  version: number;
  deposit_minor: string;
  currency: string;
  tiers: ScoreTier[];
  score_unavailable_waive_percent: number;
  require_verified_identity: boolean;
  minimum_age: number | null;
  max_active_agreements: number | null;
  allow_outstanding_debt: boolean;
  max_waived_exposure_minor: string | null;
  agreement_lifetime_seconds: number;
  max_final_charge_minor: string;
  decision_ttl_seconds: number;
  created_at: Date;
}

interface DecisionRow {
  id: string;
  policy_id: string;
  policy_version: number;
  merchant_id: string;
  user_id: string;
  client_id: string;
  outcome: Outcome;
  waive_percent: number;
  deposit_minor: string;
  waived_minor: string;
  deposit_due_minor: string;
  currency: string;
  facts: Record<string, unknown>;
  reasons: Reason[];
  created_at: Date;
  expires_at: Date;
}

const toPolicy = (row: PolicyRow): Policy => ({
  id: row.id,
  merchantId: row.merchant_id,
  name: row.name,
  activeVersion: row.active_version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toVersion = (row: VersionRow): PolicyVersion => ({
  policyId: row.policy_id,
  version: row.version,
  depositMinor: BigInt(row.deposit_minor),
  currency: row.currency,
  tiers: row.tiers,
  scoreUnavailableWaivePercent: row.score_unavailable_waive_percent,
  requireVerifiedIdentity: row.require_verified_identity,
  minimumAge: row.minimum_age,
  maxActiveAgreements: row.max_active_agreements,
  allowOutstandingDebt: row.allow_outstanding_debt,
  maxWaivedExposureMinor: row.max_waived_exposure_minor === null ? null : BigInt(row.max_waived_exposure_minor),
  agreementLifetimeSeconds: row.agreement_lifetime_seconds,
  maxFinalChargeMinor: BigInt(row.max_final_charge_minor),
  decisionTtlSeconds: row.decision_ttl_seconds,
  createdAt: row.created_at,
});

function factsToJson(facts: StoredFacts): Record<string, unknown> {
  return {
    ...facts,
    outstandingDebtMinor: facts.outstandingDebtMinor.toString(),
    waivedExposureMinor: facts.waivedExposureMinor.toString(),
  };
}

function factsFromJson(json: Record<string, unknown>): StoredFacts {
  return {
    score: json.score as number | null,
    band: json.band as string | null,
    identity: json.identity as StoredFacts['identity'],
    age: json.age as number | null,
    activeAgreements: json.activeAgreements as number,
    outstandingDebtMinor: BigInt(json.outstandingDebtMinor as string),
    waivedExposureMinor: BigInt(json.waivedExposureMinor as string),
    creditReportId: json.creditReportId as string,
  };
}

const toDecision = (row: DecisionRow): WaiverDecision => ({
  id: row.id,
  policyId: row.policy_id,
  policyVersion: row.policy_version,
  merchantId: row.merchant_id,
  userId: row.user_id,
  clientId: row.client_id,
  outcome: row.outcome,
  waivePercent: row.waive_percent,
  depositMinor: BigInt(row.deposit_minor),
  waivedMinor: BigInt(row.waived_minor),
  depositDueMinor: BigInt(row.deposit_due_minor),
  currency: row.currency,
  facts: factsFromJson(row.facts),
  reasons: row.reasons,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

/** A decision on its way to the database, with its audit event. */
interface PendingDecision {
  readonly decision: WaiverDecision;
  readonly event: AuditEventInput;
}

/** A decision as a `waiver_decisions` row, for json_populate_recordset (ids and times as text). */
const recordOf = (decision: WaiverDecision): Record<keyof DecisionRow, unknown> => ({
  id: decision.id,
  policy_id: decision.policyId,
  policy_version: decision.policyVersion,
  merchant_id: decision.merchantId,
  user_id: decision.userId,
  client_id: decision.clientId,
  outcome: decision.outcome,
  waive_percent: decision.waivePercent,
  deposit_minor: decision.depositMinor.toString(),
  waived_minor: decision.waivedMinor.toString(),
  deposit_due_minor: decision.depositDueMinor.toString(),
  currency: decision.currency,
  facts: factsToJson(decision.facts),
  reasons: decision.reasons,
  created_at: decision.createdAt.toISOString(),
  expires_at: decision.expiresAt.toISOString(),
});

const DECISION_BATCH_LIMIT = 256;
/** The most keys one batched read of policies asks for. */
const READ_BATCH_LIMIT = 256;

/** Open agreements: they count against the per-user limit and the waived exposure. */
export const OPEN_AGREEMENT_STATUSES = ['CREATED', 'ACTIVE'];

function policyNotFound(): WaiversError {
  return new WaiversError(ErrorKind.NotFound, WaiversErrorCode.PolicyNotFound, 'No waiver policy with this id.');
}

/**
 * Checks a version's terms beyond what each field's own rules say, naming the field (400 with the
 * field list, like the validation pipe), and returns them in stored form.
 */
function termsFrom(input: PolicyVersionInput): Omit<PolicyVersion, 'policyId' | 'version' | 'createdAt'> {
  const errors: { field: string; rule: string; message: string }[] = [];
  const tiers = input.tiers.map((tier) => ({ minScore: tier.minScore, waivePercent: tier.waivePercent }));
  tiers.forEach((tier, index) => {
    const previous = tiers[index - 1];
    if (previous === undefined) return;
    if (tier.minScore <= previous.minScore) {
      errors.push({
        field: `tiers.${index}.minScore`,
        rule: 'sorted',
        message: 'tiers must be sorted by minScore, each above the one before',
      });
    }
    if (tier.waivePercent < previous.waivePercent) {
      errors.push({
        field: `tiers.${index}.waivePercent`,
        rule: 'monotonic',
        message: 'a higher tier may not waive less than a lower one',
      });
    }
  });
  const depositMinor = parseAmountMinor(input.deposit.amountMinor, { field: 'deposit.amountMinor' });
  const maxFinalChargeMinor =
    input.maxFinalChargeMinor === undefined
      ? depositMinor
      : parseAmountMinor(input.maxFinalChargeMinor, { allowZero: true, field: 'maxFinalChargeMinor' });
  const exposure = input.conditions?.maxWaivedExposureMinor;
  const maxWaivedExposureMinor =
    exposure === undefined || exposure === null ? null : parseAmountMinor(exposure, { field: 'conditions.maxWaivedExposureMinor' });
  if (errors.length > 0) {
    throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.ValidationFailed, 'The policy is not valid; see errors.', { errors });
  }
  return {
    depositMinor,
    currency: input.deposit.currency,
    tiers,
    scoreUnavailableWaivePercent: input.scoreUnavailableWaivePercent ?? 0,
    requireVerifiedIdentity: input.conditions?.requireVerifiedIdentity ?? true,
    minimumAge: input.conditions?.minimumAge ?? null,
    maxActiveAgreements: input.conditions?.maxActiveAgreements ?? null,
    allowOutstandingDebt: input.conditions?.allowOutstandingDebt ?? false,
    maxWaivedExposureMinor,
    agreementLifetimeSeconds: input.agreementLifetimeSeconds,
    maxFinalChargeMinor,
    decisionTtlSeconds: input.decisionTtlSeconds ?? 900,
  };
}

/**
 * Waiver policies and decisions: the only writer of `waiver_policies`, `waiver_policy_versions` and
 * `waiver_decisions`. A merchant token manages its own policies; a mini-program asks for decisions for
 * its user under its own merchant's policies. A version, once written, never changes (the database
 * refuses it): a decision can always be replayed against the exact terms it was made under.
 */
@Injectable()
export class WaiversService implements OnApplicationShutdown {
  /** Versions never change: cached by `policyId:version` once read. */
  private readonly versions = new Map<string, PolicyVersion>();
  private readonly decisionWriter = new GroupCommitter<PendingDecision, WaiverDecision>((items) => this.writeDecisions(items), {
    maxWeight: DECISION_BATCH_LIMIT,
  });

  /**
   * The decision path's reads join the turn's read round (one round trip for every module's reads;
   * not a cache: see ReadRound). Policies by id (the merchant is checked by the caller); open
   * agreements come from DepositAgreementTallies.
   */
  private readonly policyReads: RoundReader<PolicyRow>;
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly credit: CreditService,
    private readonly tallies: DepositAgreementTallies,
    reads: ReadRound,
  ) {
    this.policyReads = reads.reader({
      sql: (ids) => `SELECT * FROM waiver_policies WHERE id = ANY(${ids})`,
      answer: (rows: PolicyRow[]) => new Map(rows.map((row) => [row.id, row])),
      maxKeys: READ_BATCH_LIMIT,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.decisionWriter.stop();
  }

  /** Creates a policy with version 1, active; inside `manager`'s transaction when given (the demo seeder). */
  async createPolicy(
    principal: Principal,
    name: string,
    input: PolicyVersionInput,
    outer?: EntityManager,
  ): Promise<{ policy: Policy; version: PolicyVersion }> {
    const merchantId = merchantOf(principal);
    const terms = termsFrom(input);
    const now = this.clock.now();
    const id = newId();
    const work = async (manager: EntityManager) => {
      const [policy] = (await manager.query(
        `INSERT INTO waiver_policies (id, merchant_id, name, active_version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) RETURNING *`,
        [id, merchantId, name, now],
      )) as PolicyRow[];
      const version = await this.insertVersion(manager, id, 1, terms, now);
      await this.audit.record(
        {
          actor: principal,
          action: 'waiver.policy.created',
          resourceType: 'waiver_policy',
          resourceId: id,
          outcome: 'success',
          details: { version: 1 },
        },
        manager,
      );
      if (policy === undefined) throw new Error('waiver policy: the insert returned nothing');
      return { policy: toPolicy(policy), version };
    };
    return outer === undefined ? this.dataSource.transaction(work) : work(outer);
  }

  async addVersion(
    principal: Principal,
    policyId: string,
    input: PolicyVersionInput,
    activate: boolean,
  ): Promise<{ policy: Policy; version: PolicyVersion }> {
    const merchantId = merchantOf(principal);
    const terms = termsFrom(input);
    const now = this.clock.now();
    return this.dataSource.transaction(async (manager) => {
      const locked = (await manager.query('SELECT * FROM waiver_policies WHERE id = $1 AND merchant_id = $2 FOR UPDATE', [
        policyId,
        merchantId,
      ])) as PolicyRow[];
      if (locked[0] === undefined) throw policyNotFound();
      const [{ next }] = (await manager.query(
        'SELECT coalesce(max(version), 0) + 1 AS next FROM waiver_policy_versions WHERE policy_id = $1',
        [policyId],
      )) as [{ next: number }];
      const version = await this.insertVersion(manager, policyId, next, terms, now);
      const [policy] = (await manager.query(
        `UPDATE waiver_policies SET active_version = CASE WHEN $2 THEN $3 ELSE active_version END, updated_at = $4 WHERE id = $1 RETURNING *`,
        [policyId, activate, next, now],
      )) as [PolicyRow[], number];
      await this.audit.record(
        {
          actor: principal,
          action: 'waiver.policy.version_added',
          resourceType: 'waiver_policy',
          resourceId: policyId,
          outcome: 'success',
          details: { version: next, activated: activate },
        },
        manager,
      );
      const row = policy[0];
      if (row === undefined) throw new Error('waiver policy: the update returned nothing');
      return { policy: toPolicy(row), version };
    });
  }

  /** A policy the caller may see: its merchant's (a merchant token or one of its mini-programs). */
  async getPolicy(principal: Principal, policyId: string): Promise<{ policy: Policy; versions: PolicyVersion[] }> {
    const policy = await this.findPolicy(principal, policyId);
    const rows: VersionRow[] = await this.dataSource.query('SELECT * FROM waiver_policy_versions WHERE policy_id = $1 ORDER BY version', [
      policyId,
    ]);
    return { policy, versions: rows.map(toVersion) };
  }

  async getVersion(principal: Principal, policyId: string, version: number): Promise<PolicyVersion> {
    await this.findPolicy(principal, policyId);
    const found = await this.version(policyId, version);
    if (found === undefined)
      throw new WaiversError(ErrorKind.NotFound, WaiversErrorCode.PolicyVersionNotFound, 'No such version of this policy.');
    return found;
  }

  async listPolicies(principal: Principal, limit: number, cursor?: string): Promise<Page<Policy>> {
    const merchantId = merchantOf(principal);
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const parameters: unknown[] = [merchantId, limit + 1];
    let keyset = '';
    if (after !== undefined) {
      const at = new Date(after.key);
      if (Number.isNaN(at.getTime()) || !isLowerCaseUuid(after.id))
        throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
      parameters.push(at, after.id);
      keyset = 'AND (created_at, id) < ($3, $4::uuid)';
    }
    const rows: PolicyRow[] = await this.dataSource.query(
      `SELECT * FROM waiver_policies WHERE merchant_id = $1 ${keyset} ORDER BY created_at DESC, id DESC LIMIT $2`,
      parameters,
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), toPolicy);
  }

  /**
   * Decides whether the calling user's deposit is waived under the policy's active version. Every
   * missing fact (no score, no verified identity) is a failed reason, never an error. The decision
   * stores the facts and the version, so it can be replayed; reading identity and credit data for it
   * is recorded with the purpose `waiver.decision`.
   */
  async decide(principal: Principal, policyId: string): Promise<WaiverDecision> {
    const userId = userOf(principal);
    // The user's agreements and credit data do not depend on the policy: they are read in the same
    // turn as it. The credit assessment writes nothing before the policy is found, because it may make
    // the user a new report: a request refused for its policy (another merchant's, or none) must
    // change nothing.
    const finding = this.findPolicyBatched(principal, policyId);
    const tallying = this.tallies.ofUser(userId);
    const assessing = this.credit.assess(userId, finding);
    // The policy's refusal, if any, is the answer; these two wait for nobody then.
    tallying.catch(() => undefined);
    assessing.catch(() => undefined);
    const policy = await finding;
    const terms = await this.version(policy.id, policy.activeVersion);
    if (terms === undefined) throw new Error(`waiver policy ${policy.id} has no version ${policy.activeVersion}`);
    const [assessed, tallies] = await Promise.all([assessing, tallying]);
    const open = sumTallies(tallies, OPEN_AGREEMENT_STATUSES, terms.currency);
    const facts: StoredFacts = {
      score: assessed.report.score,
      band: assessed.report.band,
      identity: assessed.identity.status,
      age: assessed.identity.age,
      activeAgreements: open.count,
      outstandingDebtMinor: assessed.signals.outstandingDebtMinor,
      waivedExposureMinor: open.waivedMinor,
      creditReportId: assessed.report.id,
    };
    const decision = decide(terms, facts);
    const now = this.clock.now();
    const id = newId();
    const context = currentRequestContext();
    const made: WaiverDecision = {
      id,
      policyId: policy.id,
      policyVersion: terms.version,
      merchantId: policy.merchantId,
      userId,
      clientId: principal.clientId,
      outcome: decision.outcome,
      waivePercent: decision.waivePercent,
      depositMinor: terms.depositMinor,
      waivedMinor: decision.waivedMinor,
      depositDueMinor: decision.depositDueMinor,
      currency: terms.currency,
      facts,
      reasons: decision.reasons,
      createdAt: now,
      expiresAt: new Date(now.getTime() + terms.decisionTtlSeconds * 1000),
    };
    return this.decisionWriter.submit({
      decision: made,
      // Written later, in the batch's transaction: where the request came from is taken now.
      event: {
        actor: principal,
        action: 'waiver.decision.made',
        resourceType: 'waiver_decision',
        resourceId: id,
        outcome: 'success',
        purpose: 'waiver.decision',
        details: { policyId: policy.id, policyVersion: terms.version, outcome: decision.outcome, creditReportId: assessed.report.id },
        ip: context?.ip ?? null,
        requestId: context?.requestId ?? null,
        userAgent: context?.userAgent ?? null,
      },
    });
  }

  /**
   * Writes a batch of decisions and their audit events as one statement, its own transaction: many
   * concurrent decisions share one round trip and one commit instead of paying one each. The answer
   * is the decision as written (every column comes from it); the statement fails as a whole unless
   * every decision and event was written.
   */
  private async writeDecisions(items: readonly PendingDecision[]): Promise<Settled<WaiverDecision>[]> {
    const decisions: StatementPart = {
      ctes: [
        {
          name: 'waiver_decisions_new',
          sql: 'INSERT INTO waiver_decisions SELECT * FROM json_populate_recordset(NULL::waiver_decisions, $1) RETURNING id',
          rows: items.length,
        },
      ],
      parameters: [JSON.stringify(items.map((item) => recordOf(item.decision)))],
    };
    const audited = this.audit.insertPart(items.map((item) => item.event));
    const statement = statementOf(
      audited === undefined ? [decisions] : [decisions, audited],
      'waiver decisions: not every row was written',
    );
    if (statement !== undefined) await this.dataSource.query(statement.sql, statement.parameters);
    return items.map((item): Settled<WaiverDecision> => ({ ok: true, value: item.decision }));
  }

  /** A decision the caller may see: the user's own, or its merchant's. */
  async getDecision(principal: Principal, decisionId: string): Promise<WaiverDecision> {
    const rows: DecisionRow[] = await this.dataSource.query('SELECT * FROM waiver_decisions WHERE id = $1', [decisionId]);
    const row = rows[0];
    const visible =
      row !== undefined &&
      (principal.userId === null
        ? row.merchant_id === principal.merchantId
        : row.user_id === principal.userId && row.merchant_id === principal.merchantId);
    if (!visible) throw new WaiversError(ErrorKind.NotFound, WaiversErrorCode.DecisionNotFound, 'No waiver decision with this id.');
    return toDecision(row);
  }

  /** A policy version, from the cache or the database (versions never change). */
  async version(policyId: string, version: number): Promise<PolicyVersion | undefined> {
    const key = `${policyId}:${version}`;
    const cached = this.versions.get(key);
    if (cached !== undefined) return cached;
    const rows: VersionRow[] = await this.dataSource.query('SELECT * FROM waiver_policy_versions WHERE policy_id = $1 AND version = $2', [
      policyId,
      version,
    ]);
    const row = rows[0];
    if (row === undefined) return undefined;
    const found = toVersion(row);
    if (this.versions.size > 10_000) this.versions.clear();
    this.versions.set(key, found);
    return found;
  }

  /** The user's open agreements in a currency: how many, and how much they waived. */
  async openAgreements(userId: string, currency: string, manager?: EntityManager): Promise<{ count: number; waivedMinor: bigint }> {
    // Outside a transaction the read may share a query with others (and with the credit signals).
    if (manager === undefined && isUuid(userId)) {
      return sumTallies(await this.tallies.ofUser(userId), OPEN_AGREEMENT_STATUSES, currency);
    }
    const [row] = (await (manager ?? this.dataSource).query(
      `SELECT count(*)::int AS count, coalesce(sum(waived_minor), 0)::text AS waived
         FROM deposit_agreements WHERE user_id = $1 AND currency = $2 AND status = ANY($3)`,
      [userId, currency, OPEN_AGREEMENT_STATUSES],
    )) as [{ count: number; waived: string }];
    return { count: row.count, waivedMinor: BigInt(row.waived) };
  }

  /** findPolicy, its read shared with the other decisions asked for in the same turn. */
  private async findPolicyBatched(principal: Principal, policyId: string): Promise<Policy> {
    if (principal.merchantId === null || !isUuid(policyId)) return this.findPolicy(principal, policyId);
    const row = await this.policyReads.load(policyId.toLowerCase());
    if (row === undefined || row.merchant_id !== principal.merchantId.toLowerCase()) throw policyNotFound();
    return toPolicy(row);
  }

  private async findPolicy(principal: Principal, policyId: string): Promise<Policy> {
    // A user token reaches its mini-program's merchant's policies; a merchant token its own. Others: 404.
    if (principal.merchantId === null) throw policyNotFound();
    const rows: PolicyRow[] = await this.dataSource.query('SELECT * FROM waiver_policies WHERE id = $1 AND merchant_id = $2', [
      policyId,
      principal.merchantId,
    ]);
    const row = rows[0];
    if (row === undefined) throw policyNotFound();
    return toPolicy(row);
  }

  private async insertVersion(
    manager: EntityManager,
    policyId: string,
    version: number,
    terms: Omit<PolicyVersion, 'policyId' | 'version' | 'createdAt'>,
    now: Date,
  ): Promise<PolicyVersion> {
    const [row] = (await manager.query(
      `INSERT INTO waiver_policy_versions (policy_id, version, deposit_minor, currency, tiers, score_unavailable_waive_percent,
         require_verified_identity, minimum_age, max_active_agreements, allow_outstanding_debt, max_waived_exposure_minor,
         agreement_lifetime_seconds, max_final_charge_minor, decision_ttl_seconds, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
      [
        policyId,
        version,
        terms.depositMinor.toString(),
        terms.currency,
        JSON.stringify(terms.tiers),
        terms.scoreUnavailableWaivePercent,
        terms.requireVerifiedIdentity,
        terms.minimumAge,
        terms.maxActiveAgreements,
        terms.allowOutstandingDebt,
        terms.maxWaivedExposureMinor?.toString() ?? null,
        terms.agreementLifetimeSeconds,
        terms.maxFinalChargeMinor.toString(),
        terms.decisionTtlSeconds,
        now,
      ],
    )) as VersionRow[];
    if (row === undefined) throw new Error('waiver policy version: the insert returned nothing');
    return toVersion(row);
  }
}
