import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiProperty, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Matches, MaxLength } from 'class-validator';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { PageQuery } from '../common/pagination/cursor.js';
import { Principal } from '../common/principal.js';
import { AnyToken, ClientScopes, UserScopes } from './access.decorators.js';
import { ClientRegistry } from './client-registry.js';
import { ClientResponse, CreateClientRequest, CreateMerchantRequest, GrantPage, MerchantResponse } from './dto/admin.dto.js';
import { GrantsService } from './grants.service.js';

class GrantIdParam {
  // The authorization server's ids are URL-safe random strings; anything else (a NUL, say) is no grant.
  @MaxLength(255)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'id must be a grant id: letters, digits, _ and -.' })
  id!: string;
}

@ApiTags('admin')
@Controller('v1/admin')
export class AdminController {
  constructor(private readonly registry: ClientRegistry) {}

  @Post('merchants')
  @ClientScopes('admin')
  @HttpCode(201)
  @Idempotent()
  @ApiOperation({ summary: 'Register a merchant' })
  @ApiCreatedResponse({ type: MerchantResponse })
  async createMerchant(@Body() body: CreateMerchantRequest, @Principal() principal: Principal): Promise<MerchantResponse> {
    const merchant = await this.registry.createMerchant(body.name, principal);
    return { id: merchant.id, name: merchant.name, createdAt: merchant.createdAt.toISOString() };
  }

  @Post('clients')
  @ClientScopes('admin')
  @HttpCode(201)
  // The secret is shown once: a replay of this request (same Idempotency-Key) answers clientSecret: null.
  @Idempotent({ withheldOnReplay: ['clientSecret'] })
  @ApiOperation({
    summary: 'Register an OAuth client',
    description: 'The client secret, if any, is in this response only; a replay with the same Idempotency-Key answers it as null.',
  })
  @ApiCreatedResponse({ type: ClientResponse })
  async createClient(@Body() body: CreateClientRequest, @Principal() principal: Principal): Promise<ClientResponse> {
    const { client, clientSecret } = await this.registry.createClient(
      {
        clientType: body.clientType,
        merchantId: body.merchantId ?? null,
        name: body.name,
        tokenEndpointAuthMethod: body.tokenEndpointAuthMethod,
        redirectUris: body.redirectUris,
        scopes: body.scopes,
        dpopBound: body.dpopBound,
        jwks: body.jwks ? { keys: body.jwks.keys } : null,
      },
      principal,
    );
    return {
      clientId: client.clientId,
      clientType: client.clientType,
      merchantId: client.merchantId,
      name: client.name,
      tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
      redirectUris: [...client.redirectUris],
      scopes: [...client.scopes],
      dpopBound: client.dpopBound,
      createdAt: client.createdAt.toISOString(),
      clientSecret,
    };
  }
}

class PrincipalResponse {
  @ApiProperty()
  clientId!: string;
  @ApiProperty({ enum: ['mini_program', 'merchant', 'compliance', 'platform'] })
  clientType!: string;
  @ApiProperty({ nullable: true, type: String })
  merchantId!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'Set only for a token a user delegated.' })
  userId!: string | null;
  @ApiProperty({ type: [String] })
  scopes!: string[];
}

@ApiTags('oauth')
@Controller('v1/principal')
export class PrincipalController {
  @Get()
  @AnyToken()
  @ApiOperation({
    summary: 'Who this token acts as',
    description: 'Any valid access token: the client, its type and merchant, the user (for delegated tokens) and the scopes.',
  })
  @ApiOkResponse({ type: PrincipalResponse })
  show(@Principal() principal: Principal): PrincipalResponse {
    return {
      clientId: principal.clientId,
      clientType: principal.clientType,
      merchantId: principal.merchantId,
      userId: principal.userId,
      scopes: [...principal.scopes],
    };
  }
}

@ApiTags('users')
@Controller('v1/me/grants')
export class GrantsController {
  constructor(private readonly grants: GrantsService) {}

  @Get()
  @UserScopes()
  @ApiOperation({ summary: 'The consents you have given', description: 'Any token a user delegated.' })
  @ApiOkResponse({ type: GrantPage })
  async list(@Principal() principal: Principal, @Query() query: PageQuery): Promise<GrantPage> {
    const page = await this.grants.list(principal.userId ?? '', query.limit, query.cursor);
    return {
      data: page.data.map((grant) => ({
        ...grant,
        grantedAt: grant.grantedAt.toISOString(),
        expiresAt: grant.expiresAt?.toISOString() ?? null,
      })),
      nextCursor: page.nextCursor,
    };
  }

  @Delete(':id')
  @UserScopes()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Withdraw a consent',
    description:
      'Revokes the grant and its refresh tokens; access tokens already issued lapse within their lifetime (10 minutes by default).',
  })
  @ApiNoContentResponse()
  async revoke(@Principal() principal: Principal, @Param() params: GrantIdParam): Promise<void> {
    await this.grants.revoke(principal, params.id);
  }
}
