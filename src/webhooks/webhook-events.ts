/** The events a merchant can subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  'payment_intent.succeeded',
  'payment_intent.amount_capturable_updated',
  'payment_intent.canceled',
  'payment_intent.expired',
  'refund.succeeded',
  'payout.paid',
  'deposit_agreement.created',
  'deposit_agreement.activated',
  'deposit_agreement.completed',
  'deposit_agreement.cancelled',
  'deposit_agreement.expired',
  'deposit_agreement.defaulted',
  'deposit_agreement.recovered',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** An event as another module hands it to the outbox: who it is for, what happened, and the object as the API shows it. */
export interface OutboxEvent {
  readonly merchantId: string;
  readonly type: WebhookEventType;
  readonly object: Record<string, unknown>;
}

/** How long a delivery is retried before it is given up. */
export const DELIVERY_WINDOW_MS = 24 * 3600 * 1000;
/** The first retry comes after about this long, each next one after twice as long (with jitter), at most MAX. */
export const RETRY_BASE_MS = 10_000;
export const RETRY_MAX_MS = 2 * 3600 * 1000;

/**
 * The delay before retry number `failedAttempts` (1 after the first failure): exponential, capped, with
 * "equal jitter" (half fixed, half random) so that receivers coming back up are not hit by every sender
 * at the same instant, while a retry never comes much sooner than the schedule says.
 */
export function retryDelayMs(failedAttempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(30, Math.max(0, failedAttempts - 1)));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
