import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { Principal } from '../common/principal.js';
import { UserScopes } from '../oauth/access.decorators.js';
import { IdentityStatusResponse, PurposeQuery, VerificationResponse, VerifyIdentityRequest } from './dto/identity.dto.js';
import type { IdentityStatus } from './identity.service.js';
import { IdentityService } from './identity.service.js';

function statusJson(status: IdentityStatus): IdentityStatusResponse {
  return {
    status: status.status,
    maskedIdNumber: status.maskedIdNumber,
    verifiedAt: status.verifiedAt?.toISOString() ?? null,
    age: status.age,
    rejectionCode: status.rejectionCode,
  };
}

@ApiTags('identity')
@Controller('v1/identity')
export class IdentityController {
  constructor(private readonly identity: IdentityService) {}

  @Post('verifications')
  @UserScopes('identity:verify')
  @HttpCode(201)
  @Idempotent({ required: true })
  @ApiOperation({
    summary: "Verify the user's real name and ID number",
    description:
      'Checks the number (INVALID_FORMAT, INVALID_REGION, INVALID_BIRTH_DATE, CHECKSUM_MISMATCH) and the name (INVALID_NAME), then asks the identity authority: NAME_MISMATCH and IDENTITY_NOT_FOUND are 422, AUTHORITY_UNAVAILABLE is 503 with Retry-After (retry with the same Idempotency-Key). A number verified for another account is ALREADY_BOUND (409). At most 5 failed attempts in 24 hours (TOO_MANY_ATTEMPTS, 429). The number is only ever returned masked.',
  })
  @ApiCreatedResponse({ type: VerificationResponse })
  async verify(@Body() body: VerifyIdentityRequest, @Principal() principal: Principal): Promise<VerificationResponse> {
    const result = await this.identity.verify(principal, body);
    return { id: result.id, ...statusJson(result) };
  }

  @Get()
  @UserScopes('identity:read')
  @ApiOperation({
    summary: "The user's identity status",
    description: 'Status, masked ID number, time of verification and age. The read is recorded for audit with its purpose.',
  })
  @ApiOkResponse({ type: IdentityStatusResponse })
  async read(@Query() query: PurposeQuery, @Principal() principal: Principal): Promise<IdentityStatusResponse> {
    return statusJson(await this.identity.read(principal, query.purpose ?? 'identity.status'));
  }
}
