import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';

const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

export class SignUpRequest {
  @ApiPropertyOptional({ example: 'ada@example.com', description: 'An email, a phone number, or both.' })
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value))
  @ValidateIf((body: SignUpRequest) => body.email !== undefined || body.phone === undefined)
  @IsEmail({}, { message: 'email must be an email address (or give a phone number instead)' })
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({ example: '+8613800138000', description: 'E.164: a plus sign and 7 to 15 digits.' })
  @Transform(trim)
  @IsOptional()
  @Matches(/^\+[1-9][0-9]{6,14}$/, { message: 'phone must be in E.164 form, like +8613800138000' })
  phone?: string;

  @ApiProperty({ minLength: 10, maxLength: 128 })
  @IsString()
  @MinLength(10)
  @MaxLength(128)
  password!: string;

  @ApiProperty({ example: 'Ada', maxLength: 80 })
  @Transform(trim)
  @IsString()
  @MinLength(1)
  @MaxLength(80)
  displayName!: string;
}

export class SignUpAccepted {
  @ApiProperty({ example: 'accepted' })
  status!: 'accepted';

  @ApiProperty()
  detail!: string;
}

export class MeResponse {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty()
  displayName!: string;
  @ApiPropertyOptional({ nullable: true, description: 'Masked: a***@example.com' })
  email!: string | null;
  @ApiPropertyOptional({ nullable: true, description: 'Masked: +86*******8000' })
  phone!: string | null;
  @ApiProperty({ type: [String] })
  roles!: string[];
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ description: 'The client acting for the user, and the scopes of this token.' })
  client!: { clientId: string; scopes: string[] };
}
