// The hottest keys of a class, one key looked up, where each score stands against its thresholds, and Reset.
import { answerBadge, el, formatNumber, keyButton } from './dom.js';

/** "in delay (above 40) · tempfail at 60, 12.5 to go": the range a score is in and the next one up. */
function positionText(position) {
  const parts = [];
  const now = position.current;
  if (now) parts.push(el('span', '', 'in ', answerBadge(now.answer, false), now.above !== undefined ? ` above ${formatNumber(now.above)}` : ` below ${formatNumber(now.below)}`));
  if (position.next) parts.push(el('span', '', answerBadge(position.next.answer, false), ` at ${formatNumber(position.next.above)}, ${formatNumber(position.next.pointsToGo)} to go`));
  if (parts.length === 0) parts.push(el('span', 'muted', 'no threshold for this class'));
  const wrap = el('span', 'position');
  parts.forEach((part, i) => wrap.append(...(i > 0 ? [el('span', 'sep', '·'), part] : [part])));
  return wrap;
}

/** How far the score has come towards the next threshold (full past the last one). */
function progressBar(score) {
  const target = score.position.next?.above;
  const bar = el('span', `fill k-${score.position.current?.answer ?? 'none'}`);
  bar.style.width = `${target ? Math.min(100, Math.max(2, (100 * score.score) / target)) : 100}%`;
  return el('span', 'track', bar);
}

function resetButton(key, onReset) {
  const button = el('button', 'reset', 'Reset');
  button.title = `Delete the score of ${key}`;
  button.addEventListener('click', () => onReset(key, button));
  return button;
}

export class KeysPanel {
  /** handlers: onKey(key) looks a key up, onReset(key, button) resets it. */
  constructor(tbody, result, handlers) {
    this.tbody = tbody;
    this.result = result;
    this.handlers = handlers;
  }

  renderTop(top, canReset) {
    const rows = top.keys.map((score) => {
      const tr = el(
        'tr',
        '',
        el('td', 'key', keyButton(score.key, this.handlers.onKey)),
        el('td', 'num score', formatNumber(score.score), progressBar(score)),
        el('td', '', positionText(score.position)),
        el('td', 'actions', canReset ? resetButton(score.key, this.handlers.onReset) : ''),
      );
      tr.dataset.key = score.key;
      return tr;
    });
    if (rows.length === 0) {
      const td = el('td', 'muted', top.keyClass ? `No ${top.keyClass} key has a score now.` : 'No key has a score now.');
      td.colSpan = 4;
      rows.push(el('tr', 'empty', td));
    }
    this.tbody.replaceChildren(...rows);
  }

  /** One key's score and position, or why there is none (404: never seen, or faded away). */
  renderKey(key, score, error, canReset) {
    this.result.hidden = false;
    if (error) {
      this.result.replaceChildren(el('span', 'mono', key), el('span', error.status === 404 ? 'muted' : 'error-text', error.status === 404 ? ' has no score: never seen, or faded away' : ` ${error.message}`));
      return;
    }
    this.result.replaceChildren(
      el('span', 'mono strong', score.key),
      el('span', 'big', formatNumber(score.score), el('small', '', ' points')),
      positionText(score.position),
      canReset ? resetButton(score.key, this.handlers.onReset) : '',
    );
  }
}
