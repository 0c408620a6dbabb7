// @ts-check
// One libsql connection on a thread of its own; libsql-connection.ts starts it and is its only caller.
//
// On this thread libsql's synchronous API binds parameters to prepared statements, the cheap way to
// write a batch: ~20 µs of CPU a record, against ~150 µs for the same batch sent as SQL text to its
// promise API, which compiles every INSERT anew (bench/tracking/sqlite-bindings.ts). Its lock waits,
// commits and checkpoints hold this thread, never the event loop.
//
// Plain JavaScript: Node starts a worker from a .js file, and the tests run the sources as TypeScript.
// The SQL comes with each request; what it knows of records is how a batch's parts carry their rows
// (sqlite-part-rows.js), so that the event loop only serialises them.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('libsql');
const { partRows } = require('./sqlite-part-rows');

/** @typedef {string | number | Uint8Array | null} SqlValue */
/** @typedef {{ run(params: SqlValue[]): { lastInsertRowid: number }, all(params: SqlValue[]): unknown[] }} Statement */
/** @typedef {{ exec(sql: string): void, prepare(sql: string): Statement, readonly inTransaction: boolean, close(): void }} Connection */
/**
 * @typedef {{ op: 'exec', sql: string }
 *   | { op: 'all', sql: string, params: SqlValue[] }
 *   | { op: 'insertParts', parent: string, children: string[], parts: Uint8Array }
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
    case 'insertParts':
      return insertParts(connection, call.parent, call.children, call.parts);
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
 * Each record's values (partRows) into `parent`; then, for each of `children`, one run for the whole
 * batch with the JSON array of that child list's rows of every record, each row ending in its
 * record's rowid. All in one transaction, none on failure. BEGIN IMMEDIATE takes the write lock
 * (waiting up to busy_timeout) before the first insert.
 * @param {Connection} connection
 * @param {string} parent
 * @param {string[]} children statements of one parameter: a JSON array of child rows
 * @param {Uint8Array} bytes the batch's parts as UTF-8 text (sqlite-part-rows.js)
 */
function insertParts(connection, parent, children, bytes) {
  const rows = partRows(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  const insertParent = prepared(connection, parent);
  const insertChildren = children.map((sql) => prepared(connection, sql));
  /** @type {unknown[][][]} */
  const childRows = children.map(() => []);
  connection.exec('BEGIN IMMEDIATE');
  try {
    for (const [values, ...lists] of rows) {
      const id = insertParent.run(values).lastInsertRowid;
      for (let i = 0; i < childRows.length; i++) {
        for (const child of /** @type {unknown[][]} */ (lists[i])) {
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
