import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { PageQuery } from '../common/pagination/cursor.js';
import { merchantOf, Principal } from '../common/principal.js';
import { ClientScopes } from '../oauth/access.decorators.js';
import { CreateWebhookEndpointRequest, DeliveryIdParams, EndpointIdParam } from './dto/webhooks.dto.js';
import { WebhookEndpointsService } from './webhook-endpoints.service.js';
import { deliveryJson, endpointJson } from './webhooks.presenters.js';

@ApiTags('webhooks')
@Controller('v1/webhook-endpoints')
export class WebhooksController {
  constructor(private readonly endpoints: WebhookEndpointsService) {}

  @Post()
  @ClientScopes('webhooks:manage')
  @HttpCode(201)
  @Idempotent({ required: true, withheldOnReplay: ['secret'] })
  @ApiOperation({
    summary: 'Register a webhook endpoint',
    description:
      'https only, outside private address ranges. The response carries the signing secret, once: a replay of the request returns `secret: null`.',
  })
  async create(@Body() body: CreateWebhookEndpointRequest, @Principal() principal: Principal) {
    const { endpoint, secret } = await this.endpoints.create(principal, merchantOf(principal), body);
    return { ...endpointJson(endpoint), secret };
  }

  @Get()
  @ClientScopes('webhooks:manage')
  @ApiOperation({ summary: "The merchant's webhook endpoints, newest first" })
  async list(@Query() query: PageQuery, @Principal() principal: Principal) {
    const page = await this.endpoints.list(merchantOf(principal), query.limit, query.cursor);
    return { data: page.data.map(endpointJson), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @ClientScopes('webhooks:manage')
  @ApiOperation({ summary: 'A webhook endpoint (without its secret)' })
  async get(@Param() params: EndpointIdParam, @Principal() principal: Principal) {
    return endpointJson(await this.endpoints.get(merchantOf(principal), params.id));
  }

  @Post(':id/disable')
  @ClientScopes('webhooks:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Turn an endpoint off',
    description: 'Idempotent. Nothing is sent to it while it is off; its pending deliveries are marked failed (`endpoint disabled`).',
  })
  async disable(@Param() params: EndpointIdParam, @Principal() principal: Principal) {
    return endpointJson(await this.endpoints.setStatus(principal, merchantOf(principal), params.id, 'disabled'));
  }

  @Post(':id/enable')
  @ClientScopes('webhooks:manage')
  @HttpCode(200)
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Turn an endpoint back on',
    description: 'Idempotent. It receives events from now on; past ones only by redelivery.',
  })
  async enable(@Param() params: EndpointIdParam, @Principal() principal: Principal) {
    return endpointJson(await this.endpoints.setStatus(principal, merchantOf(principal), params.id, 'enabled'));
  }

  @Get(':id/deliveries')
  @ClientScopes('webhooks:manage')
  @ApiOperation({ summary: "An endpoint's delivery log, newest first" })
  async deliveries(@Param() params: EndpointIdParam, @Query() query: PageQuery, @Principal() principal: Principal) {
    const page = await this.endpoints.deliveries(merchantOf(principal), params.id, query.limit, query.cursor);
    return { data: page.data.map(deliveryJson), nextCursor: page.nextCursor };
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @ClientScopes('webhooks:manage')
  @HttpCode(201)
  @Idempotent({ required: true })
  @ApiOperation({ summary: 'Send an event again', description: 'A new delivery of the same event (same event id), due now.' })
  async redeliver(@Param() params: DeliveryIdParams, @Principal() principal: Principal) {
    return deliveryJson(await this.endpoints.redeliver(principal, merchantOf(principal), params.id, params.deliveryId));
  }
}
