import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { startConversation } from '../helpers/channel.ts';
import { testStorage } from '../helpers/engine.ts';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import { canonicalEvent } from '../helpers/events.ts';
import {
  call,
  createKey,
  readEvents,
  removeDir,
  serverForSuite,
  startServer,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';
import { validSearchEvent } from '../helpers/ua.ts';

/**
 * `POST /api/v1/events/batch`: a result for every event, exact idempotency across the batch, concurrent
 * requests and restarts, and the client's times.
 */

const BATCH = '/api/v1/events/batch';

interface Result {
  status: 'accepted' | 'duplicate' | 'rejected';
  id?: string;
  errors?: { field: string; rule: string; received?: unknown; message: string }[];
}

const postBatch = (server: TestServer, body: unknown, token = server.masterKey) =>
  call<{ results: Result[] }>(`${server.url}${BATCH}`, { token, body });

/** Every stored event that carries one of the keys, by key. */
async function storedByKey(server: TestServer, keys: readonly string[]) {
  const wanted = new Set(keys);
  const byKey = new Map<string, Record<string, unknown>[]>();
  for (const event of await readEvents(server)) {
    const key = event.idempotencyKey as string | null;
    if (key && wanted.has(key)) byKey.set(key, [...(byKey.get(key) ?? []), event]);
  }
  return byKey;
}

const custom = (eventId: string, extra: Record<string, unknown> = {}) => ({
  kind: 'custom',
  eventId,
  ...validCustomEvent({ eventType: 'batch', eventValue: eventId.slice(0, 100) }),
  ...extra,
});

describe('a batch mixing valid, invalid and duplicate events', () => {
  let server: TestServer;
  serverForSuite((started) => {
    server = started;
  });

  it('answers each event in order and stores only the valid ones, once', async () => {
    const conversation = await startConversation(server);
    const [a, b, c, earlier] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const first = await postBatch(server, { events: [custom(earlier)] });
    assert.equal(first.body.results[0]?.status, 'accepted', JSON.stringify(first.body));

    const answer = await postBatch(server, {
      events: [
        custom(a),
        { kind: 'search', eventId: b, ...validSearchEvent({ queryText: undefined }) },
        custom(a, { eventValue: 'same key, later in the batch' }),
        custom(earlier),
        {
          kind: 'kpi',
          eventId: c,
          data: { ...conversation, events: [{ kpiEventName: 'SessionStarted' }] },
          eventName: 'SessionStarted',
        },
        { kind: 'purchase', eventType: 'x' },
        'not an event',
        { kind: 'view', ...validCustomEvent() },
        { kind: 'custom', ...validCustomEvent({ eventType: 'batch-unkeyed' }) },
      ],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const results = answer.body.results;
    assert.deepEqual(
      results.map((r) => r.status),
      [
        'accepted',
        'rejected',
        'duplicate',
        'duplicate',
        'accepted',
        'rejected',
        'rejected',
        'rejected',
        'accepted',
      ],
    );
    assert.equal(results[2]?.id, results[0]?.id, 'the duplicate names the first event of its key');
    assert.equal(
      results[3]?.id,
      first.body.results[0]?.id,
      'a key from an earlier request is a duplicate too',
    );
    assert.deepEqual(
      results[1]?.errors?.map((e) => [e.field, e.rule]),
      [['queryText', 'required']],
      'a rejected item says which field broke which rule',
    );
    assert.deepEqual(
      results[5]?.errors?.map((e) => [e.field, e.rule, e.received]),
      [['kind', 'enum', 'purchase']],
    );
    assert.deepEqual(
      results[6]?.errors?.map((e) => [e.field, e.rule, e.received]),
      [['', 'type', 'not an event']],
    );
    assert.deepEqual(
      results[7]?.errors?.map((e) => [e.field, e.rule]),
      [['location', 'required']],
    );

    const byKey = await storedByKey(server, [a, b, c, earlier]);
    assert.equal(byKey.get(a)?.length, 1);
    assert.equal(byKey.get(a)?.[0]?.id, results[0]?.id);
    assert.equal(byKey.get(a)?.[0]?.eventValue, a.slice(0, 100), 'the first event of a key is the one kept');
    assert.equal(byKey.get(b), undefined, 'a rejected event is not stored');
    assert.equal(byKey.get(earlier)?.length, 1);
    const kpi = byKey.get(c)?.[0];
    assert.equal(kpi?.category, 'kpi');
    assert.equal(kpi?.conversationId, conversation.conversationId);
    assert.equal(kpi?.id, results[4]?.id);
    assert.equal((await readEvents(server, server.masterKey, '&eventType=batch-unkeyed')).length, 1);
  });

  it('a KPI item is one event: several in data.events are refused with the reason', async () => {
    const conversation = await startConversation(server);
    const answer = await postBatch(server, {
      events: [
        {
          kind: 'kpi',
          data: {
            ...conversation,
            events: [{ kpiEventName: 'SessionStarted' }, { kpiEventName: 'SessionEnded' }],
          },
          eventName: 'SessionStarted',
        },
        {
          kind: 'kpi',
          data: { conversationId: 'nope', events: [{ kpiEventName: 'SessionStarted' }] },
          eventName: 'x',
        },
      ],
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(
      answer.body.results[0]?.errors?.map((e) => [e.field, e.rule, e.received]),
      [['data.events', 'maxItems', 2]],
    );
    assert.equal(answer.body.results[1]?.status, 'rejected');
    assert.ok(
      answer.body.results[1]?.errors?.some((e) => e.field === 'data.conversationId'),
      JSON.stringify(answer.body),
    );
  });

  it('refuses the whole request only for what is wrong with the batch itself', async () => {
    const notArray = violationsOf(await postBatch(server, { events: 'x' }));
    assert.deepEqual(
      notArray.map((v) => [v.field, v.rule]),
      [['events', 'type']],
    );
    const empty = violationsOf(await postBatch(server, { events: [] }));
    assert.deepEqual(
      empty.map((v) => [v.field, v.rule]),
      [['events', 'minItems']],
    );
    const tooMany = violationsOf(
      await postBatch(server, { events: Array.from({ length: 1001 }, () => ({})) }),
    );
    assert.deepEqual(
      tooMany.map((v) => [v.field, v.rule, v.limit, v.received]),
      [['events', 'maxItems', 1000, 1001]],
    );
    const badSentAt = violationsOf(
      await postBatch(server, { sentAt: 'now', events: [custom(randomUUID())] }),
    );
    assert.deepEqual(
      badSentAt.map((v) => [v.field, v.rule]),
      [['sentAt', 'format']],
    );
    const extra = violationsOf(await postBatch(server, { events: [custom(randomUUID())], org: 'other' }));
    assert.deepEqual(
      extra.map((v) => [v.field, v.rule]),
      [['org', 'unknownField']],
    );
  });

  it('takes 1000 events, and a body up to 5 MB (a larger one is 413)', async () => {
    const keys = Array.from({ length: 1000 }, () => randomUUID());
    const answer = await postBatch(server, { events: keys.map((k) => custom(k)) });
    assert.equal(answer.status, 200);
    assert.ok(answer.body.results.every((r) => r.status === 'accepted'));
    assert.equal((await storedByKey(server, keys)).size, 1000);
    const big = { events: [custom(randomUUID(), { customData: { blob: 'x'.repeat(5 * 1024 * 1024) } })] };
    errorOf(await postBatch(server, big), 413, 'BODY_TOO_LARGE');
  });

  it("needs analytics:write, and files events under the credential's organization", async () => {
    errorOf(await postBatch(server, { events: [custom(randomUUID())] }, ''), 401, 'UNAUTHENTICATED');
    const reader = await createKey(server, ['analytics:read']);
    errorOf(await postBatch(server, { events: [custom(randomUUID())] }, reader), 403, 'FORBIDDEN');
    await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'batch-other' } });
    const otherKey = await createKey(server, ['analytics:write', 'analytics:read'], 'batch-other');
    const key = randomUUID();
    assert.equal(
      (await postBatch(server, { events: [custom(key)] }, otherKey)).body.results[0]?.status,
      'accepted',
    );
    assert.equal((await storedByKey(server, [key])).size, 0, 'not in default');
    // Keys are per organization: the same key in default is a new event.
    assert.equal((await postBatch(server, { events: [custom(key)] })).body.results[0]?.status, 'accepted');
  });
});

describe('the same batch from 5 connections at once', () => {
  let server: TestServer;
  serverForSuite((started) => {
    server = started;
  });

  it('stores each event exactly once; every answer names the stored event', async () => {
    const keys = Array.from({ length: 200 }, () => randomUUID());
    const body = { events: keys.map((k) => custom(k)) };
    const answers = await Promise.all(Array.from({ length: 5 }, () => postBatch(server, body)));
    for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body).slice(0, 300));
    const byKey = await storedByKey(server, keys);
    assert.equal(byKey.size, keys.length);
    keys.forEach((key, index) => {
      const stored = byKey.get(key) ?? [];
      assert.equal(stored.length, 1, `${key} stored once`);
      const results = answers.map((a) => a.body.results[index] as Result);
      assert.equal(results.filter((r) => r.status === 'accepted').length, 1, 'one request stored it');
      assert.equal(results.filter((r) => r.status === 'duplicate').length, 4);
      assert.ok(
        results.every((r) => r.id === stored[0]?.id),
        'every answer names the stored event',
      );
    });
  });
});

describe('across a restart', () => {
  it('a replayed batch is answered duplicate for every item, with the first ids', async () => {
    const dataDir = tempDir();
    const keys = Array.from({ length: 20 }, () => randomUUID());
    const body = { events: keys.map((k) => custom(k)) };
    let server = await startServer({ dataDir });
    const masterKey = server.masterKey;
    const first = await postBatch(server, body);
    assert.ok(first.body.results.every((r) => r.status === 'accepted'));
    await server.close();

    server = await startServer({ dataDir, masterKey });
    try {
      const replay = await postBatch(server, body);
      assert.deepEqual(
        replay.body.results.map((r) => r.status),
        keys.map(() => 'duplicate'),
      );
      assert.deepEqual(
        replay.body.results.map((r) => r.id),
        first.body.results.map((r) => r.id),
      );
      assert.equal((await storedByKey(server, keys)).size, keys.length);
      assert.ok([...(await storedByKey(server, keys)).values()].every((events) => events.length === 1));
    } finally {
      await server.close();
      removeDir(dataDir);
    }
  });

  it('the window counts from the first event: a key older than the window is new again', async () => {
    const dataDir = tempDir();
    // What an earlier run stored: two keyed events, 2 and 6 days old.
    const storage = await testStorage(dataDir);
    await storage.migrate([]);
    const [twoDays, sixDays] = [randomUUID(), randomUUID()];
    const stored = (key: string, daysAgo: number) => {
      const at = new Date(Date.now() - daysAgo * 86_400_000);
      return canonicalEvent({ org: 'default', idempotencyKey: key, receivedTime: at, derivedTime: at });
    };
    await storage.appendEvents([stored(twoDays, 2), stored(sixDays, 6)]);
    await storage.close();

    const server = await startServer({ dataDir });
    try {
      const answer = await postBatch(server, { events: [custom(twoDays), custom(sixDays)] });
      assert.deepEqual(
        answer.body.results.map((r) => r.status),
        ['duplicate', 'duplicate'],
        'inside 7 days',
      );
      // With a 1-day window (set before the keys are read again, at the next start), both are new.
      await call(`${server.url}/api/v1/orgs/default`, {
        method: 'PATCH',
        token: server.masterKey,
        body: { dedupWindowDays: 1 },
      });
    } finally {
      await server.close();
    }
    const again = await startServer({ dataDir });
    try {
      const answer = await postBatch(again, { events: [custom(twoDays), custom(sixDays)] });
      assert.deepEqual(
        answer.body.results.map((r) => r.status),
        ['accepted', 'accepted'],
      );
    } finally {
      await again.close();
      removeDir(dataDir);
    }
  });
});

describe("the client's times", () => {
  let server: TestServer;
  serverForSuite((started) => {
    server = started;
  });

  it('a clock two hours ahead is corrected by sentAt: the derived time is when the event really happened', async () => {
    const skew = 2 * 3600_000;
    const now = Date.now();
    const key = randomUUID();
    const answer = await postBatch(server, {
      sentAt: new Date(now + skew).toISOString(),
      events: [custom(key, { eventTime: new Date(now + skew - 5 * 60_000).toISOString() })],
    });
    assert.equal(answer.body.results[0]?.status, 'accepted', JSON.stringify(answer.body));
    const [event] = (await storedByKey(server, [key])).get(key) ?? [];
    assert.ok(event);
    const derived = Date.parse(event.derivedTime as string);
    const received = Date.parse(event.receivedTime as string);
    assert.equal(
      received - derived,
      Date.parse(event.sentTime as string) - Date.parse(event.eventTime as string),
    );
    assert.ok(Math.abs(derived - (now - 5 * 60_000)) < 60_000, 'about five minutes before now');
  });

  it('without sentAt the event time is taken as given; without either, the receive time', async () => {
    const [timed, untimed] = [randomUUID(), randomUUID()];
    const eventTime = new Date(Date.now() - 3600_000).toISOString();
    await postBatch(server, { events: [custom(timed, { eventTime }), custom(untimed)] });
    const byKey = await storedByKey(server, [timed, untimed]);
    assert.equal(byKey.get(timed)?.[0]?.derivedTime, eventTime);
    const plain = byKey.get(untimed)?.[0];
    assert.equal(plain?.derivedTime, plain?.receivedTime);
    assert.equal(plain?.eventTime, null);
  });

  it("a KPI item takes the batch's sentAt and bounds as a UA item does, and its eventId is its one key", async () => {
    const conversation = await startConversation(server);
    const skew = 2 * 3600_000;
    const now = Date.now();
    const kpi = (eventId: string, eventTimestamp: string) => ({
      kind: 'kpi',
      eventId,
      data: { ...conversation, events: [{ kpiEventName: 'SessionStarted', eventTimestamp }] },
      eventName: 'SessionStarted',
    });
    const [skewed, old, mismatched] = [randomUUID(), randomUUID(), randomUUID()];
    const answer = await postBatch(server, {
      sentAt: new Date(now + skew).toISOString(),
      events: [
        kpi(skewed, new Date(now + skew - 5 * 60_000).toISOString()),
        kpi(old, new Date(now - 40 * 86_400_000).toISOString()),
        {
          ...kpi(mismatched, new Date(now).toISOString()),
          data: {
            ...conversation,
            events: [
              {
                kpiEventName: 'SessionStarted',
                eventId: randomUUID(),
                eventTimestamp: new Date(now).toISOString(),
              },
            ],
          },
        },
      ],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [first, second, third] = answer.body.results;
    assert.equal(first?.status, 'accepted', JSON.stringify(answer.body));
    assert.deepEqual(
      second?.errors?.map((e) => [e.field, e.rule]),
      [['data.events[0].eventTimestamp', 'maxEventAge']],
    );
    assert.deepEqual(
      third?.errors?.map((e) => [e.field, e.rule, e.received]),
      [['eventId', 'idempotencyKey', mismatched]],
    );
    const [event] = (await storedByKey(server, [skewed])).get(skewed) ?? [];
    assert.ok(event, 'the accepted KPI event is stored under its eventId');
    assert.equal(Date.parse(event.sentTime as string), now + skew);
    assert.ok(
      Math.abs(Date.parse(event.derivedTime as string) - (now - 5 * 60_000)) < 60_000,
      'corrected by sentAt',
    );
    const replay = await postBatch(server, { events: [kpi(skewed, new Date(now).toISOString())] });
    assert.deepEqual(
      replay.body.results.map((r) => [r.status, r.id]),
      [['duplicate', first?.id]],
    );
  });

  it('events outside the bounds are rejected with the reason, and the bounds are settings', async () => {
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const ahead = new Date(Date.now() + 3600_000).toISOString();
    const answer = await postBatch(server, {
      events: [custom(randomUUID(), { eventTime: old }), custom(randomUUID(), { eventTime: ahead })],
    });
    const [tooOld, tooNew] = answer.body.results;
    assert.deepEqual(
      tooOld?.errors?.map((e) => [e.field, e.rule]),
      [['eventTime', 'maxEventAge']],
    );
    assert.match(String(tooOld?.errors?.[0]?.message), /more than 30 days before/);
    assert.deepEqual(
      tooNew?.errors?.map((e) => [e.field, e.rule]),
      [['eventTime', 'maxEventFuture']],
    );

    const patched = await call(`${server.url}/api/v1/orgs/default`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { maxEventAgeDays: 60, maxEventFutureMinutes: 120 },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.maxEventAgeDays, 60);
    const later = await postBatch(server, {
      events: [custom(randomUUID(), { eventTime: old }), custom(randomUUID(), { eventTime: ahead })],
    });
    assert.deepEqual(
      later.body.results.map((r) => r.status),
      ['accepted', 'accepted'],
    );
    const refused = violationsOf(
      await call(`${server.url}/api/v1/orgs/default`, {
        method: 'PATCH',
        token: server.masterKey,
        body: { dedupWindowDays: 0 },
      }),
    );
    assert.deepEqual(
      refused.map((v) => [v.field, v.rule, v.received]),
      [['dedupWindowDays', 'minimum', 0]],
    );
  });
});
