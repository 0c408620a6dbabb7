// The table of the most recent refusals and delays: who was refused, by which rule and key, and how.
import { answerBadge, cell, el, formatNumber, formatTime, keyButton } from './dom.js';

/** Refusals and delays; the API lists no allow-list answers ("ok"), this keeps the table to these four whatever it sends. */
const SHOWN = new Set(['reject', 'tempfail', 'delay', 'discard']);
/** Rows kept in the table; the API holds the last 500 answers of every kind. */
const RECENT_ROWS = 100;

function clientCell(record) {
  const td = el('td', 'client', el('span', 'mono', record.clientIp ?? '—'));
  if (record.clientName) td.append(el('span', 'sub', record.clientName));
  td.title = [record.clientIp, record.clientName].filter(Boolean).join('\n');
  return td;
}

function row(record, isNew, onKey) {
  const answer = cell(answerBadge(record.answer, record.would, record.delaySeconds), 'answer', record.reply);
  return el(
    'tr',
    `${isNew ? 'new' : ''}${record.would ? ' would' : ''}`.trim(),
    cell(formatTime(record.time), 'time'),
    answer,
    cell(record.queueId, 'mono'),
    clientCell(record),
    cell(record.helo, 'cut', record.helo),
    cell(record.sender, 'cut', record.sender),
    cell(record.recipient, 'cut', record.recipient),
    cell(record.rule, 'cut', record.rule),
    record.key ? el('td', 'key', keyButton(record.key, onKey)) : cell(undefined),
    cell(formatNumber(record.score), 'num'),
  );
}

function emptyRow() {
  const td = el('td', '', 'Nothing refused or delayed lately.');
  td.colSpan = 10;
  return el('tr', 'empty', td);
}

export class RecentTable {
  constructor(tbody, note, onKey) {
    this.tbody = tbody;
    this.note = note;
    this.onKey = onKey;
    this.newestSeen = undefined;
  }

  /** `answers`: newest first, as /api/recent returns them. Rows newer than the last render are marked. */
  render(answers) {
    const shown = answers.filter((a) => SHOWN.has(a.answer)).slice(0, RECENT_ROWS);
    const seen = this.newestSeen;
    this.tbody.replaceChildren(...shown.map((a) => row(a, seen !== undefined && a.time > seen, this.onKey)));
    if (shown.length === 0) this.tbody.append(emptyRow());
    this.newestSeen = answers.length > 0 ? answers[0].time : seen ?? 0;
    this.note.textContent = shown.length > 0 ? `newest first, ${shown.length} shown` : '';
  }
}
