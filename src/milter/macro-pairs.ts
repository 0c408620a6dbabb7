// The name/value pairs of one MACRO packet, read from its bytes when a name is asked for.
//
// A MACRO packet precedes nearly every command, and the rules and the handler read a handful of the
// names it carries ({auth_authen}, {rcpt_mailer}, i, ...). Decoding every pair into strings made a
// string of each name and value and an entry of a dictionary-mode object keyed by the name (V8
// internalises such keys: a string-table lookup each): ~2.8 KB a session and ~2.5 % of the event loop
// at peak (issue 20's profiles). Here the packet is checked once when it is decoded (NUL-terminated
// strings, an even number of them) and a name is looked up by comparing bytes; only the value asked
// for becomes a string. Most names asked for are not in the packet at hand (the session's macros are
// searched stage by stage, and an unauthenticated client's packets carry no {auth_authen}): the check
// also sets a bit per name it holds, so that such a miss is answered without reading the packet.

/** `{j}` and `j` name the same macro for one-letter names, as in libmilter. */
export function macroKey(name: string): string {
  return name.length === 3 && name[0] === '{' && name[2] === '}' ? name[1]! : name;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

export class MacroPairs {
  /**
   * @param data the packet's strings, each NUL-terminated, names and values alternating; checked by
   *   MacroPairs.check() (decodeCommand's job), never handed to the constructor unchecked.
   */
  private constructor(
    private readonly data: Buffer,
    /** nameBit() of every name in the packet, or'ed: a clear bit means no such name. */
    private readonly names: number,
  ) {}

  /**
   * The pairs of `data`, or why they are malformed: the last string not NUL-terminated, or a name
   * without a value. An empty buffer is a valid, empty set (Postfix sends the command byte alone).
   */
  static check(data: Buffer): MacroPairs | string {
    if (data.length === 0) return new MacroPairs(data, 0);
    if (data[data.length - 1] !== 0) return 'last string is not NUL-terminated';
    let strings = 0;
    let start = 0;
    let names = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== 0) continue;
      if (strings % 2 === 0) names |= nameBitOfBytes(data, start, i);
      strings++;
      start = i + 1;
    }
    if (strings % 2 !== 0) return `odd number of strings (${strings})`;
    return new MacroPairs(data, names);
  }

  /**
   * The value of the macro named `key` (in macroKey form: `j` for both `j` and `{j}`), or undefined
   * when the packet does not carry it. A name sent twice: the later value, as a decoder that assigned
   * each pair in turn would keep.
   */
  get(key: string): string | undefined {
    const data = this.data;
    // How the key is compared, found once: a one-letter name also matches its braced form; a name
    // outside ASCII (no MTA sends one) is compared as decoded text.
    const ascii = isAscii(key);
    if (ascii && (this.names & nameBitOfKey(key)) === 0) return undefined;
    const letter = ascii && key.length === 1 ? key.charCodeAt(0) : -1;
    let found: string | undefined;
    let start = 0;
    // The NULs are found by a loop over the bytes, not indexOf: the strings are a few bytes long and
    // each indexOf was a call into Node's native code (check() guarantees the last byte is a NUL).
    while (start < data.length) {
      let nameEnd = start;
      while (data[nameEnd] !== 0) nameEnd++;
      let valueEnd = nameEnd + 1;
      while (data[valueEnd] !== 0) valueEnd++;
      const length = nameEnd - start;
      let named: boolean;
      if (letter >= 0) named = (length === 1 && data[start] === letter) || (length === 3 && data[start] === OPEN_BRACE && data[start + 1] === letter && data[start + 2] === CLOSE_BRACE);
      else if (ascii) named = length === key.length && sameBytes(data, start, key);
      else named = macroKey(data.toString('utf8', start, nameEnd)) === key;
      if (named) found = data.toString('utf8', nameEnd + 1, valueEnd);
      start = valueEnd + 1;
    }
    return found;
  }

  /** Every pair, names in macroKey form, later pairs overriding earlier ones (for logs and `simulate`). */
  toObject(): Record<string, string> {
    const pairs: Record<string, string> = Object.create(null);
    const data = this.data;
    let start = 0;
    while (start < data.length) {
      const nameEnd = data.indexOf(0, start);
      const valueEnd = data.indexOf(0, nameEnd + 1);
      pairs[macroKey(data.toString('utf8', start, nameEnd))] = data.toString('utf8', nameEnd + 1, valueEnd);
      start = valueEnd + 1;
    }
    return pairs;
  }
}

/**
 * One of 32 bits for a name in macroKey form, from its length and its first character after an
 * opening brace. Names outside ASCII get bits from their bytes, never compared with these (get()
 * reads the packet for a key outside ASCII).
 */
function nameBit(length: number, first: number): number {
  return 1 << ((length * 7 + first) & 31);
}

/** nameBit() of a name asked for, read as nameBitOfBytes reads the packet's. */
function nameBitOfKey(key: string): number {
  const length = key.length;
  if (length === 3 && key.charCodeAt(0) === OPEN_BRACE && key.charCodeAt(2) === CLOSE_BRACE) return nameBit(1, key.charCodeAt(1));
  if (length === 0) return nameBit(0, 0);
  return nameBit(length, length > 1 && key.charCodeAt(0) === OPEN_BRACE ? key.charCodeAt(1) : key.charCodeAt(0));
}

/** nameBit() of the name in data[start, end), in macroKey form (`{j}` as `j`). */
function nameBitOfBytes(data: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length === 3 && data[start] === OPEN_BRACE && data[start + 2] === CLOSE_BRACE) return nameBit(1, data[start + 1]!);
  if (length === 0) return nameBit(0, 0);
  return nameBit(length, length > 1 && data[start] === OPEN_BRACE ? data[start + 1]! : data[start]!);
}

/** True when data holds the ASCII text's bytes from `at` on (the caller has checked the length). */
function sameBytes(data: Buffer, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (data[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}
