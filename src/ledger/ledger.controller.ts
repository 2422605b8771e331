import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuditService } from '../audit/audit.service.js';
import { DomainError, ErrorKind } from '../common/errors/domain-error.js';
import { Idempotent } from '../common/idempotency/idempotency.decorator.js';
import { parseAmountMinor } from '../common/money/money.js';
import { PageQuery } from '../common/pagination/cursor.js';
import { currentRequestContext } from '../common/request-context/request-context.js';
import { Principal } from '../common/principal.js';
import { AnyScope, Scopes } from '../oauth/access.decorators.js';
import {
  AccountQuery,
  BalancesQuery,
  IdParam,
  OpenAccountRequest,
  ResolveRequest,
  SubmitTransfersRequest,
  TransfersQuery,
  VoidRequest,
} from './dto/ledger.dto.js';
import { LedgerError, LedgerErrorCode } from './ledger.errors.js';
import { CheckpointService } from './checkpoints.js';
import { LedgerVerifier } from './ledger-verifier.js';
import { accountJson, checkpointJson, entryJson, resultJson, transferJson, verificationJson } from './ledger.presenters.js';
import { defaultResolutionId, LedgerService } from './ledger.service.js';
import type { CommandResult, Resolution } from './ledger.types.js';

/** Where the request came from, captured now: the audit event is written later, in the engine's batch. */
function requestOrigin(): { ip: string | null; requestId: string | null; userAgent: string | null } {
  const context = currentRequestContext();
  return { ip: context?.ip ?? null, requestId: context?.requestId ?? null, userAgent: context?.userAgent ?? null };
}

function accountNotFound(): DomainError {
  return new DomainError(ErrorKind.NotFound, LedgerErrorCode.AccountNotFound, 'No account with this id.');
}

/** Throws the refusal of a single command, so that it becomes a problem document with its code. */
function single(result: CommandResult | undefined): Extract<CommandResult, { ok: true }> {
  if (result === undefined) throw new Error('no result for a command');
  if (!result.ok) throw result.error;
  return result;
}

@ApiTags('ledger')
@Controller('v1/ledger')
export class LedgerController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly audit: AuditService,
    private readonly checkpoints: CheckpointService,
    private readonly verifier: LedgerVerifier,
  ) {}

  @Post('accounts')
  @Scopes('ledger:write')
  @Idempotent({ required: false })
  @ApiOperation({
    summary: 'Open an account',
    description: 'The same code and fields again return the account (200); a different account under the code is refused.',
  })
  async openAccount(@Body() body: OpenAccountRequest, @Principal() principal: Principal, @Res({ passthrough: true }) reply: FastifyReply) {
    const { account, created } = await this.ledger.openAccount({ ...body });
    if (created) {
      await this.audit.record({
        actor: principal,
        action: 'ledger.account.opened',
        resourceType: 'ledger_account',
        resourceId: account.id,
        outcome: 'success',
        details: { currency: account.currency },
      });
    }
    void reply.status(created ? 201 : 200);
    return accountJson(account);
  }

  @Post('accounts/:id/close')
  @Scopes('ledger:write')
  @HttpCode(200)
  @Idempotent({ required: false })
  @ApiOperation({ summary: 'Close an account', description: 'No new transfers may touch it; refused while it has pending amounts.' })
  async closeAccount(@Param() params: IdParam, @Principal() principal: Principal) {
    const before = await this.ledger.findAccount(params.id);
    const account = await this.ledger.closeAccount(params.id);
    if (account === null) throw accountNotFound();
    if (before?.closedAt === null) {
      await this.audit.record({
        actor: principal,
        action: 'ledger.account.closed',
        resourceType: 'ledger_account',
        resourceId: account.id,
        outcome: 'success',
      });
    }
    return accountJson(account);
  }

  @Post('transfers')
  @Scopes('ledger:write')
  @HttpCode(200)
  @Idempotent({ required: false })
  @ApiOperation({
    summary: 'Submit transfers',
    description:
      'One or a batch (at most 1,000). Each transfer succeeds or fails on its own and has its own result, unless `linked`: then all succeed or none does. A transfer id already used with the same fields returns the first result (`replayed`).',
  })
  async submit(@Body() body: SubmitTransfersRequest, @Principal() principal: Principal) {
    const commands = body.transfers.map((input) => ({
      type: 'transfer' as const,
      id: input.id,
      debitAccountId: input.debitAccountId,
      creditAccountId: input.creditAccountId,
      amount: parseAmountMinor(input.amountMinor),
      currency: input.currency,
      code: input.code,
      metadata: input.metadata ?? null,
      pending: input.pending ?? false,
      timeoutSeconds: input.timeoutSeconds ?? 0,
    }));
    const linked = body.linked ?? false;
    const where = requestOrigin();
    const results = await this.ledger.submit(commands, {
      linked,
      // Written with the transfers, in their transaction: no transfer without its audit event, and no second commit.
      audit: (outcome) => {
        const created = outcome.filter((result) => result.ok && !result.replayed).length;
        const failed = outcome.filter((result) => !result.ok).length;
        if (created === 0 && failed === 0) return null;
        return {
          actor: principal,
          action: 'ledger.transfers.submitted',
          resourceType: 'ledger_transfer',
          resourceId: commands.length === 1 ? (commands[0]?.id ?? null) : null,
          outcome: failed === 0 ? 'success' : 'failure',
          problemCode: failed === 0 ? null : 'TRANSFERS_REFUSED',
          details: { submitted: commands.length, created, failed, linked },
          ...where,
        };
      },
    });
    return { results: results.map((result, index) => resultJson(commands[index]?.id ?? '', result)) };
  }

  @Post('transfers/:id/post')
  @Scopes('ledger:write')
  @HttpCode(200)
  @Idempotent({ required: false })
  @ApiOperation({ summary: 'Post a pending transfer', description: 'In full, or `amountMinor` of it, releasing the rest. Once.' })
  async post(@Param() params: IdParam, @Body() body: ResolveRequest, @Principal() principal: Principal) {
    const command: Resolution = {
      type: 'resolve',
      id: body.id ?? defaultResolutionId(params.id, 'post'),
      pendingId: params.id,
      action: 'post',
      ...(body.amountMinor === undefined ? {} : { amount: parseAmountMinor(body.amountMinor) }),
      ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
    };
    const result = single((await this.ledger.submit([command]))[0]);
    if (!result.replayed) {
      await this.audit.record({
        actor: principal,
        action: 'ledger.transfer.posted',
        resourceType: 'ledger_transfer',
        resourceId: params.id,
        outcome: 'success',
        details: { amountMinor: result.transfer.amount.toString() },
      });
    }
    return transferJson(result.transfer);
  }

  @Post('transfers/:id/void')
  @Scopes('ledger:write')
  @HttpCode(200)
  @Idempotent({ required: false })
  @ApiOperation({ summary: 'Void a pending transfer', description: 'Releases the whole reservation. Once.' })
  async void(@Param() params: IdParam, @Body() body: VoidRequest, @Principal() principal: Principal) {
    const command: Resolution = {
      type: 'resolve',
      id: body.id ?? defaultResolutionId(params.id, 'void'),
      pendingId: params.id,
      action: 'void',
      ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
    };
    const result = single((await this.ledger.submit([command]))[0]);
    if (!result.replayed)
      await this.audit.record({
        actor: principal,
        action: 'ledger.transfer.voided',
        resourceType: 'ledger_transfer',
        resourceId: params.id,
        outcome: 'success',
      });
    return transferJson(result.transfer);
  }

  @Get('accounts/:id')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({
    summary: 'An account and its balances',
    description: '`asOf`: the balances after its last entry at or before that time.',
  })
  async account(@Param() params: IdParam, @Query() query: AccountQuery) {
    const account =
      query.asOf === undefined ? await this.ledger.findAccount(params.id) : await this.ledger.accountAsOf(params.id, new Date(query.asOf));
    if (account === null) throw accountNotFound();
    return accountJson(account);
  }

  @Get('balances')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({ summary: 'Several accounts in one consistent snapshot' })
  @ApiOkResponse({ description: 'Unknown ids are left out.' })
  async balances(@Query() query: BalancesQuery) {
    const accounts = await this.ledger.accounts(query.accountIds.toLowerCase().split(','));
    return { data: accounts.map(accountJson) };
  }

  @Get('accounts/:id/entries')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({ summary: "An account's entries, oldest first, with their hash chain" })
  async entries(@Param() params: IdParam, @Query() query: PageQuery) {
    if ((await this.ledger.findAccount(params.id)) === null) throw accountNotFound();
    const page = await this.ledger.entries(params.id, query.limit, query.cursor);
    return { data: page.data.map(entryJson), nextCursor: page.nextCursor };
  }

  @Get('transfers')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({ summary: 'Transfers, newest first, by account, status and time' })
  async transfers(@Query() query: TransfersQuery) {
    const page = await this.ledger.transfers(
      {
        accountId: query.accountId,
        status: query.status,
        from: query.from === undefined ? undefined : new Date(query.from),
        to: query.to === undefined ? undefined : new Date(query.to),
      },
      query.limit,
      query.cursor,
    );
    return { data: page.data.map(transferJson), nextCursor: page.nextCursor };
  }

  @Get('transfers/:id')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({ summary: 'A transfer' })
  async transfer(@Param() params: IdParam) {
    const transfer = await this.ledger.findTransfer(params.id);
    if (transfer === null) throw new LedgerError(LedgerErrorCode.TransferNotFound, 'No transfer with this id.');
    return transferJson(transfer);
  }

  @Get('checkpoints')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({
    summary: 'Checkpoints, newest first',
    description: "Each commits every account's head in a Merkle root, chained to the one before.",
  })
  async listCheckpoints(@Query() query: PageQuery) {
    const page = await this.checkpoints.list(query.limit, query.cursor);
    return { data: page.data.map(checkpointJson), nextCursor: page.nextCursor };
  }

  @Post('checkpoints')
  @Scopes('ledger:write')
  @HttpCode(201)
  @Idempotent({ required: false })
  @ApiOperation({ summary: 'Make a checkpoint now' })
  async createCheckpoint(@Principal() principal: Principal) {
    return checkpointJson(await this.checkpoints.create({ actor: principal }));
  }

  @Post('verifications')
  @AnyScope('ledger:write', 'audit:read')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Verify the whole ledger',
    description:
      "Recomputes every hash chain, balance, transfer's entries, currency total and checkpoint, streaming through the tables in bounded memory, and names the first broken entry of each account.",
  })
  async verify(@Principal() principal: Principal) {
    const report = await this.verifier.verify();
    await this.audit.record({
      actor: principal,
      action: 'ledger.verification.run',
      resourceType: 'ledger',
      outcome: report.ok ? 'success' : 'failure',
      problemCode: report.ok ? null : 'LEDGER_VERIFICATION_FAILED',
      details: { entriesChecked: report.entriesChecked, problemCount: report.problemCount, durationMs: report.durationMs },
    });
    return verificationJson(report);
  }

  @Get('trial-balance')
  @AnyScope('ledger:write', 'audit:read')
  @ApiOperation({ summary: 'Totals per currency: debits equal credits, posted and pending' })
  async trialBalance() {
    const totals = await this.ledger.trialBalance();
    return {
      data: totals.map((row) => ({
        currency: row.currency,
        accounts: row.accounts,
        debitsPending: row.debitsPending.toString(),
        debitsPosted: row.debitsPosted.toString(),
        creditsPending: row.creditsPending.toString(),
        creditsPosted: row.creditsPosted.toString(),
        balanced: row.balanced,
      })),
      balanced: totals.every((row) => row.balanced),
    };
  }
}
