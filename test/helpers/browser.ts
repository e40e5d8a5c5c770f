// A real browser for the dashboard tests: Debian's chromium driven by playwright-core (no browser
// download: the system one). Tests skip, with the reason printed, only when chromium is not
// installed; CI installs it. Every page records console errors and failed requests, which the
// tests assert to be none, and screenshots go to test-artifacts/ui/ (gitignored).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing: string | false = existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)';
if (chromiumMissing) process.stdout.write(`# skipping browser tests: ${chromiumMissing}\n`);

export const ARTIFACTS = resolve(__dirname, '../../../test-artifacts/ui');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions and failed requests seen so far. */
  problems: string[];
  /** Replies with a status of 400 or more ("<status> <method> <url>"), to say which request a console error was. */
  refusals: string[];
}

/** A new page (own context: own sessionStorage) that records every console error. */
export async function openPage(browser: Browser, viewport = DESKTOP): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  const refusals: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) refusals.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return { page, context, problems, refusals };
}

/**
 * Fails when the page logged errors, except those `expected` matches (a test that kills a member
 * sees the browser log the refused connections to it).
 */
export function assertNoProblems(w: WatchedPage, expected: RegExp[] = []): void {
  const left = w.problems.filter((p) => !expected.some((e) => e.test(p)));
  assert.deepEqual(left, [], `the page logged errors; refused requests: ${JSON.stringify(w.refusals)}`);
}

/** Saves the page at desktop and phone width as test-artifacts/ui/<name>-desktop.png and -phone.png. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const files: string[] = [];
  const original = page.viewportSize() ?? DESKTOP;
  for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    const file = join(ARTIFACTS, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  await page.setViewportSize(original);
  return files;
}
