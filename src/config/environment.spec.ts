import { describe, expect, it } from '@jest/globals';
import { AppConfig } from './app-config.js';
import { ConfigValidationError, Environment, LogLevel, NodeEnvironment, validateEnvironment } from './environment.js';

function configErrorFrom(raw: Record<string, unknown>): ConfigValidationError {
  try {
    validateEnvironment(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return error as ConfigValidationError;
  }
  throw new Error('expected the environment to be refused, but it was accepted');
}

/** The variables a ConfigValidationError names, one per variable. */
function variablesNamed(error: ConfigValidationError): string[] {
  return [...new Set(error.problems.map((problem) => problem.slice(0, problem.indexOf('='))))].sort();
}

describe('validateEnvironment', () => {
  it('gives every default when the environment is empty', () => {
    const environment = validateEnvironment({});
    expect(environment).toBeInstanceOf(Environment);
    expect({ ...environment }).toEqual({
      NODE_ENV: NodeEnvironment.Development,
      PORT: 3000,
      HOST: '0.0.0.0',
      PUBLIC_URL: undefined,
      DATABASE_URL: undefined,
      DATA_DIR: './data',
      DATABASE_POOL_SIZE: 10,
      DATABASE_STATEMENT_TIMEOUT_MS: 30_000,
      MIGRATIONS_RUN: true,
      LOG_LEVEL: LogLevel.Info,
      BODY_LIMIT_BYTES: 262_144,
      CORS_ORIGINS: undefined,
      TRUST_PROXY: false,
      IDEMPOTENCY_KEY_TTL_HOURS: 24,
      IDEMPOTENCY_LOCK_TIMEOUT_SECONDS: 60,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      EXPIRY_SWEEP_INTERVAL_MS: 5000,
      ACCESS_TOKEN_TTL_SECONDS: 600,
      REFRESH_TOKEN_TTL_SECONDS: 30 * 86_400,
      AUTHORIZATION_CODE_TTL_SECONDS: 60,
      SESSION_TTL_SECONDS: 86_400,
      GRANT_TTL_SECONDS: 365 * 86_400,
      PLATFORM_CLIENT_ID: undefined,
      PLATFORM_CLIENT_SECRET: undefined,
      SEED_DEMO: undefined,
      RATE_LIMIT_TOKEN_PER_MINUTE: 600,
      RATE_LIMIT_LOGIN_PER_MINUTE: 10,
      RATE_LIMIT_SIGN_UP_PER_MINUTE: 10,
      PII_ENCRYPTION_KEYS: undefined,
      PII_BLIND_INDEX_KEY: undefined,
      IDENTITY_MAX_FAILED_ATTEMPTS: 5,
      CREDIT_BUREAU_KEY: undefined,
      CREDIT_REPORT_TTL_HOURS: 24,
      PAYMENTS_DEFAULT_FEE_BASIS_POINTS: 60,
      PAYMENTS_AUTHORIZATION_TTL_SECONDS: 7 * 86_400,
      WEBHOOK_ALLOW_LOOPBACK: false,
      WEBHOOK_DISPATCH_INTERVAL_MS: 1000,
      WEBHOOK_TIMEOUT_MS: 10_000,
      WEBHOOK_SECRET_ENCRYPTION_KEY: undefined,
      AUDIT_SEAL_INTERVAL_MS: 250,
      AUDIT_RETENTION_DAYS: 0,
      BENCHMARK_AUDIT_OFF: false,
    });
  });

  it('takes BENCHMARK_AUDIT_OFF for benchmarks, and refuses it in production', () => {
    expect(AppConfig.fromEnvironment({ BENCHMARK_AUDIT_OFF: 'true' }).audit.benchmarkOff).toBe(true);
    expect(AppConfig.fromEnvironment({}).audit.benchmarkOff).toBe(false);
    const a = Buffer.alloc(32, 1).toString('base64');
    const production = configErrorFrom({
      NODE_ENV: 'production',
      PII_ENCRYPTION_KEYS: `k:${a}`,
      PII_BLIND_INDEX_KEY: a,
      BENCHMARK_AUDIT_OFF: '1',
    });
    expect(production.problems).toEqual(['BENCHMARK_AUDIT_OFF: a benchmark-only switch, never allowed when NODE_ENV=production']);
  });

  it('needs PLATFORM_CLIENT_ID and PLATFORM_CLIENT_SECRET together, and never echoes the secret', () => {
    const error = configErrorFrom({ PLATFORM_CLIENT_SECRET: 'x'.repeat(40) });
    expect(error.problems).toEqual(['PLATFORM_CLIENT_ID and PLATFORM_CLIENT_SECRET: give both or neither']);
    const short = configErrorFrom({ PLATFORM_CLIENT_ID: 'platform_abcdefgh', PLATFORM_CLIENT_SECRET: 'short-secret' });
    expect(short.message).toContain('PLATFORM_CLIENT_SECRET=(hidden)');
    expect(short.message).not.toContain('short-secret');
  });

  it('needs real PII keys in production, refuses malformed ones without showing them, and reads them in order', () => {
    const production = configErrorFrom({ NODE_ENV: 'production' });
    expect(production.problems).toEqual([
      'PII_ENCRYPTION_KEYS: required when NODE_ENV=production',
      'PII_BLIND_INDEX_KEY: required when NODE_ENV=production',
    ]);
    const malformed = configErrorFrom({ PII_ENCRYPTION_KEYS: 'k1:c2hvcnQ=', PII_BLIND_INDEX_KEY: 'c2hvcnQ=' });
    expect(variablesNamed(malformed)).toEqual(['PII_BLIND_INDEX_KEY', 'PII_ENCRYPTION_KEYS']);
    expect(malformed.message).not.toContain('c2hvcnQ');
    const a = Buffer.alloc(32, 1).toString('base64');
    const b = Buffer.alloc(32, 2).toString('base64url');
    const config = AppConfig.fromEnvironment({ NODE_ENV: 'production', PII_ENCRYPTION_KEYS: `new:${b},old:${a}`, PII_BLIND_INDEX_KEY: a });
    expect(config.identity.encryptionKeys.map((key) => [key.id, key.key.length])).toEqual([
      ['new', 32],
      ['old', 32],
    ]);
    expect(config.identity.encryptionKeys[0]?.key.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(config.identity.developmentKeys).toBe(false);
    expect(AppConfig.fromEnvironment({}).identity.developmentKeys).toBe(true);
  });

  it('takes the public URL from the port unless it is given', () => {
    expect(AppConfig.fromEnvironment({}).publicUrl).toBe('http://localhost:3000');
    expect(AppConfig.fromEnvironment({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
    expect(AppConfig.fromEnvironment({ PORT: '8080', PUBLIC_URL: 'https://api.example.com' }).publicUrl).toBe('https://api.example.com');
  });

  it('turns the demo data on by default with the embedded database only', () => {
    expect(AppConfig.fromEnvironment({}).seedDemo).toBe(true);
    expect(AppConfig.fromEnvironment({ DATABASE_URL: 'postgres://db/x' }).seedDemo).toBe(false);
    expect(AppConfig.fromEnvironment({ DATABASE_URL: 'postgres://db/x', SEED_DEMO: 'true' }).seedDemo).toBe(true);
  });

  it('ignores variables it does not know, like PATH', () => {
    const environment = validateEnvironment({ PATH: '/usr/bin', HOME: '/root', PORT: '8080' });
    expect(environment.PORT).toBe(8080);
    expect(environment).not.toHaveProperty('PATH');
  });

  it('reads numbers from strings, trimming spaces', () => {
    const environment = validateEnvironment({ PORT: ' 8080 ', DATABASE_POOL_SIZE: '25', SHUTDOWN_TIMEOUT_MS: '5000' });
    expect(environment.PORT).toBe(8080);
    expect(environment.DATABASE_POOL_SIZE).toBe(25);
    expect(environment.SHUTDOWN_TIMEOUT_MS).toBe(5000);
  });

  it('refuses PORT "abc", naming the variable', () => {
    const error = configErrorFrom({ PORT: 'abc' });
    expect(variablesNamed(error)).toEqual(['PORT']);
    expect(error.message).toMatch(/^Invalid configuration:\n {2}- PORT="abc": /);
    expect(error.problems).toContain('PORT="abc": PORT must be an integer number');
  });

  it('refuses PORT "70000", naming the variable and the limit', () => {
    const error = configErrorFrom({ PORT: '70000' });
    expect(error.problems).toEqual(['PORT=70000: PORT must not be greater than 65535']);
    expect(error.message).toContain('PORT');
  });

  it('lists every bad variable at once', () => {
    const error = configErrorFrom({
      PORT: 'abc',
      NODE_ENV: 'staging',
      LOG_LEVEL: 'loud',
      DATABASE_POOL_SIZE: '0',
      TRUST_PROXY: 'maybe',
      PUBLIC_URL: 'https://api.example.com/',
      HOST: 'fine.example',
    });
    expect(error.name).toBe('ConfigValidationError');
    expect(variablesNamed(error)).toEqual(['DATABASE_POOL_SIZE', 'LOG_LEVEL', 'NODE_ENV', 'PORT', 'PUBLIC_URL', 'TRUST_PROXY']);
    for (const name of ['DATABASE_POOL_SIZE', 'LOG_LEVEL', 'NODE_ENV', 'PORT', 'PUBLIC_URL', 'TRUST_PROXY']) {
      expect(error.message).toContain(`- ${name}=`);
    }
  });

  it('refuses a DATABASE_URL that is not PostgreSQL without showing the URL, which may hold a password', () => {
    const error = configErrorFrom({ DATABASE_URL: 'mysql://app:hunter2@db.internal:3306/creditgate' });
    expect(error.problems).toEqual(['DATABASE_URL=(hidden): DATABASE_URL must be a postgres:// or postgresql:// URL']);
    expect(error.message).not.toContain('mysql');
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('db.internal');
  });

  it('refuses a DATABASE_URL like "mysql://x"', () => {
    const error = configErrorFrom({ DATABASE_URL: 'mysql://x' });
    expect(variablesNamed(error)).toEqual(['DATABASE_URL']);
    expect(error.message).not.toContain('mysql://x');
  });

  it.each(['postgres://app:pw@db:5432/creditgate', 'postgresql://localhost/creditgate_test'])('accepts the DATABASE_URL %p', (url) => {
    expect(validateEnvironment({ DATABASE_URL: url }).DATABASE_URL).toBe(url);
  });

  it('treats an empty DATABASE_URL as unset', () => {
    expect(validateEnvironment({ DATABASE_URL: '  ' }).DATABASE_URL).toBeUndefined();
  });

  it.each<[string, boolean]>([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    [' off ', false],
  ])('reads the boolean %p as %p', (raw, expected) => {
    const environment = validateEnvironment({ TRUST_PROXY: raw, MIGRATIONS_RUN: raw });
    expect(environment.TRUST_PROXY).toBe(expected);
    expect(environment.MIGRATIONS_RUN).toBe(expected);
  });

  it.each(['maybe', '2', ''])('refuses the boolean %p', (raw) => {
    const error = configErrorFrom({ MIGRATIONS_RUN: raw });
    expect(variablesNamed(error)).toEqual(['MIGRATIONS_RUN']);
    expect(error.problems).toContain(`MIGRATIONS_RUN=${JSON.stringify(raw)}: MIGRATIONS_RUN must be a boolean value`);
  });

  it('refuses an IDEMPOTENCY_KEY_TTL_HOURS below 24, and above 30 days', () => {
    expect(variablesNamed(configErrorFrom({ IDEMPOTENCY_KEY_TTL_HOURS: '23' }))).toEqual(['IDEMPOTENCY_KEY_TTL_HOURS']);
    expect(variablesNamed(configErrorFrom({ IDEMPOTENCY_KEY_TTL_HOURS: '721' }))).toEqual(['IDEMPOTENCY_KEY_TTL_HOURS']);
    expect(validateEnvironment({ IDEMPOTENCY_KEY_TTL_HOURS: '24' }).IDEMPOTENCY_KEY_TTL_HOURS).toBe(24);
    expect(validateEnvironment({ IDEMPOTENCY_KEY_TTL_HOURS: '720' }).IDEMPOTENCY_KEY_TTL_HOURS).toBe(720);
  });

  it.each([
    'https://api.example.com/',
    'https://api.example.com?x=1',
    'https://api.example.com#top',
    'api.example.com',
    'ftp://api.example.com',
  ])('refuses the PUBLIC_URL %p', (url) => {
    expect(variablesNamed(configErrorFrom({ PUBLIC_URL: url }))).toEqual(['PUBLIC_URL']);
  });

  it.each(['*', 'example.com', 'ftp://example.com', 'https://a.example,', 'https://a.example https://b.example'])(
    'refuses the CORS_ORIGINS %p',
    (origins) => {
      expect(variablesNamed(configErrorFrom({ CORS_ORIGINS: origins }))).toEqual(['CORS_ORIGINS']);
    },
  );
});

describe('AppConfig', () => {
  it('is built from defaults: embedded database, no CORS, no proxy trust', () => {
    const config = AppConfig.fromEnvironment({});
    expect(config.nodeEnvironment).toBe(NodeEnvironment.Development);
    expect(config.port).toBe(3000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.database).toEqual({
      mode: 'embedded',
      url: undefined,
      dataDir: './data',
      poolSize: 10,
      statementTimeoutMs: 30_000,
      migrationsRun: true,
    });
    expect(config.logLevel).toBe(LogLevel.Info);
    expect(config.bodyLimitBytes).toBe(262_144);
    expect(config.corsOrigins).toEqual([]);
    expect(config.trustProxy).toBe(false);
    expect(config.idempotency).toEqual({ ttlHours: 24, lockTimeoutSeconds: 60 });
    expect(config.shutdownTimeoutMs).toBe(10_000);
  });

  it('uses an external database when DATABASE_URL is set', () => {
    const config = AppConfig.fromEnvironment({ DATABASE_URL: 'postgres://app:pw@db:5432/creditgate' });
    expect(config.database.mode).toBe('external');
    expect(config.database.url).toBe('postgres://app:pw@db:5432/creditgate');
  });

  it('splits CORS_ORIGINS on commas and trims each origin', () => {
    const config = AppConfig.fromEnvironment({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173,https://admin.example.com' });
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173', 'https://admin.example.com']);
  });

  it('takes a single CORS origin', () => {
    expect(AppConfig.fromEnvironment({ CORS_ORIGINS: 'https://app.example.com' }).corsOrigins).toEqual(['https://app.example.com']);
  });

  it('leaves CORS off for an empty CORS_ORIGINS', () => {
    expect(AppConfig.fromEnvironment({ CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
  });

  it('refuses a bad environment with ConfigValidationError', () => {
    expect(() => AppConfig.fromEnvironment({ PORT: '70000' })).toThrow(ConfigValidationError);
  });

  describe('withDatabaseUrl', () => {
    const config = AppConfig.fromEnvironment({
      NODE_ENV: 'test',
      PORT: '4000',
      DATA_DIR: 'memory://',
      DATABASE_POOL_SIZE: '3',
      MIGRATIONS_RUN: 'false',
      LOG_LEVEL: 'silent',
      CORS_ORIGINS: 'https://app.example.com',
      TRUST_PROXY: 'true',
      IDEMPOTENCY_KEY_TTL_HOURS: '48',
    });
    const withUrl = config.withDatabaseUrl('postgres://127.0.0.1:54321/postgres');

    it('fills in the URL of the embedded database', () => {
      expect(withUrl).toBeInstanceOf(AppConfig);
      expect(withUrl.database.url).toBe('postgres://127.0.0.1:54321/postgres');
      expect(withUrl.database.mode).toBe('embedded');
    });

    it('keeps every other field', () => {
      expect(withUrl.database).toEqual({ ...config.database, url: 'postgres://127.0.0.1:54321/postgres' });
      expect({ ...withUrl, database: undefined }).toEqual({ ...config, database: undefined });
      expect(withUrl.nodeEnvironment).toBe(NodeEnvironment.Test);
      expect(withUrl.port).toBe(4000);
      expect(withUrl.corsOrigins).toEqual(['https://app.example.com']);
      expect(withUrl.trustProxy).toBe(true);
      expect(withUrl.idempotency).toEqual({ ttlHours: 48, lockTimeoutSeconds: 60 });
      expect(withUrl.database.poolSize).toBe(3);
      expect(withUrl.database.migrationsRun).toBe(false);
    });

    it('leaves the original configuration as it was', () => {
      expect(withUrl).not.toBe(config);
      expect(config.database.url).toBeUndefined();
    });
  });
});
