// The one place that touches libsql: a typed connection whose every call runs on libsql's own threads.
//
// libsql's promise API runs exec() and a statement's rows off the event loop (its Rust runtime's
// threads), so a batch insert, a checkpoint's fsync or a prune never holds a milter answer; its
// synchronous API, like better-sqlite3's, would (bench/tracking/sqlite-bindings.ts measures both).
// Parameters are bound only through all(): the promise API's run() and get() are synchronous.
import type { SqlRow, SqlValue } from './sqlite-rows';

interface LibsqlStatement {
  all(params: SqlValue[]): Promise<SqlRow[]>;
}

/** The calls used here. libsql's own declarations are reached only through its package "exports", which moduleResolution "node" does not read. */
interface LibsqlDatabase {
  exec(sql: string): Promise<void>;
  prepare(sql: string): Promise<LibsqlStatement>;
  readonly inTransaction: boolean;
  close(): void;
}

const Database = require('libsql/promise') as new (path: string, options: object) => LibsqlDatabase;

export class LibsqlConnection {
  /** Prepared once per SQL text: find() has a few dozen shapes at most (one per combination of filters). */
  private readonly statements = new Map<string, Promise<LibsqlStatement>>();

  private constructor(private readonly db: LibsqlDatabase) {}

  /** Opens or creates the file; read-only opens it as `mode=ro`, which fails when it does not exist. */
  static open(path: string, readOnly: boolean): LibsqlConnection {
    // libsql takes no read-only option, but it passes SQLite URIs on: characters that mean something in a URI are escaped.
    const name = readOnly ? `file:${path.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?mode=ro` : path;
    return new LibsqlConnection(new Database(name, {}));
  }

  /** Runs one or more statements without parameters (a batch script, pragmas, a migration). */
  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
      // A statement that failed to prepare (SQLITE_BUSY while another process migrates) is tried again next time.
      statement.catch(() => this.statements.delete(sql));
    }
    // An array as the one argument: libsql binds it by position (an object would be bound by name).
    return (await statement).all(params);
  }

  /** True between a BEGIN and its COMMIT: after a script failed half-way, its transaction is still open. */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }
}
