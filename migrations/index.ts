import { CreateIdempotencyKeys1763712000000 } from './1763712000000-create-idempotency-keys.js';
import { CreateAuditEvents1763712100000 } from './1763712100000-create-audit-events.js';
import { CreateUsers1763712200000 } from './1763712200000-create-users.js';
import { CreateOauth1763712300000 } from './1763712300000-create-oauth.js';
import { CreateLedger1763712400000 } from './1763712400000-create-ledger.js';
import { CreateIdentity1763712500000 } from './1763712500000-create-identity.js';
import { CreateCredit1763712510000 } from './1763712510000-create-credit.js';
import { CreatePayments1763712600000 } from './1763712600000-create-payments.js';
import { CreateWebhooks1763712610000 } from './1763712610000-create-webhooks.js';
import { CreateWaivers1763712700000 } from './1763712700000-create-waivers.js';
import { AuditChainRetention1763712800000 } from './1763712800000-audit-chain-retention.js';
import { ConsolePublicClient1763712810000 } from './1763712810000-console-public-client.js';
import { StatementRequire1763712900000 } from './1763712900000-statement-require.js';
import { AuditSealCheckByRecord1763712910000 } from './1763712910000-audit-seal-check-by-record.js';
import { AuditSealsApart1763713000000 } from './1763713000000-audit-seals-apart.js';
import { ChecksWithoutCountedRepetition1763713100000 } from './1763713100000-checks-without-counted-repetition.js';

/**
 * Every migration, oldest first. A new migration file is added at the end of this list; a committed
 * migration is never edited.
 */
export const MIGRATIONS = [
  CreateIdempotencyKeys1763712000000,
  CreateAuditEvents1763712100000,
  CreateUsers1763712200000,
  CreateOauth1763712300000,
  CreateLedger1763712400000,
  CreateIdentity1763712500000,
  CreateCredit1763712510000,
  CreatePayments1763712600000,
  CreateWebhooks1763712610000,
  CreateWaivers1763712700000,
  AuditChainRetention1763712800000,
  ConsolePublicClient1763712810000,
  StatementRequire1763712900000,
  AuditSealCheckByRecord1763712910000,
  AuditSealsApart1763713000000,
  ChecksWithoutCountedRepetition1763713100000,
];
