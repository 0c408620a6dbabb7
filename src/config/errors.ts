// Configuration errors, each with the file, line and column it refers to.
import { FloodgateError } from '../errors';

export interface SourceProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export function formatProblem(p: SourceProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

/** Every problem found in one file, reported together rather than one per attempt. */
export class ConfigError extends FloodgateError {
  constructor(readonly problems: readonly SourceProblem[]) {
    super('FG_ERR_CONFIG', problems.map(formatProblem).join('\n'));
  }
}
