// MacroPairs: a MACRO packet's pairs looked up by name in its bytes, with libmilter's {j} == j.
import { MacroPairs, macroKey } from '../../../src/milter/macro-pairs';

/** The pairs of a packet's strings (names and values alternating), checked as decodeCommand checks them. */
function pairs(...strings: string[]): MacroPairs {
  const checked = MacroPairs.check(Buffer.from(strings.map((text) => `${text}\0`).join('')));
  if (typeof checked === 'string') throw new Error(checked);
  return checked;
}

test('a value is found by its name; a name not sent is undefined', () => {
  const set = pairs('j', 'mx.example.org', '{daemon_name}', 'smtpd', '{auth_authen}', '');
  expect(set.get('j')).toBe('mx.example.org');
  expect(set.get('{daemon_name}')).toBe('smtpd');
  expect(set.get('{auth_authen}')).toBe('');
  expect(set.get('{mail_addr}')).toBeUndefined();
  expect(set.get('daemon_name')).toBeUndefined();
  expect(pairs().get('j')).toBeUndefined();
});

test('one-letter names braced or not are the same macro, asked for in macroKey form', () => {
  const set = pairs('{i}', 'QID1', '_', 'client [192.0.2.1]', '{}', 'odd', '{ab}', 'two');
  expect(set.get(macroKey('{i}'))).toBe('QID1');
  expect(set.get('i')).toBe('QID1');
  expect(set.get('_')).toBe('client [192.0.2.1]');
  expect(set.get('{}')).toBe('odd');
  expect(set.get('{ab}')).toBe('two');
  expect(set.get('ab')).toBeUndefined();
});

test('a name sent twice: the later value; a name or value outside ASCII is read as UTF-8', () => {
  const set = pairs('i', 'first', '{i}', 'second', 'ñame', 'välue', 'k', 'ключ');
  expect(set.get('i')).toBe('second');
  expect(set.get('ñame')).toBe('välue');
  expect(set.get('k')).toBe('ключ');
  expect(set.toObject()).toEqual({ i: 'second', ñame: 'välue', k: 'ключ' });
});

test('names that share a prefix or differ in length never match each other', () => {
  const set = pairs('{rcpt_addr}', 'bob@example.net', '{rcpt_addr_x}', 'other', 'j', 'J');
  expect(set.get('{rcpt_addr}')).toBe('bob@example.net');
  expect(set.get('{rcpt_add}')).toBeUndefined();
  expect(set.get('{rcpt_addr_x}')).toBe('other');
  expect(set.get('J')).toBeUndefined();
});

test('malformed packets are refused with the reason', () => {
  expect(MacroPairs.check(Buffer.from('j\0mx'))).toBe('last string is not NUL-terminated');
  expect(MacroPairs.check(Buffer.from('j\0mx\0i\0'))).toBe('odd number of strings (3)');
  expect(MacroPairs.check(Buffer.alloc(0))).toBeInstanceOf(MacroPairs);
});

test('every name of a packet is found whatever its length and first letter, and names it lacks are not', () => {
  // A name's presence is first asked of a 32-bit summary of the packet's names: a name whose bit is
  // set by another name must still be told apart by its bytes, and no name may be missed.
  const names: string[] = [];
  for (let length = 1; length <= 12; length++) for (const first of 'aijz_{') names.push(first === '{' ? `{${'q'.repeat(length)}}` : first.padEnd(length, 'x'));
  const set = pairs(...names.flatMap((name, i) => [name, `v${i}`]));
  names.forEach((name, i) => expect(set.get(macroKey(name))).toBe(`v${i}`));
  for (const absent of ['b', 'yy', '{auth_authen}', '{qqqqqqqqqqqqq}', 'ixxxxxxxxxxxxxx', '']) expect(set.get(absent)).toBeUndefined();
  expect(pairs('', 'empty').get('')).toBe('empty');
  expect(pairs('{j}', 'braced').get('{j}')).toBe('braced');
});
