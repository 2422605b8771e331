import './apply-gc-tuning.js';
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AppConfig } from './config/app-config.js';
import { ConfigValidationError } from './config/environment.js';
import { createApp, resolveDatabase } from './create-app.js';
import { DemoSeeder, demoBanner } from './demo/demo-seeder.js';

/** Starts creditgate: validate configuration, reach the database, migrate, listen; drain on SIGTERM. */
async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = AppConfig.fromEnvironment(process.env);
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      process.stderr.write(`creditgate: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const database = await resolveDatabase(config);
  const { app, logger } = await createApp(database.config);
  if (config.seedDemo) {
    const credentials = await app.get(DemoSeeder).seedIfEmpty();
    if (credentials !== null) {
      // Secrets go to the terminal once, never into the JSON log.
      process.stdout.write(`${demoBanner(credentials, config.publicUrl)}\n`);
      if (database.embedded && !config.database.dataDir.startsWith('memory://')) {
        const file = join(config.database.dataDir, 'demo-credentials.json');
        writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
        logger.info({ file }, 'demo data created; its credentials are kept in this file');
      }
    }
  }
  await app.listen({ port: config.port, host: config.host });

  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const base = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
  logger.info(
    {
      database: database.embedded
        ? { kind: 'embedded PGlite', location: database.embedded.location }
        : { kind: 'PostgreSQL server', host: new URL(config.database.url ?? '').host },
      urls: {
        docs: `${base}/docs`,
        openapi: `${base}/openapi.json`,
        live: `${base}/health/live`,
        ready: `${base}/health/ready`,
        metrics: `${base}/metrics`,
      },
      startupMs: Math.round(performance.now()),
    },
    `creditgate listening on ${base}`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining requests');
    const forced = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    forced.unref();
    void (async () => {
      try {
        await app.close();
        await database.embedded?.stop();
        logger.info('stopped');
        process.exit(0);
      } catch (error) {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      }
    })();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`creditgate failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
