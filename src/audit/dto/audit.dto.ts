import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsDateString, IsIn, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { PageQuery } from '../../common/pagination/cursor.js';
import { lowerCase } from '../../common/validation/transforms.js';

export class AuditEventsQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid', description: 'Events whose actor is this user.' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  userId?: string;

  @ApiPropertyOptional({ description: 'Events whose actor is this OAuth client.' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  @Matches(/^[!-~]+$/, { message: 'clientId must be visible ASCII' })
  clientId?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'Events whose actor acted for this merchant.' })
  @IsOptional()
  @Transform(lowerCase)
  @IsUUID()
  merchantId?: string;

  @ApiPropertyOptional({
    description: 'An action (`oauth.consent.granted`), or a family of them ending in a dot (`oauth.`, `ledger.transfer.`).',
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  @Matches(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?$/, { message: 'action must be an action name, or a prefix of one ending in a dot' })
  action?: string;

  @ApiPropertyOptional({ description: 'The kind of resource (`oauth_grant`, `ledger_transfer`).' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[a-z][a-z0-9_]*$/, { message: 'resourceType must be lower snake case' })
  resourceType?: string;

  @ApiPropertyOptional({ description: 'The resource id (with or without resourceType).' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  @Matches(/^[^\p{Cc}]+$/u, { message: 'resourceId must not hold control characters' })
  resourceId?: string;

  @ApiPropertyOptional({ enum: ['success', 'failure'] })
  @IsOptional()
  @IsIn(['success', 'failure'])
  outcome?: 'success' | 'failure';

  @ApiPropertyOptional({ format: 'date-time', description: 'At or after this time.' })
  @IsOptional()
  @IsDateString({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Before this time.' })
  @IsOptional()
  @IsDateString({ strict: true })
  to?: string;
}
