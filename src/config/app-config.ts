import { createHash } from 'node:crypto';
import { Environment, LogLevel, NodeEnvironment, validateEnvironment } from './environment.js';

export type DatabaseMode = 'embedded' | 'external';

/** Typed, validated configuration, injected wherever a setting is needed. */
export class AppConfig {
  readonly nodeEnvironment: NodeEnvironment;
  readonly port: number;
  readonly host: string;
  readonly publicUrl: string;
  readonly database: {
    readonly mode: DatabaseMode;
    /** Set for an external server; for the embedded database the URL is known only once it listens. */
    readonly url: string | undefined;
    readonly dataDir: string;
    readonly poolSize: number;
    readonly statementTimeoutMs: number;
    readonly migrationsRun: boolean;
  };
  readonly logLevel: LogLevel;
  readonly bodyLimitBytes: number;
  readonly corsOrigins: readonly string[];
  readonly trustProxy: boolean;
  readonly idempotency: { readonly ttlHours: number; readonly lockTimeoutSeconds: number };
  readonly shutdownTimeoutMs: number;
  readonly oauth: {
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
    readonly authorizationCodeTtlSeconds: number;
    readonly sessionTtlSeconds: number;
    readonly grantTtlSeconds: number;
    readonly platformClient: { readonly clientId: string; readonly clientSecret: string } | undefined;
  };
  readonly seedDemo: boolean;
  readonly expirySweepIntervalMs: number;
  readonly rateLimits: { readonly tokenPerMinute: number; readonly loginPerMinute: number; readonly signUpPerMinute: number };
  readonly identity: {
    /** The first encrypts; each decrypts what it made. */
    readonly encryptionKeys: readonly { readonly id: string; readonly key: Buffer }[];
    readonly blindIndexKey: Buffer;
    /** True when the published development keys are in use (never in production: configuration refuses it). */
    readonly developmentKeys: boolean;
    readonly maxFailedAttempts: number;
  };
  readonly credit: { readonly bureauKey: string; readonly reportTtlHours: number };
  readonly payments: { readonly defaultFeeBasisPoints: number; readonly authorizationTtlSeconds: number };
  readonly webhooks: {
    readonly allowLoopback: boolean;
    readonly dispatchIntervalMs: number;
    readonly timeoutMs: number;
    readonly secretEncryptionKey: Buffer | undefined;
  };
  /** `benchmarkOff`: BENCHMARK_AUDIT_OFF, events checked but not written (benchmarks only; refused in production). */
  readonly audit: { readonly sealIntervalMs: number; readonly retentionDays: number; readonly benchmarkOff: boolean };

  constructor(environment: Environment) {
    this.nodeEnvironment = environment.NODE_ENV;
    this.port = environment.PORT;
    this.host = environment.HOST;
    this.publicUrl = environment.PUBLIC_URL ?? `http://localhost:${environment.PORT}`;
    this.database = {
      mode: environment.DATABASE_URL ? 'external' : 'embedded',
      url: environment.DATABASE_URL,
      dataDir: environment.DATA_DIR,
      poolSize: environment.DATABASE_POOL_SIZE,
      statementTimeoutMs: environment.DATABASE_STATEMENT_TIMEOUT_MS,
      migrationsRun: environment.MIGRATIONS_RUN,
    };
    this.logLevel = environment.LOG_LEVEL;
    this.bodyLimitBytes = environment.BODY_LIMIT_BYTES;
    this.corsOrigins = (environment.CORS_ORIGINS ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin.length > 0);
    this.trustProxy = environment.TRUST_PROXY;
    this.idempotency = {
      ttlHours: environment.IDEMPOTENCY_KEY_TTL_HOURS,
      lockTimeoutSeconds: environment.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS,
    };
    this.shutdownTimeoutMs = environment.SHUTDOWN_TIMEOUT_MS;
    this.oauth = {
      accessTokenTtlSeconds: environment.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: environment.REFRESH_TOKEN_TTL_SECONDS,
      authorizationCodeTtlSeconds: environment.AUTHORIZATION_CODE_TTL_SECONDS,
      sessionTtlSeconds: environment.SESSION_TTL_SECONDS,
      grantTtlSeconds: environment.GRANT_TTL_SECONDS,
      platformClient:
        environment.PLATFORM_CLIENT_ID !== undefined && environment.PLATFORM_CLIENT_SECRET !== undefined
          ? { clientId: environment.PLATFORM_CLIENT_ID, clientSecret: environment.PLATFORM_CLIENT_SECRET }
          : undefined,
    };
    this.seedDemo = environment.SEED_DEMO ?? this.database.mode === 'embedded';
    this.expirySweepIntervalMs = environment.EXPIRY_SWEEP_INTERVAL_MS;
    this.audit = {
      sealIntervalMs: environment.AUDIT_SEAL_INTERVAL_MS,
      retentionDays: environment.AUDIT_RETENTION_DAYS,
      benchmarkOff: environment.BENCHMARK_AUDIT_OFF,
    };
    this.rateLimits = {
      tokenPerMinute: environment.RATE_LIMIT_TOKEN_PER_MINUTE,
      loginPerMinute: environment.RATE_LIMIT_LOGIN_PER_MINUTE,
      signUpPerMinute: environment.RATE_LIMIT_SIGN_UP_PER_MINUTE,
    };
    const encryptionKeys = environment.PII_ENCRYPTION_KEYS?.split(',').map((pair) => {
      const [id = '', key = ''] = pair.split(':');
      return { id, key: Buffer.from(key, 'base64') };
    });
    this.identity = {
      encryptionKeys: encryptionKeys ?? [{ id: 'dev', key: developmentKey('pii-encryption') }],
      blindIndexKey:
        environment.PII_BLIND_INDEX_KEY === undefined
          ? developmentKey('pii-blind-index')
          : Buffer.from(environment.PII_BLIND_INDEX_KEY, 'base64'),
      developmentKeys: encryptionKeys === undefined || environment.PII_BLIND_INDEX_KEY === undefined,
      maxFailedAttempts: environment.IDENTITY_MAX_FAILED_ATTEMPTS,
    };
    this.credit = {
      bureauKey: environment.CREDIT_BUREAU_KEY ?? 'creditgate-mock-bureau-development-key',
      reportTtlHours: environment.CREDIT_REPORT_TTL_HOURS,
    };
    this.payments = {
      defaultFeeBasisPoints: environment.PAYMENTS_DEFAULT_FEE_BASIS_POINTS,
      authorizationTtlSeconds: environment.PAYMENTS_AUTHORIZATION_TTL_SECONDS,
    };
    this.webhooks = {
      allowLoopback: environment.WEBHOOK_ALLOW_LOOPBACK,
      dispatchIntervalMs: environment.WEBHOOK_DISPATCH_INTERVAL_MS,
      timeoutMs: environment.WEBHOOK_TIMEOUT_MS,
      secretEncryptionKey:
        environment.WEBHOOK_SECRET_ENCRYPTION_KEY === undefined
          ? undefined
          : Buffer.from(environment.WEBHOOK_SECRET_ENCRYPTION_KEY, 'base64'),
    };
  }

  static fromEnvironment(raw: Record<string, unknown> = process.env): AppConfig {
    return new AppConfig(validateEnvironment(raw));
  }

  /** The same configuration with the embedded database's listening URL filled in. */
  withDatabaseUrl(url: string): AppConfig {
    const copy = Object.create(AppConfig.prototype) as AppConfig;
    Object.assign(copy, this, { database: { ...this.database, url } });
    return copy;
  }
}

/** A published development key (32 bytes): fine for trying the service, never for real personal data. */
function developmentKey(purpose: string): Buffer {
  return createHash('sha256').update(`creditgate development key: ${purpose}`).digest();
}
