// Tracking records from the scoring handler: one per message with each recipient's answer, one for a
// session without a message, refusals at MAIL and RCPT, observe mode recording what was given.
import { scoringHandler } from '../../../src/handler/scoring-handler';
import { ScoringEngine } from '../../../src/engine/scoring-engine';
import { parseRuleSet } from '../../../src/rules/loader';
import type { MessageState, SessionContext } from '../../../src/session/handler';
import { MemoryStore } from '../../../src/store/memory-store';
import type { TrackingRecord } from '../../../src/tracking/tracking-record';
import { captureLog } from '../../support/log-capture';

const RULES = `
keys:
  ip: { half_life: 10m }
rules:
  - name: per-recipient
    on: rcpt
    add: { ip: 1 }
  - name: no-spammer
    on: mail
    when: { sender: { equals: spammer@example.net } }
    reject: { code: 550, text: Go away }
thresholds:
  ip:
    - above: 2
      reject: { code: 550, ext: 5.7.1, text: Too many recipients }
`;

interface Session extends SessionContext {
  message: MessageState | undefined;
  macros: Record<string, string>;
}

function session(id: string, ip = '192.0.2.9'): Session {
  const s: Session = {
    connectionId: id,
    mta: 'postfix',
    connectedAt: undefined,
    connect: { hostname: 'pc.example.net', family: 'inet', address: ip, port: 1 },
    helo: 'pc',
    message: undefined,
    macros: { j: 'mx1.example.org', '{daemon_name}': 'smtpd' },
    macro: (name) => s.macros[name],
  };
  return s;
}

function setUp(observeOnly = false) {
  const records: TrackingRecord[] = [];
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES, 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept', observeOnly, track: (r) => records.push(r), now: () => 1_700_000_000_000 });
  return { handler, records };
}

const open = (s: Session, sender: string) => (s.message = { index: 1, sender, senderArgs: [], recipients: [], headerCount: 0, bodyBytes: 0 });

test('tracking negotiates MAIL and RCPT and evaluates them even when no rule counts them', () => {
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet('keys: {}\nrules: []\n', 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept', track: () => undefined });
  expect([...handler.needs().stages]).toEqual(['connect', 'helo', 'mail', 'rcpt']);
  expect(handler.rcpt).toBeDefined();
  expect(handler.close).toBeDefined();
});

test('a message: one record with each recipient, the queue id, the rules and the keys', async () => {
  const { handler, records } = setUp();
  const s = session('c1');
  open(s, '<A@Example.ORG>');
  await handler.mail!(s, '<A@Example.ORG>', []);
  expect(await handler.rcpt!(s, '<x@example.com>', [])).toEqual({ kind: 'continue' });
  expect(await handler.rcpt!(s, '<y@example.com>', [])).toEqual({ kind: 'continue' });
  expect(await handler.rcpt!(s, '<z@example.com>', [])).toMatchObject({ kind: 'reject' });
  s.macros.i = '4Xy1Z2abcD';
  await handler.eom!(s);
  s.message = undefined;
  await handler.abort!(s); // Postfix's ABORT after the transaction: no second record
  await handler.close!(s);
  expect(records).toEqual([
    {
      time: 1_700_000_000_000, session: 'c1', mtaHost: 'mx1.example.org', daemon: 'smtpd', queueId: '4Xy1Z2abcD', clientIp: '192.0.2.9', clientName: 'pc.example.net', helo: 'pc', sender: 'a@example.org',
      recipients: [
        { address: 'x@example.com', answer: 'accepted' },
        { address: 'y@example.com', answer: 'accepted' },
        { address: 'z@example.com', answer: 'reject', reply: '550 5.7.1 Too many recipients' },
      ],
      answer: 'accepted', stage: 'eom', delayMs: 0, rules: ['per-recipient'], keys: [{ key: 'ip:192.0.2.9', score: 3 }], dnsLists: [],
    },
  ]);
});

test('every recipient refused, then the client leaves: a record refused at RCPT', async () => {
  const { handler, records } = setUp();
  const s = session('c2', '192.0.2.10');
  for (let i = 0; i < 2; i++) await handler.rcpt!(session('warm-up', '192.0.2.10'), `<w${i}@example.com>`, []);
  open(s, '<a@example.org>');
  expect(await handler.rcpt!(s, '<x@example.com>', [])).toMatchObject({ kind: 'reject' });
  await handler.abort!(s);
  s.message = undefined;
  await handler.close!(s);
  expect(records.filter((r) => r.session === 'c2')).toEqual([expect.objectContaining({ answer: 'reject', stage: 'rcpt', sender: 'a@example.org', recipients: [expect.objectContaining({ answer: 'reject' })] })]);
});

test('refused at MAIL; a session that ends without a message', async () => {
  const { handler, records } = setUp();
  const s = session('c3');
  open(s, '<spammer@example.net>');
  expect(await handler.mail!(s, '<spammer@example.net>', [])).toMatchObject({ kind: 'reject' });
  s.message = undefined;
  await handler.close!(s);
  const quiet = session('c4');
  await handler.close!(quiet);
  expect(records.map((r) => [r.session, r.answer, r.stage, r.rules])).toEqual([
    ['c3', 'reject', 'mail', ['no-spammer']],
    ['c4', 'quit', 'quit', []],
  ]);
});

test('in observe mode the record says what was given (accepted), the answer record what would have been', async () => {
  const { handler, records } = setUp(true);
  const s = session('c5', '192.0.2.11');
  open(s, '<a@example.org>');
  for (const r of ['<x@example.com>', '<y@example.com>', '<z@example.com>']) expect(await handler.rcpt!(s, r, [])).toEqual({ kind: 'continue' });
  await handler.eom!(s);
  expect(records[0]!.recipients.map((r) => r.answer)).toEqual(['accepted', 'accepted', 'accepted']);
  expect(records[0]!.answer).toBe('accepted');
});

describe('with content rules', () => {
  const CONTENT = `
rules:
  - name: bad-subject
    on: header
    when: { keywords: { phrases: [forbidden], in: [headers] } }
    reject: { code: 554, ext: 5.7.1, text: No }
  - name: exe
    on: eom
    when: { attachment: { name: ["*.exe"] } }
    add: {}
    subject_prefix: "[EXE] "
`;
  function contentSetUp(trackSubjects: boolean) {
    const records: TrackingRecord[] = [];
    const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(CONTENT, 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept', track: (r) => records.push(r), trackSubjects, now: () => 1_700_000_000_000 });
    return { handler, records };
  }
  const message = async (handler: ReturnType<typeof contentSetUp>['handler'], s: Session, subject: string) => {
    open(s, '<a@example.org>');
    await handler.mail?.(s, '<a@example.org>', []);
    await handler.rcpt!(s, '<x@example.com>', []);
    s.message!.recipients.push('<x@example.com>');
    await handler.header!(s, 'Message-ID', '<m1@example.org>');
    await handler.header!(s, 'Subject', subject);
    await handler.header!(s, 'Content-Type', 'multipart/mixed; boundary="b"');
    return handler.eoh!(s);
  };

  test('the record holds the Message-ID, the attachment names and, when asked, the Subject', async () => {
    for (const trackSubjects of [false, true]) {
      const { handler, records } = contentSetUp(trackSubjects);
      const s = session('c1');
      expect(await message(handler, s, 'hello')).toEqual({ kind: 'continue' });
      const body = '--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream; name="run.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n';
      s.message!.bodyBytes = body.length;
      await handler.body!(s, Buffer.from(body));
      const { modifications } = await handler.eom!(s);
      expect(modifications).toEqual([{ kind: 'changeHeader', index: 1, name: 'Subject', value: '[EXE] hello' }]);
      expect(records[0]).toMatchObject({ messageId: '<m1@example.org>', attachments: ['run.exe'], rules: ['exe'], sender: 'a@example.org' });
      // No rule counts MAIL, so its answer is always continue: it is not evaluated, and the sender is still recorded.
      expect(handler.mail).toBeUndefined();
      expect(records[0]!.subject).toBe(trackSubjects ? 'hello' : undefined);
    }
  });

  test('a refusal at the end of the header block is recorded at stage header', async () => {
    const { handler, records } = contentSetUp(false);
    const s = session('c2');
    expect(await message(handler, s, 'a forbidden word')).toMatchObject({ kind: 'reject' });
    await handler.abort!(s);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ answer: 'reject', stage: 'header', rules: ['bad-subject'] });
  });
});
