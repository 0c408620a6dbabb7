// The Redis store's configuration (store.backend: redis, store.redis, on_store_error: local) and its errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/errors';
import { parseServiceConfig } from '../../../src/config/service-config';
import { redisOptions } from '../../../src/service/open-store';

function messages(text: string): string[] {
  try {
    parseServiceConfig(text, '/etc/floodgate/floodgate.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
  }
  throw new Error(`accepted:\n${text}`);
}

test('one server with TLS, an ACL user and a prefix; relative TLS files are beside the configuration', () => {
  const config = parseServiceConfig([
    'store:',
    '  backend: redis',
    '  timeout: 500ms',
    '  redis:',
    '    url: rediss://redis.example.org:6380/2',
    '    username: floodgate',
    '    password: "s3cret"',
    '    key_prefix: "mx:"',
    '    connect_timeout: 5s',
    '    tls: { ca_file: ca.pem }',
    'on_store_error: local',
  ].join('\n'), '/etc/floodgate/floodgate.yml');
  expect(config).toMatchObject({
    storeBackend: 'redis',
    storeTimeoutMs: 500,
    onStoreError: 'accept',
    storeFallback: 'local',
    redis: { urls: ['rediss://redis.example.org:6380/2'], cluster: false, username: 'floodgate', password: 's3cret', keyPrefix: 'mx:', connectTimeoutMs: 5000, tls: { caFile: '/etc/floodgate/ca.pem' } },
  });
});

test('defaults: prefix floodgate:, connect timeout 2 s; tempfail and accept keep no local fallback', () => {
  const config = parseServiceConfig('store: { backend: redis, redis: { url: "redis://127.0.0.1" } }\non_store_error: tempfail\n', 'f.yml');
  expect(config.redis).toEqual({ urls: ['redis://127.0.0.1'], cluster: false, keyPrefix: 'floodgate:', connectTimeoutMs: 2000 });
  expect(config).toMatchObject({ onStoreError: 'tempfail', storeFallback: undefined });
  expect(redisOptions(config.redis!, 2000)).toEqual({ url: 'redis://127.0.0.1', keyPrefix: 'floodgate:', connectTimeoutMs: 2000, commandTimeoutMs: 2000 });
});

test('a Cluster from seed nodes, and Sentinel from the sentinels\' URLs', () => {
  const cluster = parseServiceConfig('store:\n  backend: redis\n  redis:\n    cluster: true\n    url: [redis://10.0.0.1:7000, redis://10.0.0.2:7000]\n', 'f.yml');
  expect(redisOptions(cluster.redis!, 1000)).toMatchObject({ clusterNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] });
  const sentinel = parseServiceConfig('store:\n  backend: redis\n  redis:\n    sentinel: { name: mymaster }\n    url: [redis://10.0.0.1:26379, redis://10.0.0.2:26379]\n', 'f.yml');
  expect(redisOptions(sentinel.redis!, 1000)).toMatchObject({ sentinel: { name: 'mymaster', nodes: ['redis://10.0.0.1:26379', 'redis://10.0.0.2:26379'] } });
});

test('the store settings are checked with their positions', () => {
  expect(messages('store:\n  backend: redis\n')).toEqual(['2:3: missing field "redis" in store']);
  expect(messages('store:\n  backend: redis\n  redis:\n    url: http://x\n')[0]).toMatch(/^4:10: store\.redis\.url /);
  expect(messages('store:\n  backend: redis\n  redis:\n    url: redis://x\n    key_prefix: "a{b}"\n')[0]).toMatch(/^5:17: store\.redis\.key_prefix must match pattern/);
  expect(messages('store:\n  backend: redis\n  redis:\n    url: redis://x\n    sentinel: { name: m }\n    cluster: true\n')).toContain('6:14: store.redis.cluster must be one of false');
  expect(messages('store:\n  backend: redis\n  redis:\n    url: redis://x\n    databse: 1\n')).toEqual(['5:5: unknown field "databse" in store.redis']);
  expect(messages('on_store_error: queue\n')[0]).toMatch(/on_store_error must be one of "tempfail", "accept", "local"/);
  expect(messages('store:\n  backend: redis\n  redis:\n    url: [redis://a, redis://b]\n')[0]).toMatch(/several servers: set cluster: true/);
});

test('the Redis block of the shipped config/floodgate.yml, uncommented, is valid and gives the defaults', () => {
  const shipped = readFileSync(join(__dirname, '..', '..', '..', 'config', 'floodgate.yml'), 'utf8');
  const enabled = shipped
    .replace(/^ {2}backend: level/m, '  backend: redis')
    .replace(/^ {2}# redis:/m, '  redis:')
    .replace(/^ {2}# {3}(url|key_prefix|connect_timeout):/gm, '    $1:');
  expect(enabled).not.toBe(shipped);
  const config = parseServiceConfig(enabled, '/etc/floodgate/floodgate.yml');
  expect(config.redis).toEqual({ urls: ['redis://127.0.0.1:6379/0'], cluster: false, keyPrefix: 'floodgate:', connectTimeoutMs: 2000 });
});
