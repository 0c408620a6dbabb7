// Feeds a raw RFC 5322 message to a MessageScanner the way the milter stages deliver it.
import { MessageScanner, type ScanLimits } from '../../src/content/message-scanner';
import type { MessageContent } from '../../src/content/message-content';

export interface FeedOptions {
  /** Body chunk size (Postfix sends up to 64 KiB); small sizes cut every structure at odd places. */
  chunkSize?: number;
  limits?: Partial<ScanLimits>;
}

/** Header fields as a milter gets them: name, and the value after the colon without its first blank, folds kept. */
export function headerFields(headerBlock: string): [string, string][] {
  if (headerBlock === '') return [];
  return headerBlock.split(/\r?\n(?![ \t])/).map((line) => {
    const colon = line.indexOf(':');
    if (colon < 0) return [line, ''];
    return [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]/, '')];
  });
}

/** Splits at the first empty line: header block, body (CRLF line ends, as the MTA sends them). */
export function splitMessage(raw: Buffer): { headers: [string, string][]; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { headers: headerFields(raw.toString('latin1').replace(/\r\n$/, '')), body: Buffer.alloc(0) };
  return { headers: headerFields(raw.subarray(0, end).toString('latin1')), body: raw.subarray(end + 4) };
}

export async function scanMessage(raw: Buffer | string, options: FeedOptions = {}): Promise<MessageContent> {
  const message = typeof raw === 'string' ? Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'latin1') : raw;
  const { headers, body } = splitMessage(message);
  const scanner = new MessageScanner(options.limits);
  for (const [name, value] of headers) scanner.header(name, value);
  scanner.endOfHeaders();
  const size = options.chunkSize ?? 65536;
  for (let i = 0; i < body.length; i += size) await scanner.body(body.subarray(i, i + size));
  return scanner.finish();
}
