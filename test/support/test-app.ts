import type { DynamicModule, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import supertest from 'supertest';
import { DataSource } from 'typeorm';
import type { Clock } from '../../src/common/clock/clock.js';
import { AppConfig } from '../../src/config/app-config.js';
import { createApp, resolveDatabase } from '../../src/create-app.js';
import { freePort } from './service-process.js';
import { createTestDatabase } from './test-database.js';

export interface TestApp {
  readonly app: NestFastifyApplication;
  readonly config: AppConfig;
  /** The base URL the app listens on (127.0.0.1, a free port). */
  readonly baseUrl: string;
  /** supertest bound to the running app: `http().get('/health/live')`. */
  http(): supertest.Agent;
  readonly dataSource: DataSource;
  /** Every log line the app wrote, raw JSON text. */
  readonly logLines: string[];
  close(): Promise<void>;
}

export interface StartTestAppOptions {
  /** Environment variables on top of the test defaults. */
  readonly env?: Record<string, string>;
  readonly extraModules?: readonly (Type | DynamicModule)[];
  readonly clock?: Clock;
  /** Run a second instance on the first one's database (a PostgreSQL server only); it does not drop it. */
  readonly shareDatabaseWith?: TestApp;
}

/**
 * The whole application, as main.ts builds it, on a fresh database (real PostgreSQL when
 * TEST_DATABASE_URL or DATABASE_URL is set, embedded PGlite otherwise), listening on loopback.
 */
export async function startTestApp(options: StartTestAppOptions = {}): Promise<TestApp> {
  const shared = options.shareDatabaseWith?.config.database.url;
  if (options.shareDatabaseWith !== undefined && options.shareDatabaseWith.config.database.mode !== 'external') {
    throw new Error('instances can share only a PostgreSQL server database');
  }
  const database = shared === undefined ? await createTestDatabase() : { url: shared, drop: async () => {} };
  // The issuer and DPoP's htu are absolute URLs: the app must know its own port before it starts.
  const port = await freePort();
  const config = AppConfig.fromEnvironment({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATA_DIR: 'memory://',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    SEED_DEMO: 'false',
    // Tests move a ManualClock and run the sweeper themselves: a timer would expire transfers between steps.
    EXPIRY_SWEEP_INTERVAL_MS: '0',
    // Generous limits by default; a test of a limit sets its own.
    RATE_LIMIT_TOKEN_PER_MINUTE: '100000',
    RATE_LIMIT_LOGIN_PER_MINUTE: '1000',
    RATE_LIMIT_SIGN_UP_PER_MINUTE: '1000',
    ...(database.url === undefined ? {} : { DATABASE_URL: database.url }),
    ...options.env,
  });
  const resolved = await resolveDatabase(config);
  const logLines: string[] = [];
  const { app } = await createApp(resolved.config, {
    logDestination: { write: (line: string) => void logLines.push(line) },
    extraModules: options.extraModules,
    clock: options.clock,
  });
  await app.listen({ port, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${port}`;
  const agent = supertest.agent(baseUrl);
  return {
    app,
    config: resolved.config,
    baseUrl,
    http: () => agent,
    dataSource: app.get(DataSource),
    logLines,
    close: async () => {
      await app.close();
      await resolved.embedded?.stop();
      await database.drop();
    },
  };
}
