// A find() filter checked and put in the form both stores query with: addresses normalised, the network parsed.
import { parseCidr, type Cidr } from '../net/cidr';
import { normaliseAddress } from '../net/normalise';
import type { TrackingFilter } from './tracking-record';

export interface CheckedFilter extends Omit<TrackingFilter, 'ip'> {
  /** The address or network of `ip`; a bare address is a /32 or /128. */
  network?: Cidr;
}

/**
 * RangeError for a filter no query could mean (a bug in the caller: `floodgate track` checks its
 * options first). Addresses are normalised as the recorder's facts are (`<Joe@Example.ORG>` finds
 * `joe@example.org`), so a filter typed by a person matches what was stored.
 */
export function checkFilter(filter: TrackingFilter): CheckedFilter {
  if (!Number.isSafeInteger(filter.limit) || filter.limit < 1) throw new RangeError(`tracking filter: limit ${filter.limit} is not a positive integer`);
  for (const bound of ['since', 'until'] as const) {
    const value = filter[bound];
    if (value !== undefined && !Number.isFinite(value)) throw new RangeError(`tracking filter: ${bound} ${value} is not a time in ms`);
  }
  const checked: CheckedFilter = { limit: filter.limit };
  if (filter.ip !== undefined) {
    const network = parseCidr(filter.ip);
    if (typeof network === 'string') throw new RangeError(`tracking filter: ${network}`);
    checked.network = network;
  }
  if (filter.from !== undefined) checked.from = normaliseAddress(filter.from);
  if (filter.to !== undefined) checked.to = normaliseAddress(filter.to);
  for (const name of ['queueId', 'answer', 'rule', 'since', 'until'] as const) {
    if (filter[name] !== undefined) Object.assign(checked, { [name]: filter[name] });
  }
  return checked;
}
