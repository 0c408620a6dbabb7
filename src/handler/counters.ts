// What the scoring handler counts: incremented where things happen, exported by whoever reports them.

export interface ScoringCounters {
  evaluations: number;
  storeErrors: number;
  alertsSent: number;
  decisions: Record<string, number>;
}

export function newCounters(): ScoringCounters {
  return { evaluations: 0, storeErrors: 0, alertsSent: 0, decisions: {} };
}
