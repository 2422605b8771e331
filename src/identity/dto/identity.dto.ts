import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export class VerifyIdentityRequest {
  @ApiProperty({ description: 'As printed on the card: 2 to 40 Chinese or Latin characters, middle dot allowed.', example: '张三' })
  @IsString()
  @MaxLength(100)
  fullName!: string;

  @ApiProperty({ description: 'An 18-character resident identity card number (GB 11643-1999).', example: '11010519491231002X' })
  @IsString()
  @MaxLength(32)
  idNumber!: string;
}

/** Why a client reads identity or credit data; recorded in the audit trail with the read. */
export class PurposeQuery {
  @ApiPropertyOptional({
    description:
      "Why the data is read: a code of dot-separated lower-case words, such as `rental.onboarding` (default: the route's own, `identity.status`, `credit.score` or `credit.admittance`).",
    example: 'rental.onboarding',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, {
    message: 'purpose must be dot-separated lower-case words (a-z, 0-9, _), such as rental.onboarding',
  })
  purpose?: string;
}

export class IdentityStatusResponse {
  @ApiProperty({ enum: ['unverified', 'verified', 'rejected'] })
  status!: 'unverified' | 'verified' | 'rejected';

  @ApiProperty({ nullable: true, type: String, example: '110***********002X' })
  maskedIdNumber!: string | null;

  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  verifiedAt!: string | null;

  @ApiProperty({ nullable: true, type: Number, description: 'Whole years, from the birth date in the number (China time).' })
  age!: number | null;

  @ApiProperty({ nullable: true, type: String, enum: ['NAME_MISMATCH', 'IDENTITY_NOT_FOUND'], description: 'Why the last attempt failed.' })
  rejectionCode!: string | null;
}

export class VerificationResponse extends IdentityStatusResponse {
  @ApiProperty({ description: 'The id of this verification attempt.' })
  id!: string;
}
