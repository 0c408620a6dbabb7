// The table of Floodgate's stable error codes and the base class every layer's error extends.

/**
 * Every code Floodgate logs or exits with, and what it means. The README's "Error codes" table is
 * checked against this object by a unit test, so the two cannot drift apart.
 */
export const ERROR_CODES = {
  FG_ERR_FRAME: 'a milter packet had an invalid length (zero, or over the frame limit)',
  FG_ERR_COMMAND: 'a milter command was malformed, unknown, or out of place',
  FG_ERR_NEGOTIATION: 'option negotiation with the MTA failed (version or flags)',
  FG_ERR_TIMEOUT: 'the MTA did not complete a packet within frame_timeout, or stayed idle past the limit',
  FG_ERR_HANDLER: 'a stage handler threw; the configured fail-safe verdict was sent',
  FG_ERR_REPLY: 'a reply could not be encoded (bad SMTP code, enhanced status or text)',
  FG_ERR_LISTEN: 'the listen address is invalid or the socket could not be set up',
  FG_ERR_CONFIG: 'the configuration file is unreadable or invalid',
  FG_ERR_STORE_UNAVAILABLE: 'the score store failed or did not answer in time',
  FG_ERR_STORE_DAMAGED: 'the LevelDB directory is damaged; left untouched for `floodgate repair` (exit 65)',
  FG_ERR_RECIPIENT_MAP: 'the recipient map could not be read or parsed (file, line)',
  FG_ERR_TRACKING: 'the tracking log\'s database failed, is closed, or is newer than this version',
  FG_ERR_REPLAY_INPUT: 'a log file given to floodgate replay is missing, unreadable or not valid gzip',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FloodgateError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
