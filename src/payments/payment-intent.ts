import { v5 as uuidv5 } from 'uuid';

/** A payment intent as stored, and its JSON form (amounts as strings of minor units, times RFC 3339). */
export type CaptureMethod = 'automatic' | 'manual';
export type IntentStatus = 'requires_confirmation' | 'requires_capture' | 'succeeded' | 'canceled' | 'expired';

export interface PaymentIntent {
  readonly id: string;
  readonly merchantId: string;
  /** The user it is addressed to, or null: any user of the merchant's mini-program may pay it. */
  readonly userId: string | null;
  /** The user who confirmed it. */
  readonly payerUserId: string | null;
  readonly amount: bigint;
  readonly currency: string;
  readonly captureMethod: CaptureMethod;
  readonly status: IntentStatus;
  readonly description: string | null;
  readonly merchantReference: string | null;
  readonly feeBasisPoints: number;
  readonly amountCaptured: bigint;
  readonly feeAmount: bigint;
  readonly amountRefunded: bigint;
  readonly feeRefunded: bigint;
  readonly authorizationTransferId: string | null;
  readonly authorizationExpiresAt: Date | null;
  readonly createdByClientId: string;
  readonly confirmedAt: Date | null;
  readonly completedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface IntentRow {
  id: string;
  merchant_id: string;
  user_id: string | null;
  payer_user_id: string | null;
  amount: string;
  currency: string;
  capture_method: CaptureMethod;
  status: IntentStatus;
  description: string | null;
  merchant_reference: string | null;
  fee_basis_points: number;
  amount_captured: string;
  fee_amount: string;
  amount_refunded: string;
  fee_refunded: string;
  authorization_transfer_id: string | null;
  authorization_expires_at: Date | null;
  created_by_client_id: string;
  confirmed_at: Date | null;
  completed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function intentFromRow(row: IntentRow): PaymentIntent {
  const intent: PaymentIntent = {
    id: row.id,
    merchantId: row.merchant_id,
    userId: row.user_id,
    payerUserId: row.payer_user_id,
    amount: BigInt(row.amount),
    currency: row.currency.trim(),
    captureMethod: row.capture_method,
    status: row.status,
    description: row.description,
    merchantReference: row.merchant_reference,
    feeBasisPoints: row.fee_basis_points,
    amountCaptured: BigInt(row.amount_captured),
    feeAmount: BigInt(row.fee_amount),
    amountRefunded: BigInt(row.amount_refunded),
    feeRefunded: BigInt(row.fee_refunded),
    authorizationTransferId: row.authorization_transfer_id,
    authorizationExpiresAt: row.authorization_expires_at,
    createdByClientId: row.created_by_client_id,
    confirmedAt: row.confirmed_at,
    completedAt: row.completed_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  // What is read back must be what the table's checks allow (CONVENTIONS: assert on both sides).
  if (intent.amountCaptured > intent.amount || intent.amountRefunded > intent.amountCaptured || intent.feeRefunded > intent.feeAmount)
    throw new Error(`payment intent ${intent.id}: amounts out of bounds`);
  return intent;
}

export function intentJson(intent: PaymentIntent) {
  return {
    id: intent.id,
    object: 'payment_intent' as const,
    merchantId: intent.merchantId,
    userId: intent.userId,
    payerUserId: intent.payerUserId,
    amountMinor: intent.amount.toString(),
    currency: intent.currency,
    captureMethod: intent.captureMethod,
    status: intent.status,
    description: intent.description,
    merchantReference: intent.merchantReference,
    feeBasisPoints: intent.feeBasisPoints,
    amountCapturableMinor: (intent.status === 'requires_capture' ? intent.amount : 0n).toString(),
    amountCapturedMinor: intent.amountCaptured.toString(),
    feeMinor: intent.feeAmount.toString(),
    amountRefundedMinor: intent.amountRefunded.toString(),
    feeRefundedMinor: intent.feeRefunded.toString(),
    authorizationExpiresAt: intent.status === 'requires_capture' ? (intent.authorizationExpiresAt?.toISOString() ?? null) : null,
    confirmedAt: intent.confirmedAt?.toISOString() ?? null,
    completedAt: intent.completedAt?.toISOString() ?? null,
    createdAt: intent.createdAt.toISOString(),
    updatedAt: intent.updatedAt.toISOString(),
  };
}

/** Transfer ids of an intent, derived from its id: a retry after a crash can only ever find or write the same transfers. */
const INTENT_TRANSFER_NAMESPACE = '6f1c3a52-8e0b-5d47-b2a9-31c7e4d0f8a6';

export function intentTransferId(
  intentId: string,
  purpose: 'charge' | 'fee' | 'authorization' | 'capture' | 'capture-fee' | 'void' | 'expire',
): string {
  return uuidv5(`${intentId}:${purpose}`, INTENT_TRANSFER_NAMESPACE);
}
