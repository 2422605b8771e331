import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ClientRegistry } from '../oauth/client-registry.js';
import { UsersService } from '../users/users.service.js';
import { WaiversService } from '../waivers/waivers.service.js';

/** Serialises the first start of several instances ("demo"). */
const DEMO_SEED_LOCK = 0x64656d6f;

/** The password of every demo user: demo data only, printed at first start and in the README. */
export const DEMO_USER_PASSWORD = 'creditgate-demo-password';

export const DEMO_MINI_PROGRAM_REDIRECT_URI = 'http://127.0.0.1:8787/callback';

/** Demo users. `score-NNN@test.invalid` and `score-na@test.invalid` are the deterministic test users of the credit module. */
export const DEMO_USERS = [
  { email: 'ada@demo.creditgate.test', displayName: 'Ada (demo)' },
  { email: 'score-649@test.invalid', displayName: 'Test user at 649' },
  { email: 'score-650@test.invalid', displayName: 'Test user at 650' },
  { email: 'score-na@test.invalid', displayName: 'Test user with no score' },
] as const;

/** The story's policy: the RMB 99 bike deposit waived at a score of 650 or more. */
export const DEMO_POLICY = {
  name: 'Bike deposit: RMB 99, waived from 650',
  version: {
    deposit: { amountMinor: '9900', currency: 'CNY' },
    tiers: [{ minScore: 650, waivePercent: 100 }],
    conditions: { requireVerifiedIdentity: true, minimumAge: 18, maxActiveAgreements: 1, allowOutstandingDebt: false },
    agreementLifetimeSeconds: 7 * 86_400,
    maxFinalChargeMinor: '9900',
  },
};

/** The demo compliance officer: holds the compliance role, so the console at /console can be signed in to. */
export const DEMO_COMPLIANCE_USER = { email: 'compliance@demo.creditgate.test', displayName: 'Compliance officer (demo)' } as const;

export interface DemoCredentials {
  readonly merchant: { readonly id: string; readonly name: string };
  readonly policy: { readonly id: string; readonly name: string };
  readonly miniProgram: { readonly clientId: string; readonly redirectUri: string };
  readonly merchantBackend: { readonly clientId: string; readonly clientSecret: string };
  readonly compliance: { readonly clientId: string; readonly clientSecret: string };
  readonly platform: { readonly clientId: string; readonly clientSecret: string };
  readonly users: readonly { readonly email: string; readonly password: string }[];
  readonly console: { readonly path: string; readonly login: string; readonly password: string };
}

/**
 * The demo records created on the first start of an empty database (with the embedded database by
 * default, or SEED_DEMO=true): a bike-rental merchant, its mini-program (a public client using PKCE),
 * its backend, a compliance client, a platform client, and demo users.
 */
@Injectable()
export class DemoSeeder {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: ClientRegistry,
    private readonly users: UsersService,
    private readonly waivers: WaiversService,
  ) {}

  /** Seeds when no merchant exists yet; returns the credentials (secrets in clear, once), or null. */
  async seedIfEmpty(): Promise<DemoCredentials | null> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [DEMO_SEED_LOCK]);
      const merchants: unknown[] = await manager.query('SELECT 1 FROM merchants LIMIT 1');
      if (merchants.length > 0) return null;
      const merchant = await this.clients.createMerchant('Shanghai Bike Co.', null, manager);
      const miniProgram = await this.clients.createClient(
        {
          clientType: 'mini_program',
          merchantId: merchant.id,
          name: 'Bike rental mini-program',
          tokenEndpointAuthMethod: 'none',
          redirectUris: [DEMO_MINI_PROGRAM_REDIRECT_URI],
        },
        null,
        manager,
      );
      const backend = await this.clients.createClient(
        { clientType: 'merchant', merchantId: merchant.id, name: 'Shanghai Bike Co. backend' },
        null,
        manager,
      );
      const compliance = await this.clients.createClient({ clientType: 'compliance', name: 'Compliance team' }, null, manager);
      const platform = await this.clients.createClient({ clientType: 'platform', name: 'Platform operator' }, null, manager);
      const secret = (created: { clientSecret: string | null }): string => {
        if (created.clientSecret === null) throw new Error('a confidential demo client without a secret');
        return created.clientSecret;
      };
      const { policy } = await this.waivers.createPolicy(
        {
          clientId: backend.client.clientId,
          clientType: 'merchant',
          merchantId: merchant.id,
          userId: null,
          scopes: ['policies:manage'],
        },
        DEMO_POLICY.name,
        DEMO_POLICY.version,
        manager,
      );
      const credentials: DemoCredentials = {
        merchant: { id: merchant.id, name: merchant.name },
        policy: { id: policy.id, name: policy.name },
        miniProgram: { clientId: miniProgram.client.clientId, redirectUri: DEMO_MINI_PROGRAM_REDIRECT_URI },
        merchantBackend: { clientId: backend.client.clientId, clientSecret: secret(backend) },
        compliance: { clientId: compliance.client.clientId, clientSecret: secret(compliance) },
        platform: { clientId: platform.client.clientId, clientSecret: secret(platform) },
        users: [...DEMO_USERS, DEMO_COMPLIANCE_USER].map((user) => ({ email: user.email, password: DEMO_USER_PASSWORD })),
        console: { path: '/console', login: DEMO_COMPLIANCE_USER.email, password: DEMO_USER_PASSWORD },
      };
      for (const user of DEMO_USERS)
        await this.users.signUp({ email: user.email, password: DEMO_USER_PASSWORD, displayName: user.displayName }, manager);
      const officer = await this.users.signUp({ ...DEMO_COMPLIANCE_USER, password: DEMO_USER_PASSWORD }, manager);
      if (officer === null) throw new Error('the demo compliance officer exists already');
      await this.users.setRole(officer, 'compliance', true, null, manager);
      return credentials;
    });
  }
}

/** The banner main.ts prints (to stdout, outside the JSON log, which never carries secrets). */
export function demoBanner(credentials: DemoCredentials, publicUrl: string): string {
  const lines = [
    '',
    '================ creditgate demo data (created now; secrets are shown this once) ================',
    `Merchant            ${credentials.merchant.name}  id=${credentials.merchant.id}`,
    `Waiver policy       ${credentials.policy.name}  id=${credentials.policy.id}`,
    `Mini-program        client_id=${credentials.miniProgram.clientId}  (public, PKCE)  redirect_uri=${credentials.miniProgram.redirectUri}`,
    `Merchant backend    client_id=${credentials.merchantBackend.clientId}  client_secret=${credentials.merchantBackend.clientSecret}`,
    `Compliance          client_id=${credentials.compliance.clientId}  client_secret=${credentials.compliance.clientSecret}`,
    `Platform            client_id=${credentials.platform.clientId}  client_secret=${credentials.platform.clientSecret}`,
    `Users               ${credentials.users.map((user) => user.email).join(', ')}`,
    `                    password for each: ${DEMO_USER_PASSWORD}`,
    `Compliance console  ${publicUrl}${credentials.console.path}  sign in as ${credentials.console.login} (compliance role)`,
    `Token endpoint      ${publicUrl}/oauth/token     Sign-in starts at ${publicUrl}/oauth/authorize`,
    '=================================================================================================',
    '',
  ];
  return lines.join('\n');
}
