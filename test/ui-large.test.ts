// The key tree on a store of 1,000,000 keys, in chromium: the first page (top-level prefixes with
// counts) and the pages of a prefix holding every key open in well under a bound (times printed;
// the bound is generous, the measured numbers are the claim), because no request reads more than
// a page of keys (every Range the page sends is checked) and counts are count_only; the page's
// JS heap stays bounded while paging (printed and asserted).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { fillKeys } from '../scripts/store-fill';
import { assertNoProblems, chromiumMissing, launch, openPage, screenshots } from './helpers/browser';
import { kvClient } from './helpers/grpc-client';
import { startServer, type ServerProcess } from './helpers/server-process';

const KEYS = 1_000_000;
const PAGE_SIZE = 100;
const OPEN_BOUND_MS = 5000;
const HEAP_BOUND_BYTES = 40 * 1024 * 1024;

interface RangeSeen {
  limit: number;
  countOnly: boolean;
  keysOnly: boolean;
}

describe('the key tree on 1,000,000 keys', { skip: chromiumMissing }, () => {
  let server: ServerProcess;
  let browser: Browser;
  before(async () => {
    server = await startServer();
    const clients = Array.from({ length: 16 }, () => kvClient(server.endpoint));
    const started = Date.now();
    try {
      await fillKeys(clients, KEYS, 16);
    } finally {
      for (const c of clients) c.close();
    }
    process.stdout.write(`# filled ${KEYS} keys in ${Date.now() - started} ms\n`);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  test('opens paged, every request bounded, heap bounded', async () => {
    const w = await openPage(browser);
    const { page } = w;
    const ranges: RangeSeen[] = [];
    page.on('request', (r) => {
      if (!r.url().endsWith('/v3/kv/range')) return;
      const body = JSON.parse(r.postData() ?? '{}') as { limit?: string; count_only?: boolean; keys_only?: boolean };
      ranges.push({ limit: Number(body.limit ?? 0), countOnly: body.count_only === true, keysOnly: body.keys_only === true });
    });
    const timed = async (what: string, go: () => Promise<unknown>, ready: () => Promise<unknown>): Promise<number> => {
      const t0 = Date.now();
      await go();
      await ready();
      const ms = Date.now() - t0;
      process.stdout.write(`# ${what}: ${ms} ms\n`);
      assert.ok(ms < OPEN_BOUND_MS, `${what} took ${ms} ms`);
      return ms;
    };

    // The first page: the one top-level prefix, then its count.
    const top = page.locator('ul.tree li', { hasText: 'key/' });
    await timed('top level shown', () => page.goto(`${server.url}/ui/`), () => top.waitFor());
    // What the tree's own requests took, page load (modules, auth check) aside.
    process.stdout.write(`# top level, the tree's requests: ${await page.getByTestId('tree-stats').textContent()}\n`);
    await top.locator('.count', { hasText: '1,000,000 keys' }).waitFor({ timeout: 10_000 });
    // The first navigation of a fresh browser starts its renderer; a reload is what a user sees next.
    await timed('top level shown again (reload)', () => page.reload(), () => top.waitFor());
    // The prefix with every key: a page of 100, then the next pages.
    await timed('key/ first page', () => top.locator('a').click(), () => page.locator('ul.tree a[data-path="key/0000099"]').waitFor());
    assert.equal(await page.locator('ul.tree li').count(), PAGE_SIZE);
    for (let p = 1; p <= 3; p++) {
      const last = `key/${String(p * PAGE_SIZE + PAGE_SIZE - 1).padStart(7, '0')}`;
      await timed(`key/ page ${p + 1}`, () => page.getByRole('button', { name: 'Next →' }).click(), () => page.locator(`ul.tree a[data-path="${last}"]`).waitFor());
    }
    await timed('search to key/05', async () => {
      await page.getByLabel('Search by prefix').fill('key/05');
      await page.getByRole('button', { name: 'Search' }).click();
    }, () => page.locator('ul.tree a[data-path="key/0500099"]').waitFor());
    await screenshots(page, 'keys-1m');

    // Every Range asked for at most a page (plus one) of keys only, or only a count.
    assert.ok(ranges.length > 0);
    for (const r of ranges) assert.ok(r.countOnly || (r.keysOnly && r.limit > 0 && r.limit <= PAGE_SIZE + 1), JSON.stringify(r));
    process.stdout.write(`# ${ranges.length} range requests, largest limit ${Math.max(...ranges.map((r) => r.limit))}\n`);

    // Page through more and check the heap holds one page, not what was seen.
    for (let p = 0; p < 10; p++) {
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.locator(`ul.tree a[data-path="key/${String(500_000 + (p + 2) * PAGE_SIZE - 1).padStart(7, '0')}"]`).waitFor();
    }
    const cdp = await w.context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = await cdp.send('Runtime.getHeapUsage');
    process.stdout.write(`# page JS heap after ${ranges.length} requests and 15 pages: ${(usedSize / 1024 / 1024).toFixed(1)} MiB\n`);
    assert.ok(usedSize < HEAP_BOUND_BYTES, `heap ${usedSize}`);
    assert.equal(await page.locator('ul.tree li').count(), PAGE_SIZE);
    assertNoProblems(w);
  });
});
