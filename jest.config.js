// Three projects: unit (pure modules), integration (real server on loopback), e2e (real MTAs).
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest } };
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
};
