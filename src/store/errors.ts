// The store layer's error: the backend failed, is closed, or did not answer in time.
import { FloodgateError, type ErrorCode } from '../errors';

/** The engine maps this to the configured store-down policy (tempfail, accept or local counters). */
export class StoreError extends FloodgateError {
  constructor(message: string, options?: { cause?: unknown }, code: ErrorCode = 'FG_ERR_STORE_UNAVAILABLE') {
    super(code, message);
    // Set by hand because the base class takes no options; the LevelDB error beneath is what an operator needs.
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/**
 * The LevelDB directory is damaged (corrupt or truncated files, a lost CURRENT): a StoreError, so every
 * caller treats it as a store that cannot be used, with its own code because restarting cannot fix it.
 */
export class StoreDamagedError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, 'FG_ERR_STORE_DAMAGED');
  }
}

/** Wraps a backend failure, keeping a StoreError as it is. */
export function toStoreError(error: unknown, what: string): StoreError {
  if (error instanceof StoreError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreError(`score store: ${what} failed: ${reason}`, { cause: error });
}
