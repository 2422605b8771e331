import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { PurposeQuery } from '../../identity/dto/identity.dto.js';

export class AdmittanceQuery extends PurposeQuery {
  @ApiProperty({ description: 'The score to meet, 350 to 950.', example: 650 })
  @Type(() => Number)
  @IsInt()
  @Min(350)
  @Max(950)
  threshold!: number;
}

export class CreditFactorResponse {
  @ApiProperty({ example: 'IDENTITY_VERIFIED' })
  code!: string;

  @ApiProperty({ description: 'Points added (positive) or taken away (negative); BASE and TEST_USER carry the starting score.' })
  effect!: number;

  @ApiProperty()
  detail!: string;
}

export class CreditScoreResponse {
  @ApiProperty()
  reportId!: string;

  @ApiProperty({
    oneOf: [
      { type: 'integer', minimum: 350, maximum: 950 },
      { type: 'string', enum: ['N/A'] },
    ],
    example: 688,
  })
  score!: number | 'N/A';

  @ApiProperty({ nullable: true, type: String, enum: ['350-549', '550-599', '600-649', '650-699', '700-950'] })
  band!: string | null;

  @ApiProperty({ format: 'date-time', description: 'When the report was made; it is reused until it expires or a signal changes.' })
  asOf!: string;

  @ApiProperty({ type: [CreditFactorResponse] })
  factors!: CreditFactorResponse[];
}

export class AdmittanceResponse {
  @ApiProperty({ enum: ['Y', 'N', 'N/A'] })
  admitted!: 'Y' | 'N' | 'N/A';

  @ApiProperty()
  reportId!: string;
}
