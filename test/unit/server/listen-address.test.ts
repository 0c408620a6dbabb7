// parseListenAddress/formatListenAddress: Postfix and Sendmail socket notations, and every malformed one refused.
import { ListenError } from '../../../src/server/errors';
import { formatListenAddress, parseListenAddress, type ListenAddress } from '../../../src/server/listen-address';

function refused(spec: string): string {
  try {
    parseListenAddress(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(ListenError);
    expect((error as ListenError).code).toBe('FG_ERR_LISTEN');
    return (error as Error).message;
  }
  throw new Error(`accepted ${spec}`);
}

describe('accepted notations', () => {
  test.each<[string, ListenAddress]>([
    // Postfix: inet:host:port
    ['inet:127.0.0.1:8895', { kind: 'tcp', host: '127.0.0.1', port: 8895 }],
    ['inet:localhost:25', { kind: 'tcp', host: 'localhost', port: 25 }],
    ['inet:[::1]:8895', { kind: 'tcp', host: '::1', port: 8895 }],
    ['inet:[2001:db8::25]:65535', { kind: 'tcp', host: '2001:db8::25', port: 65535 }],
    // Sendmail / libmilter: inet:port@host, inet6:port@host
    ['inet:8895@127.0.0.1', { kind: 'tcp', host: '127.0.0.1', port: 8895 }],
    ['inet:8895@[127.0.0.1]', { kind: 'tcp', host: '127.0.0.1', port: 8895 }],
    ['inet:1@mx.example.org', { kind: 'tcp', host: 'mx.example.org', port: 1 }],
    ['inet6:8895@[::1]', { kind: 'tcp', host: '::1', port: 8895 }],
    ['inet6:8895@::1', { kind: 'tcp', host: '::1', port: 8895 }],
    ['inet6:8895@localhost', { kind: 'tcp', host: 'localhost', port: 8895 }],
    // libmilter: no @host listens on every address
    ['inet:8895', { kind: 'tcp', host: '0.0.0.0', port: 8895 }],
    ['inet6:8895', { kind: 'tcp', host: '::', port: 8895 }],
    // unix sockets
    ['unix:/var/spool/postfix/floodgate/floodgate.sock', { kind: 'unix', path: '/var/spool/postfix/floodgate/floodgate.sock' }],
    ['local:/run/floodgate.sock', { kind: 'unix', path: '/run/floodgate.sock' }],
    ['unix:/path with space/x:y.sock', { kind: 'unix', path: '/path with space/x:y.sock' }],
    // scheme case does not matter
    ['INET:127.0.0.1:8895', { kind: 'tcp', host: '127.0.0.1', port: 8895 }],
    ['Unix:/x', { kind: 'unix', path: '/x' }],
  ])('%s', (spec, expected) => {
    expect(parseListenAddress(spec)).toEqual(expected);
  });
});

describe('refused notations (ListenError, FG_ERR_LISTEN)', () => {
  test.each([
    ['relative unix path', 'unix:floodgate.sock', /absolute/],
    ['relative local path', 'local:run/x.sock', /absolute/],
    ['empty unix path', 'unix:', /absolute/],
    ['host without port', 'inet:127.0.0.1', /port/],
    ['nothing after inet:', 'inet:', /port/],
    ['empty port before @', 'inet:@127.0.0.1', /port/],
    ['port 0', 'inet:127.0.0.1:0', /port/],
    ['port 0 (Sendmail form)', 'inet:0@127.0.0.1', /port/],
    ['port 70000', 'inet:127.0.0.1:70000', /port/],
    ['port 65536', 'inet:65536@localhost', /port/],
    ['non-numeric port', 'inet:127.0.0.1:smtp', /port/],
    ['negative port', 'inet:127.0.0.1:-1', /port/],
    ['bracketed IPv6 without port', 'inet:[::1]', /port/],
    ['empty host after @', 'inet:8895@', /host/],
    ['empty host before the port', 'inet::8895', /host/],
    ['inet6 with an IPv4 address', 'inet6:8895@127.0.0.1', /inet6/],
    ['unknown scheme tcp:', 'tcp:127.0.0.1:8895', /expected/],
    ['unknown scheme udp:', 'udp:8895@127.0.0.1', /expected/],
    ['no scheme at all', '127.0.0.1:8895', /expected/],
    ['a bare path', '/var/run/x.sock', /expected/],
    ['an empty string', '', /expected/],
  ])('%s: %j', (_name, spec, why) => {
    const message = refused(spec);
    expect(message).toMatch(why);
    expect(message.startsWith(`${spec}:`)).toBe(true);
  });
});

describe('formatListenAddress', () => {
  test.each<[ListenAddress, string]>([
    [{ kind: 'tcp', host: '127.0.0.1', port: 8895 }, 'inet:127.0.0.1:8895'],
    [{ kind: 'tcp', host: '::1', port: 8895 }, 'inet:[::1]:8895'],
    [{ kind: 'tcp', host: 'mx.example.org', port: 25 }, 'inet:mx.example.org:25'],
    [{ kind: 'unix', path: '/run/x.sock' }, 'unix:/run/x.sock'],
  ])('%j -> %s', (address, text) => {
    expect(formatListenAddress(address)).toBe(text);
  });

  test.each(['inet:127.0.0.1:8895', 'inet:[::1]:8895', 'inet6:8895@[2001:db8::1]', 'inet:8895@0.0.0.0', 'local:/run/x.sock'])(
    '%s survives format -> parse unchanged',
    (spec) => {
      const address = parseListenAddress(spec);
      expect(parseListenAddress(formatListenAddress(address))).toEqual(address);
    },
  );
});
