// The score store's public surface: the interface, its backends and the timeout wrapper.
export { EPSILON, StoreError, type ScoreRecord, type ScoreStore, type ScoreUpdate } from './score-store';
export { MemoryStore } from './memory-store';
export { LevelStore, type LevelStoreOptions } from './level-store';
export { Sweeper, type SweeperOptions } from './sweeper';
export { withTimeout } from './timeout-store';
