// MemoryStore against the shared ScoreStore behaviour suite.
import { MemoryStore } from '../../../src/store/memory-store';
import { describeScoreStore } from './store-behaviour';

describeScoreStore('MemoryStore', async () => ({ store: new MemoryStore() }));
