// From content rules' marks to milter modifications: prefix once and RFC 2047-safe, redirect, headers, quarantine.
import { messageChanges, ORIGINAL_RECIPIENTS_HEADER, type MarkedMessage } from '../../../src/handler/message-changes';
import type { MessageMarks } from '../../../src/rules/rule-set';

const message = (m: Partial<MarkedMessage> = {}): MarkedMessage => ({ recipients: ['<bob@example.org>'], sender: '<alice@example.net>', rawSubject: 'hello', subject: 'hello', ...m });
const marks = (m: Partial<MessageMarks>): MessageMarks => ({ headers: [], ...m });

describe('subject prefix', () => {
  test('the first Subject is changed, the MTA adds the space after the colon', () => {
    expect(messageChanges([marks({ subjectPrefix: '[SPAM] ' })], message())).toEqual([{ kind: 'changeHeader', index: 1, name: 'Subject', value: '[SPAM] hello' }]);
  });

  test('never doubled: a subject that already starts with the prefix is left alone', () => {
    expect(messageChanges([marks({ subjectPrefix: '[SPAM] ' })], message({ rawSubject: '[SPAM] hello', subject: '[SPAM] hello' }))).toEqual([]);
    const encoded = '=?UTF-8?B?W1NQQU1dIGjDqWxsbw==?=';
    expect(messageChanges([marks({ subjectPrefix: '[SPAM] ' })], message({ rawSubject: encoded, subject: '[SPAM] héllo' }))).toEqual([]);
  });

  test('encoded words stay intact and separated from the prefix', () => {
    const raw = '=?UTF-8?B?aMOpbGxv?=';
    expect(messageChanges([marks({ subjectPrefix: '[SPAM]' })], message({ rawSubject: raw, subject: 'héllo' }))[0]).toMatchObject({ value: `[SPAM] ${raw}` });
    expect(messageChanges([marks({ subjectPrefix: '[SPAM] ' })], message({ rawSubject: raw, subject: 'héllo' }))[0]).toMatchObject({ value: `[SPAM] ${raw}` });
  });

  test('a non-ASCII prefix is sent as an encoded word', () => {
    const [change] = messageChanges([marks({ subjectPrefix: '[VERDÄCHTIG] ' })], message());
    expect(change).toMatchObject({ kind: 'changeHeader', value: `=?UTF-8?B?${Buffer.from('[VERDÄCHTIG] ').toString('base64')}?= hello` });
  });

  test('a message without Subject gets one', () => {
    expect(messageChanges([marks({ subjectPrefix: '[SPAM] ' })], message({ rawSubject: undefined, subject: undefined }))).toEqual([{ kind: 'addHeader', name: 'Subject', value: '[SPAM]' }]);
  });

  test('the first rule with a prefix wins', () => {
    expect(messageChanges([marks({ subjectPrefix: '[A] ' }), marks({ subjectPrefix: '[B] ' })], message())).toEqual([{ kind: 'changeHeader', index: 1, name: 'Subject', value: '[A] hello' }]);
  });
});

describe('redirect', () => {
  test('every recipient removed as the MTA named it, the spambox added, the originals kept in a header', () => {
    const changes = messageChanges([marks({ redirect: 'spambox@{recipient_domain}' })], message({ recipients: ['<Bob@Example.org>', 'carol@example.com'] }));
    expect(changes).toEqual([
      { kind: 'deleteRecipient', recipient: '<Bob@Example.org>' },
      { kind: 'deleteRecipient', recipient: 'carol@example.com' },
      { kind: 'addRecipient', recipient: '<spambox@example.org>' },
      { kind: 'addHeader', name: ORIGINAL_RECIPIENTS_HEADER, value: 'bob@example.org, carol@example.com' },
    ]);
  });

  test('the sender domain can be named; a null sender leaves nothing to fill in and nothing changes', () => {
    expect(messageChanges([marks({ redirect: 'abuse@{sender_domain}' })], message())[1]).toEqual({ kind: 'addRecipient', recipient: '<abuse@example.net>' });
    expect(messageChanges([marks({ redirect: 'abuse@{sender_domain}' })], message({ sender: '<>' }))).toEqual([]);
  });

  test('a thousand recipients give a bounded header', () => {
    const recipients = Array.from({ length: 1000 }, (_, i) => `<user${i}@example.org>`);
    const header = messageChanges([marks({ redirect: 'spam@example.org' })], message({ recipients })).find((c) => c.kind === 'addHeader');
    expect(header).toBeDefined();
    const value = (header as { value: string }).value;
    expect(value.length).toBeLessThan(950);
    expect(value).toMatch(/\(and \d+ more\)$/);
  });
});

test('headers are added once each; quarantine carries its reason; the order is headers, subject, redirect, quarantine', () => {
  const changes = messageChanges(
    [marks({ headers: [{ name: 'X-Spam', value: 'yes' }], quarantine: 'held' }), marks({ headers: [{ name: 'x-spam', value: 'yes' }, { name: 'X-Why', value: 'words' }], subjectPrefix: '[S] ' })],
    message(),
  );
  expect(changes.map((c) => c.kind)).toEqual(['addHeader', 'addHeader', 'changeHeader', 'quarantine']);
  expect(changes[3]).toEqual({ kind: 'quarantine', reason: 'held' });
});
