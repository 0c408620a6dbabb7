// Lookup semantics of RecipientMap: Postfix virtual(5) / relay_recipient_maps order, judged domains, case.
import { RecipientMap, RecipientMapBuilder, RecipientMapError, stripExtension } from '../../../src/recipients/recipient-map';

const KEYS = [
  'joe@example.com',
  'Ann@Example.ORG',
  'sales+eu@example.com',
  '@catchall.test',
  'admin', // bare local part: known in every judged domain
  'list@lists.test',
  '"john doe"@example.com',
];

describe('with the default delimiter "+"', () => {
  const map = RecipientMap.from(KEYS);

  test.each([
    ['exact address', 'joe@example.com', true],
    ['unknown user of a judged domain', 'bob@example.com', false],
    ['extension stripped at "+"', 'joe+news@example.com', true],
    ['empty extension', 'joe+@example.com', true],
    ['extension not stripped at "-"', 'joe-news@example.com', false],
    ['key that carries an extension, exact', 'sales+eu@example.com', true],
    ['unextended form of an extended key is not known', 'sales@example.com', false],
    ['other extension of an extended key', 'sales+us@example.com', false],
    ['leading delimiter: nothing left to strip to', '+joe@example.com', false],
    ['catch-all @domain', 'anyone@catchall.test', true],
    ['catch-all with an extension', 'anyone+x@catchall.test', true],
    ['bare local part in a key domain', 'admin@example.com', true],
    ['bare local part in another key domain', 'admin@lists.test', true],
    ['bare local part with an extension', 'admin+x@example.org', true],
    ['key case folded', 'ann@example.org', true],
    ['trailing root dot in the domain', 'joe@example.com.', true],
    ['quoted local part with a space', '"john doe"@example.com', true],
    ['foreign domain is not judged', 'joe@foreign.test', undefined],
    ['bare local part in a foreign domain is not judged', 'admin@foreign.test', undefined],
    ['subdomain of a judged domain is not judged', 'joe@sub.example.com', undefined],
    ['no domain is not judged', 'joe', undefined],
  ])('%s: %s -> %s', (_name, address, expected) => {
    expect(map.isKnown(address)).toBe(expected);
  });

  test('size counts distinct keys and domains are those of the keys', () => {
    expect(RecipientMap.from([...KEYS, 'JOE@example.com']).size).toBe(KEYS.length);
    expect([...map.domains].sort()).toEqual(['catchall.test', 'example.com', 'example.org', 'lists.test']);
  });
});

describe('with a multi-character delimiter "+-" (a set, as Postfix 2.11+)', () => {
  const map = RecipientMap.from(KEYS.concat(['mailer@example.com', 'owner@lists.test']), { delimiter: '+-' });

  test.each([
    ['split at "+"', 'joe+x@example.com', true],
    ['split at "-"', 'joe-x@example.com', true],
    ['split at the first delimiter character', 'joe-a+b@example.com', true],
    ['no need for the whole "+-" sequence', 'joe+-x@example.com', true],
    ['list-x is split', 'list-x@lists.test', true],
    ['mailer-daemon is never split', 'mailer-daemon@example.com', false],
    ['owner-foo is never split when "-" is a delimiter', 'owner-x@lists.test', false],
    ['foo-request is never split when "-" is a delimiter', 'list-request@lists.test', false],
    ['other-request is not split to "other"', 'joe-request@example.com', false],
  ])('%s: %s -> %s', (_name, address, expected) => {
    expect(map.isKnown(address)).toBe(expected);
  });

  test('a multi-character string delimiter splits at any of its characters', () => {
    const dots = RecipientMap.from(['joe@example.com'], { delimiter: '.=' });
    expect(dots.isKnown('joe=x@example.com')).toBe(true);
    expect(dots.isKnown('joe.x@example.com')).toBe(true);
    expect(dots.isKnown('joe+x@example.com')).toBe(false);
  });
});

test('delimiter "" turns extension stripping off', () => {
  const map = RecipientMap.from(['joe@example.com'], { delimiter: '' });
  expect(map.isKnown('joe+news@example.com')).toBe(false);
  expect(map.isKnown('joe@example.com')).toBe(true);
});

describe('explicit domains', () => {
  test('a listed domain with no key is judged: all its users are unknown', () => {
    const map = RecipientMap.from(['joe@example.com'], { domains: ['Empty.Test.'] });
    expect(map.isKnown('anyone@empty.test')).toBe(false);
    expect([...map.domains].sort()).toEqual(['empty.test', 'example.com']);
  });

  test('bare local parts are known in listed domains', () => {
    const map = RecipientMap.from(['admin'], { domains: ['a.test'] });
    expect(map.isKnown('admin@a.test')).toBe(true);
    expect(map.isKnown('root@a.test')).toBe(false);
    expect(map.isKnown('admin@b.test')).toBeUndefined();
  });

  test('a map of bare local parts and no domain judges nothing', () => {
    const builder = new RecipientMapBuilder();
    builder.add('admin');
    expect(builder.judgesNothing).toBe(true);
    expect(builder.build().isKnown('admin@example.com')).toBeUndefined();
  });
});

describe('refused keys and options', () => {
  test.each([
    ['no domain after "@"', 'user@'],
    ['only a root dot after "@"', 'user@.'],
    ['empty key', '  '],
    ['longer than any address', `${'a'.repeat(320)}@example.com`],
  ])('%s', (_name, key) => {
    expect(new RecipientMapBuilder().add(key)).toEqual(expect.any(String));
    expect(() => RecipientMap.from([key])).toThrow(RecipientMapError);
  });

  test.each(['@', '+ ', '"'])('delimiter %j is refused', (delimiter) => {
    expect(() => new RecipientMapBuilder({ delimiter })).toThrow(expect.objectContaining({ code: 'FG_ERR_RECIPIENT_MAP' }));
  });

  test.each(['bad domain', 'a@b', '.leading.dot', ''])('domain %j is refused', (domain) => {
    expect(() => new RecipientMapBuilder({ domains: [domain] })).toThrow(RecipientMapError);
  });

  test('a builder cannot change a map it already built', () => {
    const builder = new RecipientMapBuilder();
    builder.build();
    expect(() => builder.add('joe@example.com')).toThrow(/after build/);
  });
});

test.each([
  ['joe+x', '+', 'joe'],
  ['joe', '+', 'joe'],
  ['+joe', '+', '+joe'],
  ['joe+a+b', '+', 'joe'],
  ['joe-x', '+', 'joe-x'],
  ['joe-x', '-', 'joe'],
  ['owner-x', '-', 'owner-x'],
  ['owner-x', '+', 'owner-x'],
  ['x-request', '-', 'x-request'],
  ['-request', '-', '-request'],
  ['postmaster', 'p', 'postmaster'],
  ['double-bounce', '-', 'double-bounce'],
  ['joe+x', '', 'joe+x'],
])('stripExtension(%j, %j) = %j', (local, delimiter, expected) => {
  expect(stripExtension(local, delimiter)).toBe(expected);
});
