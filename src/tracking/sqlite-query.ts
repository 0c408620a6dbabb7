// The SELECT behind SqliteTrackingStore.find: one condition per filter, newest first, each served by an index.
import { ipKeyRanges, type IpKeyRange } from './ip-key';
import type { SqlValue } from './sqlite-rows';
import type { CheckedFilter } from './tracking-filter';

export interface SqlQuery {
  sql: string;
  params: SqlValue[];
}

/**
 * Recipients and rules are matched in their own tables (by_recipient, by_rule), with the time
 * bounds repeated there so their (address, time) and (rule, time) keys do the narrowing. A single
 * address is written as `=`, not as a one-address range: the planner then knows the (client_ip,
 * time) index yields time order and stops after `limit` rows instead of sorting every record of a
 * flooding client.
 */
export function findQuery(filter: CheckedFilter): SqlQuery {
  const where: string[] = [];
  const params: SqlValue[] = [];
  const add = (condition: string, ...values: SqlValue[]): void => {
    where.push(condition);
    params.push(...values);
  };
  const bounds = timeBounds(filter);
  for (const [i, condition] of bounds.conditions.entries()) add(condition, bounds.params[i]);
  if (filter.network !== undefined) {
    const ranges = ipKeyRanges(`${filter.network.address}/${filter.network.prefix}`) as IpKeyRange[];
    if (ranges.length === 1 && ranges[0].low.equals(ranges[0].high)) add('client_ip = ?', ranges[0].low);
    else add(`(${ranges.map(() => 'client_ip BETWEEN ? AND ?').join(' OR ')})`, ...ranges.flatMap((r) => [r.low, r.high]));
  }
  if (filter.from !== undefined) add('sender = ?', filter.from);
  if (filter.queueId !== undefined) add('queue_id = ?', filter.queueId);
  if (filter.answer !== undefined) add('answer = ?', filter.answer);
  for (const [table, column, value] of [['by_recipient', 'address', filter.to], ['by_rule', 'rule', filter.rule]] as const) {
    if (value === undefined) continue;
    add(`id IN (SELECT record_id FROM ${table} WHERE ${[`${column} = ?`, ...bounds.conditions].join(' AND ')})`, value, ...bounds.params);
  }
  return {
    sql: `SELECT * FROM records${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ?`,
    params: [...params, filter.limit],
  };
}

function timeBounds(filter: CheckedFilter): { conditions: string[]; params: number[] } {
  const conditions: string[] = [];
  const params: number[] = [];
  if (filter.since !== undefined) {
    conditions.push('time >= ?');
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    conditions.push('time <= ?');
    params.push(filter.until);
  }
  return { conditions, params };
}
