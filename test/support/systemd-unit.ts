// Reads a systemd unit file the way a test without systemd needs it: settings, ExecStart argv, durations.

/** Each `Section.Key` with its values in file order (a key may repeat, e.g. ReadWritePaths). */
export type UnitSettings = Map<string, string[]>;

export function parseUnit(text: string): UnitSettings {
  const settings: UnitSettings = new Map();
  let section = '';
  // Continuation lines end with a backslash (systemd.syntax(7)).
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      section = header[1];
      continue;
    }
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new Error(`not a unit file line: ${line}`);
    const key = `${section}.${trimmed.slice(0, eq).trim()}`;
    settings.set(key, [...(settings.get(key) ?? []), trimmed.slice(eq + 1).trim()]);
  }
  return settings;
}

/** The one value of a key; throws when the unit lacks it or sets it twice. */
export function unitValue(settings: UnitSettings, key: string): string {
  const values = settings.get(key) ?? [];
  if (values.length !== 1) throw new Error(`expected one ${key}= in the unit, found ${values.length}`);
  return values[0];
}

/**
 * An Exec*= command line as argv, with $NAME / ${NAME} replaced from env. Supports what systemd
 * supports short of specifiers: the -@:+! prefixes (dropped), double and single quotes.
 */
export function execArgv(line: string, env: Record<string, string> = {}): string[] {
  const command = line.replace(/^[-@:+!]+/, '');
  if (/%[a-zA-Z]/.test(command)) throw new Error(`specifiers are not emulated: ${line}`);
  const argv: string[] = [];
  const token = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = token.exec(command); m; m = token.exec(command)) {
    const word = m[1] ?? m[2] ?? m[3];
    argv.push(m[2] !== undefined ? word : word.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => {
      if (env[name] === undefined) throw new Error(`$${name} is not set for ${line}`);
      return env[name];
    }));
  }
  return argv;
}

/** A systemd time span ("30s", "1min 30s", "500ms", "45") in microseconds. */
export function timeSpanUsec(span: string): number {
  const units: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, '': 1e6, m: 60e6, min: 60e6, h: 3600e6 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)(us|ms|s|min|m|h|)$/.exec(part);
    if (!m) throw new Error(`unsupported time span ${span}`);
    total += Number(m[1]) * units[m[2]];
  }
  return Math.round(total);
}
