import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoveoAnalyticsClient } from 'coveo.analytics';
import { createKey, readEvents, serverForSuite, type TestServer } from '../helpers/server.ts';

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
});
