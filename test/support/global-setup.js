import { execFileSync } from 'node:child_process';

/**
 * Builds the service once before the tests, so that the tests that start it as a real process
 * (`node dist/src/main.js`) run what `npm start` runs. Incremental: a no-op when nothing changed.
 */
export default function globalSetup() {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
