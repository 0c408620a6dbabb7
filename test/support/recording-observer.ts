// A ScoringObserver that keeps what it is told, for assertions.
import type { AnswerRecord, ScoringObserver } from '../../src/handler/scoring-observer';

export interface RecordingObserver extends ScoringObserver {
  answers: AnswerRecord[];
  rules: string[];
  thresholds: Array<{ keyClass: string; answer: string; observe: boolean }>;
  storeFailures: number;
  alerts: Array<'sent' | 'cooldown'>;
}

export function recordingObserver(): RecordingObserver {
  const seen: RecordingObserver = {
    answers: [],
    rules: [],
    thresholds: [],
    storeFailures: 0,
    alerts: [],
    answered: (record) => void seen.answers.push(record),
    ruleMatched: (rule) => void seen.rules.push(rule),
    thresholdCrossed: (keyClass, answer, observe) => void seen.thresholds.push({ keyClass, answer, observe }),
    keysScored: () => undefined,
    storeFailed: () => void seen.storeFailures++,
    alerted: (result) => void seen.alerts.push(result),
  };
  return seen;
}
