import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  call,
  createKey,
  removeDir,
  serverForSuite,
  type TestServer,
  tempDir,
} from '../../../test/helpers/server.ts';
import {
  type Client,
  createClient,
  type NodeClientOptions,
  OpenUAError,
  type QueuedItem,
  type Violation,
} from '../src/node.ts';
import { countByKey, storedEvents } from './helpers/events.ts';
import { type Relay, startRelay } from './helpers/proxy.ts';

/**
 * The client against a real OpenUA, through a relay that can take the server away: events of each kind
 * arrive once, in batches; a rejected event is reported and not retried; Retry-After holds the next
 * attempt back; the capped queue drops its oldest events and says so.
 */

let server: TestServer;
let relay: Relay;
serverForSuite(async (started) => {
  server = started;
  relay = await startRelay(server.url);
});
after(() => relay?.close());

const clients: Client[] = [];
after(() => Promise.all(clients.map((client) => client.close())));

const client = (options: Partial<NodeClientOptions> = {}) => {
  const made = createClient({
    endpoint: relay.url,
    token: server.masterKey,
    flushIntervalMs: 50,
    retryBaseMs: 20,
    retryMaxMs: 100,
    ...options,
  });
  clients.push(made);
  return made;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('delivery', () => {
  it('sends custom, search, click and view events in batches; each arrives once, with its visitor and time', async () => {
    const dir = tempDir('openua-sdk-');
    after(() => removeDir(dir));
    const sdk = client({ batchSize: 3, clientIdFile: path.join(dir, 'client-id') });
    const before = relay.requests.length;
    const results = await Promise.all([
      sdk.logCustomEvent({
        eventType: 'sdk-kinds',
        eventValue: 'first',
        language: 'en',
        customData: { step: 1 },
      }),
      sdk.logSearchEvent({
        actionCause: 'searchboxSubmit',
        queryText: 'duckdb',
        responseTime: 12,
        searchQueryUid: 'sdk-search-1',
        language: 'en',
      }),
      sdk.logClickEvent({
        actionCause: 'documentOpen',
        documentPosition: 2,
        searchQueryUid: 'sdk-search-1',
        sourceName: 'docs',
        language: 'en',
      }),
      sdk.logViewEvent({ location: 'https://example.com/docs', language: 'en' }),
      sdk.logCustomEvent({ eventType: 'sdk-kinds', eventValue: 'second', language: 'en' }),
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['accepted', 'accepted', 'accepted', 'accepted', 'accepted'],
    );
    assert.equal(relay.requests.length - before, 2, 'a batch of 3 at once, then the other 2');

    const ids = new Set(results.map((result) => result.id));
    const stored = (await storedEvents(server, 5)).filter((event) => ids.has(event.id as string));
    assert.deepEqual(stored.map((event) => event.category).sort(), [
      'click',
      'custom',
      'custom',
      'search',
      'view',
    ]);
    assert.ok([...countByKey(stored).values()].every((count) => count === 1));
    for (const event of stored) {
      assert.equal(event.clientId, sdk.clientId);
      assert.equal(event.language, 'en');
      assert.ok(event.idempotencyKey, 'every event carries its key');
    }
    // The visitor id is kept in its file: the next run is the same visitor.
    assert.equal(client({ clientIdFile: path.join(dir, 'client-id') }).clientId, sdk.clientId);
    assert.notEqual(client().clientId, sdk.clientId);
  });

  it('flush() sends at once and resolves when the queue is empty', async () => {
    const sdk = client({ flushIntervalMs: 60_000 });
    const logged = sdk.logCustomEvent({ eventType: 'sdk-flush', eventValue: 'now', language: 'en' });
    await sdk.flush();
    assert.equal((await logged).status, 'accepted');
    assert.equal(await sdk.close(), 0);
  });
});

describe('a rejected event', () => {
  it('is reported to onRejected with the server violations, rejects its promise, and is not retried', async () => {
    const reported: [QueuedItem, Violation[]][] = [];
    const sdk = client({
      batchSize: 2,
      onRejected: (event, violations) => reported.push([event, violations]),
    });
    const before = relay.requests.length;
    const [bad, good] = await Promise.allSettled([
      sdk.logCustomEvent({ eventType: 'sdk-rejected', eventValue: 'bad', language: 'en', outcome: 9 }),
      sdk.logCustomEvent({ eventType: 'sdk-rejected', eventValue: 'good', language: 'en' }),
    ]);
    assert.equal(good.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    const error = (bad as PromiseRejectedResult).reason;
    assert.ok(error instanceof OpenUAError);
    assert.equal(error.code, 'REJECTED');
    assert.deepEqual(
      error.violations.map((v) => [v.field, v.rule, v.received]),
      [['outcome', 'maximum', 9]],
    );
    assert.equal(reported.length, 1);
    assert.equal((reported[0]?.[0] as { eventValue?: string } | undefined)?.eventValue, 'bad');
    assert.deepEqual(reported[0]?.[1], error.violations);
    await sleep(300);
    assert.equal(relay.requests.length - before, 1, 'one request, never retried');
    const stored = await storedEvents(server, 1, 'sdk-rejected');
    assert.deepEqual(
      stored.map((event) => event.eventValue),
      ['good'],
    );
  });

  it('a request refused whole (a bad credential) rejects each of its events with the refusal', async () => {
    const reported: Violation[][] = [];
    const sdk = client({ token: 'not-a-key', onRejected: (_, violations) => reported.push(violations) });
    await assert.rejects(
      sdk.logCustomEvent({ eventType: 'sdk-refused', eventValue: 'x', language: 'en' }),
      (error: OpenUAError) => error.code === 'REJECTED' && error.violations.length > 0,
    );
    assert.equal(reported.length, 1);
  });

  it('debug mode throws before queuing, naming every violation', async () => {
    const sdk = client({ debug: true });
    const before = relay.requests.length;
    assert.throws(
      () =>
        sdk.logClickEvent({
          actionCause: 'documentOpen',
          documentPosition: 1.5,
          searchQueryUid: '',
        } as never),
      (error: OpenUAError) => {
        assert.equal(error.code, 'INVALID_REQUEST');
        assert.deepEqual(
          error.violations.map((v) => [v.field, v.rule]),
          [
            ['searchQueryUid', 'type'],
            ['sourceName', 'required'],
            ['language', 'required'],
            ['documentPosition', 'type'],
          ],
        );
        return true;
      },
    );
    assert.equal(await sdk.close(), 0);
    assert.equal(relay.requests.length, before);
  });
});

describe('Retry-After', () => {
  it('holds the next attempt back as long as the server asks (429 under a rate limit)', async () => {
    const org = 'sdk-limited';
    const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: org } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const limited = await call(`${server.url}/api/v1/orgs/${org}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { rateLimits: { writePerSecond: 1, burst: 1 } },
    });
    assert.equal(limited.status, 200, JSON.stringify(limited.body));
    const key = await createKey(server, ['analytics:write'], org);
    // Backoff alone would wait a few ms: any longer wait is Retry-After's.
    const sdk = client({ token: key, batchSize: 1, retryBaseMs: 1, retryMaxMs: 5 });
    const from = relay.answers.length;
    const results = await Promise.all(
      [1, 2, 3].map((n) =>
        sdk.logCustomEvent({ eventType: 'sdk-limited', eventValue: `e${n}`, language: 'en' }),
      ),
    );
    assert.ok(results.every((result) => result.status === 'accepted'));
    // Only this client's traffic: other tests' clients may still send through the same relay.
    const answers = relay.answers.slice(from).filter((answer) => answer.credential === key);
    const refused = answers.filter((answer) => answer.status === 429);
    assert.ok(refused.length > 0, 'the limit was met');
    for (const answer of refused) {
      assert.ok(answer.retryAfter !== undefined && answer.retryAfter >= 1);
      const next = relay.sent.find((request) => request.credential === key && request.at >= answer.at)?.at;
      assert.ok(next, 'a later attempt');
      assert.ok(
        next - answer.at >= answer.retryAfter * 1000 - 50,
        `waited ${next - answer.at} ms after Retry-After: ${answer.retryAfter}`,
      );
    }
    const read = await call<{ events: unknown[] }>(
      `${server.url}/api/v1/events?eventType=sdk-limited&org=${org}`,
      {
        token: server.masterKey,
      },
    );
    assert.equal(read.body.events.length, 3);
  });
});

describe('the capped queue', () => {
  it('drops the oldest events past maxQueued, reports them to onDropped, and delivers the rest', async () => {
    relay.to(undefined);
    const dropped: number[] = [];
    const sdk = client({ maxQueued: 5, onDropped: (count) => dropped.push(count) });
    const logged = [0, 1, 2, 3, 4, 5, 6, 7].map((n) =>
      sdk.logCustomEvent({ eventType: 'sdk-capped', eventValue: `e${n}`, language: 'en' }),
    );
    const outcomes = await Promise.allSettled(logged.slice(0, 3));
    assert.ok(
      outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason.code === 'DROPPED'),
      'the 3 oldest are dropped',
    );
    assert.equal(
      dropped.reduce((sum, count) => sum + count, 0),
      3,
    );
    await sleep(200);
    relay.to(server.url);
    await Promise.all(logged.slice(3));
    const stored = await storedEvents(server, 5, 'sdk-capped');
    assert.deepEqual(stored.map((event) => event.eventValue).sort(), ['e3', 'e4', 'e5', 'e6', 'e7']);
  });
});
