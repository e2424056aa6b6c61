import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, launchChromium, startPageServer } from '../helpers/browser.ts';
import { createKey, removeDir, startServer, type TestServer } from '../helpers/server.ts';
import { mintToken, storedWhere } from '../helpers/ua.ts';

/**
 * A search page in real Chromium, on its own origin, logging to OpenUA with the official client's browser
 * build (coveo.analytics, served from node_modules) left unchanged: only its endpoint and token point here.
 */

const skip = browserSkipReason();

interface Sent {
  beacons: string[];
  fetches: string[];
}
/** The functions test/browser/pages/search-page.html defines (each call runs in the page). */
interface SearchPage {
  beaconFlow(config: object): Promise<Sent>;
  fetchFlow(
    config: object,
  ): Promise<{ answers: Record<string, Record<string, string> | undefined>; sent: Sent }>;
}

/** Beacons are never answered: wait until the store holds what the page sent, or give up. */
async function eventually(server: TestServer, uid: string, count: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const joined = await storedWhere(server, (e) => e.searchQueryUid === uid || e.lastSearchQueryUid === uid);
    if (joined.length >= count || Date.now() > deadline) return joined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function byCategory(events: Record<string, unknown>[]) {
  return Object.fromEntries(events.map((e) => [e.category, e])) as Record<string, Record<string, unknown>>;
}

describe('the official client in Chromium', { skip }, () => {
  let server: TestServer;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let browser: Browser;
  let writeKey: string;

  before(async () => {
    server = await startServer();
    pages = await startPageServer();
    browser = await launchChromium();
    writeKey = await createKey(server, ['analytics:write']);
  });
  after(async () => {
    await browser?.close();
    await pages?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  async function openPage() {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(`${pages.origin}/search-page.html`);
    return { page, errors };
  }

  it('in beacon mode, a search, a click on result 2 and a custom event are stored and joined', async () => {
    const searchUid = randomUUID();
    const { page, errors } = await openPage();
    const sent = await page.evaluate((config) => (window as unknown as SearchPage).beaconFlow(config), {
      token: writeKey,
      endpoint: server.url,
      searchUid,
    });
    assert.deepEqual(sent.fetches, [], 'nothing went by fetch');
    assert.deepEqual(sent.beacons.map((url) => new URL(url).pathname).sort(), [
      '/rest/v15/analytics/click',
      '/rest/v15/analytics/custom',
      '/rest/v15/analytics/search',
    ]);
    assert.ok(sent.beacons.every((url) => new URL(url).searchParams.get('access_token') === writeKey));

    const joined = await eventually(server, searchUid, 3);
    assert.deepEqual(
      joined.map((e) => e.category).sort(),
      ['click', 'custom', 'search'],
      JSON.stringify(errors),
    );
    const { search, click, custom } = byCategory(joined);
    assert.ok(search && click && custom);
    assert.equal(search.queryText, 'reset password');
    assert.equal(search.actionCause, 'searchboxSubmit');
    assert.deepEqual(
      (search.results as { documentUri: string }[]).map((r) => r.documentUri),
      ['https://kb.example.com/1', 'https://kb.example.com/2'],
    );
    assert.equal(click.searchQueryUid, searchUid);
    assert.equal(click.documentPosition, 2);
    assert.equal(click.documentUrl, 'https://kb.example.com/2');
    assert.equal(click.documentTitle, 'Resetting a password');
    assert.equal(custom.lastSearchQueryUid, searchUid);
    assert.equal(custom.eventType, 'resultAction');
    assert.equal(custom.eventValue, 'copyLink');
    for (const event of [search, click, custom]) {
      assert.equal(event.language, 'en');
      assert.match(String(event.userAgent), /Chrome\//, 'the browser user agent the client adds');
      assert.equal(event.originLevel1, 'SupportHub');
      assert.deepEqual((event.customData as Record<string, string>).context_page, 'support');
    }
    assert.equal(new Set(joined.map((e) => e.clientId)).size, 1, 'one visitor');
    assert.equal(new Set(joined.map((e) => e.visitId)).size, 1, 'one visit');
    await page.close();
  });

  it('in fetch mode (CORS with credentials) the answers reach the client, and a view is stored too', async () => {
    const searchUid = randomUUID();
    const token = await mintToken(server, { userId: 'gina@example.com', userGroups: ['customers'] });
    const { page, errors } = await openPage();
    const { answers, sent } = await page.evaluate(
      (config) => (window as unknown as SearchPage).fetchFlow(config),
      { token, endpoint: `${server.url}/rest/ua`, searchUid },
    );
    assert.deepEqual(
      errors,
      [],
      'the client logged no error (a refused preflight or answer would show here)',
    );
    assert.equal(sent.fetches.length, 3, 'search, custom and view went by fetch');
    assert.equal(sent.beacons.length, 1, 'the click went by beacon');
    assert.match(String(answers.search?.searchEventUid), /^[0-9a-f-]{36}$/);
    assert.equal(answers.custom?.visitId, answers.search?.visitId);

    const joined = await eventually(server, searchUid, 3);
    const { search, click, custom } = byCategory(joined);
    assert.ok(search && click && custom, JSON.stringify(joined.map((e) => e.category)));
    assert.equal(search.id, answers.search?.searchEventUid);
    assert.deepEqual(search.userGroups, ['customers']);
    assert.equal(search.username, 'gina@example.com');
    assert.equal(click.username, 'gina@example.com');
    const [view] = await storedWhere(
      server,
      (e) => e.category === 'view' && e.clientId === search.clientId && e.contentIdValue === 'kb-2',
    );
    assert.ok(view, 'the view is stored');
    assert.equal(view.location, `${pages.origin}/search-page.html`);
    assert.equal(view.title, 'Support search');
    assert.equal(view.contentType, 'article');
    await page.close();
  });
});
