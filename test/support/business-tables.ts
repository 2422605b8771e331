import type { DataSource } from 'typeorm';

/**
 * Every table that holds business state: what a refused request must leave exactly as it was. Left
 * out on purpose: audit_events and audit_purges (a refusal may be recorded), idempotency_keys (a
 * refusal may be remembered for its key), oauth_keys (signing keys, written at start-up only).
 */
export const BUSINESS_TABLES = [
  'users',
  'merchants',
  'oauth_clients',
  'oidc_payloads',
  'identity_records',
  'identity_verifications',
  'credit_reports',
  'ledger_accounts',
  'ledger_transfers',
  'ledger_entries',
  'ledger_checkpoints',
  'ledger_checkpoint_heads',
  'payment_accounts',
  'merchant_payment_settings',
  'wallet_top_ups',
  'payment_intents',
  'refunds',
  'payouts',
  'webhook_endpoints',
  'webhook_events',
  'webhook_deliveries',
  'webhook_delivery_attempts',
  'waiver_policies',
  'waiver_policy_versions',
  'waiver_decisions',
  'deposit_agreements',
] as const;

/** A digest of every row of every business table, by table: equal digests, equal contents. One query. */
export async function businessTablesDigest(dataSource: DataSource): Promise<Record<string, string>> {
  const sql = BUSINESS_TABLES.map(
    (table) => `SELECT '${table}' AS name, md5(coalesce(string_agg(row_text, '|' ORDER BY row_text), '')) AS digest
                  FROM (SELECT t::text AS row_text FROM ${table} t) rows`,
  ).join(' UNION ALL ');
  const rows: { name: string; digest: string }[] = await dataSource.query(sql);
  return Object.fromEntries(rows.map((row) => [row.name, row.digest]));
}

/** The business tables whose contents differ between two digests. */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  return BUSINESS_TABLES.filter((table) => before[table] !== after[table]);
}
