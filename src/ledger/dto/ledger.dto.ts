import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsDateString,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsAmountMinor, IsCurrencyCode } from '../../common/money/money.validators.js';
import { PageQuery } from '../../common/pagination/cursor.js';
import { MAX_BATCH_COMMANDS, MAX_TIMEOUT_SECONDS } from '../ledger.types.js';
import { lowerCase } from '../../common/validation/transforms.js';

export class OpenAccountRequest {
  @ApiPropertyOptional({ format: 'uuid', description: 'Choose the id (idempotency across retries); generated otherwise.' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  id?: string;

  @ApiProperty({ example: 'merchant:01a1fd48-94c0-70e4-9251-ffef5c390220:available', maxLength: 160 })
  @IsString()
  @MaxLength(160)
  @Matches(/^[a-z][a-z0-9_-]*(:[A-Za-z0-9_.-]+)+$/, { message: 'code must look like kind:part[:part...], e.g. user:<id>:wallet' })
  code!: string;

  @ApiProperty({ example: 'CNY' })
  @IsCurrencyCode()
  currency!: string;

  @ApiPropertyOptional({ description: 'Debits (pending counted) may never exceed posted credits: a wallet.' })
  @IsOptional()
  @IsBoolean()
  debitsMustNotExceedCredits?: boolean;

  @ApiPropertyOptional({ description: 'Credits (pending counted) may never exceed posted debits.' })
  @IsOptional()
  @IsBoolean()
  creditsMustNotExceedDebits?: boolean;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'At most 4 KiB of JSON.' })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class TransferInput {
  @ApiProperty({ format: 'uuid', description: 'Chosen by the caller: the same id and fields return the first result.' })
  @Transform(lowerCase)
  @IsUUID()
  id!: string;

  @ApiProperty({ format: 'uuid' })
  @Transform(lowerCase)
  @IsUUID()
  debitAccountId!: string;

  @ApiProperty({ format: 'uuid' })
  @Transform(lowerCase)
  @IsUUID()
  creditAccountId!: string;

  @ApiProperty({ example: '9900', description: 'Minor units, a JSON integer or a string of digits.' })
  @IsAmountMinor()
  amountMinor!: number | string;

  @ApiProperty({ example: 'CNY' })
  @IsCurrencyCode()
  currency!: string;

  @ApiProperty({ example: 'payment', description: 'Why: lower-case letters, digits, `_` and `.`.' })
  @IsString()
  @Matches(/^[a-z][a-z0-9_.]{0,63}$/, { message: 'code is lower-case letters, digits, _ and ., at most 64' })
  code!: string;

  @ApiPropertyOptional({ description: 'Reserve now; post or void later.' })
  @IsOptional()
  @IsBoolean()
  pending?: boolean;

  @ApiPropertyOptional({ description: 'A pending transfer not resolved within this many seconds expires.', maximum: MAX_TIMEOUT_SECONDS })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TIMEOUT_SECONDS)
  timeoutSeconds?: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'At most 4 KiB of JSON.' })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class SubmitTransfersRequest {
  @ApiProperty({ type: [TransferInput], minItems: 1, maxItems: MAX_BATCH_COMMANDS })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_COMMANDS)
  @ValidateNested({ each: true })
  @Type(() => TransferInput)
  transfers!: TransferInput[];

  @ApiPropertyOptional({ description: 'All succeed or none does; the failing one is named.' })
  @IsOptional()
  @IsBoolean()
  linked?: boolean;
}

export class ResolveRequest {
  @ApiPropertyOptional({
    format: 'uuid',
    description: "The resolution's own transfer id; by default derived from the pending id and the action.",
  })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  id?: string;

  @ApiPropertyOptional({ example: '5000', description: 'Post only this much (default: all); the rest is released.' })
  @IsOptional()
  @IsAmountMinor()
  amountMinor?: number | string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class VoidRequest {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  id?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class IdParam {
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}

export class AccountQuery {
  @ApiPropertyOptional({ format: 'date-time', description: 'Balances as they were at this time.' })
  @IsOptional()
  @IsDateString({ strict: true })
  asOf?: string;
}

export class BalancesQuery {
  @ApiProperty({ description: 'Comma-separated account ids, at most 100.', example: 'id1,id2' })
  @IsString()
  @MaxLength(100 * 37)
  @Matches(/^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36}){0,99}$/, { message: 'accountIds is 1 to 100 comma-separated UUIDs' })
  accountIds!: string;
}

export class TransfersQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  accountId?: string;

  @ApiPropertyOptional({ enum: ['posted', 'pending', 'voided', 'expired'] })
  @IsOptional()
  @IsIn(['posted', 'pending', 'voided', 'expired'])
  status?: 'posted' | 'pending' | 'voided' | 'expired';

  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsDateString({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsDateString({ strict: true })
  to?: string;
}
