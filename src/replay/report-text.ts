// The replay report as text for a terminal: totals, the peak minute, then one table per key kind and the rules.
import type { AnswerCounts, OffenderRow, ReplayReport } from './replay-report';
import { REPLAY_ANSWERS } from './session-runner';

const REFUSALS = ['delayed', 'tempfail', 'reject', 'discard'] as const;

export function isoMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16) + 'Z';
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function answers(c: AnswerCounts): string {
  return REPLAY_ANSWERS.filter((a) => c[a] > 0).map((a) => `${a} ${c[a]}`).join(', ') || 'none';
}

/** Control characters and non-ASCII in client-chosen text are shown escaped: a log line cannot move the cursor. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(text) ? JSON.stringify(text) : text;
}

function table(title: string, rows: readonly OffenderRow[]): string[] {
  if (rows.length === 0) return [`${title}: none`];
  const width = Math.min(48, Math.max(...rows.map((r) => printable(r.key).length), 6));
  return [
    `${title}:`,
    `  ${'key'.padEnd(width)}  ${'first'.padEnd(20)}  ${'last'.padEnd(20)}  ${REFUSALS.map((a) => a.padStart(8)).join(' ')}  accepted`,
    ...rows.map((r) => `  ${printable(r.key).padEnd(width)}  ${iso(r.first)}  ${iso(r.last)}  ${REFUSALS.map((a) => String(r.counts[a]).padStart(8)).join(' ')}  ${String(r.counts.accepted).padStart(8)}`),
  ];
}

export function renderReportText(report: ReplayReport): string {
  const { input } = report;
  const skipped = Object.entries(input.skipped).map(([kind, n]) => `${kind} ${n}`).join(', ');
  return [
    `read ${input.lines} lines from ${input.files.length} file(s): ${input.used} used, ${input.ignored} of no use to a replay${skipped ? `, skipped: ${skipped}` : ''}`,
    report.first === undefined ? 'no sessions found' : `period: ${iso(report.first)} to ${iso(report.last!)}`,
    `sessions: ${report.sessions}, recipients: ${report.recipients}`,
    `answers: ${answers(report.answers)}`,
    report.peakMinute ? `peak minute: ${isoMinute(report.peakMinute.minute)} (${answers(report.peakMinute.counts)})` : 'peak minute: none',
    '',
    ...table('clients delayed or refused', report.clients),
    '',
    ...table('networks delayed or refused', report.networks),
    '',
    ...table('senders delayed or refused', report.senders),
    '',
    report.rules.length === 0 ? 'rules behind delays and refusals: none' : 'rules behind delays and refusals:',
    ...report.rules.map((r) => `  ${r.rule}: ${answers(r.counts)}`),
    '',
  ].join('\n');
}
