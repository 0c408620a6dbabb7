// Child Node processes that run a script requiring the repository's TypeScript sources, for tests that must kill or race a second process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** Compiles each required .ts file with typescript's transpiler (the repository has no ts-node), as level-write-behind.test.ts does. */
const TRANSPILE_HOOK = `
  const ts = require('typescript');
  const fs = require('fs');
  require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'),
    { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText, file);
`;

/**
 * Runs `script` with `node -e` in the repository's root (so `require('./src/...ts')` works) under the
 * Node running the tests; `args` are its process.argv[1..]. stdout is piped, stderr inherited.
 */
export function typescriptChild(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['-e', TRANSPILE_HOOK + script, ...args], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
}
