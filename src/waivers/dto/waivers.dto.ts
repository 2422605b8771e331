import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { IsAmountMinor, IsCurrencyCode } from '../../common/money/money.validators.js';
import { PageQuery } from '../../common/pagination/cursor.js';
import { lowerCase } from '../../common/validation/transforms.js';

/** A hold must outlive the agreement: the ledger keeps a pending transfer at most 30 days. */
export const MAX_AGREEMENT_LIFETIME_SECONDS = 29 * 86_400;

export class DepositInput {
  @ApiProperty({ example: '9900', description: 'Minor units (fen): a JSON integer or a string of digits, above 0.' })
  @IsAmountMinor()
  amountMinor!: number | string;

  @ApiProperty({ example: 'CNY' })
  @IsCurrencyCode()
  currency!: string;
}

export class TierInput {
  @ApiProperty({ example: 650, minimum: 350, maximum: 950 })
  @IsInt()
  @Min(350)
  @Max(950)
  minScore!: number;

  @ApiProperty({ example: 100, minimum: 0, maximum: 100 })
  @IsInt()
  @Min(0)
  @Max(100)
  waivePercent!: number;
}

export class ConditionsInput {
  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  requireVerifiedIdentity?: boolean;

  @ApiPropertyOptional({ example: 18, nullable: true, description: 'null: no minimum.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(150)
  minimumAge?: number | null;

  @ApiPropertyOptional({ example: 1, nullable: true, description: 'Agreements a user may have open (created or active) at once.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  maxActiveAgreements?: number | null;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  allowOutstandingDebt?: boolean;

  @ApiPropertyOptional({ example: '50000', nullable: true, description: "The most a user's open agreements may have waived, in all." })
  @IsOptional()
  @IsAmountMinor()
  maxWaivedExposureMinor?: number | string | null;
}

export class PolicyVersionInput {
  @ApiProperty({ type: DepositInput })
  @ValidateNested()
  @Type(() => DepositInput)
  deposit!: DepositInput;

  @ApiProperty({ type: [TierInput], description: '1 to 10 tiers, by minScore ascending; a higher score never waives less.' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @ValidateNested({ each: true })
  @Type(() => TierInput)
  tiers!: TierInput[];

  @ApiPropertyOptional({ default: 0, description: 'The fallback tier: what is waived when the score is N/A.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  scoreUnavailableWaivePercent?: number;

  @ApiPropertyOptional({ type: ConditionsInput })
  @IsOptional()
  @ValidateNested()
  @Type(() => ConditionsInput)
  conditions?: ConditionsInput;

  @ApiProperty({
    example: 86_400,
    description:
      "How long an agreement may stay open before it expires (60 s to 29 days: a deposit hold lives at most the ledger's 30 days).",
  })
  @IsInt()
  @Min(60)
  @Max(MAX_AGREEMENT_LIFETIME_SECONDS)
  agreementLifetimeSeconds!: number;

  @ApiPropertyOptional({ example: '9900', description: 'The most a completion may charge (default: the deposit).' })
  @IsOptional()
  @IsAmountMinor({ allowZero: true })
  maxFinalChargeMinor?: number | string;

  @ApiPropertyOptional({ default: 900, description: 'How long a decision may be turned into an agreement (60 s to 24 h).' })
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(86_400)
  decisionTtlSeconds?: number;
}

export class CreatePolicyRequest {
  @ApiProperty({ example: 'Bike deposit', maxLength: 80 })
  @IsString()
  @MinLength(1)
  @MaxLength(80)
  name!: string;

  @ApiProperty({ type: PolicyVersionInput, description: 'Version 1, active at once.' })
  @ValidateNested()
  @Type(() => PolicyVersionInput)
  version!: PolicyVersionInput;
}

export class CreateVersionRequest extends PolicyVersionInput {
  @ApiPropertyOptional({ default: true, description: 'Make the new version the active one.' })
  @IsOptional()
  @IsBoolean()
  activate?: boolean;
}

export class PolicyIdParam {
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}

export class PolicyVersionParam extends PolicyIdParam {
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  version!: number;
}

export class PoliciesQuery extends PageQuery {}

export class DecisionRequest {
  @ApiProperty({ format: 'uuid' })
  @Transform(lowerCase)
  @IsUUID()
  policyId!: string;
}

export class DecisionIdParam {
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}

export class CreateAgreementRequest {
  @ApiProperty({ format: 'uuid', description: 'A decision of this user, not expired, not used before.' })
  @Transform(lowerCase)
  @IsUUID()
  decisionId!: string;
}

export class CompleteAgreementRequest {
  @ApiProperty({ example: '350', description: "The final charge, at most the policy's maxFinalChargeMinor; 0 for none." })
  @IsAmountMinor({ allowZero: true })
  finalChargeMinor!: number | string;
}

export class ClaimAgreementRequest {
  @ApiProperty({ example: '9900', description: 'What the merchant recovers, above 0 and at most the deposit.' })
  @IsAmountMinor()
  amountMinor!: number | string;
}

export class AgreementsQuery extends PageQuery {}
