// Runs a Lua script under miltertest (OpenDKIM's milter client, Debian package `miltertest`, installed
// by scripts/install-test-deps.sh) to drive a milter over the real protocol.
//
// Writing scripts (see `man miltertest`):
// - mt.connect("inet:PORT@127.0.0.1" [, tries, interval]), mt.negotiate, mt.conninfo, mt.helo,
//   mt.mailfrom, mt.rcptto, mt.header, mt.eoh, mt.bodystring, mt.eom, mt.getreply,
//   mt.eom_check, mt.disconnect. Steps the milter negotiated away raise errors: check
//   mt.test_option first.
// - miltertest itself exits 1 on ANY Lua error -- error(), a failing mt.* call (mt.connect on a
//   refused port raises, it does not return nil), a syntax error -- and prints NOTHING. This helper
//   therefore runs the script inside a wrapper that prints the error and a traceback to stderr as
//   "runMiltertest: Lua error: ..." before failing the same way. Still, print what you checked
//   (e.g. `print("expected SMFIR_ACCEPT, got " .. tostring(r))`) before calling error(): the
//   report then says what was wrong, not only where.
// - vars become Lua globals holding strings (miltertest -D name=value), e.g. vars: { PORT: '8895' }
//   -> mt.connect("inet:" .. PORT .. "@127.0.0.1").
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCommand } from './processes';

export interface MiltertestResult {
  /** Exit status: 0 when the script ran to its end, 1 on a Lua error (a failed check). */
  code: number;
  stdout: string;
  /** The wrapper's "runMiltertest: Lua error: ..." report, if the script failed. */
  stderr: string;
}

const SCRIPT_VAR = 'RUNMILTERTEST_SCRIPT';

// Loads the user's script as a chunk (so -D globals stay visible), runs it under xpcall, and
// reports any error on stderr before re-raising it so miltertest still exits 1.
const WRAPPER = `
local chunk, lerr = loadfile(${SCRIPT_VAR})
if not chunk then
  io.stderr:write("runMiltertest: cannot load script: " .. tostring(lerr) .. "\\n")
  error(lerr, 0)
end
local ok, err = xpcall(chunk, debug.traceback)
if not ok then
  io.stderr:write("runMiltertest: Lua error: " .. tostring(err) .. "\\n")
  error(err, 0)
end
`;

/**
 * Runs `miltertest -s <wrapper>` on the Lua source in script (written to a temp file that is removed
 * afterwards). Resolves with the exit code and output; rejects only if miltertest is missing or
 * does not finish within opts.timeoutMs (default 30 s).
 */
export async function runMiltertest(
  script: string,
  opts: { timeoutMs?: number; vars?: Record<string, string> } = {},
): Promise<MiltertestResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodgate-miltertest-'));
  try {
    const scriptFile = path.join(dir, 'script.lua');
    const wrapperFile = path.join(dir, 'wrapper.lua');
    fs.writeFileSync(scriptFile, script);
    fs.writeFileSync(wrapperFile, WRAPPER);
    const args: string[] = [];
    for (const [name, value] of Object.entries({ ...opts.vars, [SCRIPT_VAR]: scriptFile })) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`runMiltertest: bad Lua variable name ${JSON.stringify(name)}`);
      args.push('-D', `${name}=${value}`);
    }
    args.push('-s', wrapperFile);
    const result = await runCommand('miltertest', args, { timeoutMs: opts.timeoutMs ?? 30_000 }).catch((err: Error) => {
      if (/ENOENT/.test(err.message)) {
        throw new Error(`runMiltertest: miltertest is not installed; run scripts/install-test-deps.sh (${err.message})`);
      }
      throw err;
    });
    // A signal (e.g. a crash) has no exit code: report it as a failure, never as success.
    return { code: result.code ?? 128, stdout: result.stdout, stderr: result.stderr + (result.signal ? `\nkilled by ${result.signal}` : '') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
