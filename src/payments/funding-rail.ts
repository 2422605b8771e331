import { Injectable } from '@nestjs/common';

export interface FundingRequest {
  readonly topUpId: string;
  readonly userId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}

export interface FundingResult {
  readonly status: 'settled';
  /** The rail's own reference for the money received (never a card or account number). */
  readonly reference: string;
}

/**
 * The port through which money comes into a wallet from outside (a bank transfer, a card, a super-app
 * balance). A real adapter may refuse or be slow; the top-up only credits the wallet once it settled.
 */
export abstract class FundingRail {
  abstract collect(request: FundingRequest): Promise<FundingResult>;
}

/** The sandbox rail: every collection settles at once, with a reference derived from the top-up. */
@Injectable()
export class SandboxFundingRail extends FundingRail {
  collect(request: FundingRequest): Promise<FundingResult> {
    return Promise.resolve({ status: 'settled', reference: `sandbox_${request.topUpId}` });
  }
}
