import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { violationsOf } from '../helpers/errors.ts';
import {
  CUSTOM_PATH,
  call,
  readEvents,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';
import { postEvent, storedWhere, UA_PREFIXES, validSearchEvent } from '../helpers/ua.ts';

/** Idempotency on the single-event routes: `Idempotency-Key`, or `eventId` in the body. */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const postCustom = (body: unknown, headers: Record<string, string> = {}) =>
  call(`${server.url}${CUSTOM_PATH}`, { token: server.masterKey, body, headers });

describe('single-event idempotency', () => {
  it('a retry with the same Idempotency-Key is answered as the first was, says so, and stores nothing', async () => {
    const key = randomUUID();
    const clientId = randomUUID();
    const event = validCustomEvent({ eventType: 'idem-header', clientId });
    const first = await postCustom(event, { 'idempotency-key': key });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const retry = await postCustom(event, { 'idempotency-key': key });
    assert.equal(retry.status, 200);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(retry.body, first.body);
    const stored = await readEvents(server, server.masterKey, '&eventType=idem-header');
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.idempotencyKey, key);
  });

  it('eventId in the body is the same key, on every kind and both prefixes', async () => {
    const eventId = randomUUID();
    const uid = randomUUID();
    const answers = [];
    for (const prefix of UA_PREFIXES) {
      answers.push(
        await postEvent(
          server,
          'search',
          validSearchEvent({ eventId, searchQueryUid: uid }),
          server.masterKey,
          prefix,
        ),
      );
    }
    assert.equal(
      answers[1]?.body.searchEventUid,
      answers[0]?.body.searchEventUid,
      'the first search is named',
    );
    assert.equal((await storedWhere(server, (e) => e.searchQueryUid === uid)).length, 1);
  });

  it('concurrent requests with one key store one event, and all get its answer', async () => {
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        postCustom(validCustomEvent({ eventType: 'idem-race' }), { 'idempotency-key': key }),
      ),
    );
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(new Set(answers.map((a) => a.body.visitId)).size, 1);
    assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 9);
    assert.equal((await readEvents(server, server.masterKey, '&eventType=idem-race')).length, 1);
  });

  it('a header and an eventId that differ, or a key past 128 characters, are refused', async () => {
    const conflict = violationsOf(
      await postCustom(validCustomEvent({ eventId: 'a' }), { 'idempotency-key': 'b' }),
    );
    assert.deepEqual(
      conflict.map((v) => [v.field, v.rule, v.received]),
      [['eventId', 'idempotencyKey', 'a']],
    );
    const long = violationsOf(await postCustom(validCustomEvent(), { 'idempotency-key': 'k'.repeat(129) }));
    assert.deepEqual(
      long.map((v) => [v.field, v.rule]),
      [['Idempotency-Key', 'maxLength']],
    );
    const longBody = violationsOf(await postCustom(validCustomEvent({ eventId: 'k'.repeat(129) })));
    assert.deepEqual(
      longBody.map((v) => [v.field, v.rule]),
      [['eventId', 'maxLength']],
    );
  });

  it('a key is only as unique as its event: a refused event does not use it up', async () => {
    const key = randomUUID();
    const refused = await postCustom(validCustomEvent({ eventType: 'idem-refused', outcome: 9 }), {
      'idempotency-key': key,
    });
    assert.equal(refused.status, 400);
    const fixed = await postCustom(validCustomEvent({ eventType: 'idem-refused' }), {
      'idempotency-key': key,
    });
    assert.equal(fixed.status, 200);
    assert.equal(fixed.headers.get('idempotent-replayed'), null);
    assert.equal((await readEvents(server, server.masterKey, '&eventType=idem-refused')).length, 1);
  });

  it("a single event's eventTime is checked against the bounds too", async () => {
    const old = new Date(Date.now() - 90 * 86_400_000).toISOString();
    const refused = violationsOf(await postCustom(validCustomEvent({ eventTime: old })));
    assert.deepEqual(
      refused.map((v) => [v.field, v.rule]),
      [['eventTime', 'maxEventAge']],
    );
    const bad = violationsOf(await postCustom(validCustomEvent({ eventTime: 'last tuesday' })));
    assert.deepEqual(
      bad.map((v) => [v.field, v.rule]),
      [['eventTime', 'format']],
    );
    const collect = violationsOf(
      await postEvent(server, 'collect', { t: 'pageview', ul: 'en', tm: Date.parse(old) }),
    );
    assert.deepEqual(
      collect.map((v) => [v.field, v.rule]),
      [['tm', 'maxEventAge']],
    );
  });
});
