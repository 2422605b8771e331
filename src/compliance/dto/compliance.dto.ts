import { ApiPropertyOptional, ApiProperty } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsDateString, IsIn, IsInt, IsOptional, IsUUID, Matches, Max, Min } from 'class-validator';
import { MAX_BALANCE_POINTS } from '../balance-history.js';
import { MAX_RECONCILIATION_ACCOUNTS } from '../reconciliation.js';
import { lowerCase } from '../../common/validation/transforms.js';

export class ExportQuery {
  @ApiPropertyOptional({ format: 'date-time', description: 'Transfers created at or after this time (default: the first).' })
  @IsOptional()
  @IsDateString({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Transfers created before this time (default: now).' })
  @IsOptional()
  @IsDateString({ strict: true })
  to?: string;

  @ApiPropertyOptional({ enum: ['csv', 'ndjson'], default: 'ndjson' })
  @IsOptional()
  @IsIn(['csv', 'ndjson'])
  format: 'csv' | 'ndjson' = 'ndjson';
}

export class ReconciliationQuery {
  @ApiProperty({ example: '2026-06-01', description: 'A UTC calendar day.' })
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'date must be a calendar date, YYYY-MM-DD' })
  date!: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_RECONCILIATION_ACCOUNTS, default: MAX_RECONCILIATION_ACCOUNTS })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_RECONCILIATION_ACCOUNTS)
  limit: number = MAX_RECONCILIATION_ACCOUNTS;

  @ApiPropertyOptional({ format: 'uuid', description: 'The nextCursor of the previous page (an account id).' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  cursor?: string;
}

export class AccountIdParam {
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}

export class BalanceHistoryQuery {
  @ApiProperty({ format: 'date-time' })
  @IsDateString({ strict: true })
  from!: string;

  @ApiProperty({ format: 'date-time' })
  @IsDateString({ strict: true })
  to!: string;

  @ApiPropertyOptional({ minimum: 2, maximum: MAX_BALANCE_POINTS, default: 60 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(2)
  @Max(MAX_BALANCE_POINTS)
  points: number = 60;
}

export class UserIdParam {
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}
