// Runs the benchmark scenarios and prints each one's own table, then one combined table.
// Assumes `npm run build` has been run (`npm run bench` does both).
//
//   node bench/run.mjs                 every scenario
//   node bench/run.mjs --only health   one scenario
// Settings: BENCH_CONNECTIONS (100), BENCH_DURATION_SECONDS (10), BENCH_WARMUP_SECONDS (2),
// BENCH_STARTUP_RUNS (3), BENCH_OAUTH_CONNECTIONS (64; the oauth scenario's own, in place of BENCH_CONNECTIONS),
// BENCH_LEDGER_CALLERS (64), BENCH_LEDGER_ACCOUNTS (1000), BENCH_LEDGER_NAIVE_POOL (60), BENCH_LEDGER_ENTRIES (1,000,000),
// BENCH_EXPORT_ENTRIES (1,000,000), BENCH_AUDIT_CALLERS (64), BENCH_WAIVERS_USERS (64), BENCH_WAIVERS_POOL_SIZE,
// BENCH_LEDGER_RATE (2,000), BENCH_PAYMENTS_RATE (1,500), BENCH_WAIVERS_RATE (2,000): the requests a second the
// constant-rate runs offer after the saturation runs (the issues' goal rates; lib.mjs runConstantRate),
// BENCH_IDENTITY_CONNECTIONS (64), BENCH_IDENTITY_USERS (40,000), BENCH_IDENTITY_SCORE_USERS (2,000),
// BENCH_SERVICE_NODE_ARGS (node flags for the service, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`),
// BENCH_ADMIN_DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres).
import { existsSync } from 'node:fs';
import { formatReport, loadSettings, progress, serviceEntry, summaryColumns, summaryRow } from './lib.mjs';

// One line a scenario; each module exports `run(options)` returning { name, rows, detail }.
const scenarios = {
  startup: () => import('./startup.mjs'),
  health: () => import('./health.mjs'),
  oauth: () => import('./oauth.mjs'),
  ledger: () => import('./ledger.mjs'),
  payments: () => import('./payments.mjs'),
  waivers: () => import('./waivers.mjs'),
  export: () => import('./export.mjs'),
  audit: () => import('./audit.mjs'),
  identity: () => import('./identity.mjs'),
};

function parseArguments(argv) {
  const chosen = [];
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index];
    if (argument === '--only') {
      const value = argv[index + 1];
      if (value === undefined || value.startsWith('--')) throw new Error('--only needs a scenario name');
      chosen.push(value);
      index += 1;
    } else if (argument.startsWith('--only=')) {
      chosen.push(argument.slice('--only='.length));
    } else if (argument === '--help' || argument === '-h') {
      return { help: true, chosen };
    } else {
      throw new Error(`unknown argument ${JSON.stringify(argument)}`);
    }
  }
  for (const name of chosen) {
    if (!(name in scenarios)) throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(', ')}`);
  }
  return { help: false, chosen: chosen.length > 0 ? chosen : Object.keys(scenarios) };
}

async function main() {
  let parsed;
  let settings;
  try {
    parsed = parseArguments(process.argv.slice(2));
    settings = loadSettings();
  } catch (error) {
    process.stderr.write(`bench: ${error.message}\nusage: node bench/run.mjs [--only <${Object.keys(scenarios).join('|')}>]\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`usage: node bench/run.mjs [--only <${Object.keys(scenarios).join('|')}>]\n`);
    return 0;
  }
  if (!existsSync(serviceEntry)) {
    process.stderr.write(`bench: ${serviceEntry} is missing; run \`npm run build\` first (or \`npm run bench\`)\n`);
    return 2;
  }

  const conditions = { ...settings };
  const rows = [];
  let failures = 0;
  for (const name of parsed.chosen) {
    progress(`scenario ${name}`);
    try {
      const scenario = await scenarios[name]();
      const result = await scenario.run(settings);
      process.stdout.write(`${result.detail}\n\n`);
      rows.push(...result.rows);
      for (const [key, value] of Object.entries(result.settings ?? {})) {
        if (!(key in settings)) conditions[`${name} ${key}`] = value;
      }
    } catch (error) {
      failures += 1;
      process.stderr.write(`bench: scenario ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      rows.push({ scenario: name, notes: `FAILED: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}` });
    }
  }

  process.stdout.write(`${formatReport('creditgate benchmarks', conditions, summaryColumns, rows.map(summaryRow))}\n`);
  process.stdout.write('(startup rows: p50 is the median time from spawn to the first 200 from /health/ready)\n');
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
