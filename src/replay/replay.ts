// `floodgate replay --maillog`: files -> lines -> mail events -> sessions -> the rules -> the report.
// Memory grows with the sessions open at once (SESSION_WINDOW_MS of log), not with the files' size.
import type { RuleSet } from '../rules/rule-set';
import { parseLogLine, type SkipReason } from './log-line';
import { orderLogFiles, readLogFile } from './log-reader';
import { StampReader } from './log-stamp';
import type { MailEvent, ReplaySession } from './mail-events';
import { isPostfix, postfixEvent } from './postfix-lines';
import { ReportBuilder, type ReplayReport } from './replay-report';
import { isSendmail, sendmailEvent } from './sendmail-lines';
import { SessionAssembler } from './session-assembler';
import { SessionRunner, type FactEnricher, type RecipientOutcome } from './session-runner';

/** Syslog interleaves processes' lines a little; a line further back than this is out of order and skipped. */
export const OUT_OF_ORDER_MS = 60_000;

export interface MailLogReplay {
  files: readonly string[];
  ruleSet: RuleSet;
  /** Only sessions that began in [since, until] (ms) are replayed. */
  since?: number;
  until?: number;
  enrich?: FactEnricher;
  /** Each replayed session with its recipients' answers (tests, the comparison with live answers). */
  onSession?: (session: ReplaySession, outcomes: RecipientOutcome[]) => void;
  /** Called after each chunk read with the number of sessions open (the benchmark's memory bound). */
  onProgress?: (openSessions: number) => void;
}

type SkipKind = SkipReason | 'out_of_order' | 'other_program';

export async function replayMailLogs(options: MailLogReplay): Promise<ReplayReport> {
  const files = orderLogFiles(options.files);
  const runner = new SessionRunner(options.ruleSet, options.enrich);
  const report = new ReportBuilder();
  const ready: ReplaySession[] = [];
  const assembler = new SessionAssembler((session) => ready.push(session));
  const skipped: Partial<Record<SkipKind, number>> = {};
  const skip = (kind: SkipKind) => void (skipped[kind] = (skipped[kind] ?? 0) + 1);
  let lines = 0;
  let used = 0;
  let ignored = 0;
  let latest = -Infinity;

  const runReady = async () => {
    for (const session of ready.splice(0)) {
      if ((options.since !== undefined && session.time < options.since) || (options.until !== undefined && session.time > options.until)) continue;
      const outcomes = await runner.run(session);
      report.session(outcomes);
      options.onSession?.(session, outcomes);
    }
    options.onProgress?.(assembler.openSessions);
  };

  for (const file of files) {
    const stamps = new StampReader(file.mtime);
    await readLogFile(file, {
      line(text, truncated) {
        lines += 1;
        if (truncated) return skip('too_long');
        const line = parseLogLine(text, stamps);
        if (typeof line === 'string') return skip(line);
        let event: MailEvent | undefined;
        if (isPostfix(line.program)) event = postfixEvent(line);
        else if (isSendmail(line.program)) event = sendmailEvent(line);
        else return skip('other_program');
        if (line.time < latest - OUT_OF_ORDER_MS) return skip('out_of_order');
        if (line.time > latest) latest = line.time;
        if (!event) {
          ignored += 1;
          return;
        }
        used += 1;
        assembler.add(event, line.time);
      },
      afterChunk: runReady,
    });
  }
  assembler.finish();
  await runReady();
  const { not_smtp, late_delivery, incomplete_sessions } = assembler.counts;
  return report.build({
    files: files.map((f) => f.path),
    lines,
    used,
    ignored,
    skipped: { ...skipped, ...(not_smtp ? { not_smtp } : {}), ...(late_delivery ? { late_delivery } : {}), ...(incomplete_sessions ? { incomplete_sessions } : {}) },
  });
}
