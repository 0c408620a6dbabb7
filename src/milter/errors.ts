// Errors of the milter codec: anything the MTA sent (or we were asked to send) that the protocol forbids.
import { FloodgateError, type ErrorCode } from '../errors';

/** A protocol violation; it ends that one connection and nothing else. */
export class MilterProtocolError extends FloodgateError {
  constructor(code: Extract<ErrorCode, 'FG_ERR_FRAME' | 'FG_ERR_COMMAND' | 'FG_ERR_NEGOTIATION'>, message: string) {
    super(code, message);
  }
}

/** A reply that would break the MTA's parser (a 2xx reject, a bare `550`, CR in text...). */
export class ReplyEncodingError extends FloodgateError {
  constructor(message: string) {
    super('FG_ERR_REPLY', message);
  }
}
