// The dashboard with auth on, in chromium: the login form (Authenticate), a wrong password refused
// with the server's message, a read-only user who sees the key but whose edit the server refuses
// (the page says so before and shows the refusal after; etcdctl as that user is refused too), and
// users and roles readable by root. Screenshots of the login and users pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { etcdctl, etcdctlMissing, etcdctlOk } from './helpers/etcdctl';
import { assertNoProblems, chromiumMissing, launch, openPage, screenshots } from './helpers/browser';
import { startServer, type ServerProcess } from './helpers/server-process';

const skip = chromiumMissing || etcdctlMissing;
const ROOT = ['--user=root:rootpw'];

/** "<status> <path>" of refused requests. */
const paths = (refusals: string[]): string[] => refusals.map((r) => r.replace(/^(\d+) \w+ https?:\/\/[^/]+/, '$1 '));

describe('the dashboard with auth on', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;
  before(async () => {
    server = await startServer();
    const ep = server.endpoint;
    await etcdctlOk(ep, ['put', 'app/config', 'v1']);
    await etcdctlOk(ep, ['put', 'secret/token', 's3cr3t']);
    await etcdctlOk(ep, ['user', 'add', 'root:rootpw', '--interactive=false']);
    await etcdctlOk(ep, ['user', 'add', 'reader:readpw', '--interactive=false']);
    await etcdctlOk(ep, ['role', 'add', 'app-ro']);
    await etcdctlOk(ep, ['role', 'grant-permission', 'app-ro', 'read', '--prefix', 'app/']);
    await etcdctlOk(ep, ['user', 'grant-role', 'reader', 'app-ro']);
    await etcdctlOk(ep, ['auth', 'enable']);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  test('login: a wrong password is refused with the server message, the right one logs in', async () => {
    const w = await openPage(browser);
    const { page } = w;
    await page.goto(`${server.url}/ui/#/keys/app/`);
    const form = page.getByRole('form', { name: 'Log in' });
    await form.waitFor();
    await screenshots(page, 'login');
    await form.locator('input[name="user"]').fill('reader');
    await form.locator('input[name="password"]').fill('wrong');
    await form.getByRole('button', { name: 'Log in' }).click();
    await form.getByRole('alert').filter({ hasText: 'etcdserver: authentication failed, invalid user ID or password' }).waitFor();
    await form.locator('input[name="password"]').fill('readpw');
    await form.getByRole('button', { name: 'Log in' }).click();
    await page.locator('ul.tree a[data-path="app/config"]').waitFor();
    assert.equal(await page.getByTestId('user').textContent(), 'reader');
    // The browser logs each refused request as a failed resource load: here exactly the
    // anonymous AuthStatus (which says auth is on) and the wrong password.
    assertNoProblems(w, [/status of 400/]);
    assert.deepEqual(paths(w.refusals), ['400 /v3/auth/status', '400 /v3/auth/authenticate']);
    await w.context.close();
  });

  test('a read-only user: the page says so, the server refuses the edit and the page shows it; etcdctl is refused too', async () => {
    const w = await openPage(browser);
    const { page } = w;
    await page.goto(`${server.url}/ui/`);
    const form = page.getByRole('form', { name: 'Log in' });
    await form.locator('input[name="user"]').fill('reader');
    await form.locator('input[name="password"]').fill('readpw');
    await form.getByRole('button', { name: 'Log in' }).click();
    // The whole key space is not readable: the page offers what the roles allow.
    await page.getByRole('alert').filter({ hasText: 'permission denied' }).waitFor();
    await page.locator('a', { hasText: 'app/' }).first().click();
    await page.locator('ul.tree a[data-path="app/config"]').click();
    await page.getByTestId('value').filter({ hasText: 'v1' }).waitFor();
    await page.getByTestId('read-only').filter({ hasText: 'app-ro' }).waitFor();
    // No users page for a user who is not root.
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.locator('textarea[name="value"]').fill('hacked');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').filter({ hasText: 'etcdserver: permission denied' }).waitFor();
    await screenshots(page, 'key-read-only');
    const r = await etcdctl(server.endpoint, ['--user=reader:readpw', 'put', 'app/config', 'hacked']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /permission denied/);
    assert.equal((await etcdctlOk(server.endpoint, [...ROOT, 'get', 'app/config', '--print-value-only'])).trim(), 'v1');
    assertNoProblems(w, [/status of 40[03]/]);
    assert.deepEqual(paths(w.refusals), ['400 /v3/auth/status', '403 /v3/kv/range', '403 /v3/kv/put']);
    await w.context.close();
  });

  test('root reads users and roles, and edits', async () => {
    const w = await openPage(browser);
    const { page } = w;
    await page.goto(`${server.url}/ui/#/users`);
    const form = page.getByRole('form', { name: 'Log in' });
    await form.locator('input[name="user"]').fill('root');
    await form.locator('input[name="password"]').fill('rootpw');
    await form.getByRole('button', { name: 'Log in' }).click();
    const users = page.getByRole('table', { name: 'Users' });
    await users.locator('tr', { hasText: 'reader' }).filter({ hasText: 'app-ro' }).waitFor();
    await page.getByRole('table', { name: 'Roles' }).locator('tr', { hasText: 'app-ro' }).filter({ hasText: 'READ app/* (prefix)' }).waitFor();
    await screenshots(page, 'users');
    await page.goto(`${server.url}/ui/#/key/secret/token`);
    await page.getByTestId('value').filter({ hasText: 's3cr3t' }).waitFor();
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.locator('textarea[name="value"]').fill('rotated');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('version').filter({ hasText: '2' }).waitFor();
    assert.equal((await etcdctlOk(server.endpoint, [...ROOT, 'get', 'secret/token', '--print-value-only'])).trim(), 'rotated');
    assertNoProblems(w, [/status of 400/]);
    assert.deepEqual(paths(w.refusals), ['400 /v3/auth/status']);
    await w.context.close();
  });
});
