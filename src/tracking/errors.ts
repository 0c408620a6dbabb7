// The tracking log's error: its database failed, is closed, is newer than this code, or did not answer.
import { FloodgateError } from '../errors';

/** The writer counts a rejected batch as dropped and carries on; `floodgate track` prints the message. */
export class TrackingError extends FloodgateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FG_ERR_TRACKING', message);
    // Set by hand because the base class takes no options; the driver's error beneath is what an operator needs.
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Wraps a database failure, keeping a TrackingError as it is. */
export function toTrackingError(error: unknown, what: string): TrackingError {
  if (error instanceof TrackingError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new TrackingError(`tracking log: ${what} failed: ${reason}`, { cause: error });
}
