/**
 * Debian's headless Chromium, driven by playwright-core, for the status-page tests: whether it is there
 * (requireChromium fails the test in CI, else skips it naming the package), launchChromium, and openPage,
 * which opens a page at a viewport in its own context and records what the page logs and requests.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** CHROMIUM is the browser binary: CHROMIUM_PATH, or Debian's /usr/bin/chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** ARTIFACTS is the (gitignored) directory the screenshots go to. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** HAS_CHROMIUM is whether the binary is there. */
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/**
 * requireChromium returns true when Chromium is there. Otherwise it fails the test when CI is 'true', or
 * skips it with the apt-get hint, and returns false: `if (!requireChromium(t)) return;`.
 */
export function requireChromium(t: TestContext): boolean {
  if (HAS_CHROMIUM) return true;
  if (process.env.CI === 'true')
    assert.fail(`${CHROMIUM} is missing; CI=true, so this fails (apt-get install chromium)`);
  t.skip(`${CHROMIUM} is missing: apt-get install chromium`);
  return false;
}

/** launchChromium starts headless Chromium without sandbox, GPU or background network traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** RecordedPage is a page and, as they happen, its console messages and page errors and its requests' URLs. */
export interface RecordedPage {
  page: Page;
  /** messages holds `${type}: ${text}` per console message and `pageerror: ${message}` per uncaught error. */
  messages: string[];
  requests: string[];
}

/** openPage opens a page at the viewport in a fresh context, closed after the test t. */
export async function openPage(
  browser: Browser,
  t: TestContext,
  viewport: { width: number; height: number },
): Promise<RecordedPage> {
  const context = await browser.newContext({
    viewport: { width: viewport.width, height: viewport.height },
    deviceScaleFactor: 1,
  });
  t.after(() => context.close());
  const page = await context.newPage();
  const messages: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  return { page, messages, requests };
}
