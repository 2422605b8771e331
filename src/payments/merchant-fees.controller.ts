import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsUUID, Max, Min } from 'class-validator';
import { Principal } from '../common/principal.js';
import { lowerCase } from '../common/validation/transforms.js';
import { ClientScopes } from '../oauth/access.decorators.js';
import { MAX_FEE_BASIS_POINTS, MerchantFees, type MerchantFeeSetting } from './merchant-fees.js';

class MerchantIdParam {
  @Transform(lowerCase)
  @IsUUID()
  id!: string;
}

class SetPaymentSettingsRequest {
  @ApiProperty({
    minimum: 0,
    maximum: MAX_FEE_BASIS_POINTS,
    example: 60,
    description: 'The platform fee, in basis points of each payment.',
  })
  @IsInt()
  @Min(0)
  @Max(MAX_FEE_BASIS_POINTS)
  feeBasisPoints!: number;
}

function settingJson(setting: MerchantFeeSetting) {
  return {
    merchantId: setting.merchantId,
    feeBasisPoints: setting.feeBasisPoints,
    isDefault: setting.isDefault,
    updatedAt: setting.updatedAt?.toISOString() ?? null,
  };
}

/** The platform sets each merchant's fee; intents already created keep the fee they were created with. */
@ApiTags('admin')
@Controller('v1/admin/merchants')
export class MerchantPaymentSettingsController {
  constructor(private readonly fees: MerchantFees) {}

  @Get(':id/payment-settings')
  @ClientScopes('admin')
  @ApiOperation({ summary: "A merchant's platform fee", description: 'The default (isDefault: true) until one is set.' })
  async get(@Param() params: MerchantIdParam) {
    return settingJson(await this.fees.setting(params.id));
  }

  @Put(':id/payment-settings')
  @ClientScopes('admin')
  @ApiOperation({
    summary: "Set a merchant's platform fee",
    description: 'Idempotent; recorded every time with the previous fee. Applies to intents created from now on.',
  })
  async set(@Param() params: MerchantIdParam, @Body() body: SetPaymentSettingsRequest, @Principal() principal: Principal) {
    return settingJson(await this.fees.setBasisPoints(params.id, body.feeBasisPoints, principal));
  }
}
