// Macro values the MTA sent, scoped per stage the way libmilter scopes them.
import { macroKey, type MacroPairs } from '../milter/macro-pairs';
import { Cmd } from '../milter/constants';

/** Stage slots in the order a session passes through them; a new value for one clears the later ones. */
const SLOT_OF: Record<number, number> = {
  [Cmd.CONNECT]: 0,
  [Cmd.HELO]: 1,
  [Cmd.MAIL]: 2,
  [Cmd.RCPT]: 3,
  [Cmd.DATA]: 4,
  [Cmd.EOH]: 5,
  [Cmd.BODYEOB]: 6,
};
const MAIL_SLOT = 2;


export class MacroStore {
  private readonly slots: Array<MacroPairs | undefined> = new Array(7).fill(undefined);
  /** Macros sent with HEADER, BODY or UNKNOWN (Postfix): valid for that one command only. */
  private transient: MacroPairs | undefined;

  /** A MACRO packet's pairs as decodeCommand gives them. */
  set(forCommand: number, macros: MacroPairs): void {
    const slot = SLOT_OF[forCommand];
    if (slot === undefined) {
      this.transient = macros;
      return;
    }
    this.slots[slot] = macros;
    // Per-command macros of an earlier HEADER/BODY must not hide this stage's values.
    this.transient = undefined;
    for (let later = slot + 1; later < this.slots.length; later++) this.slots[later] = undefined;
  }

  /** The most recent value of a macro, searching from the latest stage back to CONNECT. */
  get(name: string): string | undefined {
    const key = macroKey(name);
    const sent = this.transient?.get(key);
    if (sent !== undefined) return sent;
    for (let slot = this.slots.length - 1; slot >= 0; slot--) {
      const value = this.slots[slot]?.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /** Ends the validity of per-command macros; called once that command has been handled. */
  clearTransient(): void {
    this.transient = undefined;
  }

  /** Forgets the message's macros (MAIL onward), keeping connection and HELO ones. */
  resetMessage(): void {
    for (let slot = MAIL_SLOT; slot < this.slots.length; slot++) this.slots[slot] = undefined;
    this.transient = undefined;
  }

  resetAll(): void {
    this.slots.fill(undefined);
    this.transient = undefined;
  }

  /** Every current value, later stages overriding earlier ones (for logs and `simulate`). */
  snapshot(): Record<string, string> {
    const sets = [...this.slots, this.transient].flatMap((pairs) => (pairs ? [pairs.toObject()] : []));
    return Object.assign({}, ...sets);
  }
}
