// The service at a glance: header line, the last minutes' figures, and health (store, DNS lists, rules, service).
import { cell, definitions, el, formatDuration, formatNumber, formatTime } from './dom.js';

function tile(label, value, sub, className) {
  return el('div', `tile ${className ?? ''}`.trim(), el('div', 'label', label), el('div', 'value', value), el('div', 'sub', sub));
}

/** The header: version, mode, uptime, and who is signed in. */
export function renderSummary(status, mode, summary) {
  mode.textContent = status.mode === 'observe' ? 'OBSERVE' : 'enforcing';
  mode.className = `mode ${status.mode}`;
  const who = status.user ? ` · signed in as ${status.user}` : '';
  summary.textContent = `v${status.version} · up ${formatDuration(status.uptimeSeconds)} · pid ${status.pid}${who}`;
}

/** The last minute, and the last 15 minutes, of sessions and answers; connections open now. */
export function renderTiles(status, tiles) {
  const [one, five, fifteen] = status.activity;
  const a = fifteen.answers;
  const would = fifteen.would > 0 ? `, ${formatNumber(fifteen.would)} only "would"` : '';
  tiles.replaceChildren(
    tile('Sessions, last minute', formatNumber(one.sessions), `5 min ${formatNumber(five.sessions)} · 15 min ${formatNumber(fifteen.sessions)}`),
    tile('Refused, 15 min', formatNumber(a.reject + a.tempfail + a.discard), `reject ${formatNumber(a.reject)} · tempfail ${formatNumber(a.tempfail)} · discard ${formatNumber(a.discard)}${would}`, 'k-reject'),
    tile('Delayed, 15 min', formatNumber(a.delay), `${formatNumber(status.mta.delaying)} delays in progress`, 'k-delay'),
    tile('Allow-listed, 15 min', formatNumber(a.ok), 'answered ok by a rule', 'k-ok'),
    tile('MTA connections', formatNumber(status.mta.open), `open now · ${formatNumber(status.mta.total)} since start · ${formatNumber(status.mta.refused)} refused at the cap`),
    tile('Score store', status.store.ok ? 'ok' : 'failing', `${status.store.backend}${status.store.latencyMs ? ` · p99 ${formatNumber(status.store.latencyMs.p99)} ms` : ''}`, status.store.ok ? 'good' : 'bad'),
  );
}

function state(ok, text) {
  return el('span', `state ${ok ? 'good' : 'bad'}`, text);
}

function storeSection(store) {
  const latency = store.latencyMs ? `p50 ${formatNumber(store.latencyMs.p50)} ms · p99 ${formatNumber(store.latencyMs.p99)} ms` : 'no call yet';
  const rows = [
    ['Backend', el('span', 'mono', store.backend)],
    ['State', state(store.ok, store.ok ? 'ok' : 'failing')],
    ['Latency', latency],
    ['Calls / errors', `${formatNumber(store.calls)} / ${formatNumber(store.errors)}`],
  ];
  if (store.lastError) rows.push(['Last error', el('span', 'error-text', store.lastError)]);
  const section = el('section', 'health-part', el('h3', '', 'Score store'), definitions(rows));
  section.id = 'health-store';
  return section;
}

function dnsSection(lists) {
  const section = el('section', 'health-part', el('h3', '', 'DNS lists'));
  if (lists.length === 0) {
    section.append(el('p', 'muted', 'No DNS list in the rules.'));
    return section;
  }
  const head = el('tr', '', ...['List', 'Zone', 'State', 'Queries', 'Timeouts', 'Errors'].map((h, i) => el('th', i >= 3 ? 'num' : '', h)));
  const rows = lists.map((l) =>
    el('tr', '', cell(`${l.name} (${l.kind})`), cell(l.zone, 'mono'), el('td', '', state(l.state === 'ok', l.state), l.reason ? el('span', 'sub', l.reason) : ''), cell(formatNumber(l.queries), 'num'), cell(formatNumber(l.timeouts), 'num'), cell(formatNumber(l.errors), 'num')),
  );
  section.append(el('table', 'compact', el('thead', '', head), el('tbody', '', ...rows)));
  return section;
}

function rulesSection(rules) {
  const sha = el('span', 'mono', rules.sha256.slice(0, 16) + '…');
  sha.title = rules.sha256;
  return el(
    'section',
    'health-part',
    el('h3', '', 'Rules'),
    definitions([
      ['File', el('span', 'mono', rules.file)],
      ['Rules', formatNumber(rules.count)],
      ['Loaded', formatTime(Date.parse(rules.loadedAt))],
      ['SHA-256', sha],
      ['Warnings', rules.warnings.length === 0 ? el('span', 'muted', 'none') : el('ul', 'warnings', ...rules.warnings.map((w) => el('li', '', w)))],
    ]),
  );
}

function serviceSection(status) {
  return el(
    'section',
    'health-part',
    el('h3', '', 'Service'),
    definitions([
      ['Version', `${status.version} (pid ${status.pid})`],
      ['Started', `${formatTime(Date.parse(status.startedAt))}, up ${formatDuration(status.uptimeSeconds)}`],
      ['Mode', status.mode === 'observe' ? el('span', 'state bad', 'observe: nothing enforced') : state(true, 'enforce')],
      ['MTA connections', `${formatNumber(status.mta.open)} open · ${formatNumber(status.mta.total)} total · ${formatNumber(status.mta.refused)} refused`],
      ['Delays in progress', formatNumber(status.mta.delaying)],
    ]),
  );
}

export function renderHealth(status, body) {
  body.replaceChildren(storeSection(status.store), dnsSection(status.dns), rulesSection(status.rules), serviceSection(status));
}
