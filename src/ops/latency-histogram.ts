// A latency histogram by (backend, operation) kept as bucket counts, rendered in Prometheus's text format.
//
// For the score store's calls, about four a session: prom-client's Histogram.observe() hashes and
// validates its labels object at every call (~900 ns measured with two labels), more than the store
// takes to answer from memory. Here a call finds its series through two Maps and adds to its bucket;
// FloodgateMetrics.text() appends the histogram to the registry's exposition.

/** One (backend, operation) pair: the count of each bucket (not cumulative), the sum and the count. */
interface Series {
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class LatencyHistogram {
  private readonly series = new Map<string, Map<string, Series>>();

  /** @param bounds the buckets' upper bounds in seconds, ascending; +Inf is added. */
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    if (bounds.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= bounds[i - 1]!))) throw new RangeError(`${name}: bucket bounds must be finite and ascending`);
  }

  observe(backend: string, operation: string, seconds: number): void {
    let operations = this.series.get(backend);
    if (operations === undefined) this.series.set(backend, (operations = new Map()));
    let series = operations.get(operation);
    if (series === undefined) operations.set(operation, (series = { buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }));
    // A bucket counts the values up to and including its bound, as Prometheus's `le` says.
    const bounds = this.bounds;
    let bucket = 0;
    while (bucket < bounds.length && seconds > bounds[bucket]!) bucket++;
    if (bucket < bounds.length) series.buckets[bucket]! += 1;
    series.sum += seconds;
    series.count += 1;
  }

  /** The text exposition: HELP, TYPE, then each series' cumulative buckets, +Inf, sum and count. */
  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [backend, operations] of this.series) {
      for (const [operation, series] of operations) {
        const labels = `backend="${labelValue(backend)}",operation="${labelValue(operation)}"`;
        let cumulative = 0;
        this.bounds.forEach((bound, i) => {
          cumulative += series.buckets[i]!;
          lines.push(`${this.name}_bucket{le="${bound}",${labels}} ${cumulative}`);
        });
        lines.push(`${this.name}_bucket{le="+Inf",${labels}} ${series.count}`);
        lines.push(`${this.name}_sum{${labels}} ${series.sum}`);
        lines.push(`${this.name}_count{${labels}} ${series.count}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

/** A label value escaped as the text format asks (backslash, double quote, newline). */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
