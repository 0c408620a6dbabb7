// Drives the status page in a browser: opens it, records dialogs, console errors and CSP violations,
// reads what its panels show (as text), and takes its screenshot.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

export interface StatusPageView {
  page: Page;
  context: BrowserContext;
  /** Every dialog the page opened ("confirm: Reset ip:..."), in order. */
  dialogs: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
  /** Console messages about the Content-Security-Policy (a refused script, style or connection). */
  cspViolations: string[];
  close(): Promise<void>;
}

/** One row of the recent refusals table, cell by cell, as the user reads it. */
export interface RecentRow {
  time: string;
  answer: string;
  queueId: string;
  client: string;
  helo: string;
  sender: string;
  recipient: string;
  rule: string;
  key: string;
  score: string;
}

export interface OpenOptions {
  credentials?: { username: string; password: string };
  /** What to do with confirm() and alert(): the default dismisses (and records) them. */
  dialogs?: 'accept' | 'dismiss';
}

/** A desktop browser window: the size the README's screenshot shows. */
export const VIEWPORT = { width: 1440, height: 1000 };

export async function openStatusPage(browser: Browser, url: string, options: OpenOptions = {}): Promise<StatusPageView> {
  const context = await browser.newContext({ viewport: VIEWPORT, ...(options.credentials ? { httpCredentials: options.credentials } : {}) });
  const page = await context.newPage();
  const view: StatusPageView = { page, context, dialogs: [], errors: [], cspViolations: [], close: () => context.close() };
  page.on('dialog', (dialog) => {
    view.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void (options.dialogs === 'accept' ? dialog.accept() : dialog.dismiss());
  });
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) view.cspViolations.push(message.text());
    else if (message.type() === 'error') view.errors.push(message.text());
  });
  page.on('pageerror', (error) => view.errors.push(`uncaught: ${error.message}`));
  const response = await page.goto(url);
  if (response?.status() !== 200) throw new Error(`GET ${url} answered ${response?.status() ?? 'nothing'}`);
  return view;
}

export function recentRows(page: Page): Promise<RecentRow[]> {
  return page.$$eval('#recent-table tbody tr:not(.empty)', (rows) =>
    rows.map((tr) => {
      const text = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
      return { time: text[0], answer: text[1], queueId: text[2], client: text[3], helo: text[4], sender: text[5], recipient: text[6], rule: text[7], key: text[8], score: text[9] } as RecentRow;
    }),
  );
}

/** How many non-zero points the sessions chart drew last (the page writes it on the chart's element at each draw). */
export async function sessionPointsDrawn(page: Page): Promise<number> {
  return Number((await page.getAttribute('#sessions-chart', 'data-non-zero-points')) ?? 0);
}

/** The keys of the hottest keys table, with their scores as shown. */
export function topKeys(page: Page): Promise<Array<{ key: string; score: string }>> {
  return page.$$eval('#top-table tbody tr[data-key]', (rows) => rows.map((tr) => ({ key: tr.getAttribute('data-key') ?? '', score: tr.querySelector('td.score')?.textContent ?? '' })));
}

/** The health panel's facts about the score store: term → text. */
export function storeHealth(page: Page): Promise<Record<string, string>> {
  return page.$$eval('#health-store dt', (terms) => Object.fromEntries(terms.map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? ''])));
}

export async function screenshotStatusPage(page: Page, file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  // New rows flash yellow for a moment: the picture shows them as they settle.
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
}
