// `floodgate replay`: what the rules would have answered to the mail in Postfix's or Sendmail's log,
// or to the sessions in Floodgate's tracking log; the report as text, JSON and a self-contained HTML page.
import { writeFileSync } from 'node:fs';
import type { RuleSet } from '../rules/rule-set';
import { replayMailLogs } from '../replay/replay';
import type { ReplayReport } from '../replay/replay-report';
import { renderReportHtml } from '../replay/report-html';
import { renderReportText } from '../replay/report-text';
import type { FactEnricher } from '../replay/session-runner';
import { replayTracking, type TrackingReplayReport } from '../replay/tracking-replay';
import type { TrackingStore } from '../tracking/tracking-record';

export const REPLAY_USAGE = `Usage: floodgate replay --maillog FILE [FILE...] [--rules FILE] [--since T] [--until T] [--json] [--html FILE] [--dns]
       floodgate replay --tracking [--since 7d] [--until T] [--rules FILE] [--json] [--html FILE] [--dns]`;

export interface ReplayRequest {
  ruleSet: RuleSet;
  since?: number;
  until?: number;
  json: boolean;
  html?: string;
  enrich?: FactEnricher;
}

export async function replayMailLogCommand(files: string[], request: ReplayRequest, out: NodeJS.WritableStream): Promise<void> {
  const report = await replayMailLogs({ files, ruleSet: request.ruleSet, since: request.since, until: request.until, enrich: request.enrich });
  emit(report, request, out, renderReportText(report));
}

export async function replayTrackingCommand(store: TrackingStore, request: ReplayRequest, out: NodeJS.WritableStream): Promise<void> {
  const report = await replayTracking(store, request.ruleSet, request.since, request.until, request.enrich);
  emit(report, request, out, `${renderChanges(report)}\n${renderReportText(report)}`);
}

function emit(report: ReplayReport, request: ReplayRequest, out: NodeJS.WritableStream, text: string): void {
  if (request.html) writeFileSync(request.html, renderReportHtml(report));
  out.write(request.json ? `${JSON.stringify(report)}\n` : text);
}

/** The table of changes: each recorded answer that the new rules would turn into another, with sessions behind it. */
export function renderChanges(report: TrackingReplayReport): string {
  const lines = [`${report.records} tracking records: ${report.unchanged} answers unchanged, ${report.changes.reduce((n, c) => n + c.count, 0)} changed`];
  for (const change of report.changes) {
    lines.push(`  ${change.from} -> ${change.to}: ${change.count}`);
    for (const e of change.examples) {
      lines.push(`    record ${e.id ?? '-'} ${new Date(e.time).toISOString().replace(/\.\d{3}Z$/, 'Z')} ${e.clientIp ?? '-'} ${JSON.stringify(e.sender ?? '')} -> ${JSON.stringify(e.recipient ?? '')}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
