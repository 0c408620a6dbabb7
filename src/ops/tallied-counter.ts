// A Prometheus counter the mail path increments as a plain number, handed to prom-client at scrape.
//
// prom-client's inc() hashes and validates its labels object at every call (250 ns with one label,
// 650 with three, measured), and an SMTP session counted its events, replies and rule matches a
// dozen times. Here an increment finds its label values' tally through one Map per label (the values
// are the stages, answers and rule names the code passes, strings whose hashes V8 keeps) and adds
// one; prom-client's collect hook, which runs when /metrics is read, adds what gathered since.
import { Counter, type CounterConfiguration } from 'prom-client';

/** One combination of label values: its count not yet handed over, and the next label's values. */
interface Tally {
  labels: Partial<Record<string, string>>;
  pending: number;
  next: Map<string, Tally> | undefined;
}

export class TalliedCounter<L extends string> {
  /** The prom-client counter, registered and exposed as any other. */
  readonly counter: Counter<L>;
  private readonly name: string;
  private readonly names: readonly L[];
  private readonly root: Tally = { labels: {}, pending: 0, next: undefined };
  /** Every full combination seen, in the order first seen: what flush() walks. */
  private readonly combinations: Tally[] = [];

  /** At most three labels, the most any of Floodgate's counters has. */
  constructor(config: Omit<CounterConfiguration<L>, 'collect'>) {
    this.name = config.name;
    this.names = config.labelNames ?? [];
    if (this.names.length > 3) throw new RangeError(`${config.name}: a tallied counter takes at most three labels`);
    if (this.names.length === 0) this.combinations.push(this.root);
    this.counter = new Counter<L>({ ...config, collect: () => this.flush() });
  }

  /** Adds one for these label values, in the order of labelNames (none for a counter without labels). */
  inc(first?: string, second?: string, third?: string): void {
    const depth = this.names.length;
    let tally = this.root;
    if (depth > 0) tally = this.below(tally, 0, first);
    if (depth > 1) tally = this.below(tally, 1, second);
    if (depth > 2) tally = this.below(tally, 2, third);
    tally.pending++;
  }

  /** Hands the counts gathered since the last scrape to prom-client. */
  private flush(): void {
    for (const tally of this.combinations) {
      if (tally.pending === 0) continue;
      this.counter.inc(tally.labels, tally.pending);
      tally.pending = 0;
    }
  }

  private below(parent: Tally, level: number, value: string | undefined): Tally {
    const name = this.names[level]!;
    if (value === undefined) throw new TypeError(`${this.name}: no value for the label ${name}`);
    const next = (parent.next ??= new Map());
    let tally = next.get(value);
    if (tally === undefined) {
      tally = { labels: { ...parent.labels, [name]: value }, pending: 0, next: undefined };
      next.set(value, tally);
      if (level === this.names.length - 1) this.combinations.push(tally);
    }
    return tally;
  }
}
