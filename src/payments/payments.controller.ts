import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { KeyToClaim } from '../common/idempotency/idempotency.interceptor.js';
import type { TransactionalKey } from '../common/idempotency/idempotency.service.js';
import { parseAmountMinor } from '../common/money/money.js';
import { PageQuery } from '../common/pagination/cursor.js';
import { merchantOf, Principal, userOf } from '../common/principal.js';
import { AnyScope, ClientScopes, UserScopes } from '../oauth/access.decorators.js';
import {
  CaptureRequest,
  CreatePaymentIntentRequest,
  CreatePayoutRequest,
  CreateRefundRequest,
  IdParam,
  StatementQuery,
  TopUpRequest,
} from './dto/payments.dto.js';
import { MerchantAccountsService } from './merchant-accounts.service.js';
import { intentJson } from './payment-intent.js';
import { PaymentIntentsService } from './payment-intents.service.js';
import { payoutJson, PayoutsService } from './payouts.service.js';
import { refundJson, RefundsService } from './refunds.service.js';
import { topUpJson, WalletService } from './wallet.service.js';

@ApiTags('payments')
@Controller('v1/payment-intents')
export class PaymentIntentsController {
  constructor(private readonly intents: PaymentIntentsService) {}

  @Post()
  @ClientScopes('payments:write')
  @HttpCode(201)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Create a payment intent', description: 'Status `requires_confirmation` until a user confirms it.' })
  async create(@Body() body: CreatePaymentIntentRequest, @Principal() principal: Principal) {
    const intent = await this.intents.create(principal, {
      amount: parseAmountMinor(body.amountMinor),
      currency: body.currency,
      captureMethod: body.captureMethod,
      description: body.description,
      merchantReference: body.merchantReference,
      userId: body.userId,
    });
    return intentJson(intent);
  }

  @Get()
  @AnyScope('payments:write', 'merchant:read')
  @ApiOperation({ summary: "The merchant's payment intents, newest first" })
  async list(@Query() query: PageQuery, @Principal() principal: Principal) {
    const page = await this.intents.list(merchantOf(principal), query.limit, query.cursor);
    return { data: page.data.map(intentJson), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AnyScope('payments:write', 'merchant:read', 'payments:pay')
  @ApiOperation({
    summary: 'A payment intent',
    description: "The merchant's own; for a user, one of the mini-program's merchant addressed to them or to nobody.",
  })
  async get(@Param() params: IdParam, @Principal() principal: Principal) {
    return intentJson(await this.intents.get(principal, params.id));
  }

  @Post(':id/confirm')
  @UserScopes('payments:pay')
  @HttpCode(200)
  // The key is claimed and its response kept in the confirmation's own (group-committed) transaction.
  @Idempotent({ required: true, claimedInTransaction: true })
  @ApiOperation({
    summary: 'Pay a payment intent from the wallet',
    description: 'Automatic capture: paid at once (`succeeded`). Manual: the amount is held (`requires_capture`).',
  })
  async confirm(@Param() params: IdParam, @Principal() principal: Principal, @KeyToClaim() key: TransactionalKey | undefined) {
    return intentJson(await this.intents.confirm(principal, params.id, key));
  }

  @Post(':id/capture')
  @ClientScopes('payments:write')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Capture an authorised payment', description: 'Up to the authorised amount; the rest is released.' })
  async capture(@Param() params: IdParam, @Body() body: CaptureRequest, @Principal() principal: Principal) {
    const amount = body.amountMinor === undefined ? undefined : parseAmountMinor(body.amountMinor);
    return intentJson(await this.intents.capture(principal, params.id, amount));
  }

  @Post(':id/cancel')
  @ClientScopes('payments:write')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Cancel a payment intent', description: 'Before confirmation, or releasing an authorisation.' })
  async cancel(@Param() params: IdParam, @Principal() principal: Principal) {
    return intentJson(await this.intents.cancel(principal, params.id));
  }
}

@ApiTags('payments')
@Controller('v1/refunds')
export class RefundsController {
  constructor(private readonly refunds: RefundsService) {}

  @Post()
  @ClientScopes('payments:refund')
  @HttpCode(201)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Refund a payment', description: 'Up to captured less refunded; the fee is returned in proportion.' })
  async create(@Body() body: CreateRefundRequest, @Principal() principal: Principal) {
    const refund = await this.refunds.create(principal, {
      paymentIntentId: body.paymentIntentId,
      amount: body.amountMinor === undefined ? undefined : parseAmountMinor(body.amountMinor),
      reason: body.reason,
    });
    return refundJson(refund);
  }

  @Get()
  @AnyScope('payments:refund', 'merchant:read')
  @ApiOperation({ summary: "The merchant's refunds, newest first" })
  async list(@Query() query: PageQuery, @Principal() principal: Principal) {
    const page = await this.refunds.list(principal, query.limit, query.cursor);
    return { data: page.data.map(refundJson), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AnyScope('payments:refund', 'merchant:read')
  @ApiOperation({ summary: 'A refund' })
  async get(@Param() params: IdParam, @Principal() principal: Principal) {
    return refundJson(await this.refunds.get(principal, params.id));
  }
}

@ApiTags('payments')
@Controller('v1/payouts')
export class PayoutsController {
  constructor(private readonly payouts: PayoutsService) {}

  @Post()
  @ClientScopes('payouts:write')
  @HttpCode(201)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Pay out the available balance', description: 'Refused beyond the available balance.' })
  async create(@Body() body: CreatePayoutRequest, @Principal() principal: Principal) {
    const payout = await this.payouts.create(principal, {
      amount: parseAmountMinor(body.amountMinor),
      currency: body.currency,
      description: body.description,
    });
    return payoutJson(payout);
  }

  @Get()
  @AnyScope('payouts:write', 'merchant:read')
  @ApiOperation({ summary: "The merchant's payouts, newest first" })
  async list(@Query() query: PageQuery, @Principal() principal: Principal) {
    const page = await this.payouts.list(principal, query.limit, query.cursor);
    return { data: page.data.map(payoutJson), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AnyScope('payouts:write', 'merchant:read')
  @ApiOperation({ summary: 'A payout' })
  async get(@Param() params: IdParam, @Principal() principal: Principal) {
    return payoutJson(await this.payouts.get(principal, params.id));
  }
}

@ApiTags('payments')
@Controller('v1/merchant')
export class MerchantController {
  constructor(private readonly merchantAccounts: MerchantAccountsService) {}

  @Get('balance')
  @ClientScopes('merchant:read')
  @ApiOperation({ summary: "The merchant's balances, one a currency" })
  async balance(@Principal() principal: Principal) {
    return this.merchantAccounts.balance(merchantOf(principal));
  }

  @Get('statement')
  @ClientScopes('merchant:read')
  @ApiOperation({ summary: "The merchant's account lines in [from, to), newest first" })
  async statement(@Query() query: StatementQuery, @Principal() principal: Principal) {
    return this.merchantAccounts.statement(merchantOf(principal), {
      currency: query.currency ?? 'CNY',
      from: query.from === undefined ? undefined : new Date(query.from),
      to: query.to === undefined ? undefined : new Date(query.to),
      limit: query.limit,
      cursor: query.cursor,
    });
  }
}

@ApiTags('payments')
@Controller('v1/wallet')
export class WalletController {
  constructor(private readonly wallets: WalletService) {}

  @Get()
  @UserScopes('wallet:read')
  @ApiOperation({ summary: "The user's wallets: balances, holds, debt and recent entries" })
  async view(@Principal() principal: Principal) {
    return this.wallets.view(userOf(principal), principal.merchantId);
  }

  @Post('top-ups')
  @UserScopes('payments:pay')
  @HttpCode(201)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Top up the wallet', description: 'Through the funding rail; repays any debt to the platform first.' })
  async topUp(@Body() body: TopUpRequest, @Principal() principal: Principal) {
    return topUpJson(await this.wallets.topUp(principal, parseAmountMinor(body.amountMinor), body.currency));
  }
}
