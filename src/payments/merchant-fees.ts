import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import type { AuditActor } from '../audit/audit-event.js';
import { Clock } from '../common/clock/clock.js';
import { AppConfig } from '../config/app-config.js';

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

  /** Sets a merchant's fee (platform operations); intents created before keep the fee they were created with. */
  async setBasisPoints(merchantId: string, feeBasisPoints: number, actor: AuditActor | null): Promise<void> {
    if (!Number.isInteger(feeBasisPoints) || feeBasisPoints < 0 || feeBasisPoints > 10_000)
      throw new Error('a fee is a whole number of basis points from 0 to 10,000');
    await this.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO merchant_payment_settings (merchant_id, fee_basis_points, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (merchant_id) DO UPDATE SET fee_basis_points = EXCLUDED.fee_basis_points, updated_at = EXCLUDED.updated_at`,
        [merchantId, feeBasisPoints, this.clock.now()],
      );
      await this.audit.record(
        {
          actor,
          action: 'merchant.fee.set',
          resourceType: 'merchant',
          resourceId: merchantId,
          outcome: 'success',
          details: { feeBasisPoints },
        },
        manager,
      );
    });
  }
}
