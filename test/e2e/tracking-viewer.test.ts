// The tracking viewer (/track) in headless Chromium against real Postfix mail: filters, the record list,
// one record in full, and client-chosen text (a hostile HELO and sender) shown as text, never run.
import { launchChromium, type RunningBrowser } from '../support/browser';
import { killAllTracked, waitFor } from '../support/processes';
import { openStatusPage } from '../support/status-page';
import { BYSTANDER, FLOODER, HOSTILE_HELO, HOSTILE_SENDER, startStatusPageRig, type StatusPageRig } from '../support/status-page-rig';

jest.setTimeout(120_000);

let chromium: RunningBrowser;
let rig: StatusPageRig;

beforeAll(async () => {
  chromium = await launchChromium();
  rig = await startStatusPageRig();
});

afterAll(async () => {
  await chromium?.close();
  await rig?.stop();
  await killAllTracked();
});

test('the viewer finds a client\'s messages, shows one in full, and keeps hostile text as text', async () => {
  expect(await rig.send(BYSTANDER, 1)).toBe('250');
  for (let n = 1; n <= 3; n++) expect(await rig.send(FLOODER, 100 + n, { helo: HOSTILE_HELO, from: n === 2 ? HOSTILE_SENDER : `user${n}@example.org` })).toBe('250');
  const view = await openStatusPage(chromium.browser, `${rig.url}/track?ip=${FLOODER}&limit=10`);
  try {
    const page = view.page;
    const rows = page.locator('#records tbody tr');
    await waitFor(async () => (await rows.count()) === 3 || (await page.click('#filters button'), false), 20_000, 'three records of the flooder in the viewer');
    const cells = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(cells.map((c) => c[4])).toEqual([HOSTILE_HELO, HOSTILE_HELO, HOSTILE_HELO]);
    expect(cells.map((c) => c[5])).toEqual(['<user3@example.org>', `<${HOSTILE_SENDER}>`, '<user1@example.org>']);
    expect(cells.map((c) => [c[2], c[6]])).toEqual([3, 2, 1].map((n) => ['accepted at eom', `friend10${n}@example.com`]));
    // No element was made of the client's text: the page's only scripts are its own.
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    await rows.nth(1).click();
    await page.locator('#detail').waitFor({ state: 'visible' });
    const detail = await page.locator('#detail-fields').textContent();
    expect(detail).toContain(`Sender<${HOSTILE_SENDER}>`);
    expect(detail).toMatch(/Queue id[0-9A-Za-z]{6,}/);
    expect(detail).toContain('Recipient<friend102@example.com> accepted');
    // The filters are the URL: the bystander's one message.
    await page.fill('#filters input[name="ip"]', BYSTANDER);
    await page.click('#filters button');
    await waitFor(async () => (await rows.count()) === 1, 10_000, 'the bystander\'s record');
    expect(page.url()).toContain(`ip=${BYSTANDER}`);
    await page.fill('#filters input[name="ip"]', 'not-an-address');
    await page.click('#filters button');
    await waitFor(async () => (await page.textContent('#message'))?.includes('not an address'), 10_000, 'the filter error');
    expect({ dialogs: view.dialogs, errors: view.errors.filter((e) => !e.includes('400')), csp: view.cspViolations }).toEqual({ dialogs: [], errors: [], csp: [] });
  } finally {
    await view.close();
  }
});
