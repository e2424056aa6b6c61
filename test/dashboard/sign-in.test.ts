import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkipReason, launchChromium } from '../helpers/browser.ts';
import { assertBuilt, openDashboard } from '../helpers/dashboard.ts';
import { createKey, removeDir, startServer, type TestServer } from '../helpers/server.ts';

/** Signing in to the dashboard: a key that reads analytics opens it; one that cannot is refused, and told why. */

const skip = browserSkipReason();

describe('dashboard sign-in', { skip }, () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    // Signing in needs no data: an empty store answers the check query.
    assertBuilt();
    server = await startServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  async function signIn(page: Page, credential: string) {
    await page.goto(`${server.url}/`);
    await page
      .getByLabel(/key|token|credential/i)
      .first()
      .fill(credential);
    await page.getByRole('button', { name: /sign in/i }).click();
  }
  const stored = (page: Page) => page.evaluate(() => sessionStorage.getItem('openua.credential'));

  it('takes a key with analytics:read and opens the dashboard, keeping the key in the tab only', async () => {
    const key = await createKey(server, ['analytics:read']);
    const { context, page, trouble } = await openDashboard(browser, server);
    try {
      await signIn(page, key);
      await page.getByRole('navigation').waitFor({ timeout: 10_000 });
      assert.equal(await stored(page), key);
      assert.equal(await page.evaluate(() => localStorage.getItem('openua.credential')), null);
      assert.equal(await page.getByRole('alert').count(), 0);
      // Another tab of the same browser is not signed in: the credential lives in the tab's session storage.
      const other = await context.newPage();
      await other.goto(`${server.url}/`);
      await other.getByRole('button', { name: /sign in/i }).waitFor();
      assert.equal(await stored(other), null);
      assert.deepEqual(trouble.errors, []);
    } finally {
      await context.close();
    }
  });

  it('refuses a key without analytics:read with a message that says so, and stores nothing', async () => {
    const key = await createKey(server, ['analytics:write']);
    const { context, page } = await openDashboard(browser, server);
    try {
      await signIn(page, key);
      const alert = page.getByRole('alert');
      await alert.waitFor({ timeout: 10_000 });
      assert.match((await alert.textContent()) ?? '', /analytics:read/);
      assert.equal(await stored(page), null);
      assert.equal(await page.getByRole('navigation').count(), 0, 'still on the sign-in page');
    } finally {
      await context.close();
    }
  });

  it('refuses a key that does not exist', async () => {
    const { context, page } = await openDashboard(browser, server);
    try {
      await signIn(page, 'oua_0000000000000000_notakey');
      const alert = page.getByRole('alert');
      await alert.waitFor({ timeout: 10_000 });
      assert.match((await alert.textContent()) ?? '', /not accepted|refused|invalid/i);
      assert.equal(await stored(page), null);
    } finally {
      await context.close();
    }
  });
});
