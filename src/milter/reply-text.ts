// Builds the text of an SMFIR_REPLYCODE packet: code, enhanced status, lines, `%` escaping, checked.
import { ReplyEncodingError } from './errors';

type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
/** A permanent SMTP failure code: the type forbids a 2xx or 4xx reject. */
export type RejectCode = `5${Digit}${Digit}`;
/** A temporary SMTP failure code. */
export type TempfailCode = `4${Digit}${Digit}`;

/** A custom SMTP reply; `text` lines become a multi-line reply. */
export interface SmtpReply<C extends string = RejectCode | TempfailCode> {
  code: C;
  /** RFC 3463 enhanced status (`5.7.1`); its class must equal the code's first digit. */
  ext?: string;
  text: string | readonly string[];
}

/** libmilter's smfi_setmlreply limits: 32 lines of 980 characters. */
export const MAX_REPLY_LINES = 32;
export const MAX_REPLY_LINE_LENGTH = 980;

const CODE = /^[45][0-9][0-9]$/;
const ENHANCED = /^[245]\.[0-9]{1,3}\.[0-9]{1,3}$/;

/** Returns the reply as the MTA expects it (lines joined by CRLF, none at the end) or throws. */
export function formatReplyText(reply: SmtpReply): string {
  const { code, ext } = reply;
  if (!CODE.test(code)) throw new ReplyEncodingError(`reply code ${JSON.stringify(code)} is not 4xx or 5xx`);
  if (ext !== undefined) {
    if (!ENHANCED.test(ext)) throw new ReplyEncodingError(`enhanced status ${JSON.stringify(ext)} is not of the form X.Y.Z`);
    if (ext[0] !== code[0]) throw new ReplyEncodingError(`enhanced status ${ext} does not match the class of ${code}`);
  }
  const lines = typeof reply.text === 'string' ? reply.text.split('\n') : [...reply.text];
  if (lines.length === 0 || lines.every((l) => l.length === 0)) throw new ReplyEncodingError('reply text is empty');
  if (lines.length > MAX_REPLY_LINES) throw new ReplyEncodingError(`reply has ${lines.length} lines, at most ${MAX_REPLY_LINES} allowed`);
  const prefix = ext === undefined ? '' : `${ext} `;
  return lines
    .map((line, i) => {
      if (/[\r\n\0]/.test(line)) throw new ReplyEncodingError('reply line contains CR, LF or NUL');
      // Sendmail reads the text as a format string and Postfix drops a lone %, so double every %;
      // libmilter measures its line limit on the escaped text, so do we.
      const escaped = line.replace(/%/g, '%%');
      if (escaped.length > MAX_REPLY_LINE_LENGTH) throw new ReplyEncodingError(`reply line longer than ${MAX_REPLY_LINE_LENGTH} characters once % is doubled`);
      const separator = i === lines.length - 1 ? ' ' : '-';
      return `${code}${separator}${prefix}${escaped}`;
    })
    .join('\r\n');
}
