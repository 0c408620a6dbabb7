// Errors of the listening side: bad listen addresses and sockets that cannot be set up.
import { FloodgateError } from '../errors';

export class ListenError extends FloodgateError {
  constructor(message: string) {
    super('FG_ERR_LISTEN', message);
  }
}
