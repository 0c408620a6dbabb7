// StoreHealth: on_store_error's answer, and one log line per change of state however long the outage.
import type { Evaluation } from '../../../src/engine/scoring-engine';
import { recordingObserver } from '../../support/recording-observer';
import { StoreHealth } from '../../../src/handler/store-health';
import { StoreError } from '../../../src/store/score-store';
import { captureLog } from '../../support/log-capture';

const OUTAGE = 'score store failed, applying on_store_error';
const RECOVERY = 'score store answers again';

const scored = (updated: number) => ({ kind: 'scored', updated }) as unknown as Evaluation;
const allowed = { kind: 'allowed' } as unknown as Evaluation;

test.each([
  ['accept', { kind: 'continue' }],
  ['tempfail', { kind: 'tempfail' }],
] as const)('on_store_error: %s answers %j and counts every failure', (policy, answer) => {
  const observer = recordingObserver();
  const log = captureLog();
  log.expectWarnings(OUTAGE);
  const health = new StoreHealth(log.logger, policy, observer);
  expect(health.failed('c1', new StoreError('down'))).toEqual(answer);
  expect(health.failed('c2', new StoreError('down'))).toEqual(answer);
  expect(observer.storeFailures).toBe(2);
});

test('logs the failure once and the recovery once; only a scored evaluation that updated keys proves recovery', () => {
  const { lines, logger, expectWarnings } = captureLog();
  expectWarnings(OUTAGE, RECOVERY);
  const health = new StoreHealth(logger, 'accept', recordingObserver());
  health.answered('c0', scored(2)); // healthy already: nothing to say
  for (let i = 0; i < 5; i++) health.failed(`c${i}`, new StoreError('down'));
  health.answered('c6', allowed);
  health.answered('c7', scored(0));
  expect(lines.map((l) => l.message)).toEqual(['score store failed, applying on_store_error']);
  health.answered('c8', scored(1));
  health.answered('c9', scored(1));
  health.failed('c10', new StoreError('down again'));
  expect(lines.map((l) => [l.level, l.message])).toEqual([
    ['error', 'score store failed, applying on_store_error'],
    ['warn', 'score store answers again'],
    ['error', 'score store failed, applying on_store_error'],
  ]);
});
