// Renders one log event as a text line: ISO-8601 time, level, message, then key=value fields.
//
// Field values come from SMTP clients (HELO, sender, recipient): rendered, none may end the line or
// look like a field of its own, or a filter reading the line (fail2ban, a grep) could be fooled.

/** Characters JSON.stringify leaves raw that still break or disguise a line: DEL, C1 controls (NEL), U+2028/9. */
const RAW_AFTER_JSON = /[\u007f-\u009f\u2028\u2029]/g;
/** A value written bare: no whitespace, quote, backslash, `=` or control character, and not empty. */
const BARE = /^[^\s"\\=\u0000-\u001f\u007f-\u009f]+$/;
const BARE_KEY = /^[\w.+-]+$/;
/** A message (ours, with spaces) written as is: nothing that ends the line or reads as a field. */
const PLAIN_MESSAGE = /^[^"\\=\u0000-\u001f\u007f-\u009f\u2028\u2029]+$/;

const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A JSON string literal that escapes every control and line-breaking character. */
function quote(text: string): string {
  return JSON.stringify(text).replace(RAW_AFTER_JSON, unicodeEscape);
}

/** Arrays and objects as compact JSON with whitespace escaped too, so the value stays one token. */
function json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).replace(/[\s\u007f-\u009f]/g, unicodeEscape);
}

export function fieldValue(value: unknown): string {
  if (typeof value === 'string') return BARE.test(value) ? value : quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value instanceof Error) return quote(value.message); // JSON.stringify would give {}
  return json(value);
}

export function textLine(timestamp: string, level: string, message: string, fields: Record<string, unknown>): string {
  const parts = [timestamp, level, PLAIN_MESSAGE.test(message) ? message : quote(message)];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) parts.push(`${BARE_KEY.test(key) ? key : quote(key)}=${fieldValue(value)}`);
  }
  return parts.join(' ');
}
