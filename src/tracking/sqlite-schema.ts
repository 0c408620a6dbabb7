// The SQLite tracking database's schema, as numbered migrations recorded in PRAGMA user_version.
//
// Migration N brings a database from version N-1 to N, in one transaction with the version bump, so a
// crash leaves the old version or the new one, never half of a migration. Append; never edit a
// migration that has shipped (databases in the field already ran it).

/** SQL of each migration, in order: MIGRATIONS[0] makes version 1. */
export const MIGRATIONS: readonly string[] = [
  // Version 1. Times are milliseconds since the epoch. Lists that are only read back with their
  // record (keys, DNS lists, attachments, rules in order) are JSON text; what `find` filters on has a
  // column or a table of its own, each behind an index that ends in time so that "newest first,
  // at most N" walks the index backwards and stops. AUTOINCREMENT: an id `floodgate track show`
  // printed yesterday never names another record after the newest were pruned.
  `
  CREATE TABLE records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    mta_host    TEXT,
    daemon      TEXT,
    session     TEXT NOT NULL,
    queue_id    TEXT,
    -- 16 bytes (ip-key.ts): IPv6, or IPv4 as ::ffff:a.b.c.d; byte order is address order, so a
    -- network is one BETWEEN range. hex(client_ip) in the sqlite3 shell.
    client_ip   BLOB,
    client_name TEXT,
    reverse_dns TEXT,
    helo        TEXT,
    auth_user   TEXT,
    sender      TEXT,
    answer      TEXT NOT NULL,
    stage       TEXT NOT NULL,
    delay_ms    INTEGER NOT NULL,
    rules       TEXT NOT NULL,
    keys        TEXT NOT NULL,
    dns_lists   TEXT NOT NULL,
    size        INTEGER,
    message_id  TEXT,
    subject     TEXT,
    attachments TEXT
  );
  CREATE INDEX records_time ON records (time);
  CREATE INDEX records_client_ip ON records (client_ip, time) WHERE client_ip IS NOT NULL;
  CREATE INDEX records_sender ON records (sender, time) WHERE sender IS NOT NULL;
  CREATE INDEX records_queue_id ON records (queue_id) WHERE queue_id IS NOT NULL;
  CREATE INDEX records_answer ON records (answer, time);

  -- The record's time is repeated in its recipients and rules: "to X, newest first" is then one
  -- index walk instead of every record X ever got, sorted. No foreign keys (SQLite enforces them
  -- only with a per-connection pragma): prune deletes children before their records.
  CREATE TABLE recipients (
    record_id INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    address   TEXT NOT NULL,
    answer    TEXT NOT NULL,
    reply     TEXT,
    time      INTEGER NOT NULL,
    PRIMARY KEY (record_id, position)
  ) WITHOUT ROWID;
  CREATE INDEX recipients_address ON recipients (address, time);

  CREATE TABLE record_rules (
    record_id INTEGER NOT NULL,
    rule      TEXT NOT NULL,
    time      INTEGER NOT NULL,
    PRIMARY KEY (record_id, rule)
  ) WITHOUT ROWID;
  CREATE INDEX record_rules_rule ON record_rules (rule, time);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
