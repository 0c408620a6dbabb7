// find() filters: checked, addresses normalised as the recorder stores them, the network parsed once.
import { checkFilter } from '../../../src/tracking/tracking-filter';

test('addresses are normalised as a person might type them; the rest passes through', () => {
  expect(checkFilter({ from: '<Joe@Example.ORG>', to: ' Anne@Customer.Example ', queueId: 'Q1', answer: 'reject', rule: 'r', since: 1, until: 2, limit: 5 }))
    .toEqual({ from: 'joe@example.org', to: 'anne@customer.example', queueId: 'Q1', answer: 'reject', rule: 'r', since: 1, until: 2, limit: 5 });
  expect(checkFilter({ from: '<>', limit: 1 })).toEqual({ from: '', limit: 1 });
});

test('ip is an address or a network, IPv4-mapped addresses as IPv4', () => {
  expect(checkFilter({ ip: '192.0.2.1', limit: 1 }).network).toEqual({ address: '192.0.2.1', prefix: 32, family: 'ipv4' });
  expect(checkFilter({ ip: '::ffff:192.0.2.0/120', limit: 1 }).network).toEqual({ address: '192.0.2.0', prefix: 24, family: 'ipv4' });
  expect(checkFilter({ ip: '2001:db8::/32', limit: 1 }).network).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
});

test('a filter no query could mean is a RangeError naming what is wrong', () => {
  expect(() => checkFilter({ ip: 'mx.example.org', limit: 1 })).toThrow(/not an IP address or CIDR/);
  expect(() => checkFilter({ limit: 0 })).toThrow(/limit 0/);
  expect(() => checkFilter({ limit: 2.5 })).toThrow(/limit 2.5/);
  expect(() => checkFilter({ until: Infinity, limit: 1 })).toThrow(/until Infinity/);
});
