import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { keyedEventId } from '../../src/model/event-id.ts';
import { call, readEvents, startServer, type TestServer, validCustomEvent } from '../helpers/server.ts';

/**
 * Keyed events get their key's id (keyedEventId) on every server, so a client's retry that reaches another
 * server is the same event in a shared store (ClickHouse keeps one event per id). The rule for a key reused
 * with another event time (after its window, or on a server that has not seen it): a new event, a new id.
 */

interface Result {
  status: 'accepted' | 'duplicate' | 'rejected';
  id?: string;
}

const batch = (server: TestServer, events: unknown[]) =>
  call<{ results: Result[] }>(`${server.url}/api/v1/events/batch`, {
    token: server.masterKey,
    body: { events },
  });

const custom = (eventId: string, eventTime: Date) => ({
  kind: 'custom',
  eventId,
  ...validCustomEvent({ eventType: 'keyed-ids', eventValue: 'v' }),
  eventTime: eventTime.toISOString(),
});

describe('keyed event ids across servers', () => {
  let one: TestServer;
  let two: TestServer;
  before(async () => {
    [one, two] = await Promise.all([startServer(), startServer()]);
  });
  after(async () => {
    await Promise.all([one?.close(), two?.close()]);
  });

  it('the same batch sent to two servers gets the same ids there, drawn from the key and event time', async () => {
    const at = new Date(Date.now() - 60_000);
    const keys: string[] = [randomUUID(), randomUUID(), randomUUID()];
    const events = keys.map((key, i) => custom(key, new Date(at.getTime() + i)));
    const [first, second] = await Promise.all([batch(one, events), batch(two, events)]);
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.body.results.map((r) => r.status),
      ['accepted', 'accepted', 'accepted'],
    );
    assert.deepEqual(
      second.body.results.map((r) => r.id),
      first.body.results.map((r) => r.id),
    );
    assert.deepEqual(
      first.body.results.map((r) => r.id),
      keys.map((key, i) => keyedEventId('default', key, new Date(at.getTime() + i))),
    );
    const stored = (await readEvents(one)).filter((e) => keys.includes(e.idempotencyKey as string));
    assert.deepEqual(stored.map((e) => e.id).sort(), first.body.results.map((r) => r.id as string).sort());
  });

  it('a key sent again with another event time is answered duplicate where it is known, and is a new id elsewhere', async () => {
    const key = randomUUID();
    const at = new Date(Date.now() - 60_000);
    const [original] = (await batch(one, [custom(key, at)])).body.results;
    const later = custom(key, new Date(at.getTime() + 1_000));
    const [again] = (await batch(one, [later])).body.results;
    assert.deepEqual(again, { status: 'duplicate', id: original?.id });
    // A server that has not seen the key takes it as the new event it says it is.
    const [elsewhere] = (await batch(two, [later])).body.results;
    assert.equal(elsewhere?.status, 'accepted');
    assert.notEqual(elsewhere?.id, original?.id);
    assert.equal(elsewhere?.id, keyedEventId('default', key, new Date(at.getTime() + 1_000)));
  });

  it('unkeyed events keep time-ordered UUIDv7 ids', async () => {
    const { eventId: _unused, ...unkeyed } = custom(randomUUID(), new Date());
    const [result] = (await batch(one, [unkeyed])).body.results;
    assert.match(result?.id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });
});
