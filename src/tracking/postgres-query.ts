// The SELECT behind PostgresTrackingStore.find: one condition per filter, newest first, each served by an index.
import type { PgQuery } from './postgres-rows';
import type { CheckedFilter } from './tracking-filter';

/**
 * As SqliteTrackingStore's query (sqlite-query.ts): recipients and rules matched in their own tables
 * with the time bounds repeated there, and a single address written as `=` so that the
 * (client_ip, time) index yields time order; a network is `<<=`, which a btree index serves as a range.
 */
export function findQuery(filter: CheckedFilter): PgQuery {
  const values: unknown[] = [];
  const param = (value: unknown): string => `$${values.push(value)}`;
  const bounds = (): string[] => [
    ...(filter.since === undefined ? [] : [`time >= ${param(new Date(filter.since))}`]),
    ...(filter.until === undefined ? [] : [`time <= ${param(new Date(filter.until))}`]),
  ];
  const where = bounds();
  if (filter.network !== undefined) {
    const { address, prefix, family } = filter.network;
    if (prefix === (family === 'ipv4' ? 32 : 128)) where.push(`client_ip = ${param(address)}::inet`);
    else where.push(`client_ip <<= ${param(`${address}/${prefix}`)}::inet`);
  }
  if (filter.from !== undefined) where.push(`sender = ${param(filter.from)}`);
  if (filter.queueId !== undefined) where.push(`queue_id = ${param(filter.queueId)}`);
  if (filter.answer !== undefined) where.push(`answer = ${param(filter.answer)}`);
  for (const [table, column, value] of [['tracking_recipients', 'address', filter.to], ['tracking_rules', 'rule', filter.rule]] as const) {
    if (value === undefined) continue;
    where.push(`id IN (SELECT record_id FROM ${table} WHERE ${[`${column} = ${param(value)}`, ...bounds()].join(' AND ')})`);
  }
  const limit = param(filter.limit);
  return {
    text: `SELECT * FROM tracking_records${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ${limit}`,
    values,
  };
}
