// @ts-check
// One libsql connection on a thread of its own; libsql-connection.ts starts it and is its only caller.
//
// On this thread libsql's synchronous API binds parameters to prepared statements, the cheap way to
// write a batch: ~20 µs of CPU a record, against ~150 µs for the same batch sent as SQL text to its
// promise API, which compiles every INSERT anew (bench/tracking/sqlite-bindings.ts). Its lock waits,
// commits and checkpoints hold this thread, never the event loop.
//
// Plain JavaScript: Node starts a worker from a .js file, and the tests run the sources as TypeScript.
// It knows no schema: the SQL comes with each request.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('libsql');

/** @typedef {string | number | Uint8Array | null} SqlValue */
/** @typedef {{ run(params: SqlValue[]): { lastInsertRowid: number }, all(params: SqlValue[]): unknown[] }} Statement */
/** @typedef {{ exec(sql: string): void, prepare(sql: string): Statement, readonly inTransaction: boolean, close(): void }} Connection */
/**
 * @typedef {{ op: 'exec', sql: string }
 *   | { op: 'all', sql: string, params: SqlValue[] }
 *   | { op: 'insertTree', parent: string, children: string[], rows: Uint8Array }
 *   | { op: 'close' }} Call
 */

if (!parentPort) throw new Error('libsql-thread.js runs as a worker thread of libsql-connection.ts');
const port = parentPort;

/** Prepared once per SQL text: the store has a few dozen shapes at most (one per combination of find's filters). */
const statements = new Map();

/** @type {Connection | undefined} */
let db;
try {
  db = /** @type {Connection} */ (new Database(workerData.name, {}));
  port.postMessage({ id: 0, inTransaction: false });
} catch (error) {
  port.postMessage({ id: 0, error: describe(error) });
  port.close();
}

port.on('message', (/** @type {{ id: number, call: Call }} */ { id, call }) => {
  if (!db) return;
  try {
    const result = perform(db, call);
    port.postMessage({ id, result, inTransaction: db.inTransaction });
  } catch (error) {
    port.postMessage({ id, error: describe(error), inTransaction: db.inTransaction });
  }
  if (call.op === 'close') port.close();
});

/**
 * @param {Connection} connection
 * @param {Call} call
 */
function perform(connection, call) {
  switch (call.op) {
    case 'exec':
      return connection.exec(call.sql);
    case 'all':
      return prepared(connection, call.sql).all(call.params);
    case 'insertTree':
      return insertTree(connection, call.parent, call.children, call.rows);
    case 'close':
      statements.clear();
      db = undefined;
      return connection.close();
  }
}

/**
 * @param {Connection} connection
 * @param {string} sql
 * @returns {Statement}
 */
function prepared(connection, sql) {
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = connection.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
}

/**
 * Each row's parent values into `parent`; then, for each of `children`, one run for the whole batch
 * with the JSON array of that child list's rows of every parent, each row ending in its parent's
 * rowid. All in one transaction, none on failure. BEGIN IMMEDIATE takes the write lock (waiting up
 * to busy_timeout) before the first insert.
 * @param {Connection} connection
 * @param {string} parent
 * @param {string[]} children statements of one parameter: a JSON array of child rows
 * @param {Uint8Array} bytes the rows as UTF-8 text, two lines each: the JSON of [parent values but the
 *   last, child rows of children[0], ...], then the last parent value, bound as the text it is (it is
 *   JSON of its own, read by no one here, and never holds a raw line feed)
 */
function insertTree(connection, parent, children, bytes) {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const insertParent = prepared(connection, parent);
  const insertChildren = children.map((sql) => prepared(connection, sql));
  /** @type {unknown[][][]} */
  const childRows = children.map(() => []);
  connection.exec('BEGIN IMMEDIATE');
  try {
    // This runs for every record the service tracks: the parsed rows are bound as they are.
    for (let start = 0; start < text.length; ) {
      const split = text.indexOf('\n', start);
      const end = text.indexOf('\n', split + 1);
      if (split < 0 || end < 0) throw new Error('insertTree: a row without its two lines');
      /** @type {[unknown[], ...unknown[][][]]} */
      const row = JSON.parse(text.slice(start, split));
      row[0].push(text.slice(split + 1, end));
      start = end + 1;
      const id = insertParent.run(/** @type {SqlValue[]} */ (row[0])).lastInsertRowid;
      for (let i = 0; i < childRows.length; i++) {
        for (const child of /** @type {unknown[][]} */ (row[i + 1])) {
          child.push(id);
          childRows[i].push(child);
        }
      }
    }
    for (let i = 0; i < insertChildren.length; i++) {
      if (childRows[i].length > 0) insertChildren[i].run([JSON.stringify(childRows[i])]);
    }
    connection.exec('COMMIT');
  } catch (error) {
    if (connection.inTransaction) connection.exec('ROLLBACK');
    throw error;
  }
  return undefined;
}

/**
 * An error as plain data: what crosses to the event loop's thread is its message and SQLite code.
 * @param {unknown} error
 */
function describe(error) {
  return error instanceof Error
    ? { message: error.message, code: /** @type {{ code?: unknown }} */ (error).code }
    : { message: String(error) };
}
