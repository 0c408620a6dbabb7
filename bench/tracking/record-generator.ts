// Synthetic tracking records shaped like an ISP's inbound MX day: many clients, one flooder, refusals with rules.
import type { TrackedAnswer, TrackingRecord } from '../../src/tracking/tracking-record';

/** The flooding client: 5 % of all records, the worst case for `--ip X`. */
export const FLOODER_IP = '100.64.0.77';
/** A client with a few records a day, the common case for `--ip X`. */
export const ORDINARY_IP = '100.64.1.2';

/** xorshift32: the same records every run, so figures of two runs compare. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Record `i` of `count`, spread evenly over `days` days ending at `end`. Clients are spread over
 * 100.64.0.0/14 (262,144 addresses, as the milter load generator uses), one in ten over IPv6, one in
 * twenty from FLOODER_IP; ORDINARY_IP gets one record in 50,000 (three a day in a million over 7 days).
 */
export function syntheticRecord(i: number, count: number, end: number, days: number, next: () => number): TrackingRecord {
  const time = Math.round(end - days * 86_400_000 * (1 - i / count));
  const r = next();
  const client = r % 20 === 0 ? FLOODER_IP : i % 50_000 === 7 ? ORDINARY_IP : r % 10 === 1
    ? `2001:db8:${(next() % 65536).toString(16)}::${(next() % 65536).toString(16)}`
    : `100.${64 + ((r >>> 8) & 3)}.${(r >>> 10) & 255}.${(r >>> 18) & 255}`;
  const roll = next() % 100;
  const answer: TrackedAnswer = roll < 85 ? 'accepted' : roll < 90 ? 'delayed' : roll < 95 ? 'tempfail' : roll < 99 ? 'reject' : 'quit';
  const refused = answer === 'tempfail' || answer === 'reject';
  const recipients = Array.from({ length: 1 + (next() % 3) }, () => ({
    address: `rcpt${next() % 100_000}@customer${next() % 500}.example`,
    answer,
    ...(refused ? { reply: '451 4.7.1 Too many messages from your address, try again later' } : {}),
  }));
  const withMessage = answer === 'accepted' || answer === 'delayed';
  return {
    time,
    mtaHost: 'mx1.isp.example',
    daemon: 'smtpd',
    session: `c${i.toString(36)}`,
    ...(withMessage ? { queueId: (next() * 4096 + (i & 4095)).toString(16).toUpperCase().padStart(11, '0') } : {}),
    clientIp: client,
    clientName: r % 2 === 0 ? `host-${r % 65536}.dyn.provider.example` : 'unknown',
    reverseDns: r % 2 === 0 ? 'dynamic' : 'none',
    helo: `[${client}]`,
    sender: `user${next() % 50_000}@example${next() % 1000}.org`,
    recipients,
    answer,
    stage: withMessage ? 'eom' : answer === 'quit' ? 'quit' : 'rcpt',
    delayMs: answer === 'delayed' ? 2000 : 0,
    rules: refused ? ['ip-flood', 'sender-rate'] : roll % 3 === 0 ? ['count-connections'] : [],
    keys: [{ key: `ip:${client}`, score: (next() % 10_000) / 100 }, { key: `net:${client}/24`, score: (next() % 10_000) / 100 }],
    dnsLists: roll === 97 ? ['zen.dnsbl.example'] : [],
    ...(withMessage ? { size: 1000 + (next() % 60_000), messageId: `<${next().toString(16)}.${i}@example.org>` } : {}),
  };
}
