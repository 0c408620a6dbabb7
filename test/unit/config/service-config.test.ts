// parseServiceConfig: defaults, typed conversion, and every problem reported together with file:line:column.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type SourceProblem } from '../../../src/config/errors';
import { DEFAULT_LISTEN, loadServiceConfig, parseServiceConfig } from '../../../src/config/service-config';

function problems(text: string, file = 'floodgate.yml'): SourceProblem[] {
  try {
    parseServiceConfig(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FG_ERR_CONFIG');
    return [...(error as ConfigError).problems];
  }
  throw new Error(`accepted:\n${text}`);
}

const DEFAULTS = {
  listen: 'inet:127.0.0.1:8895',
  socket: { mode: 0o660, owner: undefined, group: undefined },
  maxConnections: 1000,
  maxFrameBytes: 1024 * 1024,
  frameTimeoutMs: 30_000,
  idleTimeoutMs: 7_210_000,
  maxDelayMs: 25_000,
  progressIntervalMs: 5_000,
  shutdownGraceMs: 30_000,
  onHandlerError: 'tempfail',
  tcpQuickAck: true,
  rulesFile: undefined,
  // Relative to the working directory when no file is given, else to the file's directory.
  stateDir: join(process.cwd(), 'state'),
  storeBackend: 'level',
  storeTimeoutMs: 2_000,
  storeSweepIntervalMs: 60_000,
  onStoreError: 'accept',
  adminSocket: join(process.cwd(), 'state', 'admin.sock'),
  mtaTimeoutMs: 30_000,
  dns: { servers: undefined, timeoutMs: 2000, cacheSize: 50_000 },
  http: { listen: { kind: 'tcp', host: '127.0.0.1', port: 8899 }, auth: undefined },
  tracking: { backend: 'sqlite', url: undefined, keepMs: 7 * 86_400_000, maxBytes: 1024 * 1024 * 1024, subject: false,
    copies: { dir: join(process.cwd(), 'state', 'copies'), maxMessageBytes: 10 * 1024 * 1024, maxTotalBytes: 1024 * 1024 * 1024, keepMs: 7 * 86_400_000 },
  },
  mode: 'enforce',
  log: { level: 'info', format: 'auto' },
};

describe('defaults', () => {
  test.each([
    ['empty text', ''],
    ['only a comment', '# nothing configured\n'],
    ['an explicit empty document', '---\n'],
    ['an empty map', '{}\n'],
  ])('%s gives every default', (_name, text) => {
    expect(parseServiceConfig(text, 'f.yml')).toEqual({ source: 'f.yml', ...DEFAULTS });
  });

  test('the default listen address is loopback TCP 8895', () => {
    expect(DEFAULT_LISTEN).toBe('inet:127.0.0.1:8895');
  });

  test('loadServiceConfig(undefined) gives the defaults with source (defaults)', () => {
    expect(loadServiceConfig(undefined)).toEqual({ source: '(defaults)', ...DEFAULTS });
  });
});

describe('values', () => {
  const full = [
    'listen: unix:/var/spool/postfix/floodgate/floodgate.sock',
    'socket: {mode: "0750", owner: floodgate, group: postfix}',
    'limits:',
    '  max_connections: 50',
    '  max_frame_bytes: 262144',
    '  frame_timeout: 500ms',
    '  idle_timeout: 2h',
    '  max_delay: 20s',
    '  progress_interval: 3s',
    '  shutdown_grace: 5m',
    'on_handler_error: accept',
    'rules: rules.d/local.yml',
    'state_dir: /var/lib/floodgate',
    'store: {backend: memory, timeout: 500ms, sweep_interval: 5m}',
    'on_store_error: tempfail',
    'admin_socket: ctl.sock',
    'mta_timeout: 10s',
    'http: {listen: "[::1]:9000"}',
    'tracking: {backend: postgres, url: "postgres://fg@db.example.net/floodgate", keep: 30d, max_size_mb: 10, subject: true, copies: {dir: /srv/copies, max_message_mb: 2.5, max_total_mb: 100, keep: 3d}}',
    'mode: observe',
    'log: {level: debug, format: text}',
  ].join('\n');

  test('every field is converted to its typed setting', () => {
    expect(parseServiceConfig(full, '/etc/floodgate.yml')).toEqual({
      source: '/etc/floodgate.yml',
      listen: 'unix:/var/spool/postfix/floodgate/floodgate.sock',
      socket: { mode: 0o750, owner: 'floodgate', group: 'postfix' },
      maxConnections: 50,
      maxFrameBytes: 262144,
      frameTimeoutMs: 500,
      idleTimeoutMs: 7_200_000,
      maxDelayMs: 20_000,
      progressIntervalMs: 3_000,
      shutdownGraceMs: 300_000,
      onHandlerError: 'accept',
      tcpQuickAck: true,
      rulesFile: '/etc/rules.d/local.yml',
      stateDir: '/var/lib/floodgate',
      storeBackend: 'memory',
      storeTimeoutMs: 500,
      storeSweepIntervalMs: 300_000,
      onStoreError: 'tempfail',
      adminSocket: '/var/lib/floodgate/ctl.sock',
      mtaTimeoutMs: 10_000,
      dns: { servers: undefined, timeoutMs: 2000, cacheSize: 50_000 },
      http: { listen: { kind: 'tcp', host: '::1', port: 9000 }, auth: undefined },
      tracking: { backend: 'postgres', url: 'postgres://fg@db.example.net/floodgate', keepMs: 30 * 86_400_000, maxBytes: 10 * 1024 * 1024, subject: true,
        copies: { dir: '/srv/copies', maxMessageBytes: 2.5 * 1024 * 1024, maxTotalBytes: 100 * 1024 * 1024, keepMs: 3 * 86_400_000 },
      },
      mode: 'observe',
      log: { level: 'debug', format: 'text' },
    });
  });

  test('a bare number of seconds is a duration', () => {
    expect(parseServiceConfig('limits: {frame_timeout: 12, max_delay: 0.5}', 'f').frameTimeoutMs).toBe(12_000);
    expect(parseServiceConfig('limits: {max_delay: 0.5}', 'f').maxDelayMs).toBe(500);
  });

  test('the progress interval never drops under 1 s (a zero interval would flood the MTA)', () => {
    expect(parseServiceConfig('limits: {progress_interval: 0}', 'f').progressIntervalMs).toBe(1000);
    expect(parseServiceConfig('limits: {progress_interval: 200ms}', 'f').progressIntervalMs).toBe(1000);
  });

  test('socket mode is octal, with or without the leading 0', () => {
    expect(parseServiceConfig('socket: {mode: "600"}', 'f').socket.mode).toBe(0o600);
    expect(parseServiceConfig('socket: {mode: "0666"}', 'f').socket.mode).toBe(0o666);
  });
});

describe('problems, each with file:line:column', () => {
  test('an unknown top-level field points at its key', () => {
    expect(problems('listen: inet:127.0.0.1:8895\nlisten_adress: x\n')).toEqual([
      { file: 'floodgate.yml', line: 2, column: 1, message: 'unknown field "listen_adress" in top level' },
    ]);
  });

  test('an unknown nested field points at its key, not at its parent', () => {
    expect(problems('limits:\n  max_connections: 5\n    \n  max_conections: 6\n', 'conf/a.yml')).toEqual([
      { file: 'conf/a.yml', line: 4, column: 3, message: 'unknown field "max_conections" in limits' },
    ]);
  });

  test('several problems are reported together, and the message lists them as file:line:column', () => {
    const text = 'bogus: 1\nlimits:\n  max_connections: 0\n  max_frame_bytes: 1000\nlog:\n  level: loud\non_handler_error: reject\n';
    const found = problems(text);
    expect(found).toHaveLength(5);
    expect(found).toEqual(
      expect.arrayContaining([
        { file: 'floodgate.yml', line: 1, column: 1, message: 'unknown field "bogus" in top level' },
        { file: 'floodgate.yml', line: 3, column: 20, message: 'limits.max_connections must be >= 1' },
        { file: 'floodgate.yml', line: 4, column: 20, message: 'limits.max_frame_bytes must be >= 131072' },
        { file: 'floodgate.yml', line: 6, column: 10, message: 'log.level must be one of "error", "warn", "info", "debug"' },
        { file: 'floodgate.yml', line: 7, column: 19, message: 'on_handler_error must be one of "tempfail", "accept", "continue"' },
      ]),
    );
    try {
      parseServiceConfig(text, 'floodgate.yml');
    } catch (error) {
      expect((error as Error).message.split('\n')).toContain('floodgate.yml:6:10: log.level must be one of "error", "warn", "info", "debug"');
    }
  });

  test('a bad enum value names the allowed values', () => {
    expect(problems('log:\n  format: xml\n')).toEqual([{ file: 'floodgate.yml', line: 2, column: 11, message: 'log.format must be one of "json", "text", "auto"' }]);
  });

  test('a wrong type points at the value', () => {
    expect(problems('limits:\n  max_connections: many\n')).toEqual([
      { file: 'floodgate.yml', line: 2, column: 20, message: 'limits.max_connections must be integer' },
    ]);
  });

  test('an unquoted octal mode (YAML 1.2 reads 0660 as the number 660) is an error, not a wrong mode', () => {
    expect(problems('socket:\n  mode: 0660\n')).toEqual([{ file: 'floodgate.yml', line: 2, column: 9, message: 'socket.mode must be string' }]);
  });

  test('a mode with a non-octal digit is refused', () => {
    expect(problems('socket: {mode: "0989"}').map((p) => p.message)).toEqual([expect.stringMatching(/^socket\.mode must match pattern/)]);
  });

  test('tracking with postgres needs its url', () => {
    expect(problems('tracking:\n  backend: postgres\n')).toEqual([{ file: 'floodgate.yml', line: 2, column: 3, message: 'missing field "url" in tracking' }]);
  });

  test('a duration with an unknown unit or a negative number is refused at its position', () => {
    for (const bad of ['5w', '-3s', '10 s', '"30"', '-1']) {
      const found = problems(`limits:\n  idle_timeout: ${bad}\n`);
      expect(found.length).toBeGreaterThan(0);
      for (const p of found) expect([bad, p.line, p.column, p.message.startsWith('limits.idle_timeout ')]).toEqual([bad, 2, 17, true]);
    }
  });

  test('a YAML syntax error is reported with its position', () => {
    expect(problems('listen: a: b\n')).toEqual([{ file: 'floodgate.yml', line: 1, column: 9, message: expect.stringMatching(/[Nn]ested mappings/) }]);
  });

  test('an unclosed quote is a syntax error', () => {
    const [first] = problems('log:\n  level: "info\n');
    expect(first.file).toBe('floodgate.yml');
    expect(first.line).toBeGreaterThanOrEqual(2);
    expect(first.message).toMatch(/quote/i);
  });

  test('a duplicate key is an error at the second occurrence', () => {
    expect(problems('listen: inet:8895\nlisten: unix:/x\n')).toEqual([{ file: 'floodgate.yml', line: 2, column: 1, message: expect.stringMatching(/unique/) }]);
  });

  test('a document that is not a map is refused at line 1', () => {
    expect(problems('- listen\n')).toEqual([{ file: 'floodgate.yml', line: 1, column: 1, message: 'top level must be object' }]);
  });
});

describe('loadServiceConfig from a file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'floodgate-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('reads and parses the file, naming it as the source', () => {
    const file = join(dir, 'ok.yml');
    writeFileSync(file, 'listen: inet:8895@127.0.0.1\n');
    expect(loadServiceConfig(file)).toMatchObject({ source: file, listen: 'inet:8895@127.0.0.1' });
  });

  test('an unreadable file is a ConfigError naming the file and the errno code', () => {
    const file = join(dir, 'missing.yml');
    expect(() => loadServiceConfig(file)).toThrow(ConfigError);
    expect(() => loadServiceConfig(file)).toThrow(/missing\.yml:0:0: cannot read: ENOENT/);
  });

  test('problems name the real file path', () => {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, '\nfoo: 1\n');
    expect(() => loadServiceConfig(file)).toThrow(`${file}:2:1: unknown field "foo" in top level`);
  });
});

describe('dns', () => {
  test('servers with and without ports, IPv4 and IPv6, a timeout and a cache size', () => {
    const config = parseServiceConfig('dns: { servers: ["192.0.2.53", "192.0.2.54:5353", "2001:db8::53", "[::1]:5353"], timeout: 500ms, cache_size: 10 }\n', 'f.yml');
    expect(config.dns).toEqual({ servers: ['192.0.2.53', '192.0.2.54:5353', '2001:db8::53', '[::1]:5353'], timeoutMs: 500, cacheSize: 10 });
  });

  test('a server that is not an address is refused', () => {
    expect(() => parseServiceConfig('dns: { servers: ["resolver.example"] }\n', 'f.yml')).toThrow(/dns.servers/);
    expect(() => parseServiceConfig('dns: { servers: ["999.1.1.1"] }\n', 'f.yml')).toThrow(/"999.1.1.1" is not an IP address/);
  });

  test('a timeout the MTA would not wait for is refused', () => {
    expect(() => parseServiceConfig('dns: { timeout: 30s }\n', 'f.yml')).toThrow(/dns.timeout \(30000 ms\) must be shorter than mta_timeout/);
    expect(parseServiceConfig('dns: { timeout: 5s }\nmta_timeout: 10s\n', 'f.yml').dns.timeoutMs).toBe(5000);
  });
});
