// The flood that the status page's browser test, its README screenshot and its benchmark show: started
// through the rig, followed on the page until its delays, its tempfails and the flooder's key are shown.
import type { Page } from 'playwright-core';
import { waitFor } from './processes';
import { recentRows, sessionPointsDrawn, storeHealth, topKeys, type RecentRow } from './status-page';
import { BYSTANDER, BYSTANDER_NAME, FLOODER, type Flood, type StatusPageRig } from './status-page-rig';

export interface FloodOnPage {
  /** Still running: the caller stops it (after its screenshot, say). */
  flood: Flood;
  /** RCPT outcomes of the bystander's three clean messages. */
  clean: string[];
  /** The recent list when the first delays showed, and when the first tempfails showed. */
  delayRows: RecentRow[];
  rows: RecentRow[];
  /** The flooder's row in the hottest keys. */
  flooderKey: { key: string; score: string };
  sessionPoints: number;
  store: Record<string, string>;
}

/** Starts the flood and three clean messages, and waits (60 s at most per step) until the page shows it all. */
export async function showFloodOnPage(rig: StatusPageRig, page: Page): Promise<FloodOnPage> {
  const flood = rig.startFlood();
  try {
    const clean: string[] = [];
    for (let n = 1; n <= 3; n++) clean.push(await rig.send(BYSTANDER, 1000 + n, { name: BYSTANDER_NAME }));
    const shown = (answer: string) => async () => {
      const rows = await recentRows(page);
      return rows.some((r) => r.answer.startsWith(answer)) && rows;
    };
    const waited = (what: string) => () => `${what} in the recent list (${flood.sent} messages sent)\n${rig.floodgate.log().slice(-3000)}`;
    // Shipped thresholds: above 40 points delay, above 60 tempfail; one point per recipient.
    const delayRows = await waitFor(shown('delay'), 60_000, waited('a delay'));
    const rows = await waitFor(shown('tempfail'), 60_000, waited('a tempfail'));
    const flooderKey = await waitFor(async () => (await topKeys(page)).find((k) => k.key === `ip:${FLOODER}`), 20_000, 'the flooder in the top keys');
    return { flood, clean, delayRows, rows, flooderKey, sessionPoints: await sessionPointsDrawn(page), store: await storeHealth(page) };
  } catch (error) {
    await flood.stop();
    throw error;
  }
}
