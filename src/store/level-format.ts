// Opening a LevelStore directory: the layout version check, the one-time upgrade from version 1, the record count.
import type { Level } from 'level';
import { StoreError } from './errors';
import {
  FORMAT_KEY, FORMAT_VERSION, INDEX_END, INDEX_PREFIX, INDEX_VALUE, RECORD_END, RECORD_PREFIX,
  expiryBucket, indexKey, keyOfIndexEntry, timeOfIndexEntry, type BatchOp,
} from './level-layout';

/** Entries per step of a scan: bounds memory and the size of one batch. */
const CHUNK = 10_000;

/** A new directory gets the current version; version 1 is upgraded in place; any other is refused. */
export async function checkFormat(db: Level<string, string>, directory: string): Promise<void> {
  const format = await db.get(FORMAT_KEY);
  if (format === FORMAT_VERSION) return;
  if (format === undefined) {
    await db.put(FORMAT_KEY, FORMAT_VERSION);
    return;
  }
  if (format !== '1') {
    throw new StoreError(`score store: ${directory} holds layout version ${format}; this floodgate reads version ${FORMAT_VERSION}`);
  }
  await reindexVersion1(db);
  await db.put(FORMAT_KEY, FORMAT_VERSION);
}

/**
 * Version 1 filed each index entry under its exact expiry; version 2 under the expiry's bucket. Each
 * entry is moved from its time to its bucket, which needs no record: a crash half-way leaves entries
 * of both kinds, and running this again moves the rest (an entry already in a bucket stays where it is).
 */
async function reindexVersion1(db: Level<string, string>): Promise<void> {
  let after = INDEX_PREFIX;
  for (;;) {
    const entries = await db.keys({ gt: after, lt: INDEX_END, limit: CHUNK }).all();
    if (entries.length === 0) return;
    after = entries[entries.length - 1]!;
    const ops: BatchOp[] = [];
    for (const entry of entries) {
      const moved = indexKey(expiryBucket(timeOfIndexEntry(entry)), keyOfIndexEntry(entry));
      if (moved === entry) continue;
      ops.push({ type: 'del', key: entry }, { type: 'put', key: moved, value: INDEX_VALUE });
    }
    if (ops.length > 0) await db.batch(ops);
  }
}

/**
 * Counts the records, handing each one's LevelDB key to `each` if given: the store key starts at
 * RECORD_PREFIX.length (a KeyFilter hashes it in place: no million slices). ~0.5 s per million.
 */
export async function scanRecordKeys(db: Level<string, string>, each?: (text: string, from: number) => void): Promise<number> {
  let count = 0;
  const iterator = db.keys({ gte: RECORD_PREFIX, lt: RECORD_END });
  try {
    for (let keys = await iterator.nextv(CHUNK); keys.length > 0; keys = await iterator.nextv(CHUNK)) {
      count += keys.length;
      if (each !== undefined) for (const key of keys) each(key, RECORD_PREFIX.length);
    }
  } finally {
    await iterator.close();
  }
  return count;
}
