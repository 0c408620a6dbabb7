// The replay report as one self-contained HTML page: no script, no request (a CSP forbids both),
// a timeline of answers per minute drawn as inline SVG, and the tables. Every value is escaped:
// HELOs, senders and names in a log are chosen by whoever connected.
import type { AnswerCounts, OffenderRow, ReplayReport } from './replay-report';
import { isoMinute } from './report-text';
import { REPLAY_ANSWERS, type ReplayAnswer } from './session-runner';

const COLOURS: Record<ReplayAnswer, string> = { accepted: '#9cc3e6', delayed: '#f2c14e', tempfail: '#f08a4b', reject: '#d1495b', discard: '#6c4f77', rejected_by_mta: '#9a9a9a' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function countsCells(c: AnswerCounts): string {
  return REPLAY_ANSWERS.map((a) => `<td class="n">${c[a]}</td>`).join('');
}

function offenderTable(id: string, title: string, rows: readonly OffenderRow[]): string {
  const head = `<tr><th>${escapeHtml(title)}</th><th>first</th><th>last</th>${REPLAY_ANSWERS.map((a) => `<th>${a}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr><td class="key">${escapeHtml(r.key)}</td><td>${iso(r.first)}</td><td>${iso(r.last)}</td>${countsCells(r.counts)}</tr>`).join('\n');
  return `<section><h2>${escapeHtml(title)}s delayed or refused</h2>${rows.length ? `<table id="${id}"><thead>${head}</thead><tbody>\n${body}\n</tbody></table>` : '<p>none</p>'}</section>`;
}

/** Stacked bars, one per minute of the log, accepted at the bottom; the x axis spans first to last minute. */
function timeline(report: ReplayReport): string {
  const rows = report.timeline;
  if (rows.length === 0) return '<p>no answers to chart</p>';
  const width = 900;
  const height = 220;
  const first = rows[0]!.minute;
  const span = Math.max(1, (rows[rows.length - 1]!.minute - first) / 60_000 + 1);
  const barWidth = Math.max(1, width / span - 1);
  const max = Math.max(...rows.map((r) => REPLAY_ANSWERS.reduce((s, a) => s + r.counts[a], 0)));
  const bars: string[] = [];
  for (const row of rows) {
    const x = ((row.minute - first) / 60_000) * (width / span);
    let y = height;
    for (const answer of REPLAY_ANSWERS) {
      const n = row.counts[answer];
      if (n === 0) continue;
      const h = (n / max) * (height - 10);
      y -= h;
      bars.push(`<rect class="${answer}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLOURS[answer]}"><title>${isoMinute(row.minute)} ${answer} ${n}</title></rect>`);
    }
  }
  const legend = REPLAY_ANSWERS.map((a) => `<span><i style="background:${COLOURS[a]}"></i>${a}</span>`).join(' ');
  return `<svg id="timeline" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="answers per minute">${bars.join('')}</svg>
<p class="axis"><span>${isoMinute(first)}</span><span>up to ${max} a minute</span><span>${isoMinute(rows[rows.length - 1]!.minute)}</span></p><p class="legend">${legend}</p>`;
}

export function renderReportHtml(report: ReplayReport): string {
  const skipped = Object.entries(report.input.skipped).map(([k, n]) => `<li>${escapeHtml(k)}: ${n}</li>`).join('');
  const totals = `<table id="answers"><thead><tr>${REPLAY_ANSWERS.map((a) => `<th>${a}</th>`).join('')}</tr></thead><tbody><tr>${countsCells(report.answers)}</tr></tbody></table>`;
  const rules = report.rules.length
    ? `<table id="rules"><thead><tr><th>rule</th>${REPLAY_ANSWERS.map((a) => `<th>${a}</th>`).join('')}</tr></thead><tbody>${report.rules.map((r) => `<tr><td class="key">${escapeHtml(r.rule)}</td>${countsCells(r.counts)}</tr>`).join('')}</tbody></table>`
    : '<p>none</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Floodgate replay</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
td.n{text-align:right}td.key{font-family:monospace;white-space:pre-wrap;word-break:break-all;max-width:40em}
.axis{display:flex;justify-content:space-between;font-size:12px;color:#555;margin:0}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
</style></head><body>
<h1>Floodgate replay</h1>
<p id="summary">${report.sessions} sessions, ${report.recipients} recipients${report.first !== undefined ? `, ${iso(report.first)} to ${iso(report.last!)}` : ''}; ${report.input.lines} lines read from ${report.input.files.length} file(s), ${report.input.used} used.</p>
${totals}
<p id="peak">${report.peakMinute ? `Peak minute: ${isoMinute(report.peakMinute.minute)}` : 'No peak minute'}</p>
<section><h2>Answers per minute</h2>${timeline(report)}</section>
${offenderTable('clients', 'client', report.clients)}
${offenderTable('networks', 'network', report.networks)}
${offenderTable('senders', 'sender', report.senders)}
<section><h2>Rules behind delays and refusals</h2>${rules}</section>
<section><h2>Lines skipped</h2>${skipped ? `<ul id="skipped">${skipped}</ul>` : '<p>none</p>'}</section>
</body></html>
`;
}
