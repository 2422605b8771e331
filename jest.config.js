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
};
