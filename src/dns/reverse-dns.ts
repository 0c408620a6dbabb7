// Forward-confirmed reverse DNS of a client address, and whether its name looks like an end-user (dynamic) one.
import { isIP } from 'node:net';
import { normaliseHost, normaliseIp } from '../net/normalise';
import { plausibleDomain } from './dns-names';
import type { DnsLookup, DnsOutcome } from './resolver';

export type ReverseDnsStatus = 'none' | 'unverified' | 'dynamic' | 'verified' | 'unknown';

export interface ReverseDnsReport {
  /**
   * none: NXDOMAIN or no PTR record. unverified: PTR names exist but none resolves back to the
   * address (FCrDNS fails). dynamic: FCrDNS passes but the name looks like an end-user one.
   * verified: FCrDNS passes, ordinary name. unknown: a DNS error or timeout kept us from knowing.
   */
  status: ReverseDnsStatus;
  /** PTR names, lower case, without the trailing dot, in the order DNS gave them. */
  names: string[];
  /** The first PTR name whose forward lookup returned the address. */
  verifiedName?: string;
}

/**
 * Forward lookups per check. An address with many PTR records is rare and mostly a hosting
 * panel's doing; four covers the honest cases without letting a hostile PTR set fan out.
 */
export const MAX_FORWARD_LOOKUPS = 4;

/** A compiled pattern: the rules layer's, which runs in linear time. */
export interface NamePattern {
  test(name: string): boolean;
}

/**
 * Regex sources (RE2 syntax, compile case-insensitive with compilePattern) for generic end-user names,
 * after the habits of Postfix pcre client checks, SpamAssassin's RDNS_DYNAMIC and policyd-weight.
 * Tokens are bounded by non-letters so `mail.dynamics-corp.com` and `mail.dslreports.com` pass.
 */
export const DEFAULT_DYNAMIC_PTR_PATTERNS: readonly string[] = Object.freeze([
  // The address written into the name: 1-2-3-4, 001.002.003.004, host-1-2-3-4, 99-1-2-3.lightspeed...
  '(?:^|[^0-9])[0-9]{1,3}[-.][0-9]{1,3}[-.][0-9]{1,3}[-.][0-9]{1,3}(?:[^0-9]|$)',
  // Access-technology tokens. They must be followed by two more labels so a company domain that
  // is such a word (cable.com, pool.example) is not hit; the token may carry digits (dip0, hsd1).
  // `(?:[^a-z.][^.]*)?` says "not followed by a letter" without a lookahead, which RE2 lacks.
  '(?:^|[^a-z])(?:dyn|dynamic|dynip|dhcp|dial|dialin|dialup|ppp|pppoe|dsl|adsl|vdsl|xdsl|sdsl|dslb|cable|catv|pool|pools|broadband|cpe|fios|hsd|dip)(?:[^a-z.][^.]*)?\\.[^.]+\\.',
  // Words that are ordinary host names alone and generic only with an address-like number run
  // after them: host86-123-45-67, client-1-2, cust-24-5, ip-10-1-2-3, bb116-15-12-34. Plain
  // `static` is left out on purpose: static-1-2-3-4 (caught above) is end-user, but hosts named
  // static.example.com are often real servers.
  '(?:^|[^a-z])(?:host|client|clients|cust|customer|user|users|ip|bb|home|nat|mobile|wlan|static)[-.]?[0-9]+[-.][0-9]+',
]);

/**
 * Looks up PTR names of the address, then A (IPv4) or AAAA (IPv6) records of up to
 * MAX_FORWARD_LOOKUPS names in parallel. When no forward lookup returns the address and at least
 * one of them failed with an error or timeout, the answer is 'unknown', not 'unverified': a DNS
 * failure is no evidence of a forged name (Postfix answers 450, not 550, in the same case).
 * Never rejects; with deadlineMs, resolves by then ('unknown' if still waiting).
 */
export function checkReverseDns(resolver: DnsLookup, ip: string, dynamicPatterns: readonly NamePattern[], deadlineMs?: number): Promise<ReverseDnsReport> {
  const address = normaliseIp(ip);
  if (address === undefined) return Promise.resolve({ status: 'unknown', names: [] });
  const seen: string[] = [];
  const work = verify(resolver, address, dynamicPatterns, seen).catch((): ReverseDnsReport => ({ status: 'unknown', names: seen }));
  if (deadlineMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<ReverseDnsReport>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'unknown', names: [...seen] }), Math.max(0, deadlineMs));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** `seen` receives the PTR names as soon as they are known, for a report cut short by the deadline. */
async function verify(resolver: DnsLookup, address: string, dynamicPatterns: readonly NamePattern[], seen: string[]): Promise<ReverseDnsReport> {
  const ptr = await resolver.ptr(address);
  if (ptr.kind === 'nxdomain') return { status: 'none', names: [] };
  if (ptr.kind !== 'answer') return { status: 'unknown', names: [] };
  const names = unique(ptr.values.map(normaliseHost).filter((name) => name !== ''));
  seen.push(...names);
  if (names.length === 0) return { status: 'none', names };
  // A PTR target that cannot be a host name (spaces, an address) cannot resolve back: skip the query.
  const candidates = names.filter((name) => plausibleDomain(name) !== undefined).slice(0, MAX_FORWARD_LOOKUPS);
  const forward = (name: string) => (isIP(address) === 4 ? resolver.a(name) : resolver.aaaa(name));
  const outcomes = await Promise.all(candidates.map((name) => forward(name)));
  const index = outcomes.findIndex((outcome) => pointsTo(outcome, address));
  if (index < 0) {
    const failed = outcomes.some((outcome) => outcome.kind === 'error' || outcome.kind === 'timeout');
    return { status: failed ? 'unknown' : 'unverified', names };
  }
  const verifiedName = candidates[index];
  const dynamic = dynamicPatterns.some((pattern) => pattern.test(verifiedName));
  return { status: dynamic ? 'dynamic' : 'verified', names, verifiedName };
}

/** Compares canonical forms: `2001:DB8::0:1` and `2001:db8::1` are one address. */
function pointsTo(outcome: DnsOutcome<string[]>, address: string): boolean {
  return outcome.kind === 'answer' && outcome.values.some((value) => normaliseIp(value) === address);
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}
