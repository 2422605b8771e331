import { Body, Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { RateLimit } from '../common/rate-limit/rate-limiter.js';
import { AppConfig } from '../config/app-config.js';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { Principal } from '../common/principal.js';
import { Public, UserScopes } from '../oauth/access.decorators.js';
import { MeResponse, SignUpAccepted, SignUpRequest } from './dto/sign-up.dto.js';
import { maskEmail, maskPhone, UsersService } from './users.service.js';

@ApiTags('users')
@Controller('v1')
export class UsersController {
  /** Sign-ups per client address: enough for people, too few to harvest or to burn CPU on argon2. */
  private readonly signUpsByAddress: RateLimit;

  constructor(
    private readonly users: UsersService,
    config: AppConfig,
  ) {
    this.signUpsByAddress = new RateLimit('sign-ups from one address', config.rateLimits.signUpPerMinute, 60);
  }

  @Post('users')
  @Public()
  @HttpCode(202)
  @Idempotent({ required: false })
  @ApiOperation({
    summary: 'Sign up',
    description:
      'Creates an account with an email or phone number and a password. The answer is the same whether or not the login was free, so that sign-up reveals nothing about who has an account; sign in to find out.',
  })
  @ApiAcceptedResponse({ type: SignUpAccepted })
  @ApiTooManyRequestsResponse({ description: 'Too many sign-ups from this address; see Retry-After.' })
  async signUp(@Body() body: SignUpRequest, @Req() request: FastifyRequest): Promise<SignUpAccepted> {
    await this.signUpsByAddress.consume(request.ip);
    await this.users.signUp({ email: body.email, phone: body.phone, password: body.password, displayName: body.displayName });
    return { status: 'accepted', detail: 'If this login was free, the account now exists: sign in with it to continue.' };
  }

  @Get('me')
  @UserScopes()
  @ApiOperation({ summary: 'The signed-in user', description: 'Any token a user delegated.' })
  @ApiOkResponse({ type: MeResponse })
  async me(@Principal() principal: Principal): Promise<MeResponse> {
    // UserScopes() guarantees a user token.
    const user = await this.users.getById(principal.userId ?? '');
    return {
      id: user.id,
      displayName: user.displayName,
      email: user.email === null ? null : maskEmail(user.email),
      phone: user.phone === null ? null : maskPhone(user.phone),
      roles: [...user.roles],
      createdAt: user.createdAt.toISOString(),
      client: { clientId: principal.clientId, scopes: [...principal.scopes] },
    };
  }
}
