/**
 * One jest run for every test: unit specs beside the code (src/**\/*.spec.ts) and end-to-end specs
 * (test/**\/*.e2e-spec.ts). Native ESM (NestJS 12 ships ES modules), TypeScript through ts-jest.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  rootDir: '.',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // A CommonJS package that require()s an ES-module-only one: see the file for why.
    '^content-disposition$': '<rootDir>/test/support/jest/content-disposition.cjs',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  setupFiles: ['reflect-metadata'],
  globalSetup: '<rootDir>/test/support/global-setup.js',
  testTimeout: 60_000,
  // End-to-end files each build their own database; two workers suit the two-core machine.
  maxWorkers: 2,
  // Under --experimental-vm-modules a worker never frees the modules of the files it ran (jestjs/jest#14605,
  // nodejs/node#33439): about 37 MiB of heap a file here, so a worker ends the run near 900 MiB and takes
  // longer than jest's 500 ms to exit, which jest reports as "A worker process has failed to exit
  // gracefully". A worker past this much heap after a file is replaced by a fresh one.
  workerIdleMemoryLimit: '400MB',
};
