// A real browser for tests: Debian's chromium (/usr/bin/chromium) driven by playwright-core, which
// downloads no browser of its own. Headless, no sandbox (tests run as root in CI), nothing that
// reaches beyond loopback (no QUIC, background networking, component updates or sync), and a fresh
// temporary profile that playwright creates and removes. Launched as a server, so that its process
// (pid) is ours to kill when it does not close. A missing chromium fails with the command that
// installs it.
import { existsSync } from 'node:fs';
import { type Browser, type BrowserServer, chromium } from 'playwright-core';
import { within } from './harness.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const LAUNCH_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 10_000;

export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser and the chromium process behind it. */
export interface RunningBrowser {
  readonly browser: Browser;
  readonly server: BrowserServer;
}

export async function launchChromium(): Promise<RunningBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing: the browser tests need Debian's chromium. Install it with ` +
        '`sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium`',
    );
  }
  const server = await chromium.launchServer({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_FLAGS],
    timeout: LAUNCH_TIMEOUT_MS,
  });
  try {
    const browser = await chromium.connect(server.wsEndpoint(), { timeout: LAUNCH_TIMEOUT_MS });
    return { browser, server };
  } catch (e) {
    await stopServer(server);
    throw e;
  }
}

/** Closes the browser and its process; one that does not exit within the bound is killed by pid. */
export async function closeBrowser(running: RunningBrowser | undefined): Promise<void> {
  if (running === undefined) return;
  await within(running.browser.close(), CLOSE_TIMEOUT_MS);
  await stopServer(running.server);
}

async function stopServer(server: BrowserServer): Promise<void> {
  const child = server.process();
  const closed = await within(
    server.close().then(() => true),
    CLOSE_TIMEOUT_MS,
  );
  if (closed === undefined && child.pid !== undefined && child.exitCode === null) {
    process.kill(child.pid, 'SIGKILL');
  }
}
