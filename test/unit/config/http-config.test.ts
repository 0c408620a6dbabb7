// The http: section: listen forms, off, and no listener reachable from other hosts without auth.
import { ConfigError } from '../../../src/config/errors';
import { parseServiceConfig } from '../../../src/config/service-config';

const HASH = '$scrypt$N=16384,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=';
const http = (text: string) => parseServiceConfig(text, 'floodgate.yml').http;
const problems = (text: string) => {
  try {
    parseServiceConfig(text, 'floodgate.yml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('no ConfigError');
};

test.each([
  ['127.0.0.1:8899', { kind: 'tcp', host: '127.0.0.1', port: 8899 }],
  ['127.3.4.5:80', { kind: 'tcp', host: '127.3.4.5', port: 80 }],
  ['localhost:8899', { kind: 'tcp', host: 'localhost', port: 8899 }],
  ['"[::1]:8899"', { kind: 'tcp', host: '::1', port: 8899 }],
  ['unix:/run/floodgate/http.sock', { kind: 'unix', path: '/run/floodgate/http.sock' }],
])('listen: %s', (spec, listen) => {
  expect(http(`http:\n  listen: ${spec}\n`).listen).toEqual(listen);
});

test('off: no listener', () => {
  expect(http('http: {listen: "off"}\n')).toEqual({ listen: undefined, auth: undefined });
});

test.each(['8899', 'host', '127.0.0.1:0', '127.0.0.1:70000', '[127.0.0.1]:80', 'unix:relative.sock', '::1:8899'])('%s is refused at its line', (spec) => {
  const [problem] = problems(`mode: enforce\nhttp:\n  listen: "${spec}"\n`);
  expect(problem).toMatchObject({ file: 'floodgate.yml', line: 3, column: 11 });
  expect(problem!.message).toMatch(/^http\.listen /);
});

test('a listener other hosts can reach needs auth; the error points at listen', () => {
  const [problem] = problems('http:\n  listen: 0.0.0.0:8899\n');
  expect(problem).toEqual({ file: 'floodgate.yml', line: 2, column: 11, message: expect.stringContaining('reachable from other hosts: set http.auth') });
  expect(problems('http:\n  listen: "[2001:db8::1]:8899"\n')[0]!.message).toContain('set http.auth');
});

test('with tokens or users it may listen anywhere', () => {
  const token = 'x'.repeat(32);
  expect(http(`http:\n  listen: 0.0.0.0:8899\n  auth: {tokens: [${token}]}\n`).auth).toEqual({ tokens: [token], users: new Map() });
  const users = http(`http:\n  listen: 0.0.0.0:8899\n  auth:\n    users: [{name: pm, password_hash: "${HASH}"}]\n`).auth!.users;
  expect([...users]).toEqual([['pm', HASH]]);
});

test('short tokens, plain passwords and duplicate users are refused', () => {
  expect(problems('http:\n  auth: {tokens: [short]}\n')[0]!.message).toContain('http.auth.tokens.0');
  expect(problems('http:\n  auth:\n    users: [{name: pm, password_hash: secret}]\n')[0]!.message).toContain('password_hash');
  expect(problems('http:\n  auth:\n    users: [{name: pm, password: secret}]\n').map((p) => p.message)).toContain('unknown field "password" in http.auth.users.0');
  expect(problems(`http:\n  auth:\n    users: [{name: pm, password_hash: "${HASH}"}, {name: pm, password_hash: "${HASH}"}]\n`)[0]!.message).toContain('listed twice');
});
