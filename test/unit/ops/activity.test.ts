// Activity: per-second sessions and answers over the last hour, and the ring of recent answers.
import type { AnswerRecord } from '../../../src/handler/scoring-observer';
import { Activity, RECENT_KEPT } from '../../../src/ops/activity';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

function answer(time: number, kind: AnswerRecord['answer'], would = false, conn = 'c'): AnswerRecord {
  return { time, conn, event: 'rcpt', answer: kind, would };
}

test('windows count sessions and answers of the last 1, 5 and 15 minutes, up to the current second', () => {
  let now = T0;
  const activity = new Activity(() => now);
  for (let i = 0; i < 3; i++) activity.sessionStarted();
  activity.answered(answer(now, 'reject'));
  now += 4 * 60_000; // four minutes later
  activity.sessionStarted();
  activity.answered(answer(now, 'delay'));
  activity.answered(answer(now, 'tempfail', true));
  expect(activity.window(1)).toEqual({ minutes: 1, sessions: 1, answers: { reject: 0, tempfail: 1, delay: 1, discard: 0, ok: 0 }, would: 1 });
  expect(activity.window(5)).toEqual({ minutes: 5, sessions: 4, answers: { reject: 1, tempfail: 1, delay: 1, discard: 0, ok: 0 }, would: 1 });
});

test('the last minute is the last 60 seconds, not the calendar minute: answers of 10 s ago still count after the minute turns', () => {
  let now = T0 + 50_000; // 12:00:50
  const activity = new Activity(() => now);
  activity.answered(answer(now, 'tempfail'));
  activity.sessionStarted();
  now = T0 + 61_000; // 12:01:01, a new calendar minute
  expect(activity.window(1).answers.tempfail).toBe(1);
  expect(activity.window(1).sessions).toBe(1);
  now = T0 + 109_000; // 59 s after the answer
  expect(activity.window(1).answers.tempfail).toBe(1);
  now = T0 + 110_000; // 60 s after: out of the last minute, still in the last 5
  expect(activity.window(1).answers.tempfail).toBe(0);
  expect(activity.window(5).answers.tempfail).toBe(1);
  // The chart keeps calendar minutes: the answer is in 12:00's.
  const minutes = activity.timeline().answersPerMinute;
  expect(minutes.start + 58 * 60).toBe(T0 / 1000);
  expect(minutes.kinds.tempfail[58]).toBe(1);
  expect(minutes.kinds.tempfail[59]).toBe(0);
});

test('the timeline spans the last hour, oldest first, and forgets what is older', () => {
  let now = T0;
  const activity = new Activity(() => now);
  activity.sessionStarted();
  activity.sessionStarted();
  activity.answered(answer(now, 'reject'));
  let timeline = activity.timeline();
  expect(timeline.sessionsPerSecond.values).toHaveLength(3600);
  expect(timeline.sessionsPerSecond.start).toBe(T0 / 1000 - 3599);
  expect(timeline.sessionsPerSecond.values[3599]).toBe(2);
  expect(timeline.answersPerMinute.kinds.reject).toHaveLength(60);
  expect(timeline.answersPerMinute.kinds.reject[59]).toBe(1);
  now += 30 * 60_000;
  timeline = activity.timeline();
  expect(timeline.sessionsPerSecond.values[3599 - 1800]).toBe(2);
  expect(timeline.answersPerMinute.kinds.reject[29]).toBe(1);
  now += 31 * 60_000; // past the hour: the slots are reused, the old counts gone
  activity.sessionStarted();
  timeline = activity.timeline();
  expect(timeline.sessionsPerSecond.values.reduce((a, b) => a + b)).toBe(1);
  expect(timeline.answersPerMinute.kinds.reject.reduce((a, b) => a + b)).toBe(0);
  expect(activity.window(15).sessions).toBe(1);
});

test('recent answers come newest first and the ring keeps the last 500', () => {
  const activity = new Activity(() => T0);
  for (let i = 0; i < RECENT_KEPT + 20; i++) activity.answered(answer(T0 + i, 'delay', false, `c${i}`));
  const recent = activity.recent();
  expect(recent).toHaveLength(RECENT_KEPT);
  expect(recent[0]!.conn).toBe(`c${RECENT_KEPT + 19}`);
  expect(recent[RECENT_KEPT - 1]!.conn).toBe('c20');
  expect(activity.recent(3).map((r) => r.conn)).toEqual([`c${RECENT_KEPT + 19}`, `c${RECENT_KEPT + 18}`, `c${RECENT_KEPT + 17}`]);
  expect(new Activity().recent(10)).toEqual([]);
});

test('allow-list answers are counted but not listed', () => {
  const activity = new Activity(() => T0);
  activity.answered(answer(T0, 'reject', false, 'refused'));
  for (let i = 0; i < 600; i++) activity.answered(answer(T0, 'ok', false, `trusted${i}`));
  expect(activity.recent().map((r) => r.conn)).toEqual(['refused']);
  expect(activity.window(1).answers.ok).toBe(600);
});
