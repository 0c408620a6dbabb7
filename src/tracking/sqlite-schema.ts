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
  // Version 2. What `find` never filters on is one JSON object, `detail` (sqlite-rows.ts), with the
  // record's recipients (and their answers) and rules in it; what it filters on keeps its column and
  // index. The recipients and rules tables become by_recipient and by_rule: only the keys that find
  // looks up, each table its own index (WITHOUT ROWID). Why: every value libsql binds and every
  // statement it runs costs its thread microseconds, and the thread shares the machine with the
  // milter. A record with two recipients and a rule went from 24 bound values in 4 statements and 13
  // B-tree writes to 6 values in 1 statement (its recipients and rules go in with the whole batch's)
  // and 10 writes: the thread's CPU a record fell by a third (bench/tracking/tracking-overhead.ts).
  // The old rows are carried over whole; json_patch drops what was NULL, as the writer leaves
  // undefined fields out. The AUTOINCREMENT high-water mark moves with the table.
  `
  CREATE TABLE records_2 (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    time      INTEGER NOT NULL,
    queue_id  TEXT,
    client_ip BLOB,
    sender    TEXT,
    answer    TEXT NOT NULL,
    detail    TEXT NOT NULL
  );
  INSERT INTO records_2 (id, time, queue_id, client_ip, sender, answer, detail)
    SELECT id, time, queue_id, client_ip, sender, answer, json_patch('{}', json_object(
      'mtaHost', mta_host, 'daemon', daemon, 'session', session, 'clientName', client_name,
      'reverseDns', reverse_dns, 'helo', helo, 'authUser', auth_user,
      'recipients', (SELECT json_group_array(json_patch('{}', json_object('address', address, 'answer', answer, 'reply', reply)))
                     FROM (SELECT * FROM recipients WHERE record_id = records.id ORDER BY position)),
      'stage', stage, 'delayMs', delay_ms, 'rules', json(rules), 'keys', json(keys), 'dnsLists', json(dns_lists),
      'size', size, 'messageId', message_id, 'subject', subject, 'attachments', json(attachments)))
    FROM records;
  DELETE FROM sqlite_sequence WHERE name = 'records_2';
  INSERT INTO sqlite_sequence (name, seq) SELECT 'records_2', seq FROM sqlite_sequence WHERE name = 'records';

  CREATE TABLE by_recipient (
    address   TEXT NOT NULL,
    time      INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (address, time, record_id)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO by_recipient SELECT address, time, record_id FROM recipients;
  CREATE TABLE by_rule (
    rule      TEXT NOT NULL,
    time      INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (rule, time, record_id)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO by_rule SELECT rule, time, record_id FROM record_rules;

  DROP TABLE recipients;
  DROP TABLE record_rules;
  DROP TABLE records;
  ALTER TABLE records_2 RENAME TO records;
  CREATE INDEX records_time ON records (time);
  CREATE INDEX records_client_ip ON records (client_ip, time) WHERE client_ip IS NOT NULL;
  CREATE INDEX records_sender ON records (sender, time) WHERE sender IS NOT NULL;
  CREATE INDEX records_queue_id ON records (queue_id) WHERE queue_id IS NOT NULL;
  CREATE INDEX records_answer ON records (answer, time);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
