import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsEnum,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  validateSync,
  type ValidationError,
} from 'class-validator';

export enum NodeEnvironment {
  Development = 'development',
  Production = 'production',
  Test = 'test',
}

export enum LogLevel {
  Fatal = 'fatal',
  Error = 'error',
  Warn = 'warn',
  Info = 'info',
  Debug = 'debug',
  Trace = 'trace',
  Silent = 'silent',
}

const toInteger = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const normalised = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(normalised)) return true;
  if (['false', '0', 'no', 'off'].includes(normalised)) return false;
  return value;
};

const emptyToUndefined = ({ value }: { value: unknown }): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

/**
 * Every environment variable creditgate reads, with its rules and default. This class is the one
 * configuration schema: the README's configuration table documents exactly these fields.
 */
export class Environment {
  @IsEnum(NodeEnvironment)
  NODE_ENV: NodeEnvironment = NodeEnvironment.Development;

  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  @MaxLength(255)
  HOST = '0.0.0.0';

  /** The public base URL clients reach the service at; it becomes the OAuth issuer. Default: http://localhost:PORT. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  @Matches(/^[^?#]*[^/?#]$/, { message: 'PUBLIC_URL must not end with a slash, a query or a fragment' })
  PUBLIC_URL?: string;

  /** A PostgreSQL server to use. Without it the service runs on the embedded PGlite database. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres:// or postgresql:// URL' })
  DATABASE_URL?: string;

  /** Where the embedded database keeps its files (`memory://` keeps nothing). */
  @IsString()
  @MaxLength(1024)
  DATA_DIR = './data';

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  /** Server-side limit for one SQL statement; 0 means no limit. */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(600_000)
  DATABASE_STATEMENT_TIMEOUT_MS = 30_000;

  @Transform(toBoolean)
  @IsBoolean()
  MIGRATIONS_RUN = true;

  @IsEnum(LogLevel)
  LOG_LEVEL: LogLevel = LogLevel.Info;

  @Transform(toInteger)
  @IsInt()
  @Min(1024)
  @Max(10 * 1024 * 1024)
  BODY_LIMIT_BYTES = 262_144;

  /** Comma-separated list of allowed browser origins; empty leaves CORS off. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^https?:\/\/[^\s,]+(,\s*https?:\/\/[^\s,]+)*$/, {
    message: 'CORS_ORIGINS must be a comma-separated list of http(s) origins',
  })
  CORS_ORIGINS?: string;

  @Transform(toBoolean)
  @IsBoolean()
  TRUST_PROXY = false;

  @Transform(toInteger)
  @IsInt()
  @Min(24)
  @Max(24 * 30)
  IDEMPOTENCY_KEY_TTL_HOURS = 24;

  /** How long a key may stay "in progress" before another request may take it over (a crashed first attempt). */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(3600)
  IDEMPOTENCY_LOCK_TIMEOUT_SECONDS = 60;

  @Transform(toInteger)
  @IsInt()
  @Min(100)
  @Max(120_000)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  /** How often pending ledger transfers past their timeout are expired; 0 turns the timer off (tests drive it). */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  EXPIRY_SWEEP_INTERVAL_MS = 5000;

  @Transform(toInteger)
  @IsInt()
  @Min(60)
  @Max(3600)
  ACCESS_TOKEN_TTL_SECONDS = 600;

  @Transform(toInteger)
  @IsInt()
  @Min(300)
  @Max(365 * 86_400)
  REFRESH_TOKEN_TTL_SECONDS = 30 * 86_400;

  @Transform(toInteger)
  @IsInt()
  @Min(10)
  @Max(600)
  AUTHORIZATION_CODE_TTL_SECONDS = 60;

  /** How long a user stays signed in at the authorization server (the browser session). */
  @Transform(toInteger)
  @IsInt()
  @Min(300)
  @Max(30 * 86_400)
  SESSION_TTL_SECONDS = 86_400;

  /** How long a remembered consent lasts. */
  @Transform(toInteger)
  @IsInt()
  @Min(3600)
  @Max(5 * 365 * 86_400)
  GRANT_TTL_SECONDS = 365 * 86_400;

  /** With PLATFORM_CLIENT_SECRET: a platform client (scopes `admin ledger:write`) made sure of at start-up. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[a-z][a-z0-9_]{2,30}_[A-Za-z0-9]{8,40}$/, {
    message: 'PLATFORM_CLIENT_ID must look like platform_XXXXXXXX (a lower-case prefix, an underscore, 8 to 40 letters or digits)',
  })
  PLATFORM_CLIENT_ID?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{32,256}$/, { message: 'PLATFORM_CLIENT_SECRET must be 32 to 256 visible ASCII characters' })
  PLATFORM_CLIENT_SECRET?: string;

  /** Create the demo merchant, clients and users on first start (default: on with the embedded database). */
  @Transform(toBoolean)
  @IsOptional()
  @IsBoolean()
  SEED_DEMO?: boolean;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  RATE_LIMIT_TOKEN_PER_MINUTE = 600;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(10_000)
  RATE_LIMIT_LOGIN_PER_MINUTE = 10;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(10_000)
  RATE_LIMIT_SIGN_UP_PER_MINUTE = 10;

  /**
   * Keys that encrypt names and ID numbers at rest: `keyId:base64` (32 bytes each), comma-separated; the
   * first encrypts new values, every one decrypts. Required in production; development and tests fall
   * back to a published development key.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_-]{43}=?(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_-]{43}=?)*$/, {
    message: 'PII_ENCRYPTION_KEYS must be keyId:base64 pairs (32-byte keys), comma-separated',
  })
  PII_ENCRYPTION_KEYS?: string;

  /** The HMAC key of the ID-number blind index (base64, at least 32 bytes). Required in production. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[A-Za-z0-9+/_-]{43,}={0,2}$/, { message: 'PII_BLIND_INDEX_KEY must be base64 of at least 32 bytes' })
  PII_BLIND_INDEX_KEY?: string;

  /** Failed identity verifications a user may make in 24 hours before they are refused (429). */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(100)
  IDENTITY_MAX_FAILED_ATTEMPTS = 5;

  /** The mock credit bureau's key for each user's base score (any text of 16 to 256 characters). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[\x21-\x7e]{16,256}$/, { message: 'CREDIT_BUREAU_KEY must be 16 to 256 visible ASCII characters' })
  CREDIT_BUREAU_KEY?: string;

  /** How long a credit report is reused when nothing the score depends on has changed. */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(24 * 30)
  CREDIT_REPORT_TTL_HOURS = 24;

  /** The platform's fee on a payment, in basis points of the captured amount, for merchants without their own. */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(10_000)
  PAYMENTS_DEFAULT_FEE_BASIS_POINTS = 60;

  /** How long a manual-capture authorisation holds the money before it expires (at most the ledger's 30 days). */
  @Transform(toInteger)
  @IsInt()
  @Min(60)
  @Max(30 * 86_400)
  PAYMENTS_AUTHORIZATION_TTL_SECONDS = 7 * 86_400;

  /** Allow webhook endpoints on http:// and on loopback or private addresses (development and tests only). */
  @Transform(toBoolean)
  @IsBoolean()
  WEBHOOK_ALLOW_LOOPBACK = false;

  /** How often the webhook dispatcher looks for due deliveries; 0 turns the timer off (tests drive it). */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  WEBHOOK_DISPATCH_INTERVAL_MS = 1000;

  /** How long one webhook delivery attempt may take before it counts as failed. */
  @Transform(toInteger)
  @IsInt()
  @Min(100)
  @Max(60_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  /** 32 bytes, base64: webhook signing secrets are sealed with it (AES-256-GCM); unset, with a key derived from PII_BLIND_INDEX_KEY. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[A-Za-z0-9+/]{43}=$/, { message: 'WEBHOOK_SECRET_ENCRYPTION_KEY must be 32 bytes in base64 (44 characters)' })
  WEBHOOK_SECRET_ENCRYPTION_KEY?: string;
  /** How often unsealed audit events are sealed into the hash chain; 0 turns the timer off (tests seal themselves). */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(60_000)
  AUDIT_SEAL_INTERVAL_MS = 250;

  /** How long audit events are kept, in days; 0 keeps them for ever. */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(36_500)
  AUDIT_RETENTION_DAYS = 0;

  /**
   * Benchmark only: audit events are checked but not written, to measure what auditing costs a hot
   * path (bench/payments.mjs). Never allowed with NODE_ENV=production, and the service warns at start
   * while it is on: an unaudited service breaks the compliance promise.
   */
  @Transform(toBoolean)
  @IsBoolean()
  BENCHMARK_AUDIT_OFF = false;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

function describe(error: ValidationError): string[] {
  const reasons = Object.values(error.constraints ?? {});
  const shown =
    typeof error.value === 'string' && /SECRET|PASSWORD|KEY|URL/.test(error.property) ? '(hidden)' : JSON.stringify(error.value);
  return reasons.map((reason) => `${error.property}=${shown}: ${reason}`);
}

/** Variables with no default (a class field without an initialiser is not an own key of a new Environment). */
const OPTIONAL_VARIABLES = [
  'PUBLIC_URL',
  'DATABASE_URL',
  'CORS_ORIGINS',
  'PLATFORM_CLIENT_ID',
  'PLATFORM_CLIENT_SECRET',
  'SEED_DEMO',
  'PII_ENCRYPTION_KEYS',
  'PII_BLIND_INDEX_KEY',
  'CREDIT_BUREAU_KEY',
  'WEBHOOK_SECRET_ENCRYPTION_KEY',
];

/** Validates raw environment variables; throws ConfigValidationError naming every bad variable. */
export function validateEnvironment(raw: Record<string, unknown>): Environment {
  const known = Object.keys(new Environment());
  const picked: Record<string, unknown> = {};
  for (const name of [...known, ...OPTIONAL_VARIABLES]) {
    if (raw[name] !== undefined) picked[name] = raw[name];
  }
  const environment = plainToInstance(Environment, picked, { exposeDefaultValues: true });
  const errors = validateSync(environment, { whitelist: true, forbidUnknownValues: true });
  const problems = errors.flatMap(describe);
  if ((environment.PLATFORM_CLIENT_ID === undefined) !== (environment.PLATFORM_CLIENT_SECRET === undefined)) {
    problems.push('PLATFORM_CLIENT_ID and PLATFORM_CLIENT_SECRET: give both or neither');
  }
  if (environment.NODE_ENV === NodeEnvironment.Production) {
    // The development keys are published in the source: personal data encrypted with them is not protected.
    for (const name of ['PII_ENCRYPTION_KEYS', 'PII_BLIND_INDEX_KEY'] as const) {
      if (environment[name] === undefined) problems.push(`${name}: required when NODE_ENV=production`);
    }
    if (environment.BENCHMARK_AUDIT_OFF)
      problems.push('BENCHMARK_AUDIT_OFF: a benchmark-only switch, never allowed when NODE_ENV=production');
  }
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return environment;
}
