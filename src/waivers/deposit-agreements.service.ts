import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { v5 as uuidv5 } from 'uuid';
import { isLowerCaseUuid, newId } from '../common/ids.js';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import { PeriodicTask } from '../common/periodic-task.js';
import { merchantOf, type Principal, userOf } from '../common/principal.js';
import { AppConfig } from '../config/app-config.js';
import { CreditSignalsService } from '../credit/credit-signals.js';
import { LedgerError, LedgerErrorCode } from '../ledger/ledger.errors.js';
import { LedgerService } from '../ledger/ledger.service.js';
import { MAX_TIMEOUT_SECONDS, type LedgerCommand } from '../ledger/ledger.types.js';
import { platformFee } from '../payments/fees.js';
import { auditOf, groupFailure, transfersOrThrow } from '../payments/ledger-outcome.js';
import { MerchantFees } from '../payments/merchant-fees.js';
import { PaymentAccounts } from '../payments/payment-accounts.js';
import type { WebhookEventType } from '../webhooks/webhook-events.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { DepositAgreementTallies, sumTallies } from './deposit-agreement-tallies.js';
import { WaiversError, WaiversErrorCode } from './waivers.errors.js';
import { WaiversService } from './waivers.service.js';

export type AgreementStatus = 'CREATED' | 'ACTIVE' | 'COMPLETED' | 'CANCELLED' | 'EXPIRED' | 'DEFAULTED' | 'RECOVERED';

export interface DepositAgreement {
  readonly id: string;
  readonly decisionId: string;
  readonly policyId: string;
  readonly policyVersion: number;
  readonly merchantId: string;
  readonly userId: string;
  readonly clientId: string;
  readonly status: AgreementStatus;
  readonly currency: string;
  readonly depositMinor: bigint;
  readonly waivedMinor: bigint;
  readonly heldMinor: bigint;
  readonly holdTransferId: string | null;
  readonly finalChargeMinor: bigint | null;
  readonly claimedMinor: bigint | null;
  readonly debtMinor: bigint | null;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

interface AgreementRow {
  id: string;
  decision_id: string;
  policy_id: string;
  policy_version: number;
  merchant_id: string;
  user_id: string;
  client_id: string;
  status: AgreementStatus;
  currency: string;
  deposit_minor: string;
  waived_minor: string;
  held_minor: string;
  hold_transfer_id: string | null;
  final_charge_minor: string | null;
  claimed_minor: string | null;
  debt_minor: string | null;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
}

const big = (value: string | null): bigint | null => (value === null ? null : BigInt(value));

const toAgreement = (row: AgreementRow): DepositAgreement => ({
  id: row.id,
  decisionId: row.decision_id,
  policyId: row.policy_id,
  policyVersion: row.policy_version,
  merchantId: row.merchant_id,
  userId: row.user_id,
  clientId: row.client_id,
  status: row.status,
  currency: row.currency,
  depositMinor: BigInt(row.deposit_minor),
  waivedMinor: BigInt(row.waived_minor),
  heldMinor: BigInt(row.held_minor),
  holdTransferId: row.hold_transfer_id,
  finalChargeMinor: big(row.final_charge_minor),
  claimedMinor: big(row.claimed_minor),
  debtMinor: big(row.debt_minor),
  expiresAt: row.expires_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export function agreementJson(agreement: DepositAgreement) {
  return {
    id: agreement.id,
    object: 'deposit_agreement' as const,
    decisionId: agreement.decisionId,
    policyId: agreement.policyId,
    policyVersion: agreement.policyVersion,
    merchantId: agreement.merchantId,
    userId: agreement.userId,
    status: agreement.status,
    currency: agreement.currency,
    depositAmount: agreement.depositMinor.toString(),
    waivedAmount: agreement.waivedMinor.toString(),
    heldAmount: agreement.heldMinor.toString(),
    finalCharge: agreement.finalChargeMinor?.toString() ?? null,
    claimedAmount: agreement.claimedMinor?.toString() ?? null,
    debtAmount: agreement.debtMinor?.toString() ?? null,
    expiresAt: agreement.expiresAt.toISOString(),
    createdAt: agreement.createdAt.toISOString(),
    updatedAt: agreement.updatedAt.toISOString(),
  };
}

/** Deterministic ledger transfer ids: a retry of a step can only find or write the same transfer. */
const AGREEMENT_TRANSFER_NAMESPACE = '5b0c6f0e-5d0c-4e8a-9a51-0f3c2f6d7a10';
type Step =
  'hold' | 'release' | 'charge' | 'charge-fee' | 'capture' | 'claim-escrow' | 'claim-wallet' | 'guarantee' | 'debt' | 'expire-release';
export function agreementTransferId(agreementId: string, step: Step): string {
  return uuidv5(`${agreementId}:${step}`, AGREEMENT_TRANSFER_NAMESPACE);
}

const EVENT_OF: Record<AgreementStatus, WebhookEventType> = {
  CREATED: 'deposit_agreement.created',
  ACTIVE: 'deposit_agreement.activated',
  COMPLETED: 'deposit_agreement.completed',
  CANCELLED: 'deposit_agreement.cancelled',
  EXPIRED: 'deposit_agreement.expired',
  DEFAULTED: 'deposit_agreement.defaulted',
  RECOVERED: 'deposit_agreement.recovered',
};

const OPEN: readonly AgreementStatus[] = ['CREATED', 'ACTIVE'];
const EXPIRY_BATCH = 100;
const CLAIM_ATTEMPTS = 3;

function notFound(): WaiversError {
  return new WaiversError(ErrorKind.NotFound, WaiversErrorCode.AgreementNotFound, 'No deposit agreement with this id.');
}

interface ClaimAccounts {
  readonly wallet: string;
  readonly merchant: string;
  readonly escrow: string;
  readonly guarantee: string;
  readonly receivable: string;
}

const nothingToPrepare = async (): Promise<undefined> => undefined;

/** A change of an agreement: the ledger commands that go with it (all or none), and the new columns. */
interface Change {
  readonly commands: readonly LedgerCommand[];
  readonly walletAccountId: string | null;
  readonly columns: Partial<Record<'final_charge_minor' | 'claimed_minor' | 'debt_minor', string>>;
  readonly details: Record<string, unknown>;
}

/**
 * Deposit agreements: the deposit due after a waiver decision is held on the ledger (a pending transfer
 * from the user's wallet to the platform's deposit escrow) and then released, charged or recovered.
 *
 *   CREATED --activate--> ACTIVE --complete--> COMPLETED      (hold released, final charge from the wallet)
 *   CREATED|ACTIVE --cancel--> CANCELLED                       (hold released)
 *   CREATED|ACTIVE --lifetime passes--> EXPIRED                (hold released)
 *   ACTIVE --default--> DEFAULTED --claim--> RECOVERED          (see claim())
 *
 * Every change commits in one transaction with its ledger transfers (deterministic ids), its audit
 * event and its webhook event, so an agreement's status and its money can never disagree.
 */
@Injectable()
export class DepositAgreementsService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly expiry = new PeriodicTask(
    'expiring deposit agreements',
    () => this.expireDue(),
    new Logger(DepositAgreementsService.name),
  );

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly ledger: LedgerService,
    private readonly accounts: PaymentAccounts,
    private readonly fees: MerchantFees,
    private readonly outbox: WebhookOutbox,
    private readonly waivers: WaiversService,
    private readonly signals: CreditSignalsService,
    private readonly tallies: DepositAgreementTallies,
  ) {}

  onModuleInit(): void {
    // Completed agreements raise the score; defaults lower it (credit's signals port).
    this.signals.register({
      name: 'deposit-agreements',
      signalsFor: async (userId) => {
        // Read with the decision's open agreements, in one query (DepositAgreementTallies).
        const tallies = await this.tallies.ofUser(userId);
        return {
          completedAgreements: sumTallies(tallies, ['COMPLETED']).count,
          defaults: sumTallies(tallies, ['DEFAULTED', 'RECOVERED']).count,
        };
      },
    });
  }

  onApplicationBootstrap(): void {
    this.expiry.start(this.config.expirySweepIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.expiry.stop();
  }

  /**
   * Signs an agreement from the user's decision: holds the deposit due (if any) on the ledger. Refused
   * cleanly (nothing written) when the wallet cannot cover the hold, the decision expired or was used,
   * or the user's open agreements reached the policy's limit (settled under a per-user lock, so two
   * concurrent agreements cannot both pass).
   */
  async create(principal: Principal, decisionId: string): Promise<DepositAgreement> {
    const userId = userOf(principal);
    const decision = await this.waivers.getDecision(principal, decisionId);
    const now = this.clock.now();
    if (decision.expiresAt.getTime() <= now.getTime()) {
      throw new WaiversError(ErrorKind.Gone, WaiversErrorCode.DecisionExpired, 'The decision has expired; ask for a new one.');
    }
    const terms = await this.waivers.version(decision.policyId, decision.policyVersion);
    if (terms === undefined) throw new Error(`decision ${decision.id} refers to a missing policy version`);
    const held = decision.depositDueMinor;
    const [walletAccountId, escrowAccountId] =
      held > 0n
        ? await Promise.all([
            this.accounts.ensure({ purpose: 'wallet', userId }, decision.currency),
            this.accounts.ensure({ purpose: 'deposit-escrow' }, decision.currency),
          ])
        : [null, null];
    const id = newId();
    const holdId = held > 0n ? agreementTransferId(id, 'hold') : null;
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended('deposit-agreements:' || $1, 0))`, [userId]);
      const used: unknown[] = await manager.query('SELECT 1 FROM deposit_agreements WHERE decision_id = $1', [decision.id]);
      if (used.length > 0) {
        throw new WaiversError(
          ErrorKind.Conflict,
          WaiversErrorCode.DecisionUsed,
          'This decision has already been turned into an agreement.',
        );
      }
      const open = await this.waivers.openAgreements(userId, decision.currency, manager);
      if (terms.maxActiveAgreements !== null && open.count >= terms.maxActiveAgreements) {
        throw new WaiversError(
          ErrorKind.Conflict,
          WaiversErrorCode.AgreementLimitReached,
          `The policy allows ${terms.maxActiveAgreements} open agreement(s) per user; finish one first.`,
        );
      }
      if (terms.maxWaivedExposureMinor !== null && open.waivedMinor + decision.waivedMinor > terms.maxWaivedExposureMinor) {
        throw new WaiversError(
          ErrorKind.Conflict,
          WaiversErrorCode.AgreementLimitReached,
          "The user's open agreements already use the waived amount this policy allows; finish one first.",
        );
      }
      const [row] = (await manager.query(
        `INSERT INTO deposit_agreements (id, decision_id, policy_id, policy_version, merchant_id, user_id, client_id, status, currency,
           deposit_minor, waived_minor, held_minor, hold_transfer_id, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'CREATED', $8, $9, $10, $11, $12, $13, $14, $14) RETURNING *`,
        [
          id,
          decision.id,
          decision.policyId,
          decision.policyVersion,
          decision.merchantId,
          userId,
          principal.clientId,
          decision.currency,
          decision.depositMinor.toString(),
          decision.waivedMinor.toString(),
          held.toString(),
          holdId,
          new Date(now.getTime() + terms.agreementLifetimeSeconds * 1000),
          now,
        ],
      )) as AgreementRow[];
      if (row === undefined) throw new Error('deposit agreement: the insert returned nothing');
      const agreement = toAgreement(row);
      const event = auditOf(principal, 'deposit_agreement.created', 'deposit_agreement', id, {
        decisionId: decision.id,
        heldMinor: held.toString(),
        waivedMinor: decision.waivedMinor.toString(),
        currency: decision.currency,
      });
      if (holdId !== null && walletAccountId !== null && escrowAccountId !== null) {
        const [results] = await this.ledger.submitGroupsWithin(manager, [
          {
            commands: [
              {
                type: 'transfer',
                id: holdId,
                debitAccountId: walletAccountId,
                creditAccountId: escrowAccountId,
                amount: held,
                currency: decision.currency,
                code: 'deposit_hold',
                metadata: { agreementId: id },
                pending: true,
                // The agreement's own expiry releases the hold first; the ledger's timeout is the backstop,
                // long enough for a defaulted agreement to be claimed.
                timeoutSeconds: MAX_TIMEOUT_SECONDS,
              },
            ],
            linked: true,
            audit: () => event,
          },
        ]);
        transfersOrThrow(results ?? [], walletAccountId, null);
      } else {
        await this.audit.record(event, manager);
      }
      await this.outbox.enqueue(manager, [{ merchantId: agreement.merchantId, type: EVENT_OF.CREATED, object: agreementJson(agreement) }]);
      return agreement;
    });
  }

  /** The merchant starts the service (the bike is unlocked). */
  async activate(principal: Principal, id: string): Promise<DepositAgreement> {
    return this.transition(principal, id, ['CREATED'], 'ACTIVE', nothingToPrepare, async () => ({
      commands: [],
      walletAccountId: null,
      columns: {},
      details: {},
    }));
  }

  /**
   * The service ended normally: the hold is released and the final charge (at most the policy's
   * maximum) goes from the wallet to the merchant, less the platform's fee, in one linked step. A wallet
   * that cannot pay refuses the completion (INSUFFICIENT_FUNDS): default and claim instead.
   */
  async complete(principal: Principal, id: string, finalCharge: bigint): Promise<DepositAgreement> {
    return this.transition(
      principal,
      id,
      ['ACTIVE'],
      'COMPLETED',
      async (agreement) => {
        const terms = await this.waivers.version(agreement.policyId, agreement.policyVersion);
        if (terms === undefined) throw new Error(`agreement ${agreement.id} refers to a missing policy version`);
        if (finalCharge > terms.maxFinalChargeMinor) {
          throw new WaiversError(
            ErrorKind.Unprocessable,
            WaiversErrorCode.ChargeTooLarge,
            `The final charge may be at most ${terms.maxFinalChargeMinor} under this policy.`,
          );
        }
        if (finalCharge === 0n) return null;
        const [wallet, merchant, feesAccount] = await Promise.all([
          this.accounts.ensure({ purpose: 'wallet', userId: agreement.userId }, agreement.currency),
          this.accounts.ensure({ purpose: 'available', merchantId: agreement.merchantId }, agreement.currency),
          this.accounts.ensure({ purpose: 'fees' }, agreement.currency),
        ]);
        return { wallet, merchant, feesAccount };
      },
      async (agreement, manager, accounts) => {
        const commands: LedgerCommand[] = [...this.release(agreement, 'release')];
        if (accounts !== null) {
          const fee = platformFee(finalCharge, await this.fees.basisPoints(agreement.merchantId, manager));
          const metadata = { agreementId: agreement.id };
          commands.push(this.move(agreement, 'charge', accounts.wallet, accounts.merchant, finalCharge, 'agreement_charge', metadata));
          if (fee > 0n)
            commands.push(this.move(agreement, 'charge-fee', accounts.merchant, accounts.feesAccount, fee, 'platform_fee', metadata));
        }
        return {
          commands,
          walletAccountId: accounts?.wallet ?? null,
          columns: { final_charge_minor: finalCharge.toString() },
          details: { finalChargeMinor: finalCharge.toString() },
        };
      },
    );
  }

  async cancel(principal: Principal, id: string): Promise<DepositAgreement> {
    return this.transition(principal, id, OPEN, 'CANCELLED', nothingToPrepare, async (agreement) => ({
      commands: this.release(agreement, 'release'),
      walletAccountId: null,
      columns: {},
      details: {},
    }));
  }

  /** The user did not return what they rented: the hold stays, for the claim. */
  async markDefaulted(principal: Principal, id: string): Promise<DepositAgreement> {
    return this.transition(principal, id, ['ACTIVE'], 'DEFAULTED', nothingToPrepare, async () => ({
      commands: [],
      walletAccountId: null,
      columns: {},
      details: {},
    }));
  }

  /**
   * Recovers `amount` (at most the deposit) of a defaulted agreement, in one linked step:
   * 1. the held part is captured: min(amount, held) of the hold is posted to escrow (the rest released)
   *    and paid from escrow to the merchant;
   * 2. the rest (at most the waived part) is charged to the wallet as far as it can pay;
   * 3. what the wallet cannot cover is paid to the merchant from the platform's credit guarantee and
   *    recorded as the user's debt (receivable), which lowers their score and is repaid by top-ups.
   */
  async claim(principal: Principal, id: string, amount: bigint): Promise<DepositAgreement> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.transition(
          principal,
          id,
          ['DEFAULTED'],
          'RECOVERED',
          (agreement) => this.claimAccounts(agreement, amount),
          (agreement, manager, accounts) => this.claimChange(agreement, amount, manager, accounts),
        );
      } catch (error) {
        // The wallet's balance moved between our reading it and the ledger's lock: read it again.
        const retry = error instanceof LedgerError && error.ledgerCode === LedgerErrorCode.ExceedsCredits && attempt < CLAIM_ATTEMPTS;
        if (!retry) throw error;
      }
    }
  }

  /** The claim's accounts, opened on first use (before the transaction). */
  private async claimAccounts(agreement: DepositAgreement, amount: bigint): Promise<ClaimAccounts> {
    if (amount > agreement.depositMinor) {
      throw new WaiversError(
        ErrorKind.Unprocessable,
        WaiversErrorCode.ClaimTooLarge,
        `A claim may recover at most the deposit, ${agreement.depositMinor} minor units.`,
      );
    }
    const currency = agreement.currency;
    const [wallet, merchant, escrow, guarantee, receivable] = await Promise.all([
      this.accounts.ensure({ purpose: 'wallet', userId: agreement.userId }, currency),
      this.accounts.ensure({ purpose: 'available', merchantId: agreement.merchantId }, currency),
      this.accounts.ensure({ purpose: 'deposit-escrow' }, currency),
      this.accounts.ensure({ purpose: 'credit-guarantee' }, currency),
      this.accounts.ensure({ purpose: 'receivable', userId: agreement.userId }, currency),
    ]);
    return { wallet, merchant, escrow, guarantee, receivable };
  }

  private async claimChange(agreement: DepositAgreement, amount: bigint, manager: EntityManager, accounts: ClaimAccounts): Promise<Change> {
    const { wallet, merchant, escrow, guarantee, receivable } = accounts;
    const metadata = { agreementId: agreement.id };
    const commands: LedgerCommand[] = [];
    // The hold may have lapsed (the ledger's backstop timeout): then nothing is held any more.
    const hold = agreement.holdTransferId === null ? null : await this.ledger.findTransfer(agreement.holdTransferId, manager);
    const held = hold !== null && hold.status === 'pending' ? agreement.heldMinor : 0n;
    const captured = amount < held ? amount : held;
    if (hold !== null && held > 0n) {
      commands.push({
        type: 'resolve',
        id: agreementTransferId(agreement.id, 'capture'),
        pendingId: hold.id,
        action: 'post',
        amount: captured,
        code: 'deposit_capture',
        metadata,
      });
      commands.push(this.move(agreement, 'claim-escrow', escrow, merchant, captured, 'deposit_claim', metadata));
    }
    const rest = amount - captured;
    let fromWallet = 0n;
    if (rest > 0n) {
      const account = await this.ledger.findAccount(wallet, manager);
      const available = account === null ? 0n : account.creditsPosted - account.debitsPosted - account.debitsPending;
      // The capture releases the part of the hold it does not take.
      const afterCapture = available + (held - captured);
      fromWallet = afterCapture <= 0n ? 0n : afterCapture < rest ? afterCapture : rest;
    }
    const debt = rest - fromWallet;
    if (fromWallet > 0n)
      commands.push(this.move(agreement, 'claim-wallet', wallet, merchant, fromWallet, 'deposit_claim_wallet', metadata));
    if (debt > 0n) {
      commands.push(this.move(agreement, 'guarantee', guarantee, merchant, debt, 'credit_guarantee_payout', metadata));
      commands.push(this.move(agreement, 'debt', receivable, guarantee, debt, 'user_debt', metadata));
    }
    return {
      commands,
      // Not translated into INSUFFICIENT_FUNDS: a wallet that moved meanwhile is read again (claim()).
      walletAccountId: null,
      columns: { claimed_minor: amount.toString(), debt_minor: debt.toString() },
      details: {
        claimedMinor: amount.toString(),
        capturedMinor: captured.toString(),
        fromWalletMinor: fromWallet.toString(),
        debtMinor: debt.toString(),
      },
    };
  }

  /**
   * Expires open agreements past their lifetime, releasing their holds; several instances may run it
   * at once (rows taken with SKIP LOCKED). Returns how many expired.
   */
  async expireDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await this.dataSource.transaction(async (manager) => {
        const rows = (await manager.query(
          `SELECT * FROM deposit_agreements WHERE status = ANY($1) AND expires_at <= $2 ORDER BY expires_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
          [OPEN, this.clock.now(), EXPIRY_BATCH],
        )) as AgreementRow[];
        const agreements = rows.map(toAgreement);
        const groups = [];
        for (const agreement of agreements) {
          const hold = agreement.holdTransferId === null ? null : await this.ledger.findTransfer(agreement.holdTransferId, manager);
          const commands = hold !== null && hold.status === 'pending' ? this.release(agreement, 'expire-release') : [];
          if (commands.length > 0) {
            groups.push({
              commands,
              linked: true,
              audit: () =>
                auditOf(null, 'deposit_agreement.expired', 'deposit_agreement', agreement.id, {
                  releasedMinor: agreement.heldMinor.toString(),
                }),
            });
          } else {
            await this.audit.record(auditOf(null, 'deposit_agreement.expired', 'deposit_agreement', agreement.id, {}), manager);
          }
        }
        const results = await this.ledger.submitGroupsWithin(manager, groups);
        for (const result of results) {
          const failure = groupFailure(result);
          if (failure !== undefined) throw failure;
        }
        const updated: DepositAgreement[] = [];
        for (const agreement of agreements) updated.push(await this.update(manager, agreement, 'EXPIRED', {}));
        await this.outbox.enqueue(
          manager,
          updated.map((agreement) => ({ merchantId: agreement.merchantId, type: EVENT_OF.EXPIRED, object: agreementJson(agreement) })),
        );
        return agreements.length;
      });
      total += count;
      if (count < EXPIRY_BATCH) return total;
    }
  }

  /** An agreement the caller may see: the user's own (through its merchant's mini-program), or the merchant's. */
  async get(principal: Principal, id: string): Promise<DepositAgreement> {
    const rows: AgreementRow[] = await this.dataSource.query('SELECT * FROM deposit_agreements WHERE id = $1', [id]);
    const row = rows[0];
    const visible =
      row !== undefined && row.merchant_id === principal.merchantId && (principal.userId === null || row.user_id === principal.userId);
    if (!visible) throw notFound();
    return toAgreement(row);
  }

  /**
   * The merchant's agreements, or the user's own with this merchant (a mini-program sees only its
   * merchant's, as `get` does); newest first.
   */
  async list(principal: Principal, limit: number, cursor?: string): Promise<Page<DepositAgreement>> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const parameters: unknown[] = principal.userId === null ? [merchantOf(principal)] : [merchantOf(principal), principal.userId];
    const owner = principal.userId === null ? 'merchant_id = $1' : 'merchant_id = $1 AND user_id = $2';
    let keyset = '';
    if (after !== undefined) {
      const at = new Date(after.key);
      if (Number.isNaN(at.getTime()) || !isLowerCaseUuid(after.id))
        throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
      parameters.push(at, after.id);
      keyset = `AND (created_at, id) < ($${parameters.length - 1}, $${parameters.length}::uuid)`;
    }
    parameters.push(limit + 1);
    const rows: AgreementRow[] = await this.dataSource.query(
      `SELECT * FROM deposit_agreements WHERE ${owner} ${keyset} ORDER BY created_at DESC, id DESC LIMIT $${parameters.length}`,
      parameters,
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), toAgreement);
  }

  /**
   * One merchant action on one agreement: lock it (the merchant's own only), check the state, apply the
   * change's ledger commands as one linked group, update the row, write the audit and webhook events, all
   * in one transaction.
   */
  private async transition<Prepared>(
    principal: Principal,
    id: string,
    from: readonly AgreementStatus[],
    to: AgreementStatus,
    prepare: (agreement: DepositAgreement) => Promise<Prepared>,
    change: (agreement: DepositAgreement, manager: EntityManager, prepared: Prepared) => Promise<Change>,
  ): Promise<DepositAgreement> {
    const merchantId = merchantOf(principal);
    const invalid = (agreement: DepositAgreement): WaiversError =>
      new WaiversError(ErrorKind.Conflict, WaiversErrorCode.InvalidTransition, `A ${agreement.status} agreement cannot become ${to}.`, {
        extensions: { status: agreement.status },
      });
    // What needs no lock (accounts opened on first use, the policy's terms) is done before the
    // transaction: inside it only its own connection may be used (the embedded database has one).
    const [seen] = (await this.dataSource.query('SELECT * FROM deposit_agreements WHERE id = $1 AND merchant_id = $2', [
      id,
      merchantId,
    ])) as AgreementRow[];
    if (seen === undefined) throw notFound();
    if (!from.includes(seen.status)) throw invalid(toAgreement(seen));
    const prepared = await prepare(toAgreement(seen));
    return this.dataSource.transaction(async (manager) => {
      const rows = (await manager.query('SELECT * FROM deposit_agreements WHERE id = $1 AND merchant_id = $2 FOR UPDATE', [
        id,
        merchantId,
      ])) as AgreementRow[];
      const row = rows[0];
      if (row === undefined) throw notFound();
      const agreement = toAgreement(row);
      if (!from.includes(agreement.status)) throw invalid(agreement);
      const { commands, walletAccountId, columns, details } = await change(agreement, manager, prepared);
      const event = auditOf(principal, EVENT_OF[to], 'deposit_agreement', agreement.id, details);
      if (commands.length > 0) {
        const [results] = await this.ledger.submitGroupsWithin(manager, [{ commands, linked: true, audit: () => event }]);
        transfersOrThrow(results ?? [], walletAccountId, null);
      } else {
        await this.audit.record(event, manager);
      }
      const updated = await this.update(manager, agreement, to, columns);
      await this.outbox.enqueue(manager, [{ merchantId: updated.merchantId, type: EVENT_OF[to], object: agreementJson(updated) }]);
      return updated;
    });
  }

  private async update(
    manager: EntityManager,
    agreement: DepositAgreement,
    status: AgreementStatus,
    columns: Change['columns'],
  ): Promise<DepositAgreement> {
    const [rows] = (await manager.query(
      `UPDATE deposit_agreements SET status = $2, final_charge_minor = coalesce($3, final_charge_minor),
         claimed_minor = coalesce($4, claimed_minor), debt_minor = coalesce($5, debt_minor), updated_at = $6
       WHERE id = $1 AND status = $7 RETURNING *`,
      [
        agreement.id,
        status,
        columns.final_charge_minor ?? null,
        columns.claimed_minor ?? null,
        columns.debt_minor ?? null,
        this.clock.now(),
        agreement.status,
      ],
    )) as [AgreementRow[], number];
    const row = rows[0];
    // The row was locked and seen in this status: the update must apply.
    if (row === undefined) throw new Error(`deposit agreement ${agreement.id} changed under its lock`);
    return toAgreement(row);
  }

  /** Voids the hold, if there is one. */
  private release(agreement: DepositAgreement, step: 'release' | 'expire-release'): LedgerCommand[] {
    if (agreement.holdTransferId === null) return [];
    return [
      {
        type: 'resolve',
        id: agreementTransferId(agreement.id, step),
        pendingId: agreement.holdTransferId,
        action: 'void',
        code: 'deposit_release',
        metadata: { agreementId: agreement.id },
      },
    ];
  }

  private move(
    agreement: DepositAgreement,
    step: Step,
    debitAccountId: string,
    creditAccountId: string,
    amount: bigint,
    code: string,
    metadata: Record<string, unknown>,
  ): LedgerCommand {
    return {
      type: 'transfer',
      id: agreementTransferId(agreement.id, step),
      debitAccountId,
      creditAccountId,
      amount,
      currency: agreement.currency,
      code,
      metadata,
    };
  }
}
