// A scriptable authoritative DNS server on loopback UDP, for tests that need real DNS answers.
//
// Usage:
//   const dns = await startDnsServer();                 // 127.0.0.1, a port the kernel picks
//   dns.set('2.0.0.127.zen.test', { a: ['127.0.0.2'], ttl: 300 });
//   dns.set('slow.test', { a: ['192.0.2.1'], delayMs: 300 });
//   dns.set('broken.test', { behaviour: 'servfail' });   // or 'refused', 'drop', 'nxdomain'
//   dns.setPtr('192.0.2.1', ['mail.example.org']);       // the reversed in-addr.arpa / ip6.arpa name
//   resolver.setServers([dns.server]);                  // "127.0.0.1:PORT" (or "[::1]:PORT")
//   dns.queries                                          // every question received, in order
//   await dns.close();
//
// Names are case-insensitive and written without the trailing dot. A name never set answers
// NXDOMAIN; a name set without records of the asked type answers NOERROR with no answers (NODATA).
// 'drop' reads the question and never answers, so the client times out; delayMs answers late.
// Answers are small, so UDP is enough: no truncation, no TCP.
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { ptrQueryName } from '../../src/dns/dns-names';

export type DnsBehaviour = 'answer' | 'nxdomain' | 'servfail' | 'refused' | 'drop';

export interface DnsNameSpec {
  a?: string[];
  aaaa?: string[];
  ptr?: string[];
  txt?: string[];
  /** Seconds, for every record of the name. Default 300. */
  ttl?: number;
  /** Default 'answer' (the records above, NODATA for other types). */
  behaviour?: DnsBehaviour;
  /** Answer (or fail) this many milliseconds late. */
  delayMs?: number;
}

export interface DnsQuery {
  name: string;
  type: string;
}

export interface TestDnsServer {
  readonly address: string;
  readonly port: number;
  /** `host:port` as dns.Resolver#setServers takes it (IPv6 hosts bracketed). */
  readonly server: string;
  readonly queries: readonly DnsQuery[];
  set(name: string, spec: DnsNameSpec): void;
  setPtr(ip: string, names: string[], spec?: Omit<DnsNameSpec, 'ptr'>): void;
  delete(name: string): void;
  /** How many questions for this name (and type, if given) arrived. */
  count(name: string, type?: string): number;
  close(): Promise<void>;
}

// Header flag bits and RCODEs (RFC 1035 section 4.1.1); dns-packet takes the RCODE in the low 4 bits.
const AUTHORITATIVE = dnsPacket.AUTHORITATIVE_ANSWER;
const RECURSION_AVAILABLE = dnsPacket.RECURSION_AVAILABLE;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export function startDnsServer(options: { host?: string; port?: number } = {}): Promise<TestDnsServer> {
  const host = options.host ?? '127.0.0.1';
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  const zone = new Map<string, DnsNameSpec>();
  const queries: DnsQuery[] = [];
  const timers = new Set<NodeJS.Timeout>();
  socket.on('message', (message, peer) => {
    const reply = answer(message, zone, queries);
    if (reply === undefined) return;
    const send = () => socket.send(reply.packet, peer.port, peer.address, () => undefined);
    if (!reply.delayMs) return send();
    const timer = setTimeout(() => {
      timers.delete(timer);
      send();
    }, reply.delayMs);
    timers.add(timer);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port ?? 0, host, () => {
      socket.off('error', reject);
      const { port } = socket.address();
      resolve(serverApi(socket, host, port, zone, queries, timers));
    });
  });
}

function serverApi(socket: Socket, host: string, port: number, zone: Map<string, DnsNameSpec>, queries: DnsQuery[], timers: Set<NodeJS.Timeout>): TestDnsServer {
  return {
    address: host,
    port,
    server: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`,
    queries,
    set: (name, spec) => zone.set(key(name), spec),
    setPtr: (ip, names, spec = {}) => {
      const name = ptrQueryName(ip);
      if (name === undefined) throw new Error(`setPtr: "${ip}" is not an IP address`);
      zone.set(name, { ...spec, ptr: names });
    },
    delete: (name) => zone.delete(key(name)),
    count: (name, type) => queries.filter((q) => q.name === key(name) && (type === undefined || q.type === type)).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        socket.close(() => resolve());
      }),
  };
}

function key(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The reply to one datagram and how late to send it, or undefined to stay silent (garbage, or 'drop'). */
function answer(message: Buffer, zone: Map<string, DnsNameSpec>, log: DnsQuery[]): { packet: Buffer; delayMs: number } | undefined {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return undefined;
  }
  const question = query.questions?.[0];
  if (query.type !== 'query' || question === undefined) return undefined;
  log.push({ name: key(question.name), type: question.type });
  const spec = zone.get(key(question.name));
  const behaviour = spec === undefined ? 'nxdomain' : (spec.behaviour ?? 'answer');
  if (behaviour === 'drop') return undefined;
  const rcode = behaviour === 'servfail' ? RCODE.SERVFAIL : behaviour === 'refused' ? RCODE.REFUSED : behaviour === 'nxdomain' ? RCODE.NXDOMAIN : RCODE.NOERROR;
  // The question is echoed exactly as asked: a resolver using DNS 0x20 case randomisation checks it.
  const packet = dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags: AUTHORITATIVE | RECURSION_AVAILABLE | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode,
    questions: [question],
    answers: behaviour === 'answer' && spec !== undefined ? records(question, spec) : [],
  });
  return { packet, delayMs: spec?.delayMs ?? 0 };
}

function records(question: dnsPacket.Question, spec: DnsNameSpec): dnsPacket.Answer[] {
  const ttl = spec.ttl ?? 300;
  const name = question.name;
  switch (question.type) {
    case 'A':
      return (spec.a ?? []).map((data) => ({ type: 'A', name, ttl, data }));
    case 'AAAA':
      return (spec.aaaa ?? []).map((data) => ({ type: 'AAAA', name, ttl, data }));
    case 'PTR':
      return (spec.ptr ?? []).map((data) => ({ type: 'PTR', name, ttl, data }));
    case 'TXT':
      return (spec.txt ?? []).map((data) => ({ type: 'TXT', name, ttl, data }));
    default:
      return [];
  }
}
