// The captured milter conversations in test/fixtures/milter-corpus/: format, reading, writing.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The rules the corpus was captured with: Floodgate negotiates every stage it uses (the size rule
 * streams the body) and gives every kind of answer. Replaying the corpus against them gives its replies.
 */
export const CORPUS_RULES = `
keys:
  ip: { half_life: 1h }
  sender: { half_life: 1h }
rules:
  - name: recipients
    on: rcpt
    add: { ip: 1, sender: 1 }
  - name: refused-recipient
    on: rcpt
    when: { recipient: { equals: refuse-me@example.com } }
    reject: { code: "550", ext: "5.7.1", text: "Recipient refused by policy" }
  - name: tempfailed-sender
    on: mail
    when: { sender: { equals: slow-down@example.org } }
    tempfail: { code: "451", ext: "4.7.1", text: ["Too much mail,", "try later"] }
  - name: dynamic-helo
    on: helo
    when: { helo: { matches: "^(dsl|dyn|pool)[-.]" } }
    add: { ip: 2 }
  - name: big-message
    on: eom
    when: { size: { over: 20000 } }
    add: { ip: 1 }
thresholds:
  ip:
    - above: 3
      continue: true
      header: { name: X-Floodgate, value: "busy client" }
`;

export const CORPUS_DIR = join(__dirname, '..', 'fixtures', 'milter-corpus');

/** One MTA connection as captured: the MTA's packets and the milter's, each a whole frame (length prefix included). */
export interface CorpusConversation {
  /** What the SMTP client did, e.g. "3 recipients, one refused". */
  scenario: string;
  /** MTA -> milter frames, hex. */
  packets: string[];
  /** milter -> MTA frames, hex (what Floodgate answered at capture time). */
  replies: string[];
}

export interface CorpusFile {
  /** The MTA and its version, e.g. "Postfix 3.7.11". */
  mta: string;
  /** How the connection reached the milter. */
  transport: string;
  conversations: CorpusConversation[];
}

/**
 * Cuts a byte stream into frames by their 4-byte big-endian length. A tail that is not a whole
 * frame (a stream cut short) is returned as a last, partial element so nothing is lost.
 */
export function splitFrames(stream: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  while (at < stream.length) {
    const end = stream.length - at >= 4 ? at + 4 + stream.readUInt32BE(at) : stream.length;
    frames.push(stream.subarray(at, Math.min(end, stream.length)));
    at = end;
  }
  return frames;
}

export function readCorpus(dir = CORPUS_DIR): CorpusFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as CorpusFile);
}

/** One conversation per line group, so a diff of a re-capture reads well. */
export function writeCorpus(file: string, corpus: CorpusFile): void {
  writeFileSync(file, `${JSON.stringify(corpus, null, 1)}\n`);
}
