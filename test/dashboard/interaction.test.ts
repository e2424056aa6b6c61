import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser, Locator } from 'playwright-core';
import { browserSkipReason } from '../helpers/browser.ts';
import { dashboardForSuite, openDashboard, pageUrl, quiet, themeOf } from '../helpers/dashboard.ts';
import type { TestServer } from '../helpers/server.ts';

/** What a person does with the keyboard and the theme toggle, in real Chromium. */

const skip = browserSkipReason();

/** The first column of `table`, row by row, top to bottom. */
const firstColumn = (table: Locator) =>
  table
    .locator('tbody tr')
    .evaluateAll((rows) => rows.map((row) => row.querySelector('td')?.textContent?.trim() ?? ''));

describe('the dashboard by keyboard, and its theme', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let key: string;

  dashboardForSuite(['analytics:read'], (suite) => {
    ({ server, browser, key } = suite);
  });

  it('sorts a table from its header with Enter, both ways', async () => {
    const { context, page, trouble } = await openDashboard(browser, server, { credential: key });
    try {
      await page.goto(pageUrl(server, 'supervisor'));
      const header = page.locator('th', { hasText: /^Agent/ }).first();
      await header.waitFor({ timeout: 15_000 });
      await page.waitForSelector('table tbody tr', { timeout: 15_000 });
      await quiet(page);
      const table = header.locator('xpath=ancestor::table');
      await header.focus();
      await page.keyboard.press('Enter');
      const ascending = await firstColumn(table);
      assert.ok(ascending.length > 1, 'the agents table has rows');
      await page.keyboard.press('Enter');
      const descending = await firstColumn(table);
      const sorted = [...ascending].sort((a, b) => a.localeCompare(b));
      assert.ok(
        (JSON.stringify(ascending) === JSON.stringify(sorted) &&
          JSON.stringify(descending) === JSON.stringify([...sorted].reverse())) ||
          (JSON.stringify(descending) === JSON.stringify(sorted) &&
            JSON.stringify(ascending) === JSON.stringify([...sorted].reverse())),
        `one press sorts up, the next down: ${ascending.join(',')} then ${descending.join(',')}`,
      );
      assert.match((await header.getAttribute('aria-sort')) ?? '', /ascending|descending/);
      assert.deepEqual(trouble.errors, []);
    } finally {
      await context.close();
    }
  });

  it('reaches the navigation with Tab and opens a page with Enter', async () => {
    const { context, page, trouble } = await openDashboard(browser, server, { credential: key });
    try {
      await page.goto(pageUrl(server, 'supervisor'));
      await page.locator('h1').first().waitFor({ timeout: 15_000 });
      let reached = false;
      for (let presses = 0; presses < 20 && !reached; presses++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.getAttribute('href') === '#/manager');
      }
      assert.ok(reached, 'Tab reaches the Manager link');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/manager/, { timeout: 10_000 });
      await page.locator('h1', { hasText: /manager/i }).waitFor({ timeout: 15_000 });
      assert.deepEqual(trouble.errors, []);
    } finally {
      await context.close();
    }
  });

  it('switches between light and dark with its toggle, and keeps the choice after a reload', async () => {
    const { context, page } = await openDashboard(browser, server, { credential: key, theme: 'light' });
    try {
      await page.goto(pageUrl(server, 'search'));
      await page.locator('h1').first().waitFor({ timeout: 15_000 });
      const light = await themeOf(page);
      await page.getByTestId('theme-toggle').click();
      const dark = await themeOf(page);
      assert.equal(dark.theme, 'dark');
      assert.notEqual(dark.background, light.background);
      await page.reload();
      await page.locator('h1').first().waitFor({ timeout: 15_000 });
      assert.equal((await themeOf(page)).theme, 'dark', 'the choice outlives a reload');
    } finally {
      await context.close();
    }
  });
});
