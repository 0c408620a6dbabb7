// FallbackStore (on_store_error: local): switching to local counters once, probing, going back, and the shared suite.
import { FallbackStore } from '../../../src/store/fallback-store';
import { MemoryStore } from '../../../src/store/memory-store';
import { StoreError, type ScoreStore } from '../../../src/store/score-store';
import { describeScoreStore } from './store-behaviour';

const H = 60_000;
const T0 = 1_700_000_000_000;

/** A MemoryStore that fails (or hangs) while `down` is set, as a Redis outage looks from here. */
class SwitchableStore extends MemoryStore {
  down: 'no' | 'failing' | 'hanging' = 'no';
  calls = 0;
  override async addMany(...args: Parameters<MemoryStore['addMany']>) {
    await this.gate();
    return super.addMany(...args);
  }
  override async get(...args: Parameters<MemoryStore['get']>) {
    await this.gate();
    return super.get(...args);
  }
  private async gate(): Promise<void> {
    this.calls++;
    if (this.down === 'failing') throw new StoreError('score store: Redis is unreachable (connect ECONNREFUSED)');
    if (this.down === 'hanging') await new Promise(() => undefined);
  }
}

describeScoreStore('FallbackStore while the primary answers', async () => ({ store: new FallbackStore(new MemoryStore()) }));

describeScoreStore('FallbackStore counting locally', async () => {
  const primary = new SwitchableStore();
  primary.down = 'failing';
  // Clock frozen at 0: no probe ever fires, so every call after the first is local.
  return { store: new FallbackStore(primary, { clock: () => 0, probe: () => Promise.reject(new Error('down')) }) };
});

describe('FallbackStore switching', () => {
  let primary: SwitchableStore;
  let store: FallbackStore;
  let clock: number;
  let events: string[];
  beforeEach(() => {
    primary = new SwitchableStore();
    clock = 0;
    events = [];
    store = new FallbackStore(primary, {
      clock: () => clock,
      retryIntervalMs: 1000,
      onFallback: (error) => events.push(`fallback: ${error.message}`),
      onRecover: () => events.push('recover'),
    });
  });
  afterEach(() => store.close());

  /** Lets a background probe settle. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  test('the failing call and those after it are answered locally; the switch is reported once', async () => {
    await store.add('ip:192.0.2.1', 5, H, T0);
    primary.down = 'failing';
    const results = await Promise.all(Array.from({ length: 100 }, () => store.add('ip:192.0.2.1', 1, H, T0)));
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(events).toEqual(['fallback: score store: Redis is unreachable (connect ECONNREFUSED)']);
    expect(store.counters).toEqual({ fallbacks: 1, recoveries: 0, localCalls: 100 });
  });

  test('no probe before the retry interval; one probe after it, never awaited by the call that started it', async () => {
    primary.down = 'failing';
    await store.add('k', 1, H, T0);
    const callsAfterFailure = primary.calls;
    clock = 999;
    await store.add('k', 1, H, T0);
    await settle();
    expect(primary.calls).toBe(callsAfterFailure);
    primary.down = 'hanging';
    clock = 1000;
    expect(await store.add('k', 1, H, T0)).toBe(3); // answered locally while the probe hangs
    expect(primary.calls).toBe(callsAfterFailure + 1);
    clock = 5000;
    await store.add('k', 1, H, T0); // the hanging probe is still out: no second one
    expect(primary.calls).toBe(callsAfterFailure + 1);
    expect(store.isLocal).toBe(true);
  });

  test('a successful probe switches back once, and the local counts are dropped', async () => {
    await store.add('k', 10, H, T0);
    primary.down = 'failing';
    await store.add('k', 1, H, T0);
    await store.add('k', 1, H, T0);
    primary.down = 'no';
    clock = 1000;
    expect(await store.add('k', 1, H, T0)).toBe(3); // this call started the probe; it was answered locally
    await settle();
    expect(store.isLocal).toBe(false);
    expect(await store.add('k', 1, H, T0)).toBe(11); // the primary's score, which never saw the local points
    primary.down = 'failing';
    expect(await store.add('k', 1, H, T0)).toBe(1); // a new outage starts from fresh local counters
    expect(events.map((e) => e.split(':')[0])).toEqual(['fallback', 'recover', 'fallback']);
    expect(store.counters).toMatchObject({ fallbacks: 2, recoveries: 1 });
  });

  test('a failed probe keeps counting locally and waits another interval', async () => {
    primary.down = 'failing';
    await store.add('k', 1, H, T0);
    clock = 1000;
    await store.add('k', 1, H, T0);
    await settle();
    expect(store.isLocal).toBe(true);
    const calls = primary.calls;
    clock = 1500;
    await store.add('k', 1, H, T0);
    expect(primary.calls).toBe(calls);
    expect(events).toHaveLength(1);
  });

  test('a RangeError (a caller bug) passes through without switching', async () => {
    await expect(store.add('k', Number.NaN, H, T0)).rejects.toThrow(RangeError);
    expect(store.isLocal).toBe(false);
    expect(events).toEqual([]);
  });

  test('local records that expire are swept during a long outage, so memory stays bounded', async () => {
    const locals: ScoreStore[] = [];
    store = new FallbackStore(primary, { clock: () => 0, localStore: () => { const s = new MemoryStore(); locals.push(s); return s; } });
    primary.down = 'failing';
    for (let i = 0; i < 1000; i++) await store.add(`ip:10.0.${i >> 8}.${i & 255}`, 1, 1000, T0);
    expect(await locals[0]!.size()).toBe(1000);
    await store.add('ip:192.0.2.1', 1, 1000, T0 + 120_000);
    expect(await locals[0]!.size()).toBe(1);
  });
});
