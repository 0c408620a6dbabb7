#!/usr/bin/env node
// The `floodgate` command: parses arguments and dispatches to a subcommand; exit codes follow sysexits.h.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FloodgateError } from '../errors';
import { passThroughHandler } from '../service/pass-through-handler';
import { FloodgateService } from '../service/service';

const PACKAGE_ROOT = join(__dirname, '..', '..');

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 64, CONFIG: 78 } as const;

const HELP = `Usage: floodgate <command> [options]

Commands:
  run                 start the milter service

Options:
  -c, --config FILE   configuration file (default: $FLOODGATE_CONFIG, then the shipped
                      ${join(PACKAGE_ROOT, 'config', 'floodgate.yml')})
  -h, --help          show this help
  -V, --version       print the version

Signals (run): SIGHUP reloads the configuration, SIGTERM/SIGINT drain and stop.
Exit codes: 0 ok, 1 runtime failure, 64 usage error, 78 configuration error.
`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } },
    });
  } catch (error) {
    process.stderr.write(`floodgate: ${(error as Error).message}\n${HELP}`);
    return EXIT.USAGE;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`floodgate ${packageVersion()}\n`);
    return EXIT.OK;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.OK;
  }
  const [command, ...rest] = positionals;
  if (command !== 'run' || rest.length > 0) {
    process.stderr.write(command === undefined ? HELP : `floodgate: unknown command ${JSON.stringify(positionals.join(' '))}\n${HELP}`);
    return EXIT.USAGE;
  }
  return run(values.config ?? process.env.FLOODGATE_CONFIG ?? shippedConfig());
}

async function run(configFile: string | undefined): Promise<number> {
  let service: FloodgateService;
  try {
    service = await FloodgateService.start({ configFile, handlerFor: () => passThroughHandler() });
  } catch (error) {
    process.stderr.write(`floodgate: ${(error as Error).message}\n`);
    return error instanceof FloodgateError && error.code === 'FG_ERR_CONFIG' ? EXIT.CONFIG : EXIT.FAILURE;
  }
  return new Promise<number>((resolve) => {
    process.on('SIGHUP', () => service.reload());
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void service.stop().then(() => resolve(EXIT.OK));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

function shippedConfig(): string | undefined {
  const file = join(PACKAGE_ROOT, 'config', 'floodgate.yml');
  return existsSync(file) ? file : undefined;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
