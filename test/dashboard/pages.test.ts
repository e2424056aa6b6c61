import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, launchChromium } from '../helpers/browser.ts';
import {
  openDashboard,
  PAGES,
  pageUrl,
  quiet,
  SCREENSHOTS,
  sameNumber,
  screenshotPath,
  settled,
  shownNumbers,
  startDemoServer,
  type Theme,
  themeOf,
} from '../helpers/dashboard.ts';
import { createKey, removeDir, type TestServer } from '../helpers/server.ts';

/**
 * Every page of the dashboard, in both themes, over a demo store: it renders its heading and its numbers or
 * tables with no error in the console, no failed request and nothing fetched from another origin, and its
 * screenshot is kept in test-results/dashboard/ for a reader to look at.
 */

const skip = browserSkipReason();

describe('every dashboard page renders, light and dark', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let key: string;
  const backgrounds: Record<Theme, Set<string>> = { light: new Set(), dark: new Set() };

  before(async () => {
    server = await startDemoServer();
    browser = await launchChromium();
    // Settings is for admins: the same key reads analytics and administers, so every page shows its data.
    key = await createKey(server, ['analytics:read', 'admin']);
    mkdirSync(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  for (const theme of ['light', 'dark'] as const) {
    for (const name of PAGES) {
      it(`${name}, ${theme}`, async () => {
        const { context, page, trouble } = await openDashboard(browser, server, { credential: key, theme });
        try {
          await page.goto(pageUrl(server, name));
          const heading = page.locator('main h1, h1').first();
          await heading.waitFor({ state: 'visible', timeout: 15_000 });
          assert.match((await heading.textContent()) ?? '', new RegExp(name, 'i'));
          await page.waitForSelector('[data-kpi]:not([data-value=""]), table tbody tr', { timeout: 15_000 });
          await quiet(page);
          const applied = await themeOf(page);
          assert.equal(applied.theme, theme, 'the page follows prefers-color-scheme');
          backgrounds[theme].add(applied.background);
          await page.screenshot({ path: screenshotPath(name, theme), fullPage: true });
          assert.deepEqual(trouble.errors, []);
          assert.deepEqual(trouble.foreign, [], 'nothing is fetched from another origin');
        } finally {
          await context.close();
        }
      });
    }
  }

  it('a shared URL restores the same view: page, agent, range, filters and numbers', async () => {
    const first = await openDashboard(browser, server, { credential: key });
    let shared: string;
    let view: Record<string, number | null>;
    try {
      const { page } = first;
      await page.goto(pageUrl(server, 'agent'));
      await settled(page);
      // Another agent than the default, a custom range three days long ending an hour ago, and one filter,
      // all chosen in the page.
      const picker = page.getByTestId('agent-picker');
      const agent = (await picker.locator('option').nth(2).getAttribute('value')) ?? '';
      await picker.selectOption(agent);
      await page.waitForFunction((id) => location.hash.includes(`agent=${id}`), agent);
      await page.getByTestId('time-range').locator('select').selectOption('custom');
      const local = (ms: number) => {
        const date = new Date(ms);
        return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      };
      const end = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
      await page.getByRole('textbox', { name: 'From', exact: true }).fill(local(end - 3 * 86_400_000));
      await page.getByRole('textbox', { name: 'To', exact: true }).fill(local(end));
      const filters = page.getByTestId('filter-bar');
      await filters.getByLabel('Field', { exact: true }).fill('channel');
      await filters.getByLabel('Value', { exact: true }).fill('voice');
      // The view is read once the page has the answers for its last change (the filter) and has rendered them.
      const filtered = page.waitForResponse(
        (response) =>
          response.url().endsWith('/api/v1/query') && /"voice"/.test(response.request().postData() ?? ''),
      );
      await filters.getByRole('button', { name: 'Add filter' }).click();
      await filtered;
      await settled(page);
      shared = page.url();
      view = await shownNumbers(page);
      const params = new URLSearchParams(new URL(shared).hash.split('?')[1]);
      assert.equal(params.get('agent'), agent);
      assert.equal(params.get('from'), new Date(end - 3 * 86_400_000).toISOString());
      assert.equal(params.get('to'), new Date(end).toISOString());
      assert.deepEqual(JSON.parse(params.get('filters') ?? '[]'), [
        { field: 'channel', op: 'eq', value: 'voice' },
      ]);
      assert.equal(first.trouble.errors.length, 0, first.trouble.errors.join('\n'));
    } finally {
      await first.context.close();
    }

    // Another browser context (another person): signed out, so the link asks for a key, then opens the view.
    const second = await openDashboard(browser, server);
    try {
      const { page } = second;
      await page.goto(shared);
      await page.getByLabel('Credential').fill(await createKey(server, ['analytics:read']));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await settled(page);
      assert.equal(page.url(), shared);
      assert.equal(await page.getByTestId('time-range').locator('select').inputValue(), 'custom');
      assert.equal(
        await page.getByTestId('agent-picker').inputValue(),
        new URLSearchParams(new URL(shared).hash.split('?')[1]).get('agent'),
      );
      assert.match((await page.getByTestId('filter-bar').textContent()) ?? '', /channel eq voice/);
      const restored = await shownNumbers(page);
      assert.deepEqual(Object.keys(restored).sort(), Object.keys(view).sort());
      for (const [kpi, value] of Object.entries(view)) {
        assert.ok(sameNumber(restored[kpi], value), `${kpi}: ${restored[kpi]} restored, ${value} shared`);
      }
      assert.deepEqual(second.trouble.errors, []);
    } finally {
      await second.context.close();
    }
  });

  it('light and dark look different', () => {
    for (const light of backgrounds.light) assert.ok(!backgrounds.dark.has(light), `${light} in both themes`);
  });
});
