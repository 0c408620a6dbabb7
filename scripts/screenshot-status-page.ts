// Writes docs/status-page.png, the README's picture of the status page, the way the browser test
// writes its own: the same rig (real Postfix, real `floodgate run`), flood and screenshot code, no jest.
//
// After `npm run build`, as root (Postfix), with Debian's chromium (scripts/install-test-deps.sh):
//   npx tsc -p tsconfig.json --outDir bench/results/tmp/js && node bench/results/tmp/js/scripts/screenshot-status-page.js [out.png]
import { join, resolve } from 'node:path';
import { launchChromium } from '../test/support/browser';
import { killAllTracked } from '../test/support/processes';
import { openStatusPage, screenshotStatusPage } from '../test/support/status-page';
import { showFloodOnPage } from '../test/support/status-page-flood';
import { REPO, startStatusPageRig } from '../test/support/status-page-rig';

async function main(file: string): Promise<void> {
  const chromium = await launchChromium();
  const rig = await startStatusPageRig().catch(async (error: unknown) => {
    await chromium.close();
    throw error;
  });
  try {
    const view = await openStatusPage(chromium.browser, rig.url);
    const shown = await showFloodOnPage(rig, view.page);
    await screenshotStatusPage(view.page, file);
    await shown.flood.stop();
    if (view.errors.length + view.cspViolations.length + view.dialogs.length > 0) {
      throw new Error(`the page misbehaved: ${[...view.errors, ...view.cspViolations, ...view.dialogs].join('; ')}`);
    }
    process.stdout.write(`${file}\n`);
  } finally {
    await chromium.close();
    await rig.stop();
    await killAllTracked();
  }
}

main(resolve(process.argv[2] ?? join(REPO, 'docs', 'status-page.png'))).catch((error: unknown) => {
  process.stderr.write(`screenshot-status-page: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
