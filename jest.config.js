// Five projects: unit (pure modules), integration (real server on loopback), e2e (real MTAs), and
// two that load the built service and so run alone, after the others (scripts/test-full.sh): soak
// (minutes of load) and fuzz (the wire fuzzer, which would starve timing-bound tests beside it).
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest } };
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...base, displayName: 'soak', testMatch: ['<rootDir>/test/soak/**/*.test.ts'] },
    { ...base, displayName: 'fuzz', testMatch: ['<rootDir>/test/fuzz/**/*.test.ts'] },
  ],
};
