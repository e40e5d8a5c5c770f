// The dashboard in a real browser (Debian's chromium) against a real member, with etcdctl on the
// other side: navigate the tree to a key written with etcdctl, see its value and its history of
// 3 versions, edit it in the page and read the new value back with etcdctl; a live watch shows an
// etcdctl put (time printed, bound generous), and resumes after the member restarts with no event
// lost or repeated; leases count down. Screenshots of each page at desktop and phone width go to
// test-artifacts/ui/. Any console error fails the test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { etcdctlMissing, etcdctlOk } from './helpers/etcdctl';
import { assertNoProblems, chromiumMissing, launch, openPage, screenshots, type WatchedPage } from './helpers/browser';
import { startServer, type ServerProcess } from './helpers/server-process';

const skip = chromiumMissing || etcdctlMissing;

describe('the dashboard in a browser', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;
  let w: WatchedPage;
  before(async () => {
    server = await startServer();
    browser = await launch();
    w = await openPage(browser);
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  test('tree to a key written with etcdctl: value, history of 3 versions, edit read back with etcdctl', async () => {
    for (const v of ['{"replicas":1}', '{"replicas":2}', '{"replicas":3,"image":"web:1.2"}']) await etcdctlOk(server.endpoint, ['put', 'ui/app/config', v]);
    await etcdctlOk(server.endpoint, ['put', 'ui/app/db/host', 'db1.internal']);
    await etcdctlOk(server.endpoint, ['put', 'ui/readme', 'hello']);
    await etcdctlOk(server.endpoint, ['put', 'other', 'x']);
    const { page } = w;
    await page.goto(`${server.url}/ui/`);
    // The first page lists the top-level prefixes, with counts.
    const top = page.locator('ul.tree li', { hasText: 'ui/' });
    await top.locator('.count', { hasText: '3 keys' }).waitFor();
    await screenshots(page, 'keys-root');
    await top.locator('a').click();
    await page.locator('ul.tree a[data-path="ui/app/"]').click();
    await page.locator('ul.tree li.folder a[data-path="ui/app/db/"]').waitFor();
    await screenshots(page, 'keys-prefix');
    assert.equal(new URL(page.url()).hash, '#/keys/ui/app/', 'the view is addressable by URL');
    await page.locator('ul.tree a[data-path="ui/app/config"]').click();
    // JSON is shown pretty.
    await page.getByTestId('value').filter({ hasText: '"image": "web:1.2"' }).waitFor();
    assert.equal(await page.getByTestId('version').textContent(), '3');
    const rows = page.locator('table.history tbody tr');
    await rows.nth(2).waitFor();
    assert.equal(await rows.count(), 3);
    assert.deepEqual(await rows.locator('td:nth-child(3)').allTextContents(), ['3', '2', '1']);
    assert.match((await rows.nth(2).textContent()) ?? '', /\{"replicas":1\}/);
    await page.getByRole('button', { name: 'Hex' }).click();
    await page.getByTestId('value').filter({ hasText: '7b 22 72 65' }).waitFor();
    await screenshots(page, 'key');

    // Edit: the confirmation dialog, then etcdctl sees the new value.
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.locator('textarea[name="value"]').fill('{"replicas":4}');
    await page.getByRole('button', { name: 'Save' }).click();
    const dialog = page.locator('dialog.confirm');
    await dialog.waitFor();
    await screenshots(page, 'key-confirm');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('version').filter({ hasText: '4' }).waitFor();
    assert.equal((await etcdctlOk(server.endpoint, ['get', 'ui/app/config', '--print-value-only'])).trim(), '{"replicas":4}');
    await rows.nth(3).waitFor();

    // Delete, with its confirmation; the history keeps the DELETE.
    await page.goto(`${server.url}/ui/#/key/ui/readme`);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Delete' }).click();
    await page.locator('table.history tr.deleted').waitFor();
    assert.equal((await etcdctlOk(server.endpoint, ['get', 'ui/readme'])).trim(), '');
    assertNoProblems(w);
  });

  test('live watch: an etcdctl put shows up, and after a restart the watch resumes without a gap', async () => {
    const { page } = w;
    await page.goto(`${server.url}/ui/#/watch/ui/`);
    await page.getByTestId('watch-state').filter({ hasText: 'live' }).waitFor();
    const started = Date.now();
    await etcdctlOk(server.endpoint, ['put', 'ui/app/live', 'first']);
    const put = page.locator('li.event', { hasText: 'ui/app/live' });
    await put.waitFor({ timeout: 5000 });
    const shownMs = Date.now() - started;
    process.stdout.write(`# watch: etcdctl put to event in the page: ${shownMs} ms (etcdctl's own start included)\n`);
    assert.ok(shownMs < 5000, `the event took ${shownMs} ms`);
    // A diff against the previous value.
    await etcdctlOk(server.endpoint, ['put', 'ui/app/live', 'second']);
    await page.locator('li.event', { hasText: 'second' }).locator('del', { hasText: 'first' }).waitFor();
    const before = Number(await page.locator('li.event').first().getAttribute('data-revision'));
    await screenshots(page, 'watch');

    // The member goes away and comes back on the same port and data; writes made right after
    // the restart arrive once each, from the revision after the last one seen.
    await server.kill();
    await page.getByTestId('watch-state').filter({ hasText: 'Reconnecting' }).waitFor();
    server = await server.restart();
    await etcdctlOk(server.endpoint, ['put', 'ui/app/live', 'third']);
    await etcdctlOk(server.endpoint, ['del', 'ui/app/live']);
    await page.locator('li.event.delete', { hasText: 'ui/app/live' }).waitFor({ timeout: 15_000 });
    await page.locator('ul.notes', { hasText: `resuming at revision ${before + 1}` }).waitFor();
    const revisions = (await page.locator('li.event').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-revision'))))).reverse();
    assert.deepEqual(revisions, [before - 1, before, before + 1, before + 2], 'every event once, in order');
    // Chromium logs the refused connections while the member was down; nothing else.
    assertNoProblems(w, [/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING/]);
    w.problems.length = 0;
  });

  test('leases with their TTL counting down and their keys', async () => {
    const granted = await etcdctlOk(server.endpoint, ['lease', 'grant', '600']);
    const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
    assert.ok(id !== undefined, granted);
    await etcdctlOk(server.endpoint, ['put', 'ui/session/worker-1', 'alive', `--lease=${id}`]);
    const { page } = w;
    await page.goto(`${server.url}/ui/#/leases`);
    const row = page.locator(`tr[data-lease="${id}"]`);
    await row.locator('a', { hasText: 'ui/session/worker-1' }).waitFor();
    const ttl = async (): Promise<number> => Number(((await row.getByTestId('ttl').textContent()) ?? '').replace(' s', ''));
    const first = await ttl();
    assert.ok(first > 590 && first <= 600, `TTL ${first}`);
    await page.waitForTimeout(2200);
    assert.ok((await ttl()) < first, 'the TTL counts down');
    await screenshots(page, 'leases');
    await page.goto(`${server.url}/ui/#/cluster`);
    await page.locator('tr[data-role="leader"]').waitFor();
    // Two scrapes make the first point of each chart.
    await page.waitForTimeout(4500);
    await page.getByTestId('compaction').waitFor();
    await screenshots(page, 'cluster-single');
    assertNoProblems(w);
  });

  test('keyboard: the tree and a key are reachable with Tab and Enter', async () => {
    const { page } = w;
    await page.goto(`${server.url}/ui/#/keys/ui/app/`);
    await page.locator('ul.tree a[data-path="ui/app/config"]').waitFor();
    let reached = false;
    for (let i = 0; i < 25 && !reached; i++) {
      await page.keyboard.press('Tab');
      // A string, evaluated in the page (the test's own compiler has no DOM types).
      reached = (await page.evaluate("document.activeElement?.getAttribute('data-path')")) === 'ui/app/config';
    }
    assert.ok(reached, 'Tab reaches the key');
    await page.keyboard.press('Enter');
    await page.getByTestId('value').waitFor();
    assert.equal(new URL(page.url()).hash, '#/key/ui/app/config');
    assertNoProblems(w);
  });
});
