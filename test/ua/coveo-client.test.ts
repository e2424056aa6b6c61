import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CoveoAnalyticsClient,
  CoveoSearchPageClient,
  type IRequestPayload,
  SearchPageEvents,
} from 'coveo.analytics';
import { SignJWT } from 'jose';
import { createKey, readEvents, serverForSuite, type TestServer } from '../helpers/server.ts';
import { mintToken, storedWhere } from '../helpers/ua.ts';

/**
 * Coveo's official client (coveo.analytics, pinned in devDependencies), left unchanged, pointed at OpenUA.
 * Only its `endpoint` and `token` differ from what a page would give it for Coveo.
 */

let server: TestServer;
let key: string;
serverForSuite(async (started) => {
  server = started;
  key = await createKey(server, ['analytics:write']);
});

describe('coveo.analytics from Node', () => {
  for (const [label, suffix] of [
    ['a bare endpoint (/rest/v15)', ''],
    ['an endpoint ending in /rest/ua (/rest/ua/v15)', '/rest/ua'],
  ] as const) {
    it(`sends a custom event to ${label} and it is stored`, async () => {
      const client = new CoveoAnalyticsClient({ token: key, endpoint: `${server.url}${suffix}` });
      const marker = `client${suffix.replaceAll('/', '_')}`;
      const answer = await client.sendCustomEvent({
        eventType: marker,
        eventValue: 'facetSearch',
        // Outside a browser the client cannot read <html lang> and would send "unknown".
        language: 'en',
        originLevel1: 'ClientHub',
        lastSearchQueryUid: 'sq-1',
        customData: { 'Facet Id': '@objecttype', position: 3 },
      });
      assert.ok(answer, 'the client resolves with the answer');
      assert.match(String(answer.visitId), /^[0-9a-f-]{36}$/);
      assert.match(String(answer.visitorId), /^[0-9a-f-]{36}$/);

      const [stored] = await readEvents(server, server.masterKey, `&eventType=${marker}`);
      assert.ok(stored, 'the event is stored');
      assert.equal(stored.eventValue, 'facetSearch');
      assert.equal(stored.originLevel1, 'ClientHub');
      assert.equal(stored.lastSearchQueryUid, 'sq-1');
      assert.equal(stored.userAgent, 'unknown', 'what the client sends for its user agent outside a browser');
      assert.deepEqual(stored.customData, { facet_id: '@objecttype', position: '3' });
      assert.equal(stored.visitId, answer.visitId);
      assert.equal(stored.visitorId, answer.visitorId);
    });
  }

  it('keeps the visitor the server gave it, so its events share a visit', async () => {
    const client = new CoveoAnalyticsClient({ token: key, endpoint: server.url });
    const first = await client.sendCustomEvent({ eventType: 'pair', eventValue: 'one', language: 'en' });
    const second = await client.sendCustomEvent({ eventType: 'pair', eventValue: 'two', language: 'en' });
    assert.ok(first && second);
    assert.equal(second.visitorId, first.visitorId);
    assert.equal(second.visitId, first.visitId);
    const stored = await readEvents(server, server.masterKey, '&eventType=pair');
    assert.deepEqual(stored.map((e) => e.eventValue).sort(), ['one', 'two']);
    assert.equal(new Set(stored.map((e) => e.clientId)).size, 1);
  });

  it('posts /searches through its own transport and reads {searchEventResponses}, in order', async () => {
    // The client has no public method for /searches, but its transport posts any payload as JSON to
    // `${baseUrl}/analytics/<type>` and answers the parsed body: what a page batching searches uses.
    const client = new CoveoAnalyticsClient({ token: key, endpoint: server.url });
    const clientId = randomUUID();
    const searches = ['first', 'second'].map((queryText) => ({
      actionCause: 'searchboxSubmit',
      queryText,
      responseTime: 12,
      searchQueryUid: randomUUID(),
      language: 'en',
      clientId,
    }));
    const answer = (await client.runtime.client.sendEvent(
      'searches',
      searches as unknown as IRequestPayload,
    )) as unknown as { searchEventResponses: Record<string, unknown>[] };
    assert.ok(answer, 'the transport resolves with the answer');
    assert.deepEqual(Object.keys(answer), ['searchEventResponses']);
    const responses = answer.searchEventResponses;
    assert.equal(responses.length, 2);
    const stored = await storedWhere(server, (e) => e.clientId === clientId);
    responses.forEach((response, index) => {
      assert.deepEqual(Object.keys(response), ['searchEventUid', 'visitId', 'visitorId', 'clientId']);
      const search = stored.find((e) => e.id === response.searchEventUid);
      assert.ok(search, `answer ${index} is the id of a stored search`);
      assert.equal(search.queryText, searches[index]?.queryText, 'the answers come in the order sent');
      assert.equal(search.searchQueryUid, searches[index]?.searchQueryUid);
      assert.equal(response.visitorId, clientId);
    });
  });

  it('rejects, having logged the 400, when its search token has expired', async (t) => {
    const { tokenSecret } = await server.services.organizations.require('default');
    const expired = await new SignJWT({ organization: 'default', userIds: [{ name: 'x', type: 'User' }] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(Buffer.from(tokenSecret));
    const logged: unknown[][] = [];
    t.mock.method(console, 'error', (...args: unknown[]) => logged.push(args));
    const client = new CoveoAnalyticsClient({ token: expired, endpoint: server.url });
    const eventType = `expired-${randomUUID()}`;
    await assert.rejects(
      client.sendCustomEvent({ eventType, eventValue: 'v', language: 'en' }),
      /An error has occurred when sending the "custom" event/,
    );
    const response = logged.map((args) => args[1]).find((arg) => arg instanceof Object && 'status' in arg);
    assert.equal((response as { status: number } | undefined)?.status, 400);
    assert.deepEqual(await readEvents(server, server.masterKey, `&eventType=${eventType}`), []);
  });
});

describe('CoveoSearchPageClient from Node', () => {
  /** What a search page hands the client: its current search, as a search UI would. */
  const provider = (searchUid: string) => ({
    getBaseMetadata: () => ({ context_role: 'customer' }),
    getSearchEventRequestPayload: () => ({
      queryText: 'reset password',
      responseTime: 37,
      numberOfResults: 2,
      results: [
        { documentUri: 'https://kb.example.com/1', documentUriHash: 'h1' },
        { documentUri: 'https://kb.example.com/2', documentUriHash: 'h2' },
      ],
    }),
    getSearchUID: () => searchUid,
    getPipeline: () => 'support',
    getOriginLevel1: () => 'SupportHub',
    getOriginLevel2: () => 'All',
    getOriginLevel3: () => 'https://www.example.com/',
    getLanguage: () => 'en',
    getIsAnonymous: () => false,
  });

  it('logs a search, a click on result 2 and a custom event, joined by the search uid', async () => {
    const searchUid = randomUUID();
    const token = await mintToken(server, { userId: 'frank@example.com', userGroups: ['customers'] });
    for (const endpoint of [server.url, `${server.url}/rest/ua`]) {
      const uid = endpoint === server.url ? searchUid : randomUUID();
      const client = new CoveoSearchPageClient({ token, endpoint }, provider(uid));
      await client.logSearchEvent(SearchPageEvents.searchboxSubmit);
      await client.logDocumentOpen(
        {
          documentUri: 'https://kb.example.com/2',
          documentUriHash: 'h2',
          sourceName: 'Knowledge Base',
          documentPosition: 2,
          documentTitle: 'Resetting a password',
          documentUrl: 'https://kb.example.com/2',
          collectionName: 'default',
        },
        { contentIDKey: 'permanentid', contentIDValue: 'kb-2' },
      );
      await client.logCustomEventWithType('copyLink', 'resultAction', { position: 2 });

      const joined = await storedWhere(
        server,
        (e) => e.searchQueryUid === uid || e.lastSearchQueryUid === uid,
      );
      const byCategory = Object.fromEntries(joined.map((e) => [e.category, e]));
      assert.deepEqual(joined.map((e) => e.category).sort(), ['click', 'custom', 'search'], endpoint);
      const { search, click, custom } = byCategory as Record<string, Record<string, unknown>>;
      assert.ok(search && click && custom);
      assert.equal(search.queryText, 'reset password');
      assert.equal(search.actionCause, 'searchboxSubmit');
      assert.equal(search.responseTime, 37);
      assert.equal(search.numberOfResults, 2);
      assert.equal(search.queryPipeline, 'support');
      assert.deepEqual(search.userGroups, ['customers'], 'the token adds its groups');
      assert.equal(search.username, 'frank@example.com');
      assert.equal(search.originLevel1, 'SupportHub');
      assert.deepEqual(search.customData, { context_role: 'customer' });
      assert.equal(click.documentPosition, 2);
      assert.equal(click.documentUri, 'https://kb.example.com/2');
      assert.equal(click.sourceName, 'Knowledge Base');
      assert.equal(click.actionCause, 'documentOpen');
      assert.equal(click.customData && (click.customData as Record<string, string>).contentidvalue, 'kb-2');
      assert.equal(custom.eventType, 'resultAction');
      assert.equal(custom.eventValue, 'copyLink');
      assert.equal((custom.customData as Record<string, string>).position, '2');
      assert.equal(new Set(joined.map((e) => e.visitId)).size, 1, 'one visitor, one visit');
    }
  });

  it('a referrer (originLevel3) past 1024 characters is cut by the client to 1024, and stored so', async () => {
    const searchUid = randomUUID();
    const referrer = `https://www.example.com/search?q=${'reset-password-'.repeat(100)}`;
    assert.ok(referrer.length > 1024);
    const client = new CoveoSearchPageClient(
      { token: key, endpoint: server.url },
      { ...provider(searchUid), getOriginLevel3: () => referrer },
    );
    await client.logSearchEvent(SearchPageEvents.searchboxSubmit);
    await client.logDocumentOpen(
      {
        documentUri: 'https://kb.example.com/2',
        documentUriHash: 'h2',
        sourceName: 'Knowledge Base',
        documentPosition: 2,
      },
      { contentIDKey: 'permanentid', contentIDValue: 'kb-2' },
    );
    await client.logCustomEventWithType('copyLink', 'resultAction', {});

    const joined = await storedWhere(
      server,
      (e) => e.searchQueryUid === searchUid || e.lastSearchQueryUid === searchUid,
    );
    assert.deepEqual(joined.map((e) => e.category).sort(), ['click', 'custom', 'search']);
    for (const event of joined)
      assert.equal(event.originLevel3, referrer.slice(0, 1024), String(event.category));
  });
});
