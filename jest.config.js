// Four projects: unit (pure modules), integration (real server on loopback), e2e (real MTAs), and
// soak (minutes of load on the built service; scripts/test-full.sh runs it alone, after the others).
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest } };
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...base, displayName: 'soak', testMatch: ['<rootDir>/test/soak/**/*.test.ts'] },
  ],
};
