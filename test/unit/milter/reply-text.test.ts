// formatReplyText: SMTP reply text as both MTAs parse it (section 7), and every malformed text refused.
import { ReplyEncodingError } from '../../../src/milter/errors';
import { formatReplyText, MAX_REPLY_LINE_LENGTH, MAX_REPLY_LINES, type SmtpReply } from '../../../src/milter/reply-text';

function refused(reply: SmtpReply<string>): string {
  try {
    formatReplyText(reply as SmtpReply);
  } catch (error) {
    expect(error).toBeInstanceOf(ReplyEncodingError);
    expect((error as ReplyEncodingError).code).toBe('FG_ERR_REPLY');
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(reply)}`);
}

describe('well-formed replies', () => {
  test('single line with enhanced code', () => {
    expect(formatReplyText({ code: '550', ext: '5.7.1', text: 'Rejected by policy' })).toBe('550 5.7.1 Rejected by policy');
  });

  test('single line without enhanced code keeps the space after the code', () => {
    expect(formatReplyText({ code: '451', text: 'Try later' })).toBe('451 Try later');
  });

  test('421 is a valid tempfail code (both MTAs then drop the session)', () => {
    expect(formatReplyText({ code: '421', ext: '4.7.0', text: 'Closing' })).toBe('421 4.7.0 Closing');
  });

  test('multi-line from an array: CRLF between lines, - after the code except on the last, no CRLF at the end', () => {
    expect(formatReplyText({ code: '550', ext: '5.7.0', text: ['line one', 'line two', 'last line'] })).toBe(
      '550-5.7.0 line one\r\n550-5.7.0 line two\r\n550 5.7.0 last line',
    );
  });

  test('multi-line from a string with LF separators', () => {
    expect(formatReplyText({ code: '452', ext: '4.5.3', text: 'first\nsecond' })).toBe('452-4.5.3 first\r\n452 4.5.3 second');
  });

  test('every % is doubled (Sendmail reads a format string; Postfix drops a lone %)', () => {
    expect(formatReplyText({ code: '550', ext: '5.7.1', text: '100% over quota, 50%% off' })).toBe('550 5.7.1 100%% over quota, 50%%%% off');
    expect(formatReplyText({ code: '550', text: ['a%', '%b'] })).toBe('550-a%%\r\n550 %%b');
  });

  test('exactly 32 lines of exactly 980 characters are accepted', () => {
    expect(MAX_REPLY_LINES).toBe(32);
    expect(MAX_REPLY_LINE_LENGTH).toBe(980);
    const text = Array.from({ length: 32 }, () => 'x'.repeat(980));
    const lines = formatReplyText({ code: '550', ext: '5.7.1', text }).split('\r\n');
    expect(lines).toHaveLength(32);
    expect(lines[31]).toBe(`550 5.7.1 ${'x'.repeat(980)}`);
    expect(lines[0].startsWith('550-5.7.1 x')).toBe(true);
  });

  test('enhanced status parts of up to three digits', () => {
    expect(formatReplyText({ code: '554', ext: '5.123.999', text: 'x' })).toBe('554 5.123.999 x');
  });
});

describe('refused replies', () => {
  test.each(['250', '354', '200', '600', '55', '5500', 'abc', ' 550'])('code %j', (code) => {
    refused({ code, text: 'x' });
  });

  test('enhanced code of another class than the reply code', () => {
    expect(refused({ code: '550', ext: '4.7.1', text: 'x' })).toMatch(/class/);
    refused({ code: '451', ext: '5.7.1', text: 'x' });
    refused({ code: '550', ext: '2.0.0', text: 'x' });
  });

  test.each(['5.7', '5.7.1.1', '5.1000.1', 'x.7.1', '5.7.1 ', ''])('malformed enhanced code %j', (ext) => {
    refused({ code: '550', ext, text: 'x' });
  });

  test('CR or LF inside a line of an array', () => {
    refused({ code: '550', text: ['one\rtwo'] });
    refused({ code: '550', text: ['one\ntwo', 'three'] });
    refused({ code: '550', text: ['ok', 'bad\r\n'] });
  });

  test('CRLF inside a string (only LF separates lines)', () => {
    refused({ code: '550', text: 'one\r\ntwo' });
  });

  test('NUL inside a line', () => {
    refused({ code: '550', text: 'a\0b' });
  });

  test('more than 32 lines', () => {
    expect(refused({ code: '550', text: Array.from({ length: 33 }, (_, i) => `line ${i}`) })).toMatch(/33 lines/);
    refused({ code: '550', text: Array.from({ length: 33 }, () => 'x').join('\n') });
  });

  test('a line longer than 980 characters', () => {
    refused({ code: '550', text: 'y'.repeat(981) });
    refused({ code: '550', text: ['short', 'y'.repeat(981)] });
  });

  test.each([[''], [[]], [['']], [['', '']], ['\n']] as Array<[string | string[]]>)('empty text %j', (text) => {
    refused({ code: '550', text });
  });
});
