import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { LedgerService } from '../ledger/ledger.service.js';

/**
 * The ledger accounts of payments, each named by a deterministic code and opened on first use, never by
 * hand. Flags keep each one on its side of zero where a negative balance would be a bug:
 *
 * | code                                  | normal side | flag                          | meaning                                 |
 * |---------------------------------------|-------------|-------------------------------|-----------------------------------------|
 * | `user:<id>:wallet:<CUR>`              | credit      | debitsMustNotExceedCredits    | what the platform holds for the user    |
 * | `user:<id>:receivable:<CUR>`          | debit       | creditsMustNotExceedDebits    | what the user owes the platform         |
 * | `merchant:<id>:available:<CUR>`       | credit      | debitsMustNotExceedCredits    | what the platform owes the merchant     |
 * | `platform:fees:<CUR>`                 | credit      | debitsMustNotExceedCredits    | fees earned (returned only from it)     |
 * | `platform:deposit-escrow:<CUR>`       | credit      | debitsMustNotExceedCredits    | deposits held                           |
 * | `platform:credit-guarantee:<CUR>`     | debit       | none                          | deposits waived on credit, made good    |
 * | `external:funding:<CUR>`              | debit       | none                          | money in from the funding rail          |
 * | `external:payouts:<CUR>`              | debit       | none                          | money out to merchants' bank accounts   |
 */
export type AccountKind =
  | { readonly purpose: 'wallet' | 'receivable'; readonly userId: string }
  | { readonly purpose: 'available'; readonly merchantId: string }
  | { readonly purpose: 'fees' | 'deposit-escrow' | 'credit-guarantee' }
  | { readonly purpose: 'funding' | 'payouts' };

interface AccountSpec {
  readonly code: string;
  readonly ownerType: 'user' | 'merchant' | 'platform' | 'external';
  readonly ownerId: string | null;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
}

export function accountSpec(kind: AccountKind, currency: string): AccountSpec {
  switch (kind.purpose) {
    case 'wallet':
    case 'receivable':
      return {
        code: `user:${kind.userId}:${kind.purpose}:${currency}`,
        ownerType: 'user',
        ownerId: kind.userId,
        debitsMustNotExceedCredits: kind.purpose === 'wallet',
        creditsMustNotExceedDebits: kind.purpose === 'receivable',
      };
    case 'available':
      return {
        code: `merchant:${kind.merchantId}:available:${currency}`,
        ownerType: 'merchant',
        ownerId: kind.merchantId,
        debitsMustNotExceedCredits: true,
        creditsMustNotExceedDebits: false,
      };
    case 'fees':
    case 'deposit-escrow':
    case 'credit-guarantee':
      return {
        code: `platform:${kind.purpose}:${currency}`,
        ownerType: 'platform',
        ownerId: null,
        debitsMustNotExceedCredits: kind.purpose !== 'credit-guarantee',
        creditsMustNotExceedDebits: false,
      };
    case 'funding':
    case 'payouts':
      return {
        code: `external:${kind.purpose}:${currency}`,
        ownerType: 'external',
        ownerId: null,
        debitsMustNotExceedCredits: false,
        creditsMustNotExceedDebits: false,
      };
  }
}

/**
 * Opens payments' accounts on demand and remembers their ids. A code maps to one account for ever,
 * so the cache never goes stale; opening is idempotent in the ledger (by code) and in the registry.
 */
@Injectable()
export class PaymentAccounts {
  private readonly ids = new Map<string, string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly ledger: LedgerService,
    private readonly clock: Clock,
  ) {}

  /** The account's id, opening it first if it does not exist yet. */
  async ensure(kind: AccountKind, currency: string): Promise<string> {
    const spec = accountSpec(kind, currency);
    const cached = this.ids.get(spec.code);
    if (cached !== undefined) return cached;
    const { account } = await this.ledger.openAccount({
      code: spec.code,
      currency,
      debitsMustNotExceedCredits: spec.debitsMustNotExceedCredits,
      creditsMustNotExceedDebits: spec.creditsMustNotExceedDebits,
    });
    await this.dataSource.query(
      `INSERT INTO payment_accounts (code, account_id, owner_type, owner_id, purpose, currency, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING`,
      [spec.code, account.id, spec.ownerType, spec.ownerId, kind.purpose, currency, this.clock.now()],
    );
    this.ids.set(spec.code, account.id);
    return account.id;
  }

  /** The account's id if it was ever opened, without opening it. */
  async find(kind: AccountKind, currency: string): Promise<string | null> {
    const spec = accountSpec(kind, currency);
    const cached = this.ids.get(spec.code);
    if (cached !== undefined) return cached;
    const rows: { account_id: string }[] = await this.dataSource.query('SELECT account_id FROM payment_accounts WHERE code = $1', [
      spec.code,
    ]);
    const id = rows[0]?.account_id ?? null;
    if (id !== null) this.ids.set(spec.code, id);
    return id;
  }

  /** Every account of one owner for one purpose: one a currency. */
  async ofOwner(ownerId: string, purpose: 'wallet' | 'receivable' | 'available'): Promise<{ currency: string; accountId: string }[]> {
    const rows: { currency: string; account_id: string }[] = await this.dataSource.query(
      `SELECT currency, account_id FROM payment_accounts WHERE owner_type = $1 AND owner_id = $2 AND purpose = $3 ORDER BY currency`,
      [purpose === 'available' ? 'merchant' : 'user', ownerId, purpose],
    );
    return rows.map((row) => ({ currency: row.currency, accountId: row.account_id }));
  }
}
