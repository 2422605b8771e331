import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  MaxLength,
  MinLength,
  ValidateNested,
  ArrayMinSize,
} from 'class-validator';
import type { JWK } from 'jose';
import { ALL_SCOPES, CLIENT_TYPES, type ClientType, type Scope } from '../scopes.js';

const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

export class CreateMerchantRequest {
  @ApiProperty({ example: 'Shanghai Bike Co.', maxLength: 120 })
  @Transform(trim)
  @IsString()
  @MinLength(1)
  @MaxLength(120)
  name!: string;
}

export class MerchantResponse {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty()
  name!: string;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

class JwksBody {
  @ApiProperty({ type: 'array', items: { type: 'object' } })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(5)
  @IsObject({ each: true })
  keys!: JWK[];
}

export class CreateClientRequest {
  @ApiProperty({ enum: CLIENT_TYPES })
  @IsIn(CLIENT_TYPES)
  clientType!: ClientType;

  @ApiPropertyOptional({ format: 'uuid', description: 'Required for mini_program and merchant clients.' })
  @IsOptional()
  @IsUUID()
  merchantId?: string;

  @ApiProperty({ example: 'Bike rental mini-program', maxLength: 120 })
  @Transform(trim)
  @IsString()
  @MinLength(1)
  @MaxLength(120)
  name!: string;

  @ApiPropertyOptional({ enum: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] })
  @IsOptional()
  @IsIn(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'])
  tokenEndpointAuthMethod?: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

  @ApiPropertyOptional({ type: [String], description: 'Exact redirect URIs (https, or http on localhost).' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsString({ each: true })
  @MaxLength(512, { each: true })
  redirectUris?: string[];

  @ApiPropertyOptional({ type: [String], enum: ALL_SCOPES, description: 'Default: every scope the type may hold.' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsIn(ALL_SCOPES, { each: true })
  scopes?: Scope[];

  @ApiPropertyOptional({ description: 'Require DPoP-bound tokens (RFC 9449) for this client.' })
  @IsOptional()
  @IsBoolean()
  dpopBound?: boolean;

  @ApiPropertyOptional({ description: 'Public keys for private_key_jwt client authentication.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => JwksBody)
  jwks?: JwksBody;
}

export class ClientResponse {
  @ApiProperty()
  clientId!: string;
  @ApiProperty({ enum: CLIENT_TYPES })
  clientType!: ClientType;
  @ApiProperty({ nullable: true, format: 'uuid' })
  merchantId!: string | null;
  @ApiProperty()
  name!: string;
  @ApiProperty()
  tokenEndpointAuthMethod!: string;
  @ApiProperty({ type: [String] })
  redirectUris!: string[];
  @ApiProperty({ type: [String] })
  scopes!: string[];
  @ApiProperty()
  dpopBound!: boolean;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ nullable: true, description: 'Shown once, now; only its hash is kept (a replay of the request answers null).' })
  clientSecret!: string | null;
}

export class GrantResponse {
  @ApiProperty()
  id!: string;
  @ApiProperty()
  clientId!: string;
  @ApiProperty()
  clientName!: string;
  @ApiProperty({ nullable: true })
  merchantName!: string | null;
  @ApiProperty({ type: [String] })
  scopes!: string[];
  @ApiProperty({ format: 'date-time' })
  grantedAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true })
  expiresAt!: string | null;
}

export class GrantPage {
  @ApiProperty({ type: [GrantResponse] })
  data!: GrantResponse[];
  @ApiProperty({ nullable: true, type: String })
  nextCursor!: string | null;
}
