import { Injectable } from '@nestjs/common';
import { newId } from '../common/ids.js';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import type { Page } from '../common/pagination/cursor.js';
import { toPage } from '../common/pagination/cursor.js';
import { merchantOf, type Principal } from '../common/principal.js';
import { LedgerService } from '../ledger/ledger.service.js';
import type { LedgerCommand } from '../ledger/ledger.types.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { feeReturnedByRefund } from './fees.js';
import { auditOf, transfersOrThrow } from './ledger-outcome.js';
import { PaymentAccounts } from './payment-accounts.js';
import { intentFromRow, type IntentRow } from './payment-intent.js';
import { PaymentIntentsService, position } from './payment-intents.service.js';
import { PaymentsError, PaymentsErrorCode } from './payments.errors.js';

export interface Refund {
  readonly id: string;
  readonly paymentIntentId: string;
  readonly merchantId: string;
  readonly amount: bigint;
  readonly feeReturned: bigint;
  readonly currency: string;
  readonly reason: string | null;
  readonly status: 'succeeded';
  readonly createdAt: Date;
}

interface RefundRow {
  id: string;
  payment_intent_id: string;
  merchant_id: string;
  amount: string;
  fee_returned: string;
  currency: string;
  reason: string | null;
  status: 'succeeded';
  created_at: Date;
}

function refundFromRow(row: RefundRow): Refund {
  return {
    id: row.id,
    paymentIntentId: row.payment_intent_id,
    merchantId: row.merchant_id,
    amount: BigInt(row.amount),
    feeReturned: BigInt(row.fee_returned),
    currency: row.currency.trim(),
    reason: row.reason,
    status: row.status,
    createdAt: row.created_at,
  };
}

export function refundJson(refund: Refund) {
  return {
    id: refund.id,
    object: 'refund' as const,
    paymentIntentId: refund.paymentIntentId,
    amountMinor: refund.amount.toString(),
    feeReturnedMinor: refund.feeReturned.toString(),
    currency: refund.currency,
    reason: refund.reason,
    status: refund.status,
    createdAt: refund.createdAt.toISOString(),
  };
}

/**
 * Refunds: up to what an intent captured less what was refunded already, back to the payer's wallet.
 * The merchant pays the refund less the fee returned; the platform's fee account pays the fee
 * returned (see fees.ts for the rule). The intent row is locked, so concurrent refunds of one intent
 * queue and can never together exceed the captured amount.
 */
@Injectable()
export class RefundsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly ledger: LedgerService,
    private readonly accounts: PaymentAccounts,
    private readonly intents: PaymentIntentsService,
    private readonly outbox: WebhookOutbox,
    private readonly clock: Clock,
  ) {}

  async create(principal: Principal, input: { paymentIntentId: string; amount?: bigint; reason?: string | null }): Promise<Refund> {
    return this.dataSource.transaction(async (manager) => {
      const intent = await this.intents.lockForMerchant(manager, principal, input.paymentIntentId);
      if (intent.status !== 'succeeded' || intent.payerUserId === null) {
        throw new PaymentsError(
          PaymentsErrorCode.PaymentIntentUnexpectedState,
          `The payment intent is ${intent.status}; only a succeeded one can be refunded.`,
          { extensions: { intentStatus: intent.status } },
        );
      }
      const refundable = intent.amountCaptured - intent.amountRefunded;
      const amount = input.amount ?? refundable;
      if (amount > refundable || amount <= 0n) {
        throw new PaymentsError(PaymentsErrorCode.RefundExceedsCaptured, `At most ${refundable} of this payment can still be refunded.`, {
          extensions: { amountRefundableMinor: refundable.toString() },
        });
      }
      const feeReturned = feeReturnedByRefund({
        capturedMinor: intent.amountCaptured,
        feeMinor: intent.feeAmount,
        refundedBeforeMinor: intent.amountRefunded,
        feeReturnedBeforeMinor: intent.feeRefunded,
        refundMinor: amount,
      });
      const [walletAccountId, merchantAccountId, feesAccountId] = await Promise.all([
        this.accounts.ensure({ purpose: 'wallet', userId: intent.payerUserId }, intent.currency),
        this.accounts.ensure({ purpose: 'available', merchantId: intent.merchantId }, intent.currency),
        this.accounts.ensure({ purpose: 'fees' }, intent.currency),
      ]);
      const id = newId();
      const metadata = { paymentIntentId: intent.id, refundId: id };
      const commands: LedgerCommand[] = [];
      const merchantPart = amount - feeReturned;
      const merchantTransferId = merchantPart > 0n ? newId() : null;
      const feeTransferId = feeReturned > 0n ? newId() : null;
      if (merchantTransferId !== null) {
        commands.push({
          type: 'transfer',
          id: merchantTransferId,
          debitAccountId: merchantAccountId,
          creditAccountId: walletAccountId,
          amount: merchantPart,
          currency: intent.currency,
          code: 'refund',
          metadata,
        });
      }
      if (feeTransferId !== null) {
        commands.push({
          type: 'transfer',
          id: feeTransferId,
          debitAccountId: feesAccountId,
          creditAccountId: walletAccountId,
          amount: feeReturned,
          currency: intent.currency,
          code: 'refund_fee',
          metadata,
        });
      }
      const [results] = await this.ledger.submitGroupsWithin(manager, [
        {
          commands,
          linked: true,
          audit: () =>
            auditOf(principal, 'refund.created', 'refund', id, {
              paymentIntentId: intent.id,
              amountMinor: amount.toString(),
              feeReturnedMinor: feeReturned.toString(),
              currency: intent.currency,
            }),
        },
      ]);
      transfersOrThrow(results ?? [], null, merchantAccountId);
      const now = this.clock.now();
      const [updated]: [IntentRow[], number] = await manager.query(
        `UPDATE payment_intents SET amount_refunded = amount_refunded + $2, fee_refunded = fee_refunded + $3, updated_at = $4
          WHERE id = $1 AND status = 'succeeded' RETURNING *`,
        [intent.id, amount.toString(), feeReturned.toString(), now],
      );
      if (updated.length !== 1 || updated[0] === undefined) throw new Error('refund: the locked intent did not update');
      intentFromRow(updated[0]);
      const rows: RefundRow[] = await manager.query(
        `INSERT INTO refunds (id, payment_intent_id, merchant_id, amount, fee_returned, currency, reason, status, merchant_transfer_id,
                              fee_transfer_id, created_by_client_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'succeeded', $8, $9, $10, $11) RETURNING *`,
        [
          id,
          intent.id,
          intent.merchantId,
          amount.toString(),
          feeReturned.toString(),
          intent.currency,
          input.reason ?? null,
          merchantTransferId,
          feeTransferId,
          principal.clientId,
          now,
        ],
      );
      const refund = refundFromRow(rows[0] as RefundRow);
      await this.outbox.enqueue(manager, [{ merchantId: refund.merchantId, type: 'refund.succeeded', object: refundJson(refund) }]);
      return refund;
    });
  }

  async get(principal: Principal, id: string): Promise<Refund> {
    const rows: RefundRow[] = await this.dataSource.query('SELECT * FROM refunds WHERE id = $1 AND merchant_id = $2', [
      id,
      merchantOf(principal),
    ]);
    if (rows[0] === undefined) throw new PaymentsError(PaymentsErrorCode.RefundNotFound, 'No refund with this id.');
    return refundFromRow(rows[0]);
  }

  async list(principal: Principal, limit: number, cursor?: string): Promise<Page<Refund>> {
    const after = cursor === undefined ? undefined : position(cursor);
    const rows: RefundRow[] = await this.dataSource.query(
      `SELECT * FROM refunds WHERE merchant_id = $1 ${after ? 'AND (created_at, id) < ($3, $4::uuid)' : ''}
        ORDER BY created_at DESC, id DESC LIMIT $2`,
      after ? [merchantOf(principal), limit + 1, after.at, after.id] : [merchantOf(principal), limit + 1],
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), refundFromRow);
  }
}
