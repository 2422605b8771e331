/**
 * The scopes of creditgate and the client types that may hold them (../shared/DESIGN.md). A token never
 * carries a scope its client's type may not hold: the authorization server refuses the request with
 * `invalid_scope`, and the resource side would refuse the token anyway.
 */
export const CLIENT_TYPES = ['mini_program', 'merchant', 'compliance', 'platform'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

export const USER_SCOPES = [
  'identity:verify',
  'identity:read',
  'credit:admittance',
  'credit:score',
  'waivers:request',
  'payments:pay',
  'wallet:read',
] as const;
export const MERCHANT_SCOPES = [
  'agreements:manage',
  'policies:manage',
  'payments:write',
  'payments:refund',
  'payouts:write',
  'merchant:read',
  'webhooks:manage',
] as const;
export const COMPLIANCE_SCOPES = ['audit:read'] as const;
export const PLATFORM_SCOPES = ['admin', 'ledger:write'] as const;

export type Scope =
  (typeof USER_SCOPES)[number] | (typeof MERCHANT_SCOPES)[number] | (typeof COMPLIANCE_SCOPES)[number] | (typeof PLATFORM_SCOPES)[number];

export const ALL_SCOPES: readonly Scope[] = [...USER_SCOPES, ...MERCHANT_SCOPES, ...COMPLIANCE_SCOPES, ...PLATFORM_SCOPES];

export const SCOPES_BY_CLIENT_TYPE: Readonly<Record<ClientType, readonly Scope[]>> = {
  mini_program: USER_SCOPES,
  merchant: MERCHANT_SCOPES,
  compliance: COMPLIANCE_SCOPES,
  platform: PLATFORM_SCOPES,
};

/** What the consent page tells a user each scope lets the mini-program do. */
export const SCOPE_DESCRIPTIONS: Readonly<Record<Scope, string>> = {
  'identity:verify': 'Verify your real name and national ID number',
  'identity:read': 'See whether your identity is verified, your masked ID number and your age',
  'credit:admittance': 'Ask whether your credit score meets a threshold (yes or no, never the score)',
  'credit:score': 'Read your credit score and what makes it up',
  'waivers:request': 'Ask whether the merchant waives your deposit, and sign deposit agreements',
  'payments:pay': 'Pay from your wallet and top it up',
  'wallet:read': 'See your wallet balance and recent activity',
  'agreements:manage': 'Manage deposit agreements',
  'policies:manage': 'Manage waiver policies',
  'payments:write': 'Create and capture payments',
  'payments:refund': 'Refund payments',
  'payouts:write': 'Pay out the merchant balance',
  'merchant:read': 'Read the merchant balance and statements',
  'webhooks:manage': 'Manage webhook endpoints',
  'audit:read': 'Read the audit trail and the ledger, read-only',
  admin: 'Administer merchants, clients and users',
  'ledger:write': 'Create ledger accounts and transfers',
};

export function isScope(value: string): value is Scope {
  return (ALL_SCOPES as readonly string[]).includes(value);
}

export function isClientType(value: string): value is ClientType {
  return (CLIENT_TYPES as readonly string[]).includes(value);
}
