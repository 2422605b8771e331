import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { parseAmountMinor } from '../common/money/money.js';
import { Principal } from '../common/principal.js';
import { AnyScope, ClientScopes, UserScopes } from '../oauth/access.decorators.js';
import { agreementJson, DepositAgreementsService } from './deposit-agreements.service.js';
import {
  AgreementsQuery,
  ClaimAgreementRequest,
  CompleteAgreementRequest,
  CreateAgreementRequest,
  DecisionIdParam,
} from './dto/waivers.dto.js';

@ApiTags('deposit agreements')
@Controller('v1/deposit-agreements')
export class DepositAgreementsController {
  constructor(private readonly agreements: DepositAgreementsService) {}

  @Post()
  @UserScopes('waivers:request')
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Sign a deposit agreement from a decision',
    description:
      'Holds the deposit due (if any) on the ledger: a pending transfer from the wallet to deposit escrow. INSUFFICIENT_FUNDS (422) when the wallet cannot cover it, DECISION_EXPIRED (410), DECISION_USED and AGREEMENT_LIMIT_REACHED (409).',
  })
  async create(@Body() body: CreateAgreementRequest, @Principal() principal: Principal) {
    return agreementJson(await this.agreements.create(principal, body.decisionId));
  }

  @Get()
  @AnyScope('waivers:request', 'agreements:manage')
  @ApiOperation({ summary: 'Deposit agreements', description: "The user's own, or the merchant's; newest first." })
  async list(@Query() query: AgreementsQuery, @Principal() principal: Principal) {
    const page = await this.agreements.list(principal, query.limit, query.cursor);
    return { data: page.data.map(agreementJson), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AnyScope('waivers:request', 'agreements:manage')
  @ApiOperation({ summary: 'A deposit agreement' })
  async get(@Param() params: DecisionIdParam, @Principal() principal: Principal) {
    return agreementJson(await this.agreements.get(principal, params.id));
  }

  @Post(':id/activate')
  @ClientScopes('agreements:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Start the service', description: 'CREATED to ACTIVE (the bike is unlocked).' })
  async activate(@Param() params: DecisionIdParam, @Principal() principal: Principal) {
    return agreementJson(await this.agreements.activate(principal, params.id));
  }

  @Post(':id/complete')
  @ClientScopes('agreements:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Complete the agreement',
    description: "Releases the hold and charges the final charge (at most the policy's maximum) from the wallet, less the platform fee.",
  })
  async complete(@Param() params: DecisionIdParam, @Body() body: CompleteAgreementRequest, @Principal() principal: Principal) {
    const finalCharge = parseAmountMinor(body.finalChargeMinor, { allowZero: true, field: 'finalChargeMinor' });
    return agreementJson(await this.agreements.complete(principal, params.id, finalCharge));
  }

  @Post(':id/cancel')
  @ClientScopes('agreements:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Cancel the agreement', description: 'CREATED or ACTIVE; the hold is released.' })
  async cancel(@Param() params: DecisionIdParam, @Principal() principal: Principal) {
    return agreementJson(await this.agreements.cancel(principal, params.id));
  }

  @Post(':id/default')
  @ClientScopes('agreements:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Declare a default', description: 'ACTIVE to DEFAULTED; the hold stays for the claim.' })
  async markDefaulted(@Param() params: DecisionIdParam, @Principal() principal: Principal) {
    return agreementJson(await this.agreements.markDefaulted(principal, params.id));
  }

  @Post(':id/claim')
  @ClientScopes('agreements:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Recover a defaulted deposit',
    description:
      "Up to the deposit: the held part is captured, the waived part charged to the wallet, and what the wallet cannot cover paid from the platform's credit guarantee and recorded as the user's debt.",
  })
  async claim(@Param() params: DecisionIdParam, @Body() body: ClaimAgreementRequest, @Principal() principal: Principal) {
    return agreementJson(await this.agreements.claim(principal, params.id, parseAmountMinor(body.amountMinor, { field: 'amountMinor' })));
  }
}
