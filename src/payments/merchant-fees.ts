import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import type { AuditActor } from '../audit/audit-event.js';
import { Clock } from '../common/clock/clock.js';
import { AppConfig } from '../config/app-config.js';
import { PaymentsError, PaymentsErrorCode } from './payments.errors.js';

export const MAX_FEE_BASIS_POINTS = 10_000;

export interface MerchantFeeSetting {
  readonly merchantId: string;
  readonly feeBasisPoints: number;
  /** True when the merchant has no setting of its own and pays PAYMENTS_DEFAULT_FEE_BASIS_POINTS. */
  readonly isDefault: boolean;
  readonly updatedAt: Date | null;
}

const merchantNotFound = (): PaymentsError => new PaymentsError(PaymentsErrorCode.MerchantNotFound, 'No merchant has this id.');

/** Each merchant's platform fee in basis points; merchants without a setting pay PAYMENTS_DEFAULT_FEE_BASIS_POINTS. */
@Injectable()
export class MerchantFees {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async basisPoints(merchantId: string, manager?: EntityManager): Promise<number> {
    const rows: { fee_basis_points: number }[] = await (manager ?? this.dataSource.manager).query(
      'SELECT fee_basis_points FROM merchant_payment_settings WHERE merchant_id = $1',
      [merchantId],
    );
    return rows[0]?.fee_basis_points ?? this.config.payments.defaultFeeBasisPoints;
  }

  /** A merchant's fee as set, or the default; MERCHANT_NOT_FOUND for an unknown merchant. */
  async setting(merchantId: string): Promise<MerchantFeeSetting> {
    const rows: { fee_basis_points: number | null; updated_at: Date | null }[] = await this.dataSource.query(
      `SELECT s.fee_basis_points, s.updated_at
         FROM merchants m LEFT JOIN merchant_payment_settings s ON s.merchant_id = m.id
        WHERE m.id = $1`,
      [merchantId],
    );
    const row = rows[0];
    if (row === undefined) throw merchantNotFound();
    return row.fee_basis_points === null || row.updated_at === null
      ? { merchantId, feeBasisPoints: this.config.payments.defaultFeeBasisPoints, isDefault: true, updatedAt: null }
      : { merchantId, feeBasisPoints: row.fee_basis_points, isDefault: false, updatedAt: row.updated_at };
  }

  /**
   * Sets a merchant's fee (platform operations), recorded with who did it; intents created before keep
   * the fee they were created with. MERCHANT_NOT_FOUND for an unknown merchant.
   */
  async setBasisPoints(merchantId: string, feeBasisPoints: number, actor: AuditActor | null): Promise<MerchantFeeSetting> {
    if (!Number.isInteger(feeBasisPoints) || feeBasisPoints < 0 || feeBasisPoints > MAX_FEE_BASIS_POINTS)
      throw new Error('a fee is a whole number of basis points from 0 to 10,000');
    return this.dataSource.transaction(async (manager) => {
      // FOR SHARE: the merchant cannot disappear between this check and the insert.
      const found: unknown[] = await manager.query('SELECT 1 FROM merchants WHERE id = $1 FOR SHARE', [merchantId]);
      if (found.length === 0) throw merchantNotFound();
      const updatedAt = this.clock.now();
      const previous: { fee_basis_points: number }[] = await manager.query(
        'SELECT fee_basis_points FROM merchant_payment_settings WHERE merchant_id = $1 FOR UPDATE',
        [merchantId],
      );
      await manager.query(
        `INSERT INTO merchant_payment_settings (merchant_id, fee_basis_points, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (merchant_id) DO UPDATE SET fee_basis_points = EXCLUDED.fee_basis_points, updated_at = EXCLUDED.updated_at`,
        [merchantId, feeBasisPoints, updatedAt],
      );
      await this.audit.record(
        {
          actor,
          action: 'merchant.fee.set',
          resourceType: 'merchant',
          resourceId: merchantId,
          outcome: 'success',
          details: { feeBasisPoints, previousFeeBasisPoints: previous[0]?.fee_basis_points ?? null },
        },
        manager,
      );
      return { merchantId, feeBasisPoints, isDefault: false, updatedAt };
    });
  }
}
