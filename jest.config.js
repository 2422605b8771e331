const ESM_REQUIRED_FROM_COMMONJS = ['content-disposition'];

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
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
    // CommonJS packages that require() an ES module work in Node 20.19+ (require(esm)), but jest's
    // module loader on Node 20 cannot do that; these ES-module packages are compiled to CommonJS for jest.
    [`node_modules/(${ESM_REQUIRED_FROM_COMMONJS.join('|')})/.+\\.js$`]: [
      'babel-jest',
      { plugins: ['@babel/plugin-transform-modules-commonjs'] },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_REQUIRED_FROM_COMMONJS.join('|')})/)`],
  setupFiles: ['reflect-metadata'],
  globalSetup: '<rootDir>/test/support/global-setup.js',
  testTimeout: 60_000,
  // End-to-end files each build their own database; two workers suit the two-core machine.
  maxWorkers: 2,
};
