// The one place that touches libsql: a typed connection whose every call runs on a thread of its own.
//
// The connection lives in libsql-thread.js, a worker thread, so a batch insert, a lock wait, a
// checkpoint's fsync or a prune never holds a milter answer; what crosses to it is the SQL and the
// values (a batch's as UTF-8 JSON text, sqlite-part-rows.js), what comes back is rows or an
// error's message and code.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SqlRow, SqlValue } from './sqlite-rows';

type Call =
  | { op: 'exec'; sql: string }
  | { op: 'all'; sql: string; params: SqlValue[] }
  | { op: 'insertParts'; parent: string; children: string[]; parts: Uint8Array }
  | { op: 'close' };

interface Reply {
  id: number;
  result?: unknown;
  error?: { message: string; code?: unknown };
  inTransaction?: boolean;
}

/** libsql's error, carried over from its thread: the message and the SQLite code (SQLITE_BUSY...). */
export class LibsqlError extends Error {
  constructor(
    message: string,
    readonly code?: unknown,
  ) {
    super(message);
    this.name = 'LibsqlError';
  }
}

const THREAD = join(__dirname, 'libsql-thread.js');

export class LibsqlConnection {
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 1;
  private transaction = false;
  /** Why the thread is gone (closed, or it stopped); every call after that rejects with it. */
  private stopReason: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => this.settle(reply));
    worker.on('error', (error) => this.stop(new LibsqlError(`the database thread failed: ${error.message}`)));
    worker.on('exit', (code) => this.stop(new LibsqlError(`the database thread exited (code ${code})`)));
    // Only a call in flight keeps the process alive (request() refs, settle() unrefs).
    worker.unref();
  }

  /** Opens or creates the file on the connection's thread; read-only opens it as `mode=ro`, which fails when it does not exist. */
  static async open(path: string, readOnly: boolean): Promise<LibsqlConnection> {
    // libsql takes no read-only option, but it passes SQLite URIs on: characters that mean something in a URI are escaped.
    const name = readOnly ? `file:${path.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?mode=ro` : path;
    const connection = new LibsqlConnection(new Worker(THREAD, { workerData: { name } }));
    // The thread answers id 0 once the file is open, or with the reason it is not.
    await connection.expect(0);
    return connection;
  }

  /** Runs one or more statements without parameters (pragmas, a migration, a script that prunes). */
  async exec(sql: string): Promise<void> {
    await this.request({ op: 'exec', sql });
  }

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> {
    return (await this.request({ op: 'all', sql, params })) as SqlRow[];
  }

  /**
   * In one transaction: each record of the batch's parts (UTF-8 text, sqlite-part-rows.js) into
   * `parent`, then each list of its keys into its statement of `children`, every record's at once:
   * the statement's one parameter is the JSON array of those keys, each ending in its record's rowid
   * (libsql-thread.js). When `parts` is the whole of its ArrayBuffer, that memory moves to the thread
   * and `parts` is empty afterwards; otherwise it is copied.
   */
  async insertParts(parent: string, children: string[], parts: Uint8Array): Promise<void> {
    await this.request({ op: 'insertParts', parent, children, parts }, ownsItsMemory(parts) ? [parts.buffer as ArrayBuffer] : []);
  }

  /** The thread is gone: closed, or it stopped on its own; every call rejects. */
  get stopped(): boolean {
    return this.stopReason !== undefined;
  }

  /** True between a BEGIN and its COMMIT, as of the last call: after a script failed half-way, its transaction is still open. */
  get inTransaction(): boolean {
    return this.transaction;
  }

  /** Closes the file and ends the thread, after the calls already made. */
  async close(): Promise<void> {
    if (this.stopReason) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    await this.request({ op: 'close' }).catch(() => undefined);
    await exited;
  }

  private request(call: Call, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.stopReason) return Promise.reject(this.stopReason);
    const id = this.nextId++;
    const reply = this.expect(id);
    this.worker.postMessage({ id, call }, transfer);
    return reply;
  }

  private expect(id: number): Promise<unknown> {
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.inTransaction !== undefined) this.transaction = reply.inTransaction;
    if (reply.error) waiting.reject(new LibsqlError(reply.error.message, reply.error.code));
    else waiting.resolve(reply.result);
  }

  private stop(reason: Error): void {
    this.stopReason ??= reason;
    for (const { reject } of this.pending.values()) reject(this.stopReason);
    this.pending.clear();
  }
}

/**
 * Whether the bytes are all of their ArrayBuffer, which can then be moved to the thread instead of
 * copied twice (serialised here, deserialised there): a batch is 1-2 MB. A Buffer under 4 KiB shares
 * Node's pool with others and must be copied.
 */
function ownsItsMemory(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
}
