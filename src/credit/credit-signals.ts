import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock/clock.js';
import { type IdentityStatus, IdentityService } from '../identity/identity.service.js';
import { UsersService } from '../users/users.service.js';
import type { CreditSignals } from './credit-score.js';

/**
 * The signals port: what the platform itself knows about a user that moves the score. Each module that
 * knows something registers a source (payments: completed payments and debt; waivers: completed and
 * defaulted agreements); identity and account age are built in. A source answers only for what it owns.
 */
export interface CreditSignalSource {
  /** For diagnostics (`payments`). */
  readonly name: string;
  signalsFor(userId: string): Promise<Partial<Omit<CreditSignals, 'identityVerified' | 'accountAgeDays'>>>;
}

@Injectable()
export class CreditSignalsService {
  private readonly sources: CreditSignalSource[] = [];

  constructor(
    private readonly identity: IdentityService,
    private readonly users: UsersService,
    private readonly clock: Clock,
  ) {}

  /** Called once by a module at start-up (onModuleInit). */
  register(source: CreditSignalSource): void {
    if (this.sources.some((existing) => existing.name === source.name))
      throw new Error(`credit signal source ${source.name} registered twice`);
    this.sources.push(source);
  }

  /** The user's signals now, with the identity status they came from; the user exists (callers hold a user token). */
  async collect(
    userId: string,
  ): Promise<{ readonly email: string | null; readonly signals: CreditSignals; readonly identity: IdentityStatus }> {
    const [user, identity, ...contributions] = await Promise.all([
      this.users.getById(userId),
      this.identity.status(userId),
      ...this.sources.map((source) => source.signalsFor(userId)),
    ]);
    let signals: CreditSignals = {
      identityVerified: identity.status === 'verified',
      accountAgeDays: Math.max(0, Math.floor((this.clock.now().getTime() - user.createdAt.getTime()) / 86_400_000)),
      completedAgreements: 0,
      completedPayments: 0,
      outstandingDebtMinor: 0n,
      defaults: 0,
    };
    for (const contribution of contributions) {
      signals = {
        ...signals,
        completedAgreements: signals.completedAgreements + (contribution.completedAgreements ?? 0),
        completedPayments: signals.completedPayments + (contribution.completedPayments ?? 0),
        outstandingDebtMinor: signals.outstandingDebtMinor + (contribution.outstandingDebtMinor ?? 0n),
        defaults: signals.defaults + (contribution.defaults ?? 0),
      };
    }
    return { email: user.email, signals, identity };
  }
}
