import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ChannelRecords } from '../../src/channel/records.ts';
import { writeDemo } from '../../src/demo/demo-writer.ts';
import { ENTITY_TABLES } from '../../src/startup/services.ts';
import { launchChromium } from './browser.ts';
import { testStorage } from './engine.ts';
import { createKey, ROOT, removeDir, startServer, type TestServer, tempDir } from './server.ts';

/** The dashboard in real Chromium, served by a real OpenUA over a small demo store. */

export const DASHBOARD_DIST = path.join(ROOT, 'dashboard/dist/index.html');
export const SCREENSHOTS = path.join(ROOT, 'test-results/dashboard');
export const PAGES = ['agent', 'supervisor', 'manager', 'search', 'explorer', 'settings'] as const;
export type DashboardPage = (typeof PAGES)[number];
export type Theme = 'light' | 'dark';

/** Where the dashboard keeps the tab's credential (dashboard/src/api.ts). */
const CREDENTIAL_KEY = 'openua.credential';

/** The server serves the dashboard from its build (which `npm install` makes): fail at once, saying so, without it. */
export function assertBuilt(): void {
  assert.ok(
    existsSync(DASHBOARD_DIST),
    `${DASHBOARD_DIST} is missing: build it with npm run build --workspace @openua/dashboard`,
  );
}

/**
 * A server over eight days of demo data ending now (so the live pages have open conversations and recent
 * queues), small enough to write in a few seconds. The demo's org is `default`, the one keys are made in.
 */
export async function startDemoServer(env: Record<string, string> = {}): Promise<TestServer> {
  assertBuilt();
  const dataDir = tempDir('openua-dashboard-');
  const storage = await testStorage(dataDir);
  try {
    await storage.migrate(ENTITY_TABLES as never);
    await writeDemo(storage, new ChannelRecords(storage), {
      seed: 16,
      org: 'default',
      events: 12_000,
      days: 8,
      end: new Date(),
      batchSize: 12_000,
    });
  } finally {
    await storage.close();
  }
  return startServer({ dataDir, env });
}

/** What a suite of dashboard tests runs against: a server over the demo store, a Chromium, a key. */
export interface DashboardSuite {
  server: TestServer;
  browser: Browser;
  key: string;
}

/**
 * Starts, before a suite's tests, a demo server, a Chromium and a key holding `privileges`, handed to `use`; ends them
 * after the suite.
 */
export function dashboardForSuite(privileges: string[], use: (suite: DashboardSuite) => void): void {
  let suite: Partial<DashboardSuite> = {};
  before(async () => {
    const server = await startDemoServer();
    suite = { server, browser: await launchChromium(), key: await createKey(server, privileges) };
    use(suite as DashboardSuite);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.close();
    if (suite.server) removeDir(suite.server.dataDir);
  });
}

/** What went wrong in a page: console errors, uncaught exceptions, failed requests, requests to other origins. */
export interface PageTrouble {
  errors: string[];
  foreign: string[];
}

/** A page of its own context (theme, viewport), signed in with `credential` when one is given. */
export async function openDashboard(
  browser: Browser,
  server: TestServer,
  options: { credential?: string; theme?: Theme } = {},
): Promise<{ context: BrowserContext; page: Page; trouble: PageTrouble }> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    colorScheme: options.theme ?? 'light',
  });
  if (options.credential) {
    // As SignIn leaves it, before any script of the page runs.
    await context.addInitScript(
      ([key, value]) => {
        if (!sessionStorage.getItem(key as string)) sessionStorage.setItem(key as string, value as string);
      },
      [CREDENTIAL_KEY, options.credential],
    );
  }
  const page = await context.newPage();
  trackNetwork(page);
  const trouble: PageTrouble = { errors: [], foreign: [] };
  const origin = new URL(server.url).origin;
  page.on('console', (message) => {
    if (message.type() === 'error') trouble.errors.push(`console: ${message.text()}`);
  });
  page.on('response', (response) => {
    // Chromium logs a failed status without its URL: name it.
    if (response.status() >= 400) trouble.errors.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  page.on('pageerror', (error) => trouble.errors.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A request the page cancels (a view changed before its answer came) is no failure.
    const reason = request.failure()?.errorText ?? '';
    if (reason !== 'net::ERR_ABORTED') trouble.errors.push(`failed: ${request.url()} ${reason}`);
  });
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol.startsWith('http') && url.origin !== origin) trouble.foreign.push(request.url());
  });
  return { context, page, trouble };
}

export const pageUrl = (server: TestServer, page: DashboardPage, params: Record<string, string> = {}) => {
  const search = new URLSearchParams(params).toString();
  return `${server.url}/#/${page}${search ? `?${search}` : ''}`;
};

/** The numbers a page shows: every `data-kpi` with its raw `data-value` (null when empty). */
export async function shownNumbers(page: Page): Promise<Record<string, number | null>> {
  return page.$$eval('[data-kpi]', (elements) =>
    Object.fromEntries(
      elements.map((element) => {
        const value = (element as HTMLElement).dataset.value ?? '';
        return [(element as HTMLElement).dataset.kpi ?? '', value === '' ? null : Number(value)];
      }),
    ),
  );
}

/** Requests under way per page, and when that last changed (see `quiet`). */
const network = new WeakMap<Page, { inFlight: number; changed: number }>();

function trackNetwork(page: Page): void {
  const state = { inFlight: 0, changed: Date.now() };
  network.set(page, state);
  const done = () => {
    state.inFlight--;
    state.changed = Date.now();
  };
  page.on('request', () => {
    state.inFlight++;
    state.changed = Date.now();
  });
  page.on('requestfinished', done);
  page.on('requestfailed', done);
}

/**
 * Waits until no request has been under way for `ms`, so the page has rendered every answer it asked for.
 * (Playwright's `networkidle` is a load state, reached once per navigation: it does not wait again after a
 * change made in the page.)
 */
export async function quiet(page: Page, ms = 500, timeout = 20_000): Promise<void> {
  const state = network.get(page);
  assert.ok(state, 'a page opened with openDashboard');
  const deadline = Date.now() + timeout;
  while (state.inFlight > 0 || Date.now() - state.changed < ms) {
    assert.ok(Date.now() < deadline, `requests still under way after ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the page shows at least one KPI number with a value, and has every answer it asked for. */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('[data-kpi]')].some(
        (element) => ((element as HTMLElement).dataset.value ?? '') !== '',
      ),
    undefined,
    { timeout: 15_000 },
  );
  await quiet(page);
}

/**
 * Whether two answers' numbers are the same: exactly, but for the last bits of a mean, which DuckDB sums in
 * parallel and so in an order that may differ from one query to the next.
 */
export function sameNumber(a: number | null | undefined, b: number | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** An API call a page made: the method, the path with its query, and the body. */
export interface ApiCall {
  method: string;
  path: string;
  body: unknown;
}

/** Records every call the page makes to OpenUA's API, as sent. */
export function recordApiCalls(page: Page, server: TestServer): ApiCall[] {
  const calls: ApiCall[] = [];
  const origin = new URL(server.url).origin;
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== origin || !url.pathname.startsWith('/api/')) return;
    const data = request.postData();
    calls.push({
      method: request.method(),
      path: `${url.pathname}${url.search}`,
      body: data ? JSON.parse(data) : undefined,
    });
  });
  return calls;
}

/** The theme the page applied (`data-theme` on the document) and the background colour it gives. */
export async function themeOf(page: Page): Promise<{ theme: string | undefined; background: string }> {
  return page.evaluate(() => ({
    theme: document.documentElement.dataset.theme,
    background: getComputedStyle(document.body).backgroundColor,
  }));
}

export const screenshotPath = (name: DashboardPage, theme: Theme) =>
  path.join(SCREENSHOTS, `${name}-${theme}.png`);
