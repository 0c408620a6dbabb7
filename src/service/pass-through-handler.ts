// The handler the service runs until a rule engine is plugged in: it listens to nothing and lets all mail through.
import type { MilterHandler } from '../session/handler';

/**
 * With no stages requested, negotiation asks the MTA to skip every event it can (DATA stays over
 * TCP, see negotiation.ts), so the milter costs the MTA one round trip per message.
 */
export function passThroughHandler(): MilterHandler {
  return { needs: () => ({ stages: new Set(), actions: 0 }) };
}
