// The private part of ioredis that redis-connection.ts subclasses is where it expects, in the version pinned.
import Redis, { SentinelConnector } from 'ioredis';
import StandaloneConnector from 'ioredis/built/connectors/StandaloneConnector';
import { createRedisClient } from '../../../src/store/redis-connection';

const pkg = require('../../../package.json') as { dependencies: Record<string, string> };
const installed = require('ioredis/package.json') as { version: string };

/** ioredis keeps its connector in a field its types call private. */
const connectorOf = (client: Redis): unknown => (client as unknown as { connector: unknown }).connector;

test('ioredis is pinned to one exact version, the one installed', () => {
  expect(pkg.dependencies.ioredis).toMatch(/^\d+\.\d+\.\d+$/);
  expect(installed.version).toBe(pkg.dependencies.ioredis);
});

test('ioredis uses its private StandaloneConnector by default, and ours extends it and SentinelConnector', () => {
  const plain = new Redis({ lazyConnect: true });
  expect(connectorOf(plain)).toBeInstanceOf(StandaloneConnector);
  plain.disconnect();
  for (const options of [
    { url: 'redis://127.0.0.1:1', connectTimeoutMs: 100, commandTimeoutMs: 100 },
    { sentinel: { name: 'mymaster', nodes: ['redis://127.0.0.1:1'] }, connectTimeoutMs: 100, commandTimeoutMs: 100 },
  ]) {
    const client = createRedisClient(options) as Redis;
    client.on('error', () => undefined);
    const connector = connectorOf(client);
    expect(connector).toBeInstanceOf(options.url ? StandaloneConnector : SentinelConnector);
    expect(connector!.constructor.name).toMatch(/^Guarded/);
    client.disconnect();
  }
});
