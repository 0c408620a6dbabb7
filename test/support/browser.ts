// Headless Chromium from Debian's package, driven by playwright-core: launched by path (never a
// downloaded browser), closed by its PID and the PIDs of every process it started.
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import './node18-webcrypto'; // before playwright-core
import { chromium, type Browser } from 'playwright-core';
import { killPid, pidAlive, waitFor } from './processes';

/** Debian's `chromium` package; scripts/install-test-deps.sh installs it. FLOODGATE_CHROMIUM overrides. */
export const CHROMIUM = process.env.FLOODGATE_CHROMIUM ?? '/usr/bin/chromium';

export interface RunningBrowser {
  browser: Browser;
  /** The browser's main process. */
  pid: number;
  /** Closes the browser, then kills by PID whatever it started that is still alive. Idempotent. */
  close(): Promise<void>;
}

/** Throws, saying how to install it, when the Debian Chromium is missing: a browser test must fail, not skip. */
export function requireChromium(): string {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium is not installed (${CHROMIUM} is missing or not executable): the status page tests need Debian's chromium. ` +
        'Run scripts/install-test-deps.sh (as root) to install it; no browser is ever downloaded.',
    );
  }
  return CHROMIUM;
}

/** Every live process below `pid`, read from /proc (parent PID is the field after the name in /proc/PID/stat). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const visit = (p: number): void => (children.get(p) ?? []).forEach((c) => (found.push(c), visit(c)));
  visit(pid);
  return found;
}

export async function launchChromium(): Promise<RunningBrowser> {
  const executablePath = requireChromium();
  // launchServer, not launch: the server names the browser's process, so that close() can make sure of it.
  const server = await chromium.launchServer({ executablePath, headless: true });
  const pid = server.process().pid;
  if (pid === undefined) throw new Error(`${executablePath} did not start`);
  const browser = await chromium.connect(server.wsEndpoint());
  let closed: Promise<void> | undefined;
  return {
    browser,
    pid,
    close: () =>
      (closed ??= (async () => {
        const started = [pid, ...descendants(pid)];
        await browser.close().catch(() => undefined);
        await server.close().catch(() => undefined);
        await waitFor(() => started.every((p) => !pidAlive(p)), 5000, 'Chromium to exit').catch(() => undefined);
        await Promise.all(started.map((p) => killPid(p, 1000)));
      })()),
  };
}
