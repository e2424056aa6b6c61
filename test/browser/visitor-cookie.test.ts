import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkipReason, launchChromium, startPageServer } from '../helpers/browser.ts';
import { createKey, ROOT, removeDir, startServer, type TestServer } from '../helpers/server.ts';
import { storedWhere } from '../helpers/ua.ts';

/**
 * One visitor cookie for the page and the server. The official browser client keeps its visitor in
 * localStorage `visitorId` and in the cookie `coveo_visitorId`, the name OpenUA gives its own visitor cookie.
 * Cookies ignore ports, so a page on the same host as OpenUA (here `localhost`, another port) shares that
 * cookie with it: the client must be able to read the visitor the server chose, and to erase it.
 */

const skip = browserSkipReason();

interface Config {
  token: string;
  endpoint: string;
}
type Answer = Record<string, string>;
/** The functions test/browser/pages/visitor-page.html defines (each call runs in the page). */
interface VisitorPage {
  visitorStorage(): { localStorage: string | null; cookie: string | null };
  eventWithoutClientId(config: Config & { eventType: string }): Promise<Answer>;
  holdVisitor(config: Config, visitorId: string): Promise<void>;
  searchPage(config: Config & { searchUid: string }): Promise<{ search: Answer; custom: Answer }>;
  clearVisitor(config: Config): void;
  deleteVisitor(config: Config): void;
  currentVisitor(config: Config): Promise<string>;
}

/** Runs one of the page's functions in the page. */
function inPage<K extends keyof VisitorPage>(
  page: Page,
  name: K,
  ...args: Parameters<VisitorPage[K]>
): Promise<Awaited<ReturnType<VisitorPage[K]>>> {
  return page.evaluate(
    ([fn, fnArgs]) => {
      const defined = (window as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>)[fn];
      if (!defined) throw new Error(`the page defines no ${fn}()`);
      return defined(...(fnArgs as unknown[]));
    },
    [name, args] as const,
  ) as Promise<Awaited<ReturnType<VisitorPage[K]>>>;
}

/** The click goes by beacon, which is never answered: wait until the store holds all the page sent. */
async function eventually(server: TestServer, match: (e: Record<string, unknown>) => boolean, count: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = await storedWhere(server, match);
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the visitor cookie, shared with the official client in Chromium', { skip }, () => {
  let server: TestServer;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let browser: Browser;
  let config: Config;

  before(async () => {
    server = await startServer();
    pages = await startPageServer();
    browser = await launchChromium();
    // The page's host, another port: what a site serving OpenUA beside its pages looks like.
    config = {
      token: await createKey(server, ['analytics:write']),
      endpoint: server.url.replace('127.0.0.1', 'localhost'),
    };
    assert.equal(new URL(config.endpoint).hostname, new URL(pages.origin).hostname);
  });
  after(async () => {
    await browser?.close();
    await pages?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  /**
   * A fresh profile (no cookies, no localStorage) on the page, served from its own origin or, as when a site
   * serves OpenUA behind its own proxy, from OpenUA's (the browser is handed the page's files there).
   */
  async function openPage(
    origin: 'page' | 'openua' = 'page',
  ): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    if (origin === 'openua') {
      const files: Record<string, [file: string, contentType: string]> = {
        '/visitor-page.html': ['test/browser/pages/visitor-page.html', 'text/html'],
        '/lib/coveoua.browser.js': [
          'node_modules/coveo.analytics/dist/coveoua.browser.js',
          'text/javascript',
        ],
      };
      for (const [route, [file, contentType]] of Object.entries(files)) {
        await page.route(`${config.endpoint}${route}`, (request) =>
          request.fulfill({ body: readFileSync(path.join(ROOT, file)), contentType }),
        );
      }
    }
    await page.goto(`${origin === 'openua' ? config.endpoint : pages.origin}/visitor-page.html`);
    return { context, page, errors };
  }

  /** Every `coveo_visitorId` cookie the browser holds: there should never be two. */
  async function visitorCookies(context: BrowserContext) {
    return (await context.cookies()).filter((c) => c.name === 'coveo_visitorId');
  }

  it("a visitor the client holds is the one its events are stored under, and the server's too", async () => {
    const { context, page, errors } = await openPage();
    const visitor = randomUUID();
    await inPage(page, 'holdVisitor', config, visitor);
    assert.deepEqual(await inPage(page, 'visitorStorage'), { localStorage: visitor, cookie: visitor });

    const searchUid = randomUUID();
    const { search, custom } = await inPage(page, 'searchPage', { ...config, searchUid });
    assert.deepEqual(errors, [], 'the client logged no error');
    assert.equal(search.visitorId, visitor);
    assert.equal(custom.visitId, search.visitId);
    // An event that does not name its visitor is known by the cookie the client wrote.
    const eventType = `no-client-id-${randomUUID()}`;
    const other = await inPage(page, 'eventWithoutClientId', { ...config, eventType });
    assert.deepEqual([other.visitorId, other.visitId], [visitor, search.visitId]);

    const stored = await eventually(
      server,
      (e) =>
        e.searchQueryUid === searchUid || e.lastSearchQueryUid === searchUid || e.eventType === eventType,
      4,
    );
    assert.deepEqual(stored.map((e) => e.category).sort(), ['click', 'custom', 'custom', 'search']);
    for (const event of stored) {
      assert.equal(event.visitorId, visitor, String(event.category));
      assert.equal(event.visitId, search.visitId, 'one visit');
    }
    const cookies = await visitorCookies(context);
    assert.deepEqual(
      cookies.map((c) => c.value),
      [visitor],
      'the server kept the one cookie, and set no second',
    );
    await context.close();
  });

  it('a visit the server started through its cookie continues when the official client takes over', async () => {
    const { context, page, errors } = await openPage();
    const eventType = `server-first-${randomUUID()}`;
    const started = await inPage(page, 'eventWithoutClientId', { ...config, eventType });
    const [cookie] = await visitorCookies(context);
    assert.equal(cookie?.value, started.visitorId, 'OpenUA set the visitor cookie');
    assert.equal(cookie?.httpOnly, false);
    assert.deepEqual(
      await inPage(page, 'visitorStorage'),
      { localStorage: null, cookie: started.visitorId },
      'the page sees the visitor the server chose',
    );

    const searchUid = randomUUID();
    const { search } = await inPage(page, 'searchPage', { ...config, searchUid });
    assert.deepEqual(errors, []);
    assert.deepEqual([search.visitorId, search.visitId], [started.visitorId, started.visitId]);
    assert.equal(
      (await inPage(page, 'visitorStorage')).localStorage,
      started.visitorId,
      'the client keeps it',
    );
    const stored = await eventually(
      server,
      (e) =>
        e.searchQueryUid === searchUid || e.lastSearchQueryUid === searchUid || e.eventType === eventType,
      4,
    );
    assert.equal(stored.length, 4);
    assert.deepEqual(new Set(stored.map((e) => e.visitorId)), new Set([started.visitorId]));
    assert.deepEqual(new Set(stored.map((e) => e.visitId)), new Set([started.visitId]));
    await context.close();
  });

  it("the client's clear() forgets the visitor on both sides", async () => {
    const { context, page } = await openPage();
    const started = await inPage(page, 'eventWithoutClientId', { ...config, eventType: 'before-clear' });
    await inPage(page, 'searchPage', { ...config, searchUid: randomUUID() });
    assert.equal((await inPage(page, 'visitorStorage')).localStorage, started.visitorId);

    await inPage(page, 'clearVisitor', config);
    assert.deepEqual(await inPage(page, 'visitorStorage'), { localStorage: null, cookie: null });
    assert.deepEqual(await visitorCookies(context), [], "the server's cookie is gone too");
    // The client draws a new visitor, and OpenUA takes it from the cookie the client wrote.
    const fresh = await inPage(page, 'currentVisitor', config);
    assert.notEqual(fresh, started.visitorId);
    const next = await inPage(page, 'eventWithoutClientId', { ...config, eventType: 'after-clear' });
    assert.equal(next.visitorId, fresh, 'OpenUA no longer knows the old visitor');
    assert.notEqual(next.visitId, started.visitId);
    await context.close();
  });

  it("deleteHttpOnlyVisitorId(), on a page of OpenUA's origin, ends the visit and drops the cookie", async () => {
    // The client sends that DELETE without credentials, so only a page of the same origin has its cookie go.
    const { context, page } = await openPage('openua');
    const started = await inPage(page, 'eventWithoutClientId', { ...config, eventType: 'before-delete' });
    assert.equal((await visitorCookies(context))[0]?.value, started.visitorId);
    const ended = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await inPage(page, 'deleteVisitor', config);
    const answer = await ended;
    assert.equal(answer.status(), 200, await answer.text());
    assert.deepEqual(await answer.json(), { visitorId: started.visitorId, endedVisitId: started.visitId });
    assert.deepEqual(await visitorCookies(context), []);
    const next = await inPage(page, 'eventWithoutClientId', { ...config, eventType: 'after-delete' });
    assert.notEqual(next.visitorId, started.visitorId);
    await context.close();
  });
});

describe('the visitor cookie on a site of several hosts (OPENUA_VISITOR_COOKIE_DOMAIN)', { skip }, () => {
  let server: TestServer;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let browser: Browser;
  let config: Config;

  before(async () => {
    server = await startServer({ env: { OPENUA_VISITOR_COOKIE_DOMAIN: 'example.test' } });
    pages = await startPageServer();
    // www.example.test and ua.example.test are both this machine: the page and OpenUA on hosts of one site.
    browser = await launchChromium(['--host-resolver-rules=MAP *.example.test 127.0.0.1']);
    config = {
      token: await createKey(server, ['analytics:write']),
      endpoint: server.url.replace('127.0.0.1', 'ua.example.test'),
    };
  });
  after(async () => {
    await browser?.close();
    await pages?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  it("OpenUA's cookie and the client's are one, so the page reads the server's visitor and clear() erases it", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${pages.origin.replace('localhost', 'www.example.test')}/visitor-page.html`);
    const started = await inPage(page, 'eventWithoutClientId', { ...config, eventType: 'site-wide' });
    const cookies = (await context.cookies()).filter((c) => c.name === 'coveo_visitorId');
    assert.deepEqual(
      cookies.map((c) => [c.domain, c.value]),
      [['.example.test', started.visitorId]],
      'set for the whole site, where the client keeps its own',
    );
    assert.equal((await inPage(page, 'visitorStorage')).cookie, started.visitorId);
    assert.equal(
      await inPage(page, 'currentVisitor', config),
      started.visitorId,
      'the client goes on with it',
    );

    await inPage(page, 'clearVisitor', config);
    assert.deepEqual(
      (await context.cookies()).filter((c) => c.name === 'coveo_visitorId'),
      [],
      "the client's clear() erased the one cookie",
    );
    const next = await inPage(page, 'eventWithoutClientId', { ...config, eventType: 'site-wide-after' });
    assert.notEqual(next.visitorId, started.visitorId);
    await context.close();
  });
});
