// The status page in headless Chromium (Debian's), against a real Postfix flood through the real
// `floodgate run`: what a postmaster sees, that client-chosen text stays text, and reset with http.auth.
import { join } from 'node:path';
import { hashPassword } from '../../src/http/password';
import { launchChromium, type RunningBrowser } from '../support/browser';
import { killAllTracked, waitFor } from '../support/processes';
import { openStatusPage, recentRows, screenshotStatusPage, type StatusPageView } from '../support/status-page';
import { showFloodOnPage } from '../support/status-page-flood';
import { FLOODER, FLOODER_NAME, HOSTILE_HELO, HOSTILE_SENDER, startStatusPageRig, type Flood, type StatusPageRig } from '../support/status-page-rig';

jest.setTimeout(120_000);

const SCREENSHOT = join(__dirname, '..', 'output', 'status-page.png');
const USER = { username: 'postmaster', password: 'correct horse battery staple' };
const FLOODER_KEY = `ip:${FLOODER}`;

let chromium: RunningBrowser;
let rig: StatusPageRig;
/** The page opened during the flood, kept open by the next tests (it watches the service stop). */
let view: StatusPageView;
let flood: Flood | undefined;

beforeAll(async () => {
  chromium = await launchChromium();
  rig = await startStatusPageRig();
});

afterAll(async () => {
  await flood?.stop();
  await chromium?.close();
  await rig?.stop();
  await killAllTracked();
});

test('during a flood the page shows the refusals, the sessions, the flooding IP and the store', async () => {
  view = await openStatusPage(chromium.browser, rig.url);
  const shown = await showFloodOnPage(rig, view.page);
  flood = shown.flood;
  expect(shown.flood.sent).toBeGreaterThan(60); // still flooding: the screenshot shows a flood in progress
  await screenshotStatusPage(view.page, SCREENSHOT);
  const outcomes = await shown.flood.stop();
  flood = undefined;

  // Shipped thresholds: above 40 points delay, above 60 tempfail; one point per recipient.
  expect(outcomes.slice(0, 60)).toEqual(Array(60).fill('250'));
  expect(outcomes.slice(60)).toEqual(Array(outcomes.length - 60).fill('451'));
  expect(shown.clean).toEqual(['250', '250', '250']);
  const rows = [...shown.delayRows, ...shown.rows];
  expect(rows.every((r) => r.client === `${FLOODER}${FLOODER_NAME}`)).toBe(true); // the bystander is never in it
  const delayed = new Set(rows.filter((r) => !r.answer.startsWith('tempfail')).map((r) => `${r.answer} ${r.recipient}`));
  expect(delayed).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `delay 0.2 s friend${41 + i}@example.com`)));
  expect(shown.rows.filter((r) => r.answer === 'tempfail').every((r) => Number(/friend(\d+)@/.exec(r.recipient)?.[1]) > 60)).toBe(true);
  expect(shown.rows.find((r) => r.answer === 'tempfail')).toMatchObject({ helo: HOSTILE_HELO, rule: 'recipients', key: FLOODER_KEY });
  expect(Number(shown.flooderKey.score)).toBeGreaterThan(60);
  expect(shown.sessionPoints).toBeGreaterThan(0);
  expect(shown.store).toMatchObject({ Backend: 'level', State: 'ok' });
});

test('a hostile HELO and sender show as literal text: no dialog, no markup, no CSP violation', async () => {
  const page = view.page;
  const rows = await recentRows(page);
  expect(rows.filter((r) => r.helo === HOSTILE_HELO).length).toBeGreaterThan(0);
  // What Postfix passed on and Floodgate recorded: the quoted local part as sent.
  expect(rows.filter((r) => r.sender === HOSTILE_SENDER).length).toBeGreaterThan(0);
  await expect(page.getByText(HOSTILE_HELO, { exact: true }).first().isVisible()).resolves.toBe(true);
  await expect(page.getByText(HOSTILE_SENDER, { exact: true }).first().isVisible()).resolves.toBe(true);
  // The page's own two scripts and no other; no image anywhere (uPlot draws on canvas).
  expect(await page.locator('script').count()).toBe(2);
  expect(await page.locator('img').count()).toBe(0);
  expect(view.dialogs).toEqual([]);
  expect(view.cspViolations).toEqual([]);
  expect(view.errors).toEqual([]);
});

test('without http.auth there is no Reset button and the API refuses a reset (403)', async () => {
  const page = view.page;
  expect(await page.locator(`#top-table tr[data-key="${FLOODER_KEY}"]`).count()).toBe(1);
  expect(await page.locator('button.reset').count()).toBe(0);
  const status = await (await page.request.get(`${rig.url}/api/status`)).json();
  expect(status).toMatchObject({ canReset: false });
  expect(status.csrf).toBeUndefined();
  const refused = await page.request.post(`${rig.url}/api/reset`, { data: { key: FLOODER_KEY }, headers: { 'X-CSRF-Token': 'anything' } });
  expect(refused.status()).toBe(403);
  expect((await page.request.get(`${rig.url}/api/key?key=${encodeURIComponent(FLOODER_KEY)}`)).status()).toBe(200);
});

test('when the service stops answering, the page keeps its data under a stale-data banner', async () => {
  const page = view.page;
  await rig.floodgate.stop();
  const banner = await waitFor(async () => (await page.isVisible('#banner-error')) && page.textContent('#banner-error'), 10_000, 'the stale-data banner');
  expect(banner).toMatch(/^Stale data \(last update \d\d:\d\d:\d\d\): Floodgate does not answer/);
  expect((await recentRows(page)).length).toBeGreaterThan(0);
  expect(view.errors.filter((e) => !e.includes('ERR_CONNECTION_REFUSED'))).toEqual([]);
  await view.close();
});

test('with http.auth the Reset button deletes the key\'s score (confirmed, CSRF token), and the flooder is let through', async () => {
  await rig.restartFloodgate({ users: [{ name: USER.username, passwordHash: await hashPassword(USER.password) }] });
  const anonymous = await chromium.browser.newContext();
  expect((await anonymous.request.get(rig.url)).status()).toBe(401);
  await anonymous.close();

  const signedIn = await openStatusPage(chromium.browser, rig.url, { credentials: USER, dialogs: 'accept' });
  try {
    const page = signedIn.page;
    const button = page.locator(`#top-table tr[data-key="${FLOODER_KEY}"] button.reset`);
    await button.waitFor({ timeout: 10_000 });
    expect(await page.textContent('#summary')).toContain(`signed in as ${USER.username}`);
    // Without the page's token the same POST is refused: the button's works because it sends it.
    const forged = await page.request.post(`${rig.url}/api/reset`, { data: { key: FLOODER_KEY } });
    expect(forged.status()).toBe(403);

    expect(await rig.send(FLOODER, 499)).toBe('451');
    await button.click();
    await waitFor(async () => (await page.isVisible('#notice')) && page.textContent('#notice'), 10_000, 'the reset notice');
    expect(await page.textContent('#notice')).toBe(`${FLOODER_KEY} was reset: it has no score now.`);
    expect(signedIn.dialogs).toEqual([`confirm: Reset ${FLOODER_KEY}?\n\nIts score is deleted: its next message counts from zero.`]);
    const gone = await page.request.get(`${rig.url}/api/key?key=${encodeURIComponent(FLOODER_KEY)}`);
    expect(gone.status()).toBe(404);
    await waitFor(async () => (await page.locator(`#top-table tr[data-key="${FLOODER_KEY}"]`).count()) === 0, 10_000, 'the flooder to leave the top keys');
    expect(await rig.send(FLOODER, 500)).toBe('250');
    expect(signedIn.cspViolations).toEqual([]);
  } finally {
    await signedIn.close();
  }
});

test('in observe mode a banner says so, and what Floodgate would have done is marked "would"', async () => {
  await rig.restartFloodgate({ observe: true });
  const observed = await openStatusPage(chromium.browser, rig.url);
  try {
    const page = observed.page;
    await page.waitForSelector('#banner-observe', { state: 'visible', timeout: 10_000 });
    expect(await page.textContent('#banner-observe')).toContain('Observe mode: nothing is enforced');
    expect(await page.textContent('#mode')).toBe('OBSERVE');
    const ip = '192.0.2.77';
    const outcomes: string[] = [];
    for (let n = 1; n <= 45; n++) outcomes.push(await rig.send(ip, 2000 + n));
    // Above 40 points the answer would be a delay: only logged and counted, no tarpit served.
    expect(outcomes).toEqual(Array(45).fill('250'));
    expect(await (await page.request.get(`${rig.url}/metrics`)).text()).toMatch(/^floodgate_tarpit_seconds_count 0$/m);
    const rows = await waitFor(
      async () => {
        const mine = (await recentRows(page)).filter((r) => r.client.startsWith(ip));
        return mine.length > 0 && mine;
      },
      10_000,
      'the would-be delays in the recent list',
    );
    expect(rows.map((r) => `${r.answer} ${r.recipient}`).sort()).toEqual(Array.from({ length: 5 }, (_, i) => `would delay 0.2 s friend${2041 + i}@example.com`));
    expect(await page.locator('#recent-table tbody tr.would').count()).toBe(rows.length);
    expect(observed.cspViolations).toEqual([]);
    expect(observed.errors).toEqual([]);
  } finally {
    await observed.close();
  }
});
