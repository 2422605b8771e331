import { Controller, Delete, Get, HttpCode, Param, Put, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { DomainError, ErrorKind } from '../common/errors/domain-error.js';
import { Principal } from '../common/principal.js';
import { ClientScopes, Scopes } from '../oauth/access.decorators.js';
import { CONSOLE_CLIENT_ID } from '../oauth/client-registry.js';
import { GrantsService } from '../oauth/grants.service.js';
import { UsersService } from '../users/users.service.js';
import { BalanceHistory } from './balance-history.js';
import { AccountIdParam, BalanceHistoryQuery, ExportQuery, ReconciliationQuery, UserIdParam } from './dto/compliance.dto.js';
import { LedgerExport } from './ledger-export.js';
import { type BalanceSet, Reconciliation } from './reconciliation.js';

export enum ComplianceErrorCode {
  InvalidRange = 'INVALID_RANGE',
  InvalidDate = 'INVALID_DATE',
  AccountNotFound = 'ACCOUNT_NOT_FOUND',
  TransferNotFound = 'TRANSFER_NOT_FOUND',
}

function invalid(code: ComplianceErrorCode, detail: string): DomainError {
  return new DomainError(ErrorKind.InvalidInput, code, detail);
}

const balanceSetJson = (set: BalanceSet) => ({
  debitsPending: set.debitsPending.toString(),
  debitsPosted: set.debitsPosted.toString(),
  creditsPending: set.creditsPending.toString(),
  creditsPosted: set.creditsPosted.toString(),
  /** Posted credits less posted debits: the balance as a wallet reads it. */
  balancePosted: (set.creditsPosted - set.debitsPosted).toString(),
});

/** Compliance reads of the ledger: the export, the daily reconciliation, balance history. `audit:read`; each use recorded. */
@ApiTags('compliance')
@Controller('v1')
export class ComplianceController {
  constructor(
    private readonly exporter: LedgerExport,
    private readonly reconciliation: Reconciliation,
    private readonly history: BalanceHistory,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly dataSource: DataSource,
  ) {}

  @Get('ledger/export')
  @Scopes('audit:read')
  @ApiProduces('application/x-ndjson', 'text/csv')
  @ApiOperation({
    summary: 'Export transfers with their entries and hashes',
    description:
      'Streams, oldest first, every transfer created in [from, to) with its two entries (balances after, prev hash, hash) and its digest, as NDJSON (one transfer a line) or CSV (one entry a row). Constant memory, one consistent snapshot, any size.',
  })
  async export(@Query() query: ExportQuery, @Principal() principal: Principal, @Res() reply: FastifyReply): Promise<void> {
    const from = query.from === undefined ? undefined : new Date(query.from);
    const to = query.to === undefined ? undefined : new Date(query.to);
    if (from !== undefined && to !== undefined && from.getTime() > to.getTime())
      throw invalid(ComplianceErrorCode.InvalidRange, 'from must not be after to.');
    await this.audit.record({
      actor: principal,
      action: 'ledger.export.started',
      resourceType: 'ledger',
      outcome: 'success',
      details: { from: query.from ?? null, to: query.to ?? null, format: query.format },
    });
    const stamp = this.clock.now().toISOString().replace(/[:.]/g, '-');
    const stream = this.exporter.stream({ from, to }, query.format);
    await reply
      .status(200)
      .header('content-type', query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="creditgate-ledger-${stamp}.${query.format === 'csv' ? 'csv' : 'ndjson'}"`)
      .header('cache-control', 'no-store')
      .send(stream);
  }

  @Get('compliance/reconciliation')
  @Scopes('audit:read')
  @ApiOperation({
    summary: 'The daily reconciliation',
    description:
      'For a UTC day: per account the opening balances, the debits and credits of the day (posted and pending) and the closing balances; per currency the totals; and each check with whether it passed. Accounts are paged by id (`cursor`); totals and checks cover every account.',
  })
  async reconcile(@Query() query: ReconciliationQuery, @Principal() principal: Principal) {
    const day = new Date(`${query.date}T00:00:00.000Z`);
    if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== query.date)
      throw invalid(ComplianceErrorCode.InvalidDate, 'date is not a calendar date.');
    const report = await this.reconciliation.report(query.date, query.limit, query.cursor);
    await this.audit.record({
      actor: principal,
      action: 'ledger.reconciliation.read',
      resourceType: 'ledger',
      outcome: report.passed ? 'success' : 'failure',
      problemCode: report.passed ? null : 'RECONCILIATION_FAILED',
      details: { date: query.date, currencies: report.currencies.length, accounts: report.accounts.length },
    });
    return {
      date: report.date,
      from: report.from.toISOString(),
      to: report.to.toISOString(),
      passed: report.passed,
      currencies: report.currencies.map((currency) => ({
        currency: currency.currency,
        accounts: currency.accounts,
        opening: balanceSetJson(currency.opening),
        movements: { ...balanceSetJson(currency.movements), entries: currency.movements.entries },
        closing: balanceSetJson(currency.closing),
        checks: currency.checks,
        accountsFailing: currency.accountsFailing,
      })),
      accounts: report.accounts.map((account) => ({
        accountId: account.accountId,
        code: account.code,
        currency: account.currency,
        opening: balanceSetJson(account.opening),
        debits: { posted: account.movements.debitsPosted.toString(), pending: account.movements.debitsPending.toString() },
        credits: { posted: account.movements.creditsPosted.toString(), pending: account.movements.creditsPending.toString() },
        entries: account.movements.entries,
        closing: balanceSetJson(account.closing),
        checks: { rollsForward: account.rollsForward, matchesAccountRow: account.matchesAccountRow },
      })),
      nextCursor: report.nextCursor,
    };
  }

  @Get('compliance/transfers/:id')
  @Scopes('audit:read')
  @ApiOperation({ summary: 'A transfer with its entries, their hashes and its digest' })
  async transferWithEntries(@Param() params: AccountIdParam) {
    const transfer = await this.exporter.transferWithEntries(params.id);
    if (transfer === null) throw new DomainError(ErrorKind.NotFound, ComplianceErrorCode.TransferNotFound, 'No transfer with this id.');
    return transfer;
  }

  @Get('compliance/accounts/:id/balance-history')
  @Scopes('audit:read')
  @ApiOperation({
    summary: "An account's balance over time",
    description: '`points` evenly spaced instants from `from` to `to`, each with the balances after the last entry at or before it.',
  })
  async balanceHistory(@Param() params: AccountIdParam, @Query() query: BalanceHistoryQuery) {
    const from = new Date(query.from);
    const to = new Date(query.to);
    if (!(to.getTime() > from.getTime())) throw invalid(ComplianceErrorCode.InvalidRange, 'to must be after from.');
    const found: unknown[] = await this.dataSource.query('SELECT 1 FROM ledger_accounts WHERE id = $1', [params.id]);
    if (found.length === 0) throw new DomainError(ErrorKind.NotFound, ComplianceErrorCode.AccountNotFound, 'No account with this id.');
    const points = await this.history.sample(params.id, from, to, query.points);
    return {
      accountId: params.id,
      data: points.map((point) => ({
        at: point.at.toISOString(),
        seq: point.seq.toString(),
        balancePosted: point.balancePosted.toString(),
        debitsPending: point.debitsPending.toString(),
        creditsPending: point.creditsPending.toString(),
      })),
    };
  }
}

/** The platform gives and takes the compliance role; taking it also revokes the user's grants to the console. */
@ApiTags('admin')
@Controller('v1/admin/users')
export class ComplianceRoleController {
  constructor(
    private readonly users: UsersService,
    private readonly grants: GrantsService,
    private readonly dataSource: DataSource,
  ) {}

  @Put(':id/roles/compliance')
  @ClientScopes('admin')
  @ApiOperation({ summary: 'Give a user the compliance role', description: 'Idempotent; recorded every time.' })
  async grant(@Param() params: UserIdParam, @Principal() principal: Principal) {
    const { user, changed } = await this.users.setRole(params.id, 'compliance', true, principal);
    return { userId: user.id, roles: [...user.roles], changed };
  }

  @Delete(':id/roles/compliance')
  @ClientScopes('admin')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Take the compliance role away',
    description: "Idempotent; recorded every time. The user's grants to the compliance console are revoked with it.",
  })
  async revoke(@Param() params: UserIdParam, @Principal() principal: Principal): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await this.users.setRole(params.id, 'compliance', false, principal, manager);
      await this.grants.revokeAllOfClient(params.id, CONSOLE_CLIENT_ID, principal, manager);
    });
  }
}
