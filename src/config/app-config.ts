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

  constructor(environment: Environment) {
    this.nodeEnvironment = environment.NODE_ENV;
    this.port = environment.PORT;
    this.host = environment.HOST;
    this.publicUrl = environment.PUBLIC_URL;
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
