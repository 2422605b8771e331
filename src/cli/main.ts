import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module.js';
import { DomainError } from '../common/errors/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { ConfigValidationError } from '../config/environment.js';
import { resolveDatabase } from '../create-app.js';
import { IdentityService } from '../identity/identity.service.js';
import { ClientRegistry, type TokenEndpointAuthMethod } from '../oauth/client-registry.js';
import { isClientType, isScope, type Scope } from '../oauth/scopes.js';

const USAGE = `usage: npm run cli -- <command> [options]

commands:
  merchants:create --name <name>
  clients:create   --type <mini_program|merchant|compliance|platform> --name <name>
                   [--merchant <merchant id>] [--redirect-uri <uri>]... [--scopes "<scope> <scope>"]
                   [--auth-method <none|client_secret_basic|client_secret_post>] [--dpop-bound]
  identity:rotate-keys
                   re-encrypts every stored name and ID number with the first key of
                   PII_ENCRYPTION_KEYS (keep the old keys after it until this has run)

The database is DATABASE_URL, or the embedded database in DATA_DIR (./data) when the service is not
running on it. Prints what it created as JSON; a client secret appears here only.`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

/** `npm run cli`: registers merchants and OAuth clients without the HTTP API (first set-up, automation). */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      type: { type: 'string' },
      merchant: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      scopes: { type: 'string' },
      'auth-method': { type: 'string' },
      'dpop-bound': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (command === undefined || values.help) fail('a command is needed');
  if (!['merchants:create', 'clients:create', 'identity:rotate-keys'].includes(command)) fail(`unknown command ${command}`);
  if (command !== 'identity:rotate-keys' && !values.name) fail('--name is required');

  const config = AppConfig.fromEnvironment({ ...process.env, SEED_DEMO: 'false', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const database = await resolveDatabase(config);
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(database.config), { logger: ['error', 'warn'] });
  try {
    if (command === 'identity:rotate-keys') {
      const { rotated, keyId } = await app.get(IdentityService).rotateKeys();
      process.stdout.write(`${JSON.stringify({ rotated, keyId }, null, 2)}\n`);
      return;
    }
    if (!values.name) fail('--name is required');
    const registry = app.get(ClientRegistry);
    if (command === 'merchants:create') {
      const merchant = await registry.createMerchant(values.name, null);
      process.stdout.write(
        `${JSON.stringify({ id: merchant.id, name: merchant.name, createdAt: merchant.createdAt.toISOString() }, null, 2)}\n`,
      );
      return;
    }
    if (!values.type || !isClientType(values.type)) fail('--type must be mini_program, merchant, compliance or platform');
    const scopes = values.scopes?.split(/\s+/).filter((scope) => scope.length > 0);
    const unknown = scopes?.filter((scope) => !isScope(scope));
    if (unknown && unknown.length > 0) fail(`unknown scopes: ${unknown.join(', ')}`);
    const method = values['auth-method'];
    if (method !== undefined && !['none', 'client_secret_basic', 'client_secret_post'].includes(method))
      fail('--auth-method must be none, client_secret_basic or client_secret_post');
    const { client, clientSecret } = await registry.createClient(
      {
        clientType: values.type,
        merchantId: values.merchant ?? null,
        name: values.name,
        redirectUris: values['redirect-uri'] ?? [],
        scopes: scopes as Scope[] | undefined,
        tokenEndpointAuthMethod: method as TokenEndpointAuthMethod | undefined,
        dpopBound: values['dpop-bound'] ?? false,
      },
      null,
    );
    process.stdout.write(`${JSON.stringify({ ...client, createdAt: client.createdAt.toISOString(), clientSecret }, null, 2)}\n`);
  } finally {
    await app.close();
    await database.embedded?.stop();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigValidationError) process.stderr.write(`${error.message}\n`);
  else if (error instanceof DomainError) process.stderr.write(`refused (${error.code}): ${error.detail}\n`);
  else process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
