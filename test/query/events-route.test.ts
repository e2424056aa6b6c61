import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CUSTOM_PATH,
  call,
  createKey,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/** GET /api/v1/events: the read-back of stored events. */

let server: TestServer;
let readKey: string;
let writeKey: string;
let startedAt: Date;
serverForSuite(async (started) => {
  server = started;
  readKey = await createKey(server, ['analytics:read']);
  writeKey = await createKey(server, ['analytics:write']);
  startedAt = new Date();
  for (const value of ['first', 'second', 'third']) {
    const answer = await call(`${server.url}${CUSTOM_PATH}`, {
      token: writeKey,
      body: validCustomEvent({
        eventType: 'readback',
        eventValue: value,
        customData: { 'Step Name': value },
      }),
    });
    assert.equal(answer.status, 200);
  }
  await call(`${server.url}${CUSTOM_PATH}`, {
    token: writeKey,
    body: validCustomEvent({ eventType: 'other' }),
  });
});

const get = (query: string, token = readKey) =>
  call<{ events: Record<string, unknown>[] }>(`${server.url}/api/v1/events${query}`, { token });

describe('GET /api/v1/events', () => {
  it('answers newest first, filtered by eventType, with every field', async () => {
    const answer = await get('?eventType=readback');
    assert.equal(answer.status, 200);
    assert.deepEqual(
      answer.body.events.map((e) => e.eventValue),
      ['third', 'second', 'first'],
    );
    const [event] = answer.body.events;
    assert.deepEqual(event?.customData, { step_name: 'third' });
    for (const field of [
      'id',
      'visitId',
      'visitorId',
      'clientId',
      'receivedTime',
      'derivedTime',
      'language',
      'username',
    ]) {
      assert.ok(event && field in event, `field ${field} is shown`);
    }
  });

  it('limits the answer', async () => {
    const answer = await get('?eventType=readback&limit=2');
    assert.deepEqual(
      answer.body.events.map((e) => e.eventValue),
      ['third', 'second'],
    );
  });

  it('filters by time range, from inclusive and to exclusive', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(startedAt.getTime() - 3_600_000).toISOString();
    assert.equal((await get(`?eventType=readback&from=${future}`)).body.events.length, 0);
    assert.equal((await get(`?eventType=readback&to=${past}`)).body.events.length, 0);
    assert.equal((await get(`?eventType=readback&from=${past}&to=${future}`)).body.events.length, 3);
    const all = (await get(`?from=${past}`)).body.events;
    assert.equal(all.length, 4);
    const oldest = all.at(-1)?.derivedTime as string;
    const fromOldestExclusive = (await get(`?to=${encodeURIComponent(oldest)}`)).body.events;
    assert.equal(fromOldestExclusive.length, 0);
  });

  it('needs analytics:read', async () => {
    const answer = await get('', writeKey);
    assert.equal(answer.status, 403);
    assert.equal((await get('', '')).status, 401);
  });

  it('rejects bad parameters, naming each', async () => {
    const answer = await get('?from=yesterday&limit=0');
    assert.equal(answer.status, 400);
    const violations = (answer.body as unknown as { violations: { field: string }[] }).violations;
    assert.deepEqual(
      violations.map((v) => v.field),
      ['from', 'limit'],
    );
    const limit = await get('?limit=10001');
    assert.equal(limit.status, 400);
    assert.deepEqual(
      (limit.body as unknown as { violations: { field: string; received: unknown }[] }).violations.map(
        (v) => [v.field, v.received],
      ),
      [['limit', '10001']],
    );
    assert.equal((await get('?limit=abc')).status, 400);
  });
});
