import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  HttpCode,
  Injectable,
  Module,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { Idempotent } from '../../src/common/idempotency/idempotency.decorator.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../../src/common/errors/domain-error.js';
import { IsAmountMinor, IsCurrencyCode } from '../../src/common/money/money.validators.js';
import '../../src/common/principal.js';
import { Public } from '../../src/oauth/access.decorators.js';

class ProbeAddress {
  @IsString()
  @MaxLength(20)
  city!: string;
}

export class CreateProbeThing {
  @IsString()
  @MaxLength(40)
  name!: string;

  @IsAmountMinor()
  amountMinor!: number | string;

  @IsCurrencyCode()
  currency!: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => ProbeAddress)
  address?: ProbeAddress;

  /** Sleep this long before answering (to hold a request in flight). */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(5000)
  delayMs?: number;

  /** Fail with a 5xx or a 409 (a retry may succeed), or a 422 (a final refusal). */
  @IsOptional()
  @IsIn(['server', 'conflict', 'final'])
  fail?: 'server' | 'conflict' | 'final';

  @IsOptional()
  @IsBoolean()
  flag?: boolean;
}

/** Counts how often the probe's handlers really ran: idempotency must keep these exact. */
export const probeExecutions = { count: 0, serverFailuresLeft: 0 };

/** Stands in for the OAuth guard: `x-test-client: merchant-a` makes the caller that client. */
@Injectable()
class TestPrincipalGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const clientId = request.headers['x-test-client'];
    if (typeof clientId === 'string') request.principal = { clientId, clientType: 'merchant', merchantId: null, userId: null, scopes: [] };
    return true;
  }
}

/**
 * Test-only routes: never part of the application. They exercise the foundation's mechanisms
 * (validation, problem details, idempotency, draining) the way module routes will.
 */
@Controller('test/probe')
@Public()
@UseGuards(TestPrincipalGuard)
class ProbeController {
  @Post('things')
  @HttpCode(201)
  @Idempotent()
  async create(@Body() body: CreateProbeThing, @Req() request: FastifyRequest): Promise<Record<string, unknown>> {
    probeExecutions.count += 1;
    const execution = probeExecutions.count;
    if (body.delayMs) await new Promise((resolve) => setTimeout(resolve, body.delayMs));
    if (body.fail === 'server' && probeExecutions.serverFailuresLeft > 0) {
      probeExecutions.serverFailuresLeft -= 1;
      throw new CommonError(ErrorKind.Unavailable, CommonErrorCode.ServiceUnavailable, 'The probe is down for a moment.', {
        retryAfterSeconds: 1,
      });
    }
    if (body.fail === 'conflict') throw new CommonError(ErrorKind.Conflict, CommonErrorCode.Conflict, 'The probe is busy.');
    if (body.fail === 'final')
      throw new CommonError(ErrorKind.Unprocessable, CommonErrorCode.InvalidAmount, 'The probe will never accept this.');
    return {
      execution,
      name: body.name,
      amountMinor: String(body.amountMinor),
      currency: body.currency,
      clientId: request.principal?.clientId ?? null,
    };
  }

  @Post('optional-key/:id')
  @HttpCode(200)
  @Idempotent({ required: false })
  optional(@Param('id') id: string, @Query('q') q?: string): { id: string; q: string | null; execution: number } {
    probeExecutions.count += 1;
    return { id, q: q ?? null, execution: probeExecutions.count };
  }

  @Post('slow')
  @HttpCode(200)
  async slow(@Query('ms') ms = '300'): Promise<{ slept: number }> {
    const sleep = Math.min(Number(ms) || 0, 5000);
    await new Promise((resolve) => setTimeout(resolve, sleep));
    return { slept: sleep };
  }

  @Post('crash')
  crash(): never {
    throw new Error('SELECT secret_column FROM very_internal_table failed at /srv/app.ts:42');
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
