import { Injectable } from '@nestjs/common';
import { newId } from '../common/ids.js';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { type Page, toPage } from '../common/pagination/cursor.js';
import { merchantOf, type Principal } from '../common/principal.js';
import { LedgerService } from '../ledger/ledger.service.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { auditOf, transfersOrThrow } from './ledger-outcome.js';
import { PaymentAccounts } from './payment-accounts.js';
import { position } from './payment-intents.service.js';
import { PaymentsError, PaymentsErrorCode } from './payments.errors.js';

export interface Payout {
  readonly id: string;
  readonly merchantId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly description: string | null;
  readonly status: 'paid';
  readonly transferId: string;
  readonly createdAt: Date;
}

interface PayoutRow {
  id: string;
  merchant_id: string;
  amount: string;
  currency: string;
  description: string | null;
  status: 'paid';
  transfer_id: string;
  created_at: Date;
}

function payoutFromRow(row: PayoutRow): Payout {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    amount: BigInt(row.amount),
    currency: row.currency.trim(),
    description: row.description,
    status: row.status,
    transferId: row.transfer_id,
    createdAt: row.created_at,
  };
}

export function payoutJson(payout: Payout) {
  return {
    id: payout.id,
    object: 'payout' as const,
    amountMinor: payout.amount.toString(),
    currency: payout.currency,
    description: payout.description,
    status: payout.status,
    createdAt: payout.createdAt.toISOString(),
  };
}

/**
 * Payouts: the merchant's available balance to the external payouts account (the bank rail, settled
 * at once in this sandbox). The ledger's flag on the merchant account refuses a payout beyond the
 * balance, pending debits counted, in the same locked step that would write it.
 */
@Injectable()
export class PayoutsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly ledger: LedgerService,
    private readonly accounts: PaymentAccounts,
    private readonly outbox: WebhookOutbox,
    private readonly clock: Clock,
  ) {}

  async create(principal: Principal, input: { amount: bigint; currency: string; description?: string | null }): Promise<Payout> {
    const merchantId = merchantOf(principal);
    const [merchantAccountId, payoutsAccountId] = await Promise.all([
      this.accounts.ensure({ purpose: 'available', merchantId }, input.currency),
      this.accounts.ensure({ purpose: 'payouts' }, input.currency),
    ]);
    const id = newId();
    const transferId = newId();
    return this.dataSource.transaction(async (manager) => {
      const [results] = await this.ledger.submitGroupsWithin(manager, [
        {
          commands: [
            {
              type: 'transfer',
              id: transferId,
              debitAccountId: merchantAccountId,
              creditAccountId: payoutsAccountId,
              amount: input.amount,
              currency: input.currency,
              code: 'payout',
              metadata: { payoutId: id },
            },
          ],
          audit: () =>
            auditOf(principal, 'payout.created', 'payout', id, { amountMinor: input.amount.toString(), currency: input.currency }),
        },
      ]);
      transfersOrThrow(results ?? [], null, merchantAccountId);
      const rows: PayoutRow[] = await manager.query(
        `INSERT INTO payouts (id, merchant_id, amount, currency, description, status, transfer_id, created_by_client_id, created_at)
         VALUES ($1, $2, $3, $4, $5, 'paid', $6, $7, $8) RETURNING *`,
        [
          id,
          merchantId,
          input.amount.toString(),
          input.currency,
          input.description ?? null,
          transferId,
          principal.clientId,
          this.clock.now(),
        ],
      );
      const payout = payoutFromRow(rows[0] as PayoutRow);
      await this.outbox.enqueue(manager, [{ merchantId, type: 'payout.paid', object: payoutJson(payout) }]);
      return payout;
    });
  }

  async get(principal: Principal, id: string): Promise<Payout> {
    const rows: PayoutRow[] = await this.dataSource.query('SELECT * FROM payouts WHERE id = $1 AND merchant_id = $2', [
      id,
      merchantOf(principal),
    ]);
    if (rows[0] === undefined) throw new PaymentsError(PaymentsErrorCode.PayoutNotFound, 'No payout with this id.');
    return payoutFromRow(rows[0]);
  }

  async list(principal: Principal, limit: number, cursor?: string): Promise<Page<Payout>> {
    const after = cursor === undefined ? undefined : position(cursor);
    const rows: PayoutRow[] = await this.dataSource.query(
      `SELECT * FROM payouts WHERE merchant_id = $1 ${after ? 'AND (created_at, id) < ($3, $4::uuid)' : ''}
        ORDER BY created_at DESC, id DESC LIMIT $2`,
      after ? [merchantOf(principal), limit + 1, after.at, after.id] : [merchantOf(principal), limit + 1],
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), payoutFromRow);
  }
}
