import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsDateString, IsIn, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { IsAmountMinor, IsCurrencyCode } from '../../common/money/money.validators.js';
import { PageQuery } from '../../common/pagination/cursor.js';
import { lowerCase } from '../../common/validation/transforms.js';

export class IdParam {
  @ApiProperty({ format: 'uuid' })
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}

export class CreatePaymentIntentRequest {
  @ApiProperty({ example: '9900', description: 'Minor units, a JSON integer or a string of digits.' })
  @IsAmountMinor()
  amountMinor!: number | string;

  @ApiProperty({ example: 'CNY' })
  @IsCurrencyCode()
  currency!: string;

  @ApiProperty({ enum: ['automatic', 'manual'] })
  @IsIn(['automatic', 'manual'])
  captureMethod!: 'automatic' | 'manual';

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ maxLength: 128, description: "The merchant's own order id." })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  merchantReference?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'The user who must pay it; left out: any user of your mini-programs.' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  userId?: string;
}

export class CaptureRequest {
  @ApiPropertyOptional({ example: '5000', description: 'Up to the authorised amount (default all of it); the rest is released.' })
  @IsOptional()
  @IsAmountMinor()
  amountMinor?: number | string;
}

export class CreateRefundRequest {
  @ApiProperty({ format: 'uuid' })
  @Transform(lowerCase)
  @IsUUID()
  paymentIntentId!: string;

  @ApiPropertyOptional({ example: '500', description: 'Default: all that can still be refunded.' })
  @IsOptional()
  @IsAmountMinor()
  amountMinor?: number | string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class CreatePayoutRequest {
  @ApiProperty({ example: '10000' })
  @IsAmountMinor()
  amountMinor!: number | string;

  @ApiProperty({ example: 'CNY' })
  @IsCurrencyCode()
  currency!: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;
}

export class TopUpRequest {
  @ApiProperty({ example: '10000' })
  @IsAmountMinor()
  amountMinor!: number | string;

  @ApiProperty({ example: 'CNY' })
  @IsCurrencyCode()
  currency!: string;
}

export class StatementQuery extends PageQuery {
  @ApiPropertyOptional({ example: 'CNY', default: 'CNY' })
  @IsOptional()
  @IsCurrencyCode()
  currency?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'From this time, inclusive.' })
  @IsOptional()
  @IsDateString({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Before this time.' })
  @IsOptional()
  @IsDateString({ strict: true })
  to?: string;
}
