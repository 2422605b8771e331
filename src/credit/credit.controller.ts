import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Principal } from '../common/principal.js';
import { PurposeQuery } from '../identity/dto/identity.dto.js';
import { UserScopes } from '../oauth/access.decorators.js';
import { AdmittanceQuery, AdmittanceResponse, CreditScoreResponse } from './dto/credit.dto.js';
import { CreditService } from './credit.service.js';

@ApiTags('credit')
@Controller('v1/credit')
export class CreditController {
  constructor(private readonly credit: CreditService) {}

  @Get('score')
  @UserScopes('credit:score')
  @ApiOperation({
    summary: "The user's credit score",
    description:
      '350 to 950 or `N/A` (identity not verified), its band and the factors behind it. A report is reused for 24 hours (same `reportId`) unless something it depends on changed. The read is recorded for audit with its purpose.',
  })
  @ApiOkResponse({ type: CreditScoreResponse })
  async score(@Query() query: PurposeQuery, @Principal() principal: Principal): Promise<CreditScoreResponse> {
    const report = await this.credit.readScore(principal, query.purpose ?? 'credit.score');
    return {
      reportId: report.id,
      score: report.score ?? 'N/A',
      band: report.band,
      asOf: report.createdAt.toISOString(),
      factors: report.factors.map((factor) => ({ code: factor.code, effect: factor.effect, detail: factor.detail })),
    };
  }

  @Get('admittance')
  @UserScopes('credit:admittance')
  @ApiOperation({
    summary: 'Does the score meet a threshold?',
    description: '`Y`, `N` or `N/A` (no score), and the report it came from; never the score itself.',
  })
  @ApiOkResponse({ type: AdmittanceResponse })
  async admittance(@Query() query: AdmittanceQuery, @Principal() principal: Principal): Promise<AdmittanceResponse> {
    return this.credit.admittance(principal, query.threshold, query.purpose ?? 'credit.admittance');
  }
}
