// The shared arithmetic: expiry formula, its 15-digit bound, and the layout's padding that relies on it.
import { MAX_EXPIRES_AT, applyUpdate, expiryOf } from '../../../src/store/decay';
import { indexEndFor, indexKey, keyOfIndexEntry } from '../../../src/store/level-layout';

describe('expiryOf', () => {
  test('is when |score| decays to EPSILON, rounded up to the ms', () => {
    expect(expiryOf(0.08, 1000, 1000)).toBe(4000);
    expect(expiryOf(-0.08, 1000, 1000)).toBe(4000);
    expect(expiryOf(1, 0, 1000)).toBe(6644); // 1000 * log2(100) = 6643.86
  });

  test('is clamped to 15 digits, so an absurd half-life cannot break the index order', () => {
    expect(expiryOf(1e300, 1_700_000_000_000, 1e12)).toBe(MAX_EXPIRES_AT);
    expect(String(MAX_EXPIRES_AT)).toHaveLength(15);
  });
});

describe('applyUpdate', () => {
  test('leaves an absent key absent when the result is below EPSILON', () => {
    expect(applyUpdate(undefined, { key: 'k', points: 0.001, halfLifeMs: 1000 }, 0)).toEqual({ score: 0.001, next: 'unchanged' });
  });

  test('deletes an expired record that a refused or tiny update touches', () => {
    const expired = { score: 1, updatedAt: 0, halfLifeMs: 1000, expiresAt: 6644 };
    expect(applyUpdate(expired, { key: 'k', points: 0, halfLifeMs: 1000 }, 7000)).toEqual({ score: 0, next: null });
  });
});

describe('expiry index keys', () => {
  test('sort as their expiry times do, and give back the key (which may contain "!")', () => {
    const a = indexKey(999, 'x!y');
    const b = indexKey(1_700_000_000_000, 'a');
    expect(a < b).toBe(true);
    expect(keyOfIndexEntry(a)).toBe('x!y');
    expect(a < indexEndFor(999)).toBe(true);
    expect(b < indexEndFor(1_699_999_999_999)).toBe(false);
    expect(indexKey(MAX_EXPIRES_AT, 'k') < indexEndFor(1e20)).toBe(true);
  });
});
