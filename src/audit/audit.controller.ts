import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Principal } from '../common/principal.js';
import { Scopes } from '../oauth/access.decorators.js';
import { AuditEventsQuery } from './dto/audit.dto.js';
import { AuditTrail } from './audit-trail.js';
import { type AuditVerificationReport, AuditVerifier } from './audit-verifier.js';
import { AuditService } from './audit.service.js';

export function auditVerificationJson(report: AuditVerificationReport) {
  return {
    ok: report.ok,
    startedAt: report.startedAt.toISOString(),
    finishedAt: report.finishedAt.toISOString(),
    durationMs: report.durationMs,
    eventsChecked: report.eventsChecked,
    startsAfterSeq: report.startsAfterSeq,
    startsAfterHash: report.startsAfterHash,
    headSeq: report.headSeq,
    headHash: report.headHash,
    firstBrokenEvent: report.firstBrokenEvent,
    brokenEventCount: report.brokenEventCount,
    sealing: {
      unsealedEvents: report.sealing.unsealedEvents,
      oldestUnsealedAt: report.sealing.oldestUnsealedAt?.toISOString() ?? null,
      lagSeconds: report.sealing.lagSeconds,
      lastSealedSeq: report.sealing.lastSealedSeq,
      lastSealedAt: report.sealing.lastSealedAt?.toISOString() ?? null,
    },
  };
}

/** The compliance read API of the audit trail. Every read of it is itself an audit event. */
@ApiTags('audit')
@Controller('v1/audit')
export class AuditController {
  constructor(
    private readonly trail: AuditTrail,
    private readonly verifier: AuditVerifier,
    private readonly audit: AuditService,
  ) {}

  @Get('events')
  @Scopes('audit:read')
  @ApiOperation({
    summary: 'Audit events, newest first',
    description: 'Filtered by actor (userId, clientId, merchantId), action (or a prefix ending in a dot), resource, outcome and time.',
  })
  async events(@Query() query: AuditEventsQuery, @Principal() principal: Principal) {
    const page = await this.trail.events(
      {
        userId: query.userId,
        clientId: query.clientId,
        merchantId: query.merchantId,
        action: query.action,
        resourceType: query.resourceType,
        resourceId: query.resourceId,
        outcome: query.outcome,
        from: query.from === undefined ? undefined : new Date(query.from),
        to: query.to === undefined ? undefined : new Date(query.to),
      },
      query.limit,
      query.cursor,
    );
    await this.audit.record({
      actor: principal,
      action: 'audit.events.read',
      resourceType: 'audit_event',
      outcome: 'success',
      // The filters that select people (ids) and kinds are recorded; a free-text resource id only as given or not.
      details: {
        userId: query.userId ?? null,
        clientId: query.clientId ?? null,
        merchantId: query.merchantId ?? null,
        action: query.action ?? null,
        resourceType: query.resourceType ?? null,
        resourceIdGiven: query.resourceId !== undefined,
        outcome: query.outcome ?? null,
        from: query.from ?? null,
        to: query.to ?? null,
        paged: query.cursor !== undefined,
        returned: page.data.length,
      },
    });
    return page;
  }

  @Post('verifications')
  @Scopes('audit:read')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Verify the audit chain',
    description:
      'Recomputes the hash of every sealed event in seq order and checks each link; the report names the first broken event and says how far sealing is behind.',
  })
  async verify(@Principal() principal: Principal) {
    const report = await this.verifier.verify();
    await this.audit.record({
      actor: principal,
      action: 'audit.verification.run',
      resourceType: 'audit_chain',
      outcome: report.ok ? 'success' : 'failure',
      problemCode: report.ok ? null : 'AUDIT_CHAIN_BROKEN',
      details: {
        eventsChecked: report.eventsChecked,
        brokenEventCount: report.brokenEventCount,
        firstBrokenSeq: report.firstBrokenEvent?.seq ?? null,
        headSeq: report.headSeq,
        unsealedEvents: report.sealing.unsealedEvents,
      },
    });
    return auditVerificationJson(report);
  }
}
