// The time at the start of a mail-log line: RFC 3339 (rsyslog's high-precision format) or the
// traditional syslog `Mmm dd hh:mm:ss` with no year, whose year is inferred line by line.

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/** Half a year: a stamp that jumps back further than this is taken to be in the next year. */
const HALF_YEAR_MS = 183 * 86_400_000;

export interface Stamp {
  /** Milliseconds since the epoch. */
  time: number;
  /** Where the rest of the line starts (after the stamp and its space). */
  rest: number;
}

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d) /;

/**
 * Reads line stamps of one log file. A syslog stamp has no year: the first one is given the year
 * that puts it at most a day after `reference` (the file's modification time: a file is written
 * after its lines), and each later one the year that keeps it within half a year of the one
 * before, so a log running from December into January moves to the next year, and a line a few
 * seconds out of order across midnight on New Year's Eve does not.
 */
export class StampReader {
  private last: number | undefined;

  constructor(private readonly reference: number) {}

  /** The line's stamp, or undefined when it starts with neither form. */
  read(line: string): Stamp | undefined {
    const first = line.charCodeAt(0);
    if (first >= 48 && first <= 57) return this.rfc3339(line);
    return this.syslog(line);
  }

  private rfc3339(line: string): Stamp | undefined {
    const m = RFC3339.exec(line);
    if (!m) return undefined;
    const fraction = m[7] ? Number(m[7].slice(0, 4)) * 1000 : 0;
    const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
    const zone = m[8] === 'Z' ? 0 : (m[8]![0] === '-' ? -1 : 1) * (Number(m[8]!.slice(1, 3)) * 60 + Number(m[8]!.slice(4, 6))) * 60_000;
    const time = utc + Math.round(fraction) - zone;
    if (!Number.isFinite(time)) return undefined;
    this.last = time;
    return { time, rest: m[0].length };
  }

  private syslog(line: string): Stamp | undefined {
    // "Dec  5 19:04:01 " or "Dec 05 19:04:01 ": 16 characters.
    if (line.length < 16 || line.charCodeAt(15) !== 32 || line[3] !== ' ' || line[9] !== ':' || line[12] !== ':') return undefined;
    const month = MONTHS[line.slice(0, 3)];
    const day = Number(line.slice(4, 6).trim());
    const hours = Number(line.slice(7, 9));
    const minutes = Number(line.slice(10, 12));
    const seconds = Number(line.slice(13, 15));
    if (month === undefined || !(day >= 1 && day <= 31) || !(hours <= 23) || !(minutes <= 59) || !(seconds <= 60)) return undefined;
    const at = (year: number) => new Date(year, month, day, hours, minutes, seconds).getTime();
    let time: number;
    if (this.last === undefined) {
      const year = new Date(this.reference).getFullYear();
      time = at(year);
      if (time > this.reference + 86_400_000) time = at(year - 1);
    } else {
      const year = new Date(this.last).getFullYear();
      time = at(year);
      if (time < this.last - HALF_YEAR_MS) time = at(year + 1);
      else if (time > this.last + HALF_YEAR_MS) time = at(year - 1);
    }
    if (Number.isNaN(time)) return undefined;
    this.last = time;
    return { time, rest: 16 };
  }
}
