// The dashboard's cluster page on a 3-member cluster, in chromium: exactly one leader; after the
// leader's SIGKILL the page (served by a member that stays up) shows another leader and the old
// one unreachable, within a generous bound (time printed). Screenshot of the cluster page.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { assertNoProblems, chromiumMissing, launch, openPage, screenshots } from './helpers/browser';
import { startCluster, statusOf, waitForLeader, type Cluster } from './helpers/cluster';

describe('the cluster page of a 3-member cluster', { skip: chromiumMissing }, () => {
  let cluster: Cluster;
  let browser: Browser;
  before(async () => {
    cluster = await startCluster(3);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await cluster?.cleanup();
  });

  test('one leader; after the leader is killed, another', async () => {
    const w = await openPage(browser);
    const { page } = w;
    // The page must show the leader the members report, and be served by a member that stays
    // up. On a busy machine (other tests beside this one) leadership can move on its own
    // between reading it and the page's poll: then both are read again.
    let leader = -1;
    let host = -1;
    let shown: (string | null)[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const leaderId = await waitForLeader(cluster.endpoints());
      leader = cluster.members.findIndex((m) => m.id === leaderId);
      host = cluster.members.findIndex((_, i) => i !== leader);
      await page.goto(`http://127.0.0.1:${cluster.members[host].clientPort}/ui/#/cluster`);
      await page.locator('table.members tr[data-role="follower"]').nth(1).waitFor();
      assert.equal(await page.locator('table.members tbody tr').count(), 3);
      shown = await page.locator('tr[data-role="leader"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-member')));
      const st = await statusOf(cluster.endpoints()[host]);
      if (String(st?.leader) === leaderId && shown.length === 1 && shown[0] === cluster.members[leader].name) break;
      process.stdout.write(`# cluster page: leadership moved while the page loaded (attempt ${attempt + 1}); reading it again\n`);
    }
    assert.deepEqual(shown, [cluster.members[leader].name]);
    // Charts need two scrapes per member.
    await page.waitForTimeout(4500);
    await screenshots(page, 'cluster');

    const killedAt = Date.now();
    await cluster.kill(leader);
    await page.locator(`tr[data-member="${cluster.members[leader].name}"][data-role="unreachable"]`).waitFor({ timeout: 30_000 });
    const newLeader = page.locator('tr[data-role="leader"]');
    await newLeader.waitFor({ timeout: 30_000 });
    const shownMs = Date.now() - killedAt;
    process.stdout.write(`# cluster page: new leader shown ${shownMs} ms after the SIGKILL\n`);
    const leaders = await newLeader.evaluateAll((els) => els.map((e) => e.getAttribute('data-member')));
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], cluster.members[leader].name);
    // The members agree with the page (the member's own view may still be settling: polled).
    let agreed: string | undefined;
    for (let i = 0; i < 25 && agreed !== leaders[0]; i++) {
      if (i > 0) await page.waitForTimeout(200);
      const st = await statusOf(cluster.endpoints()[host]);
      agreed = cluster.members.find((m) => m.id === String(st?.leader))?.name;
    }
    assert.equal(agreed, leaders[0]);
    await page.locator('[data-testid="leader-log"] li').first().waitFor();
    await screenshots(page, 'cluster-after-kill');
    // The killed member's requests fail while the page polls it (timeouts or refusals). While no
    // member leads (the election after the kill), a member's /health answers 503, as etcd's does,
    // and the browser logs each such reply; no other request may be refused.
    assert.deepEqual(w.refusals.filter((r) => !/^503 GET http:\/\/127\.0\.0\.1:\d+\/health(\?.*)?$/.test(r)), []);
    assertNoProblems(w, [/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/, /status of 503 \(Service Unavailable\)/]);
  });
});
