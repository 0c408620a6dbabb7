// KeyFilter: never forgets a key it was given (a false "no" would lose a stored score), rarely claims one it was not.
import { KeyFilter } from '../../../src/store/key-filter';

const CAPACITY = 1 << 17;

describe('KeyFilter', () => {
  test('says "maybe" for every key added, at and beyond its capacity', () => {
    const filter = new KeyFilter(CAPACITY);
    const keys = Array.from({ length: 2 * CAPACITY }, (_, i) => `ip+sender:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}|u${i}@example.org`);
    keys.forEach((key) => filter.add(key));
    expect(keys.filter((key) => !filter.mayHave(key))).toEqual([]);
  });

  test('at capacity, says "maybe" for under 2 % of keys never added', () => {
    const filter = new KeyFilter(CAPACITY);
    for (let i = 0; i < CAPACITY; i++) filter.add(`sender:user${i}@customer${i % 997}.example`);
    let maybe = 0;
    const TRIES = 100_000;
    for (let i = 0; i < TRIES; i++) if (filter.mayHave(`sender:other${i}@customer${i % 997}.example`)) maybe++;
    expect(maybe / TRIES).toBeLessThan(0.02);
  });

  test('a key handed in with a prefix to skip is the same key as its slice', () => {
    const filter = new KeyFilter(CAPACITY);
    filter.add('s!ip:192.0.2.1', 2);
    expect(filter.mayHave('ip:192.0.2.1')).toBe(true);
    expect(filter.mayHave('s!ip:192.0.2.1')).toBe(false);
  });

  test('is full once more keys were added than it was sized for', () => {
    const filter = new KeyFilter(10); // raised to the smallest size
    expect(filter.capacity).toBe(CAPACITY);
    for (let i = 0; i < CAPACITY; i++) filter.add(`k${i}`);
    expect(filter.full).toBe(false);
    filter.add('one more');
    expect(filter.full).toBe(true);
  });
});
