import { Injectable } from '@nestjs/common';
import type { Page } from '../common/pagination/cursor.js';
import { LedgerService } from '../ledger/ledger.service.js';
import { PaymentAccounts } from './payment-accounts.js';
import { lineJson } from './wallet.service.js';

/** What a merchant reads about its money: balances per currency and a statement of its account. */
@Injectable()
export class MerchantAccountsService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly accounts: PaymentAccounts,
  ) {}

  async balance(merchantId: string) {
    const owned = await this.accounts.ofOwner(merchantId, 'available');
    const accounts = await this.ledger.accounts(owned.map((entry) => entry.accountId));
    return {
      data: accounts
        .map((account) => ({
          currency: account.currency,
          availableMinor: (account.creditsPosted - account.debitsPosted - account.debitsPending).toString(),
          /** Authorised by payers, not captured yet. */
          pendingMinor: account.creditsPending.toString(),
        }))
        .sort((a, b) => a.currency.localeCompare(b.currency)),
    };
  }

  /** The merchant's account lines in [from, to), newest first. */
  async statement(
    merchantId: string,
    query: { currency: string; from?: Date; to?: Date; limit: number; cursor?: string },
  ): Promise<Page<ReturnType<typeof lineJson>>> {
    const accountId = await this.accounts.find({ purpose: 'available', merchantId }, query.currency);
    if (accountId === null) return { data: [], nextCursor: null };
    const page = await this.ledger.transfers({ accountId, from: query.from, to: query.to }, query.limit, query.cursor);
    return { data: page.data.map((transfer) => lineJson(transfer, accountId)), nextCursor: page.nextCursor };
  }
}
