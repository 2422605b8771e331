import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { isLowerCaseUuid, newId } from '../common/ids.js';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { GroupCommitter, type Settled } from '../common/group-commit.js';
import { transactionOpenedWith, uuidArrayLiteral } from '../common/opened-transaction.js';
import type { StatementPart } from '../common/statement-parts.js';
import { IdempotencyKeyTaken, IdempotencyService, type TransactionalKey } from '../common/idempotency/idempotency.service.js';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import { merchantOf, type Principal, userOf } from '../common/principal.js';
import { AppConfig } from '../config/app-config.js';
import { defaultResolutionId, LedgerService } from '../ledger/ledger.service.js';
import type { CommandResult, LedgerCommand } from '../ledger/ledger.types.js';
import type { OutboxEvent } from '../webhooks/webhook-events.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { platformFee } from './fees.js';
import { auditOf, groupFailure, paymentsErrorOf, transfersOrThrow } from './ledger-outcome.js';
import { MerchantFees } from './merchant-fees.js';
import { PaymentAccounts } from './payment-accounts.js';
import { type CaptureMethod, intentFromRow, intentJson, type IntentRow, intentTransferId, type PaymentIntent } from './payment-intent.js';
import { intentNotFound, PaymentsError, PaymentsErrorCode } from './payments.errors.js';

/** Confirmations one database transaction takes at most. */
const CONFIRM_BATCH_LIMIT = 500;
const BATCH_RETRIES = 3;
const EXPIRY_BATCH = 100;
/** Intents one coalesced read takes at most. */
const READ_BATCH = 500;

export interface NewPaymentIntent {
  readonly amount: bigint;
  readonly currency: string;
  readonly captureMethod: CaptureMethod;
  readonly description?: string | null;
  readonly merchantReference?: string | null;
  readonly userId?: string | null;
}

interface Confirmation {
  /** The intent as the request read it (unlocked): what a confirmation from remembered accounts checks against. */
  readonly seen: PaymentIntent;
  readonly principal: Principal;
  readonly walletAccountId: string;
  readonly merchantAccountId: string;
  readonly feesAccountId: string;
  /** The request's Idempotency-Key, claimed and completed in the confirmation's own transaction. */
  readonly key: TransactionalKey | undefined;
  /** The audit event's origin, captured in the request. */
  readonly audit: (intent: PaymentIntent, failure?: string) => ReturnType<typeof auditOf>;
}

interface PlannedConfirmation {
  readonly index: number;
  readonly intent: PaymentIntent;
  readonly group: { commands: LedgerCommand[]; linked: true; audit: (results: readonly CommandResult[]) => ReturnType<typeof auditOf> };
}

interface ConfirmationPlan {
  /** One a confirmation: its answer if it is already known (refused before the ledger), else undefined. */
  readonly settled: (Settled<PaymentIntent> | undefined)[];
  readonly planned: PlannedConfirmation[];
}

/** Every confirmation's answer: one left without one (a defect) is a failure, not a gap. */
function answered(settled: readonly (Settled<PaymentIntent> | undefined)[]): Settled<PaymentIntent>[] {
  return settled.map((entry) => entry ?? { ok: false as const, error: new Error('a confirmation was left without an answer') });
}

/** The responses the succeeded confirmations' Idempotency-Keys keep (the route's JSON). */
function keptResponses(
  items: readonly Confirmation[],
  answers: readonly Settled<PaymentIntent>[],
): { key: TransactionalKey; body: unknown }[] {
  return items.flatMap((item, index) => {
    const answer = answers[index];
    return item.key !== undefined && answer?.ok === true ? [{ key: item.key, body: intentJson(answer.value) }] : [];
  });
}

/** The event a change of an intent's status announces to the merchant's webhooks. */
function intentEvent(intent: PaymentIntent): OutboxEvent {
  const type = (
    {
      requires_capture: 'payment_intent.amount_capturable_updated',
      succeeded: 'payment_intent.succeeded',
      canceled: 'payment_intent.canceled',
      expired: 'payment_intent.expired',
    } as const
  )[intent.status as 'requires_capture' | 'succeeded' | 'canceled' | 'expired'];
  if (type === undefined) throw new Error(`no event for a payment intent in ${intent.status}`);
  return { merchantId: intent.merchantId, type, object: intentJson(intent) };
}

/** Whether `principal` (a merchant's client or a user of one of its mini-programs) may see the intent. */
function visibleTo(intent: PaymentIntent, principal: Principal): boolean {
  if (intent.merchantId !== principal.merchantId) return false;
  if (principal.userId === null) return true;
  const payer = intent.payerUserId ?? intent.userId;
  return payer === null || payer === principal.userId;
}

/**
 * Payment intents: created by a merchant, confirmed by a user (automatic capture moves the money at
 * once, manual capture holds it), captured in whole or part, cancelled, or expired. Each change of
 * status commits in one transaction with its ledger transfers, its audit event and its webhook event,
 * so status and books can never disagree. Confirmations are group-committed: concurrent confirms
 * share one transaction (intents locked by id, then the ledger's locks), the hot merchant account is
 * locked once per batch instead of once per payment.
 */
@Injectable()
export class PaymentIntentsService implements OnApplicationShutdown {
  private readonly logger = new Logger(PaymentIntentsService.name);
  private readonly confirmations: GroupCommitter<Confirmation, PaymentIntent>;
  /** Intents read in the same turn join the turn's read round (not a cache: see ReadRound). */
  private readonly intentReads: RoundReader<IntentRow>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly ledger: LedgerService,
    private readonly accounts: PaymentAccounts,
    private readonly fees: MerchantFees,
    private readonly outbox: WebhookOutbox,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly keys: IdempotencyService,
    reads: ReadRound,
  ) {
    this.intentReads = reads.reader({
      sql: (ids) => `SELECT * FROM payment_intents WHERE id = ANY(${ids})`,
      answer: (rows: IntentRow[]) => new Map(rows.map((row) => [row.id, row])),
      maxKeys: READ_BATCH,
    });
    this.confirmations = new GroupCommitter((items) => this.writeConfirmations(items), { maxWeight: CONFIRM_BATCH_LIMIT });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.confirmations.stop();
  }

  async create(principal: Principal, input: NewPaymentIntent): Promise<PaymentIntent> {
    const merchantId = merchantOf(principal);
    const now = this.clock.now();
    return this.dataSource.transaction(async (manager) => {
      const feeBasisPoints = await this.fees.basisPoints(merchantId, manager);
      const rows: IntentRow[] = await manager.query(
        `INSERT INTO payment_intents (id, merchant_id, user_id, amount, currency, capture_method, status, description, merchant_reference,
                                      fee_basis_points, created_by_client_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'requires_confirmation', $7, $8, $9, $10, $11, $11) RETURNING *`,
        [
          newId(),
          merchantId,
          input.userId ?? null,
          input.amount.toString(),
          input.currency,
          input.captureMethod,
          input.description ?? null,
          input.merchantReference ?? null,
          feeBasisPoints,
          principal.clientId,
          now,
        ],
      );
      const intent = intentFromRow(this.one(rows));
      await this.audit.record(
        auditOf(principal, 'payment_intent.created', 'payment_intent', intent.id, {
          amountMinor: intent.amount.toString(),
          currency: intent.currency,
          captureMethod: intent.captureMethod,
        }),
        manager,
      );
      return intent;
    });
  }

  /** The intent if `principal` may see it; another merchant's (or another user's) is simply not found. */
  async get(principal: Principal, id: string): Promise<PaymentIntent> {
    if (!isLowerCaseUuid(id)) throw intentNotFound();
    const row = await this.intentReads.load(id);
    const intent = row ? intentFromRow(row) : undefined;
    if (intent === undefined || !visibleTo(intent, principal)) throw intentNotFound();
    return intent;
  }

  async list(merchantId: string, limit: number, cursor?: string): Promise<Page<PaymentIntent>> {
    const after = cursor === undefined ? undefined : position(cursor);
    const rows: IntentRow[] = await this.dataSource.query(
      `SELECT * FROM payment_intents WHERE merchant_id = $1 ${after ? 'AND (created_at, id) < ($3, $4::uuid)' : ''}
        ORDER BY created_at DESC, id DESC LIMIT $2`,
      after ? [merchantId, limit + 1, after.at, after.id] : [merchantId, limit + 1],
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), intentFromRow);
  }

  /**
   * A user confirms (pays) an intent through a mini-program of the intent's merchant. Automatic
   * capture: the wallet pays the merchant and the merchant the fee, linked. Manual: a pending transfer
   * holds the amount in the wallet until capture, cancel or expiry. `key`, when given, is claimed and
   * its response stored in the transaction that confirms, and marked completed once that commits.
   */
  async confirm(principal: Principal, id: string, key?: TransactionalKey): Promise<PaymentIntent> {
    const userId = userOf(principal);
    const intent = await this.get(principal, id);
    const [walletAccountId, merchantAccountId, feesAccountId] = await Promise.all([
      this.accounts.ensure({ purpose: 'wallet', userId }, intent.currency),
      this.accounts.ensure({ purpose: 'available', merchantId: intent.merchantId }, intent.currency),
      this.accounts.ensure({ purpose: 'fees' }, intent.currency),
    ]);
    const origin = auditOf(principal, 'payment_intent.confirmed', 'payment_intent', id, {});
    return this.confirmations.submit({
      seen: intent,
      principal,
      walletAccountId,
      merchantAccountId,
      feesAccountId,
      key,
      audit: (confirmed, failure) => ({
        ...origin,
        outcome: failure === undefined ? 'success' : 'failure',
        problemCode: failure ?? null,
        details: {
          amountMinor: confirmed.amount.toString(),
          currency: confirmed.currency,
          captureMethod: confirmed.captureMethod,
          status: confirmed.status,
        },
      }),
    });
  }

  /**
   * A whole batch of confirmations in one transaction. If it fails as a whole it is tried again, then
   * each confirmation alone, so that one bad item cannot fail the others. An item whose
   * Idempotency-Key another request turned out to hold is answered IdempotencyKeyTaken and the batch
   * is done again without it (its change was made, so that transaction was rolled back).
   */
  private async writeConfirmations(items: Confirmation[]): Promise<Settled<PaymentIntent>[]> {
    const answers = new Map<Confirmation, Settled<PaymentIntent>>();
    // The same key twice in one batch: the first one runs, the others are answered as duplicates.
    const seen = new Set<string>();
    for (const item of items) {
      if (item.key === undefined) continue;
      const id = JSON.stringify([item.key.clientId, item.key.key]);
      if (seen.has(id)) answers.set(item, { ok: false, error: new IdempotencyKeyTaken() });
      seen.add(id);
    }
    const inOrder = () =>
      items.map((item) => answers.get(item) ?? { ok: false as const, error: new Error('a confirmation was left unanswered') });
    let pending = items.filter((item) => !answers.has(item));
    for (let attempt = 1; attempt <= BATCH_RETRIES && pending.length > 0; attempt += 1) {
      try {
        const settled = await this.confirmTransaction(pending);
        pending.forEach((item, index) => answers.set(item, settled[index] ?? { ok: false, error: new Error('no answer') }));
        return inOrder();
      } catch (error) {
        if (error instanceof KeysTaken) {
          for (const item of pending)
            if (item.key !== undefined && error.keys.has(item.key)) answers.set(item, { ok: false, error: new IdempotencyKeyTaken() });
          pending = pending.filter((item) => !answers.has(item));
          attempt -= 1; // not a failure: each time at least one item leaves the batch
          continue;
        }
        this.logger.warn({ err: error, attempt, confirmations: pending.length }, 'confirmation batch failed');
        if (pending.length === 1 && attempt === BATCH_RETRIES) {
          answers.set(pending[0] as Confirmation, { ok: false, error });
          return inOrder();
        }
      }
    }
    for (const item of pending) {
      try {
        const [settled] = await this.confirmTransaction([item]);
        answers.set(item, settled ?? { ok: false, error: new Error('no answer') });
      } catch (error) {
        answers.set(item, { ok: false, error: error instanceof KeysTaken ? new IdempotencyKeyTaken() : error });
      }
    }
    return inOrder();
  }

  /**
   * The confirmations in as few round trips as the work allows. First, in one statement and one
   * commit, from the intents as their requests read them and the accounts as the ledger remembers
   * them (`confirmFromRemembered`); if that cannot be done, in one locking transaction: the first
   * round trip carries BEGIN, the intents' locks (by id), the ledger's account locks and its read of
   * the transfer ids the confirmations could write (their ids derive from the intents'); the next, the
   * ledger's write with the batch's audit events, the intents' new status and the webhook events; then
   * the keys with their responses, and COMMIT. Intents are locked before accounts, as capture and
   * cancel do. Once committed, each succeeded item's key is marked completed.
   */
  private async confirmTransaction(items: readonly Confirmation[]): Promise<Settled<PaymentIntent>[]> {
    const settled = (await this.confirmFromRemembered(items)) ?? (await this.confirmLocked(items));
    for (const [index, item] of items.entries()) if (settled[index]?.ok === true && item.key !== undefined) item.key.completed = true;
    return settled;
  }

  private async confirmLocked(items: readonly Confirmation[]): Promise<Settled<PaymentIntent>[]> {
    const ids = [...new Set(items.map((item) => item.seen.id))].sort();
    const locks = this.ledger.lockingStatements({
      accountIds: items.flatMap((item) => [item.walletAccountId, item.merchantAccountId, item.feesAccountId]),
      transferIds: ids.flatMap((id) => (['charge', 'fee', 'authorization'] as const).map((purpose) => intentTransferId(id, purpose))),
    });
    return transactionOpenedWith(
      this.dataSource,
      [`SELECT * FROM payment_intents WHERE id = ANY(${uuidArrayLiteral(ids)}) ORDER BY id FOR UPDATE`, ...locks.statements],
      async (manager, [intentRows, ...ledgerRows]) => {
        const intents = new Map(((intentRows?.rows ?? []) as IntentRow[]).map((row) => [row.id, intentFromRow(row)]));
        const { settled, planned } = this.planConfirmations(items, intents);
        const now = this.clock.now();
        await this.ledger.submitGroupsLocked(
          manager,
          locks.read(ledgerRows),
          planned.map((plan) => plan.group),
          (results) => this.confirmedIntents(items, planned, results, settled, now, { checkUpdatedAt: false }),
        );
        const answers = answered(settled);
        // Each succeeded item's key keeps its response (the route's JSON) with the change.
        const taken = await this.keys.keepWithin(manager, keptResponses(items, answers));
        if (taken.length > 0) throw new KeysTaken(new Set(taken));
        return answers;
      },
    );
  }

  /**
   * The confirmations as one statement in a transaction of its own: the ledger's transfers from the
   * accounts it remembers, the audit events, the intents' new status (only where each is still as
   * its request read it: same status, same updated_at), the webhook events and the keys (only if all
   * are free). Undefined, with nothing written, unless every confirmation of the batch succeeds that
   * way; then the locking path does the batch and answers each one from locked rows.
   */
  private async confirmFromRemembered(items: readonly Confirmation[]): Promise<Settled<PaymentIntent>[] | undefined> {
    const { settled, planned } = this.planConfirmations(items, new Map(items.map((item) => [item.seen.id, item.seen])));
    if (planned.length !== items.length) return undefined;
    const now = this.clock.now();
    let answers: Settled<PaymentIntent>[] = [];
    const results = await this.ledger.submitGroupsFromRemembered(
      planned.map((plan) => plan.group),
      (ledgerResults) => {
        const intentsParts = this.confirmedIntents(items, planned, ledgerResults, settled, now, { checkUpdatedAt: true });
        answers = answered(settled);
        // Thrown inside the ledger's try: nothing is written, and the locking path answers each one.
        if (answers.some((answer) => !answer.ok)) throw new Error('confirmation: not every one succeeded');
        const kept = this.keys.keepPart(keptResponses(items, answers));
        return [...intentsParts, ...(kept === undefined ? [] : [kept.part])];
      },
    );
    return results === undefined ? undefined : answers;
  }

  /** What each confirmation would do to its intent (as given), or why it cannot be confirmed (in `settled`). */
  private planConfirmations(items: readonly Confirmation[], intents: ReadonlyMap<string, PaymentIntent>): ConfirmationPlan {
    const settled: (Settled<PaymentIntent> | undefined)[] = items.map(() => undefined);
    const claimed = new Set<string>();
    const planned: PlannedConfirmation[] = [];
    for (const [index, item] of items.entries()) {
      const intent = intents.get(item.seen.id);
      if (intent === undefined || !visibleTo(intent, item.principal)) {
        settled[index] = { ok: false, error: intentNotFound() };
        continue;
      }
      if (intent.status !== 'requires_confirmation' || claimed.has(intent.id)) {
        settled[index] = {
          ok: false,
          error: new PaymentsError(
            PaymentsErrorCode.PaymentIntentUnexpectedState,
            `The payment intent is ${claimed.has(intent.id) ? 'being confirmed' : intent.status}; only one in requires_confirmation can be confirmed.`,
            { extensions: { intentStatus: claimed.has(intent.id) ? 'requires_confirmation' : intent.status } },
          ),
        };
        continue;
      }
      claimed.add(intent.id);
      const commands: LedgerCommand[] = [];
      const metadata = { paymentIntentId: intent.id };
      if (intent.captureMethod === 'automatic') {
        commands.push({
          type: 'transfer',
          id: intentTransferId(intent.id, 'charge'),
          debitAccountId: item.walletAccountId,
          creditAccountId: item.merchantAccountId,
          amount: intent.amount,
          currency: intent.currency,
          code: 'payment',
          metadata,
        });
        const fee = platformFee(intent.amount, intent.feeBasisPoints);
        if (fee > 0n) {
          commands.push({
            type: 'transfer',
            id: intentTransferId(intent.id, 'fee'),
            debitAccountId: item.merchantAccountId,
            creditAccountId: item.feesAccountId,
            amount: fee,
            currency: intent.currency,
            code: 'payment_fee',
            metadata,
          });
        }
      } else {
        commands.push({
          type: 'transfer',
          id: intentTransferId(intent.id, 'authorization'),
          debitAccountId: item.walletAccountId,
          creditAccountId: item.merchantAccountId,
          amount: intent.amount,
          currency: intent.currency,
          code: 'payment_authorization',
          metadata,
          pending: true,
          timeoutSeconds: this.config.payments.authorizationTtlSeconds,
        });
      }
      planned.push({
        index,
        intent,
        group: {
          commands,
          linked: true,
          audit: (results) => {
            const failure = groupFailure(results);
            return item.audit(intent, failure === undefined ? undefined : paymentsErrorCode(failure, item));
          },
        },
      });
    }
    return { settled, planned };
  }

  /**
   * From the ledger's results: each planned confirmation's intent as it becomes (answered in
   * `settled`), or its failure (also in `settled`); returned, the statement parts that write them, the
   * intents' new status and their webhook events. The new state is computed here, not read back: it
   * is exactly what the UPDATE sets. With `checkUpdatedAt`, each intent is updated only if it is still
   * as its request read it (the intents were not locked).
   */
  private confirmedIntents(
    items: readonly Confirmation[],
    planned: readonly PlannedConfirmation[],
    results: readonly CommandResult[][],
    settled: (Settled<PaymentIntent> | undefined)[],
    now: Date,
    { checkUpdatedAt }: { checkUpdatedAt: boolean },
  ): StatementPart[] {
    const confirmed: { was: PaymentIntent; intent: PaymentIntent }[] = [];
    for (const [position, plan] of planned.entries()) {
      const item = items[plan.index] as Confirmation;
      try {
        const transfers = transfersOrThrow(results[position] ?? [], item.walletAccountId, item.merchantAccountId);
        const [first, fee] = transfers;
        if (first === undefined) throw new Error('a confirmation without a transfer');
        const manual = plan.intent.captureMethod === 'manual';
        const intent: PaymentIntent = {
          ...plan.intent,
          status: manual ? 'requires_capture' : 'succeeded',
          payerUserId: userOf(item.principal),
          amountCaptured: manual ? 0n : first.amount,
          feeAmount: fee?.amount ?? 0n,
          authorizationTransferId: manual ? first.id : null,
          // The ledger's own timeout is the one truth about when the hold ends.
          authorizationExpiresAt: manual ? first.timeoutAt : null,
          confirmedAt: now,
          completedAt: manual ? null : now,
          updatedAt: now,
        };
        confirmed.push({ was: plan.intent, intent });
        settled[plan.index] = { ok: true, value: intent };
      } catch (error) {
        settled[plan.index] = { ok: false, error };
      }
    }
    if (confirmed.length === 0) return [];
    const events = this.outbox.enqueuePart(confirmed.map(({ intent }) => intentEvent(intent)));
    const update: StatementPart = {
      ctes: [
        {
          name: 'payment_intents_confirmed',
          // Locked rows in requires_confirmation (the locking path), or rows still as their requests
          // read them (checkUpdatedAt; to the millisecond, as `pg` reads a timestamp): every one
          // must change, or the whole statement fails.
          sql: `UPDATE payment_intents p
                     SET status = x.status, payer_user_id = x.payer, amount_captured = x.captured, fee_amount = x.fee,
                         authorization_transfer_id = x.auth_id, authorization_expires_at = x.expires_at,
                         confirmed_at = $9, completed_at = x.completed_at, updated_at = $9
                    FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::bigint[], $6::uuid[], $7::timestamptz[], $8::timestamptz[], $10::timestamptz[])
                         AS x(id, status, payer, captured, fee, auth_id, expires_at, completed_at, was_updated_at)
                   WHERE p.id = x.id AND p.status = 'requires_confirmation' AND (x.was_updated_at IS NULL OR date_trunc('milliseconds', p.updated_at) = x.was_updated_at)
                  RETURNING 1`,
          rows: confirmed.length,
        },
      ],
      parameters: [
        confirmed.map(({ intent }) => intent.id),
        confirmed.map(({ intent }) => intent.status),
        confirmed.map(({ intent }) => intent.payerUserId),
        confirmed.map(({ intent }) => intent.amountCaptured.toString()),
        confirmed.map(({ intent }) => intent.feeAmount.toString()),
        confirmed.map(({ intent }) => intent.authorizationTransferId),
        confirmed.map(({ intent }) => intent.authorizationExpiresAt),
        confirmed.map(({ intent }) => intent.completedAt),
        now,
        confirmed.map(({ was }) => (checkUpdatedAt ? was.updatedAt : null)),
      ],
    };
    return events === undefined ? [update] : [update, events.part];
  }

  /**
   * The merchant captures an authorised intent: `amount` (default all) of the hold is posted, the rest
   * released, and the fee on the captured amount charged, in one linked step with the status change.
   */
  async capture(principal: Principal, id: string, amount?: bigint): Promise<PaymentIntent> {
    const outcome = await this.dataSource.transaction(async (manager) => {
      const intent = await this.lockForMerchant(manager, principal, id);
      if (intent.status === 'requires_capture' && this.authorizationLapsed(intent)) {
        return { expired: await this.expireWithin(manager, [intent], null).then((list) => list[0] as PaymentIntent) };
      }
      this.expectStatus(intent, 'requires_capture', 'captured');
      const captured = amount ?? intent.amount;
      if (captured > intent.amount) {
        throw new PaymentsError(PaymentsErrorCode.CaptureExceedsAuthorized, `At most ${intent.amount} can be captured.`, {
          extensions: { amountCapturableMinor: intent.amount.toString() },
        });
      }
      const merchantAccountId = await this.accounts.ensure({ purpose: 'available', merchantId: intent.merchantId }, intent.currency);
      const feesAccountId = await this.accounts.ensure({ purpose: 'fees' }, intent.currency);
      const fee = platformFee(captured, intent.feeBasisPoints);
      const metadata = { paymentIntentId: intent.id };
      const commands: LedgerCommand[] = [
        {
          type: 'resolve',
          id: intentTransferId(intent.id, 'capture'),
          pendingId: this.authorization(intent),
          action: 'post',
          amount: captured,
          code: 'payment_capture',
          metadata,
        },
      ];
      if (fee > 0n) {
        commands.push({
          type: 'transfer',
          id: intentTransferId(intent.id, 'capture-fee'),
          debitAccountId: merchantAccountId,
          creditAccountId: feesAccountId,
          amount: fee,
          currency: intent.currency,
          code: 'payment_fee',
          metadata,
        });
      }
      const [results] = await this.ledger.submitGroupsWithin(manager, [
        {
          commands,
          linked: true,
          audit: () =>
            auditOf(principal, 'payment_intent.captured', 'payment_intent', intent.id, {
              amountMinor: captured.toString(),
              releasedMinor: (intent.amount - captured).toString(),
              feeMinor: fee.toString(),
              currency: intent.currency,
            }),
        },
      ]);
      transfersOrThrow(results ?? [], null, merchantAccountId);
      const updated = await this.update(
        manager,
        intent,
        'requires_capture',
        `status = 'succeeded', amount_captured = $3, fee_amount = $4, completed_at = $5, updated_at = $5`,
        [captured.toString(), fee.toString(), this.clock.now()],
      );
      await this.outbox.enqueue(manager, [intentEvent(updated)]);
      return { captured: updated };
    });
    if ('expired' in outcome) throw expiredError();
    return outcome.captured;
  }

  /** The merchant cancels: before confirmation nothing moved; after an authorisation the hold is voided. */
  async cancel(principal: Principal, id: string): Promise<PaymentIntent> {
    const outcome = await this.dataSource.transaction(async (manager) => {
      const intent = await this.lockForMerchant(manager, principal, id);
      if (intent.status === 'requires_capture' && this.authorizationLapsed(intent)) {
        return { expired: await this.expireWithin(manager, [intent], null).then((list) => list[0] as PaymentIntent) };
      }
      if (intent.status !== 'requires_confirmation') this.expectStatus(intent, 'requires_capture', 'canceled');
      if (intent.status === 'requires_capture') {
        const [results] = await this.ledger.submitGroupsWithin(manager, [
          {
            commands: [
              {
                type: 'resolve',
                id: intentTransferId(intent.id, 'void'),
                pendingId: this.authorization(intent),
                action: 'void',
                code: 'payment_authorization_void',
                metadata: { paymentIntentId: intent.id },
              },
            ],
            linked: true,
          },
        ]);
        transfersOrThrow(results ?? [], null, null);
      }
      const updated = await this.update(manager, intent, intent.status, `status = 'canceled', completed_at = $3, updated_at = $3`, [
        this.clock.now(),
      ]);
      await this.audit.record(
        auditOf(principal, 'payment_intent.canceled', 'payment_intent', intent.id, { previousStatus: intent.status }),
        manager,
      );
      await this.outbox.enqueue(manager, [intentEvent(updated)]);
      return { canceled: updated };
    });
    if ('expired' in outcome) throw expiredError();
    return outcome.canceled;
  }

  /**
   * Expires every authorisation past its time: the hold is released by the ledger's expiry (the same
   * resolution id the ledger's own sweeper uses, so whichever runs first, the other finds it done) and
   * the intent becomes `expired`, in one transaction. Safe with several instances (SKIP LOCKED).
   */
  async expireDue(): Promise<number> {
    let expired = 0;
    for (;;) {
      const count = await this.dataSource.transaction(async (manager) => {
        const rows: IntentRow[] = await manager.query(
          `SELECT * FROM payment_intents WHERE status = 'requires_capture' AND authorization_expires_at <= $1
            ORDER BY id LIMIT ${EXPIRY_BATCH} FOR UPDATE SKIP LOCKED`,
          [this.clock.now()],
        );
        if (rows.length === 0) return 0;
        return (await this.expireWithin(manager, rows.map(intentFromRow), null)).length;
      });
      expired += count;
      if (count < EXPIRY_BATCH) return expired;
    }
  }

  private async expireWithin(manager: EntityManager, intents: readonly PaymentIntent[], actor: Principal | null): Promise<PaymentIntent[]> {
    const results = await this.ledger.submitGroupsWithin(
      manager,
      intents.map((intent) => {
        const pendingId = this.authorization(intent);
        return {
          commands: [{ type: 'resolve' as const, id: defaultResolutionId(pendingId, 'expire'), pendingId, action: 'expire' as const }],
          audit: () => auditOf(actor, 'payment_intent.expired', 'payment_intent', intent.id, { amountMinor: intent.amount.toString() }),
        };
      }),
    );
    const now = this.clock.now();
    const expired: PaymentIntent[] = [];
    for (const [index, intent] of intents.entries()) {
      transfersOrThrow(results[index] ?? [], null, null);
      expired.push(await this.update(manager, intent, 'requires_capture', `status = 'expired', completed_at = $3, updated_at = $3`, [now]));
    }
    await this.outbox.enqueue(manager, expired.map(intentEvent));
    return expired;
  }

  /** Locks an intent of the caller's merchant (another merchant's is not found). */
  async lockForMerchant(manager: EntityManager, principal: Principal, id: string): Promise<PaymentIntent> {
    const rows: IntentRow[] = await manager.query('SELECT * FROM payment_intents WHERE id = $1 AND merchant_id = $2 FOR UPDATE', [
      id,
      merchantOf(principal),
    ]);
    if (rows[0] === undefined) throw intentNotFound();
    return intentFromRow(rows[0]);
  }

  private authorizationLapsed(intent: PaymentIntent): boolean {
    return intent.authorizationExpiresAt !== null && intent.authorizationExpiresAt.getTime() <= this.clock.nowMs();
  }

  private authorization(intent: PaymentIntent): string {
    if (intent.authorizationTransferId === null) throw new Error(`payment intent ${intent.id} has no authorisation`);
    return intent.authorizationTransferId;
  }

  private expectStatus(intent: PaymentIntent, status: PaymentIntent['status'], verb: string): void {
    if (intent.status !== status) {
      throw new PaymentsError(
        PaymentsErrorCode.PaymentIntentUnexpectedState,
        `The payment intent is ${intent.status}; only one in ${status} can be ${verb}.`,
        { extensions: { intentStatus: intent.status } },
      );
    }
  }

  /** A conditional update of a locked intent: it must still be in `from`, or something is badly wrong. */
  private async update(
    manager: EntityManager,
    intent: PaymentIntent,
    from: string,
    set: string,
    values: unknown[],
  ): Promise<PaymentIntent> {
    const [rows]: [IntentRow[], number] = await manager.query(
      `UPDATE payment_intents SET ${set} WHERE id = $1 AND status = $2 RETURNING *`,
      [intent.id, from, ...values],
    );
    return intentFromRow(this.one(rows));
  }

  private one(rows: IntentRow[]): IntentRow {
    if (rows.length !== 1 || rows[0] === undefined) throw new Error(`payment intent: expected one row, got ${rows.length}`);
    return rows[0];
  }
}

/** Keys that other requests hold, found when keeping the responses: the transaction must be rolled back. */
class KeysTaken extends Error {
  constructor(readonly keys: ReadonlySet<TransactionalKey>) {
    super(`${keys.size} idempotency keys are held by other requests`);
  }
}

function paymentsErrorCode(failure: import('../ledger/ledger.errors.js').LedgerError, item: Confirmation): string {
  const error = paymentsErrorOf(failure, item.walletAccountId, item.merchantAccountId);
  return (error as { code?: string }).code ?? failure.code;
}

function expiredError(): PaymentsError {
  return new PaymentsError(PaymentsErrorCode.PaymentIntentExpired, 'The authorisation expired; the held money was released.');
}

export function position(cursor: string): { at: Date; id: string } {
  const { key, id } = decodeCursor(cursor);
  const at = new Date(key);
  if (Number.isNaN(at.getTime()) || !isLowerCaseUuid(id))
    throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
  return { at, id };
}
