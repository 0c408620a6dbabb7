// durationMs and the duration schema: seconds as numbers, or a number with ms/s/m/h.
import Ajv from 'ajv';
import { DURATION_PATTERN, durationMs, durationSchema } from '../../../src/config/duration';

describe('durationMs', () => {
  test.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1.5s', 1_500],
    ['0s', 0],
    ['7210s', 7_210_000],
  ])('%s -> %i ms', (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });

  test.each([
    [30, 30_000],
    [0, 0],
    [0.25, 250],
  ])('the number %p is seconds -> %i ms', (seconds, ms) => {
    expect(durationMs(seconds)).toBe(ms);
  });

  test.each(['', '10', 'abc', 's', '10 s', '-5s'])('%j is not a duration', (text) => {
    expect(() => durationMs(text)).toThrow(/not a duration/);
  });

  // Bug guard: /^([0-9.]+)([a-z]+)$/ lets through units outside ms/s/m/h/d and numbers like 1.2.3, giving NaN,
  // which a timer then treats as 1 ms. The schema stops it in files, but the function should not.
  test.each(['5y', '3w', '10min', '1.2.3s', '.s'])('%j (unknown unit or malformed number) throws instead of returning NaN', (text) => {
    expect(() => durationMs(text)).toThrow(/not a duration/);
  });
});

describe('durationSchema', () => {
  const validate = new Ajv({ strict: true }).compile(durationSchema);

  test.each([0, 30, 1.5, '500ms', '30s', '5m', '2h', '1.5s', '7d'])('accepts %p', (value) => {
    expect(validate(value)).toBe(true);
  });

  test.each([-1, '30', '5w', '1.s', 's', '1h30m', ' 30s', '30S', null, true, {}])('refuses %p', (value) => {
    expect(validate(value)).toBe(false);
  });

  test('the pattern and the schema agree', () => {
    expect(new RegExp(DURATION_PATTERN).test('45m')).toBe(true);
    expect(new RegExp(DURATION_PATTERN).test('7d')).toBe(true);
    expect(new RegExp(DURATION_PATTERN).test('45w')).toBe(false);
  });
});
