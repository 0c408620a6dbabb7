// Whether the score store answers: on_store_error while it fails, one log line per change of state.
import type { Logger } from '../log/logger';
import type { ThresholdAction } from '../rules/rule-set';
import type { Evaluation } from '../engine/scoring-engine';
import type { ScoringObserver } from './scoring-observer';

export type StoreErrorPolicy = 'tempfail' | 'accept';

export class StoreHealth {
  private healthy = true;

  constructor(
    private readonly logger: Logger,
    private readonly policy: StoreErrorPolicy,
    private readonly observer: ScoringObserver,
  ) {}

  /** An evaluation came back; only one that reached the store proves it answers again (an allow-list hit does not). */
  answered(connectionId: string, evaluation: Evaluation): void {
    if (this.healthy || evaluation.kind !== 'scored' || evaluation.updated === 0) return;
    this.healthy = true;
    this.logger.warn('score store answers again', { conn: connectionId });
  }

  /** The store failed this evaluation: the answer on_store_error gives. */
  failed(connectionId: string, error: unknown): ThresholdAction {
    this.observer.storeFailed();
    // Logged once per change of state, not once per message: an outage must not flood the log.
    if (this.healthy) {
      this.healthy = false;
      this.logger.error('score store failed, applying on_store_error', {
        conn: connectionId, code: (error as { code?: string }).code, error: String((error as Error).message), policy: this.policy,
      });
    }
    return this.policy === 'accept' ? { kind: 'continue' } : { kind: 'tempfail' };
  }
}
