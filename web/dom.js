// Builds the page's elements and formats its figures; every value becomes a text node, never markup.

/** Answer kinds as the API names them, refusals first (src/ops/status-report.ts ANSWER_KINDS). */
export const ANSWER_KINDS = ['reject', 'tempfail', 'delay', 'discard', 'ok'];

/**
 * An element with a class and children: strings become text nodes (Node.append), so a HELO, sender
 * or client name chosen by an SMTP client can never become markup, whatever it contains.
 */
export function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'object' ? child : String(child));
  }
  return node;
}

/** A table cell with its text, the full text as a tooltip when the cell may cut it short. */
export function cell(text, className, title) {
  const td = el('td', className, text ?? '—');
  if (title) td.title = title;
  return td;
}

/** A key shown as a link-like button that looks it up (its score and nearest threshold). */
export function keyButton(key, onKey) {
  const button = el('button', 'link mono', key);
  button.title = `Look up ${key}`;
  button.addEventListener('click', () => onKey(key));
  return button;
}

/** The coloured name of an answer; observe mode's "would" answers are marked as such. */
export function answerBadge(answer, would, delaySeconds) {
  const text = (would ? 'would ' : '') + answer + (answer === 'delay' && delaySeconds ? ` ${formatNumber(delaySeconds)} s` : '');
  return el('span', `badge k-${answer}${would ? ' would' : ''}`, text);
}

export function formatNumber(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '—';
}

/** Today's times as 14:03:07, older ones with their date. */
export function formatTime(ms) {
  const date = new Date(ms);
  const time = date.toLocaleTimeString('en-GB', { hour12: false });
  return date.toDateString() === new Date().toDateString() ? time : `${date.toLocaleDateString('en-CA')} ${time}`;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'min'], [s % 60, 's']];
  const first = parts.findIndex(([n]) => n > 0);
  return first < 0 ? '0 s' : parts.slice(first, first + 2).filter(([n]) => n > 0).map(([n, unit]) => `${n} ${unit}`).join(' ');
}

/** A definition list's rows, from [term, value] pairs; a value may be an element. */
export function definitions(rows) {
  const dl = el('dl', 'facts');
  for (const [term, value] of rows) dl.append(el('dt', '', term), el('dd', '', value));
  return dl;
}
