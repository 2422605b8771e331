import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { Principal } from '../common/principal.js';
import { AnyScope, ClientScopes, UserScopes } from '../oauth/access.decorators.js';
import {
  CreatePolicyRequest,
  CreateVersionRequest,
  DecisionIdParam,
  DecisionRequest,
  PoliciesQuery,
  PolicyIdParam,
  PolicyVersionParam,
} from './dto/waivers.dto.js';
import { decisionJson, policyJson, versionJson } from './waivers.presenters.js';
import { WaiversService } from './waivers.service.js';

@ApiTags('waivers')
@Controller('v1')
export class WaiversController {
  constructor(private readonly waivers: WaiversService) {}

  @Post('waiver-policies')
  @ClientScopes('policies:manage')
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Create a waiver policy',
    description: 'With its first version, active at once. Invalid terms are refused field by field.',
  })
  async createPolicy(@Body() body: CreatePolicyRequest, @Principal() principal: Principal) {
    const { policy, version } = await this.waivers.createPolicy(principal, body.name, body.version);
    return policyJson(policy, [version]);
  }

  @Get('waiver-policies')
  @ClientScopes('policies:manage')
  @ApiOperation({ summary: "The merchant's waiver policies", description: 'Newest first, cursor-paginated.' })
  async listPolicies(@Query() query: PoliciesQuery, @Principal() principal: Principal) {
    const page = await this.waivers.listPolicies(principal, query.limit, query.cursor);
    return { data: page.data.map((policy) => policyJson(policy)), nextCursor: page.nextCursor };
  }

  @Get('waiver-policies/:id')
  @AnyScope('policies:manage', 'waivers:request')
  @ApiOperation({
    summary: 'A waiver policy and its versions',
    description: "The merchant's own, or, for a mini-program's user token, its merchant's.",
  })
  async getPolicy(@Param() params: PolicyIdParam, @Principal() principal: Principal) {
    const { policy, versions } = await this.waivers.getPolicy(principal, params.id);
    return policyJson(policy, versions);
  }

  @Post('waiver-policies/:id/versions')
  @ClientScopes('policies:manage')
  @Idempotent({ required: true })
  @ApiOperation({
    summary: 'Add a version to a policy',
    description: 'Versions never change once written; a new one becomes the active one unless `activate` is false.',
  })
  async addVersion(@Param() params: PolicyIdParam, @Body() body: CreateVersionRequest, @Principal() principal: Principal) {
    const { activate, ...terms } = body;
    const { policy, version } = await this.waivers.addVersion(principal, params.id, terms, activate ?? true);
    return { ...versionJson(version), policy: policyJson(policy) };
  }

  @Get('waiver-policies/:id/versions/:version')
  @AnyScope('policies:manage', 'waivers:request')
  @ApiOperation({ summary: 'One version of a policy' })
  async getVersion(@Param() params: PolicyVersionParam, @Principal() principal: Principal) {
    return versionJson(await this.waivers.getVersion(principal, params.id, params.version));
  }

  @Post('waivers/decisions')
  @UserScopes('waivers:request')
  @ApiOperation({
    summary: 'Decide whether the deposit is waived',
    description:
      "Under the policy's active version, from the user's score, identity, age, open agreements, debt and waived exposure. Every reason is listed with what was observed and what was required; the score itself only with `credit:score`, otherwise its band. A missing fact is a failed reason, never an error.",
  })
  async decide(@Body() body: DecisionRequest, @Principal() principal: Principal) {
    return decisionJson(await this.waivers.decide(principal, body.policyId), principal);
  }

  @Get('waivers/decisions/:id')
  @AnyScope('waivers:request', 'agreements:manage')
  @ApiOperation({ summary: 'A decision', description: "The user's own, or the merchant's." })
  async getDecision(@Param() params: DecisionIdParam, @Principal() principal: Principal) {
    return decisionJson(await this.waivers.getDecision(principal, params.id), principal);
  }
}
