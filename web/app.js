// The status page: polls the JSON API every few seconds, hands each answer to its panel, and says
// loudly when what is shown is stale or the credentials are refused.
import { api } from './api.js';
import { TimelineCharts } from './charts.js';
import { formatTime } from './dom.js';
import { renderHealth, renderSummary, renderTiles } from './health.js';
import { KeysPanel } from './keys.js';
import { RecentTable } from './recent.js';

/** Live enough to watch a flood build up, light enough to leave open all day: four small requests. */
const POLL_MS = 3000;
/** The table's rows: the API lists refusals and delays only. */
const RECENT_FETCHED = 100;
const TOP_KEYS = 20;

const $ = (id) => document.getElementById(id);
const page = { status: undefined, lastSuccess: undefined, timer: undefined, polling: false };

const charts = new TimelineCharts($('sessions-chart'), $('answers-chart'), () => performance.mark('floodgate:first-data'));
const recent = new RecentTable($('recent-table').tBodies[0], $('recent-note'), lookUp);
const keys = new KeysPanel($('top-table').tBodies[0], $('key-result'), { onKey: lookUp, onReset: reset });

const canReset = () => page.status?.canReset === true;
const startedAt = () => (page.status ? Date.parse(page.status.startedAt) / 1000 : undefined);

function applyStatus(status) {
  page.status = status;
  renderSummary(status, $('mode'), $('summary'));
  renderTiles(status, $('tiles'));
  renderHealth(status, $('health-body'));
  $('banner-observe').hidden = status.mode !== 'observe';
  const select = $('key-class');
  const known = [...select.options].map((o) => o.value).slice(1);
  if (known.join('\n') !== status.keyClasses.join('\n')) {
    // The first class of the rules (ip in the shipped ones) until the user picks another.
    const chosen = known.length === 0 ? status.keyClasses[0] : select.value;
    select.replaceChildren(select.options[0], ...status.keyClasses.map((c) => new Option(c, c)));
    select.value = status.keyClasses.includes(chosen) ? chosen : '';
  }
}

/** Keeps the last good data on screen, dimmed, under a banner that says since when and why. */
function showProblem(errors) {
  const banner = $('banner-error');
  banner.hidden = errors.length === 0;
  $('main').classList.toggle('stale', errors.length > 0);
  if (errors.length === 0) return;
  const since = page.lastSuccess ? `last update ${formatTime(page.lastSuccess)}` : 'no data yet';
  const first = errors[0];
  banner.textContent = errors.some((e) => e.status === 401)
    ? 'Not signed in: Floodgate refused the credentials (401). Reload the page to sign in again.'
    : `Stale data (${since}): ${first.message}${first.status ? ` (HTTP ${first.status})` : ''}. Retrying every ${POLL_MS / 1000} s.`;
}

/** `status`: the status, or the promise of it; the first time, the class to ask for comes with it. */
async function refreshTop(status) {
  if (!page.status) await status;
  const [top] = await Promise.all([api.top($('key-class').value, TOP_KEYS), status]);
  keys.renderTop(top, canReset());
}

async function refresh() {
  const status = api.status().then(applyStatus);
  const results = await Promise.allSettled([
    status,
    // The charts start at the service's start when that is under an hour ago: drawn once both are in.
    Promise.all([api.timeline(), status.catch(() => undefined)]).then(([timeline]) => charts.update(timeline, startedAt())),
    api.recent(RECENT_FETCHED).then((r) => recent.render(r.answers)),
    // Reset buttons depend on the status (canReset): rendered once both are in.
    refreshTop(status.catch(() => undefined)),
  ]);
  const errors = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (errors.length === 0) {
    page.lastSuccess = Date.now();
    $('updated').textContent = `updated ${formatTime(page.lastSuccess)}`;
  }
  showProblem(errors);
}

async function poll() {
  if (page.polling) return;
  page.polling = true;
  clearTimeout(page.timer);
  try {
    // A page left open in a background tab costs the service nothing.
    if (!document.hidden) await refresh();
  } finally {
    page.polling = false;
    page.timer = setTimeout(poll, POLL_MS);
  }
}

/** A bare address means the ip key: "192.0.2.7" looks up "ip:192.0.2.7". */
function normaliseKey(text) {
  const key = text.trim();
  const classes = page.status?.keyClasses ?? [];
  const address = /^\d{1,3}(\.\d{1,3}){3}$/.test(key) || /^[0-9a-f]*:[0-9a-f:.]*$/i.test(key);
  if (address && classes.includes('ip') && !classes.some((c) => key.startsWith(`${c}:`))) return `ip:${key}`;
  return key;
}

async function lookUp(text) {
  const key = normaliseKey(text);
  if (key === '') return;
  $('key-input').value = key;
  try {
    keys.renderKey(key, await api.key(key), undefined, canReset());
  } catch (error) {
    keys.renderKey(key, undefined, error, false);
  }
}

function notice(text, isError) {
  const box = $('notice');
  box.textContent = text;
  box.className = isError ? 'notice error-text' : 'notice';
  box.hidden = false;
}

async function reset(key, button) {
  if (!window.confirm(`Reset ${key}?\n\nIts score is deleted: its next message counts from zero.`)) return;
  button.disabled = true;
  try {
    const result = await api.reset(key, page.status.csrf);
    notice(result.existed ? `${result.key} was reset: it has no score now.` : `${result.key} had no score (it may have faded away).`);
    $('key-result').hidden = true;
    await refreshTop(page.status);
  } catch (error) {
    // A restarted service has a new CSRF secret: fetch the status (and its token) again for the next try.
    notice(`Could not reset ${key}: ${error.message}`, true);
    await api.status().then(applyStatus).catch(() => undefined);
  } finally {
    button.disabled = false;
  }
}

$('key-search').addEventListener('submit', (event) => {
  event.preventDefault();
  void lookUp($('key-input').value);
});
$('key-class').addEventListener('change', () => void refreshTop(page.status).catch((error) => showProblem([error])));
document.addEventListener('visibilitychange', () => void poll());
void poll();
