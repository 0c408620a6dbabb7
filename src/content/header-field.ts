// A header field's value as the rules read it: unfolded, RFC 2047 decoded, trimmed, bounded.
import libmime from 'libmime';

export interface DecodedValue {
  readonly value: string;
  /** True when the raw value was longer than the cap and was cut. */
  readonly cut: boolean;
}

/**
 * Unfolds (RFC 5322 2.2.3: a CRLF before a blank goes), decodes encoded words (RFC 2047) and trims.
 * The raw value is cut at `maxChars` first, so that a hostile 1 MB line costs no more than the cap.
 * A broken encoded word (bad base64, unknown charset) is left as it was written.
 */
export function decodeHeaderValue(raw: string, maxChars: number): DecodedValue {
  const cut = raw.length > maxChars;
  const unfolded = (cut ? raw.slice(0, maxChars) : raw).replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]/g, ' ');
  return { value: decodeWords(unfolded).trim(), cut };
}

function decodeWords(text: string): string {
  if (!text.includes('=?')) return text;
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}

/** A header line for a MIME parser: one leading blank, folds kept, bare line ends (header injection) made blanks. */
export function headerLine(name: string, value: string, maxChars: number): string {
  let raw = value.length > maxChars ? value.slice(0, maxChars) : value;
  raw = raw.replace(/\r?\n(?![ \t])/g, ' ').replace(/\r(?!\n)/g, ' ');
  return `${name}:${/^[ \t]/.test(raw) ? '' : ' '}${raw}\r\n`;
}
