// The two live charts (uPlot): sessions per second and answers per minute by kind, over the last hour.
import { ANSWER_KINDS } from './dom.js';

const HEIGHT = 200;

/** Colours live in app.css (--k-reject...), so that the badges, the legend and the bars agree. */
function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
}

/** y from 0, with headroom; an idle hour still gets a readable axis of 0..1. */
const fromZero = (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))];

/**
 * Records on the chart's element how many non-zero points the drawn data holds: what a test (or a
 * curious operator in the inspector) can read without reaching into uPlot.
 */
function drawnPoints(target, onFirstDraw) {
  let first = true;
  return (u) => {
    const nonZero = u.data.slice(1).reduce((n, ys) => n + ys.filter((y) => y > 0).length, 0);
    target.dataset.nonZeroPoints = String(nonZero);
    if (first) {
      first = false;
      onFirstDraw();
    }
  };
}

function sessionsOptions(target, width, onFirstDraw) {
  const stroke = colour('accent');
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: fromZero } },
    series: [
      {},
      {
        label: 'sessions/s',
        stroke,
        fill: `${stroke}22`,
        width: 1.5,
        points: { show: false },
        // Under the cursor: that second's count; elsewhere: the busiest second shown.
        value: (u, v, _series, index) => (index === null || index === undefined ? `peak ${Math.max(0, ...u.data[1])}` : String(v)),
      },
    ],
    axes: [{}, { size: 50 }],
    hooks: { draw: [drawnPoints(target, onFirstDraw)] },
  };
}

/**
 * Stacked bars without a stacking plugin: series i is drawn at the sum of kinds i..end, tallest
 * first, so that each later (shorter) bar covers the lower part of the one before; the legend
 * shows each kind's own count.
 */
function answersOptions(target, width, raw, onFirstDraw) {
  const bars = window.uPlot.paths.bars({ size: [0.8, 40], align: 0 });
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: fromZero } },
    series: [
      {},
      ...ANSWER_KINDS.map((kind, i) => ({
        label: kind,
        stroke: colour(`k-${kind}`),
        fill: colour(`k-${kind}`),
        paths: bars,
        points: { show: false },
        // Under the cursor: that minute's count; elsewhere: the total of the span shown.
        value: (_u, _v, _series, index) => String(index === null || index === undefined ? raw.current[i].reduce((a, b) => a + b, 0) : raw.current[i][index]),
      })),
    ],
    axes: [{}, { size: 50 }],
    hooks: { draw: [drawnPoints(target, onFirstDraw)] },
  };
}

/** Series i is the sum of series i..end, point by point. */
function stacked(series) {
  return series.map((_, i) => series[0].map((_x, t) => series.slice(i).reduce((sum, ys) => sum + (ys[t] ?? 0), 0)));
}

/** The shortest span shown, so that a service started seconds ago still gets a readable time axis. */
const MIN_SECONDS = 120;
const MIN_MINUTES = 5;

/**
 * The first slot to show: before the service started there was no data, which is not the same as
 * zero sessions, so the charts span the last hour or the time since the start, whichever is shorter.
 */
function firstShown(start, step, count, since, minimum) {
  if (since === undefined) return 0;
  return Math.max(0, Math.min(count - minimum, Math.floor((since - start) / step)));
}

export class TimelineCharts {
  /** onFirstDraw: called once both charts have drawn their first data. */
  constructor(sessionsTarget, answersTarget, onFirstDraw) {
    this.targets = [sessionsTarget, answersTarget];
    this.raw = { current: [] };
    this.charts = undefined;
    let drawn = 0;
    this.onDraw = () => {
      if (++drawn === 2) onFirstDraw();
    };
    window.addEventListener('resize', () => this.resize());
  }

  /** `since`: when the service started (Unix seconds), if known. */
  update(timeline, since) {
    const sessions = timeline.sessionsPerSecond;
    const answers = timeline.answersPerMinute;
    const s0 = firstShown(sessions.start, 1, sessions.values.length, since, MIN_SECONDS);
    const a0 = firstShown(answers.start, 60, answers.kinds.reject.length, since, MIN_MINUTES);
    this.raw.current = ANSWER_KINDS.map((kind) => (answers.kinds[kind] ?? []).slice(a0));
    const sessionData = [sessions.values.slice(s0).map((_, i) => sessions.start + s0 + i), sessions.values.slice(s0)];
    const answerData = [this.raw.current[0].map((_, i) => answers.start + (a0 + i) * 60), ...stacked(this.raw.current)];
    if (!this.charts) {
      const [s, a] = this.targets;
      this.charts = [
        new window.uPlot(sessionsOptions(s, s.clientWidth, this.onDraw), sessionData, s),
        new window.uPlot(answersOptions(a, a.clientWidth, this.raw, this.onDraw), answerData, a),
      ];
      return;
    }
    this.charts[0].setData(sessionData);
    this.charts[1].setData(answerData);
  }

  resize() {
    this.charts?.forEach((chart, i) => chart.setSize({ width: this.targets[i].clientWidth, height: HEIGHT }));
  }
}
