import { Injectable } from '@nestjs/common';
import { newId } from '../common/ids.js';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { type Principal, userOf } from '../common/principal.js';
import { LedgerService } from '../ledger/ledger.service.js';
import type { LedgerCommand, Transfer } from '../ledger/ledger.types.js';
import { FundingRail } from './funding-rail.js';
import { auditOf, transfersOrThrow } from './ledger-outcome.js';
import { PaymentAccounts } from './payment-accounts.js';
import { PaymentsError, PaymentsErrorCode } from './payments.errors.js';

/** The most one top-up may bring in: RMB 1,000,000.00 in fen (a limit on everything). */
export const MAX_TOP_UP_MINOR = 100_000_000n;
const RECENT_ENTRIES = 20;

export interface TopUp {
  readonly id: string;
  readonly amount: bigint;
  readonly repaid: bigint;
  readonly currency: string;
  readonly railReference: string;
  readonly createdAt: Date;
}

export function topUpJson(topUp: TopUp) {
  return {
    id: topUp.id,
    object: 'top_up' as const,
    amountMinor: topUp.amount.toString(),
    repaidMinor: topUp.repaid.toString(),
    creditedMinor: (topUp.amount - topUp.repaid).toString(),
    currency: topUp.currency,
    railReference: topUp.railReference,
    status: 'succeeded' as const,
    createdAt: topUp.createdAt.toISOString(),
  };
}

/** A ledger line as the owner of `accountId` sees it. */
export function lineJson(transfer: Transfer, accountId: string) {
  const metadata = transfer.metadata ?? {};
  return {
    transferId: transfer.id,
    code: transfer.code,
    kind: transfer.kind,
    status: transfer.status,
    direction: transfer.debitAccountId === accountId ? ('debit' as const) : ('credit' as const),
    amountMinor: transfer.amount.toString(),
    currency: transfer.currency,
    paymentIntentId: typeof metadata.paymentIntentId === 'string' ? metadata.paymentIntentId : null,
    refundId: typeof metadata.refundId === 'string' ? metadata.refundId : null,
    payoutId: typeof metadata.payoutId === 'string' ? metadata.payoutId : null,
    createdAt: transfer.createdAt.toISOString(),
  };
}

/**
 * Users' wallets (one a currency, never negative) and receivables (what they owe the platform). Money
 * comes in through the funding rail; a top-up repays any receivable first, in the same linked step.
 */
@Injectable()
export class WalletService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly ledger: LedgerService,
    private readonly accounts: PaymentAccounts,
    private readonly rail: FundingRail,
    private readonly clock: Clock,
  ) {}

  async topUp(principal: Principal, amount: bigint, currency: string): Promise<TopUp> {
    if (amount > MAX_TOP_UP_MINOR)
      throw new PaymentsError(PaymentsErrorCode.AmountTooLarge, `One top-up brings in at most ${MAX_TOP_UP_MINOR} minor units.`);
    const userId = userOf(principal);
    const [walletAccountId, receivableAccountId, fundingAccountId] = await Promise.all([
      this.accounts.ensure({ purpose: 'wallet', userId }, currency),
      this.accounts.ensure({ purpose: 'receivable', userId }, currency),
      this.accounts.ensure({ purpose: 'funding' }, currency),
    ]);
    const id = newId();
    const settled = await this.rail.collect({ topUpId: id, userId, amountMinor: amount, currency });
    return this.dataSource.transaction(async (manager) => {
      // Read inside the transaction; the ledger locks the account when it writes, and its flag
      // (credits may not exceed debits) refuses a repayment beyond the debt if the debt shrank meanwhile.
      const receivable = await this.ledger.findAccount(receivableAccountId, manager);
      const owed = receivable === null ? 0n : receivable.debitsPosted - receivable.creditsPosted;
      const repaid = owed > 0n ? (owed < amount ? owed : amount) : 0n;
      const fundingTransferId = newId();
      const repaymentTransferId = repaid > 0n ? newId() : null;
      const metadata = { topUpId: id };
      const commands: LedgerCommand[] = [
        {
          type: 'transfer',
          id: fundingTransferId,
          debitAccountId: fundingAccountId,
          creditAccountId: walletAccountId,
          amount,
          currency,
          code: 'top_up',
          metadata,
        },
      ];
      if (repaymentTransferId !== null) {
        commands.push({
          type: 'transfer',
          id: repaymentTransferId,
          debitAccountId: walletAccountId,
          creditAccountId: receivableAccountId,
          amount: repaid,
          currency,
          code: 'receivable_repayment',
          metadata,
        });
      }
      const [results] = await this.ledger.submitGroupsWithin(manager, [
        {
          commands,
          linked: true,
          audit: () =>
            auditOf(principal, 'wallet.topped_up', 'top_up', id, {
              amountMinor: amount.toString(),
              repaidMinor: repaid.toString(),
              currency,
            }),
        },
      ]);
      transfersOrThrow(results ?? [], walletAccountId, null);
      const now = this.clock.now();
      await manager.query(
        `INSERT INTO wallet_top_ups (id, user_id, amount, currency, repaid_amount, rail_reference, funding_transfer_id, repayment_transfer_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [id, userId, amount.toString(), currency, repaid.toString(), settled.reference, fundingTransferId, repaymentTransferId, now],
      );
      return { id, amount, repaid, currency, railReference: settled.reference, createdAt: now };
    });
  }

  /**
   * Balances of every wallet of the user, what they owe, and the latest entries of each wallet. Seen
   * through a merchant's mini-program (`viewerMerchantId`), an entry of another merchant's payment or
   * refund keeps its amount (the balance is the user's) but not which intent or refund it was: one
   * merchant never learns another's identifiers.
   */
  async view(userId: string, viewerMerchantId: string | null) {
    const wallets = await this.accounts.ofOwner(userId, 'wallet');
    const receivables = new Map((await this.accounts.ofOwner(userId, 'receivable')).map((entry) => [entry.currency, entry.accountId]));
    const accounts = new Map(
      (await this.ledger.accounts([...wallets.map((w) => w.accountId), ...receivables.values()])).map((account) => [account.id, account]),
    );
    const recents = new Map<string, Transfer[]>();
    for (const wallet of wallets)
      recents.set(wallet.accountId, (await this.ledger.transfers({ accountId: wallet.accountId }, RECENT_ENTRIES)).data);
    const othersIntents =
      viewerMerchantId === null ? new Set<string>() : await this.intentsNotOf(viewerMerchantId, [...recents.values()].flat());
    const data = [];
    for (const wallet of wallets) {
      const account = accounts.get(wallet.accountId);
      if (account === undefined) throw new Error(`wallet account ${wallet.accountId} is missing from the ledger`);
      const receivableId = receivables.get(wallet.currency);
      const receivable = receivableId === undefined ? undefined : accounts.get(receivableId);
      data.push({
        currency: wallet.currency,
        balanceMinor: (account.creditsPosted - account.debitsPosted).toString(),
        heldMinor: account.debitsPending.toString(),
        availableMinor: (account.creditsPosted - account.debitsPosted - account.debitsPending).toString(),
        owedMinor: (receivable === undefined ? 0n : receivable.debitsPosted - receivable.creditsPosted).toString(),
        recentEntries: (recents.get(wallet.accountId) ?? []).map((transfer) => {
          const line = lineJson(transfer, wallet.accountId);
          return line.paymentIntentId !== null && othersIntents.has(line.paymentIntentId)
            ? { ...line, paymentIntentId: null, refundId: null }
            : line;
        }),
      });
    }
    return { data };
  }

  /** Of the payment intents the transfers name, those of merchants other than `merchantId`. */
  private async intentsNotOf(merchantId: string, transfers: readonly Transfer[]): Promise<Set<string>> {
    const ids = [
      ...new Set(
        transfers.flatMap((transfer) => {
          const id = transfer.metadata?.paymentIntentId;
          return typeof id === 'string' ? [id] : [];
        }),
      ),
    ];
    if (ids.length === 0) return new Set();
    const rows: { id: string }[] = await this.dataSource.query(
      'SELECT id FROM payment_intents WHERE id = ANY($1::uuid[]) AND merchant_id <> $2',
      [ids, merchantId],
    );
    return new Set(rows.map((row) => row.id));
  }

  /**
   * What the user owes the platform in `currency` (their receivable's balance): for the credit
   * module's signals (outstanding debt lowers a score) and the waiver conditions.
   */
  async outstandingReceivable(userId: string, currency: string): Promise<bigint> {
    const accountId = await this.accounts.find({ purpose: 'receivable', userId }, currency);
    if (accountId === null) return 0n;
    const account = await this.ledger.findAccount(accountId);
    return account === null ? 0n : account.debitsPosted - account.creditsPosted;
  }
}
