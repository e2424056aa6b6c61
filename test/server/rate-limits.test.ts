import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorOf } from '../helpers/errors.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  createKey,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * Rate limits per credential within its organization, through HTTP: a tiny limit on one organization, the 429
 * with its headers and body, other credentials and organizations untouched, and the limit lifting after the
 * window.
 */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const ORG = 'limited';

const orgUrl = (org = ORG) => `${server.url}/api/v1/orgs/${org}`;

const settings = (rateLimits: unknown, org = ORG) =>
  call<Record<string, unknown>>(orgUrl(org), {
    method: 'PATCH',
    token: server.masterKey,
    body: { rateLimits },
  });

const post = (token: string, org?: string) =>
  call(`${server.url}${CUSTOM_PATH}${org ? `?org=${org}` : ''}`, {
    token,
    body: validCustomEvent({ eventType: 'rate-limits' }),
  });

const header = (answer: Answer<unknown>, name: string) => answer.headers.get(name);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('organization settings: rateLimits', () => {
  it('answers the defaults until set; PATCH sets them, a field left out is its default, null resets', async () => {
    const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: ORG } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.rateLimits, { writePerSecond: 50_000, readPerSecond: 200, burst: 10 });
    const set = await settings({ writePerSecond: 5, burst: 3 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.rateLimits, { writePerSecond: 5, readPerSecond: 200, burst: 3 });
    const reset = await settings(null);
    assert.deepEqual(reset.body.rateLimits, { writePerSecond: 50_000, readPerSecond: 200, burst: 10 });
  });

  it('refuses what is not a limit, naming every field', async () => {
    const body = errorOf(
      await settings({ writePerSecond: 0, readPerSecond: 1.5, burst: 3601, perMinute: 3 }),
      400,
      'INVALID_REQUEST',
    );
    assert.deepEqual(body.violations?.map((v) => [v.field, v.rule]).sort(), [
      ['rateLimits.burst', 'maximum'],
      ['rateLimits.perMinute', 'unknownField'],
      ['rateLimits.readPerSecond', 'type'],
      ['rateLimits.writePerSecond', 'minimum'],
    ]);
    const notObject = errorOf(await settings('fast'), 400, 'INVALID_REQUEST');
    assert.deepEqual(
      notObject.violations?.map((v) => [v.field, v.rule]),
      [['rateLimits', 'type']],
    );
  });
});

describe('a credential over its limit', () => {
  // 1 request per second, counted over windows of 2 s: 2 event requests and 2 reads per window.
  const LIMIT = { writePerSecond: 1, readPerSecond: 1, burst: 2 };
  let writer: string;
  let other: string;
  let refused: Answer;
  let answers: Answer[];

  it('is answered 429 RATE_LIMITED, with Retry-After and RateLimit-* headers, once its window is spent', async () => {
    writer = await createKey(server, ['analytics:write', 'analytics:read'], ORG);
    other = await createKey(server, ['analytics:write'], ORG);
    assert.equal((await settings(LIMIT)).status, 200);
    answers = [await post(writer), await post(writer)];
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(header(answer, 'ratelimit-limit'), '2');
      assert.equal(header(answer, 'ratelimit-remaining'), String(1 - i));
      assert.ok(Number(header(answer, 'ratelimit-reset')) >= 1);
    }
    refused = await post(writer);
    const body = errorOf(refused, 429, 'RATE_LIMITED');
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
    assert.equal(body.error, 'Too Many Requests');
    assert.match(
      body.message,
      /organization "limited" allows each credential 2 per 2 s on this server \(rateLimits: writePerSecond 1 × burst 2\)\. Retry after [12] s/,
    );
    const retryAfter = Number(header(refused, 'retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
    assert.equal(header(refused, 'ratelimit-limit'), '2');
    assert.equal(header(refused, 'ratelimit-remaining'), '0');
    assert.equal(header(refused, 'ratelimit-reset'), String(retryAfter));
  });

  it('the refused event is not stored', async () => {
    const read = await call<{ events: unknown[] }>(
      `${server.url}/api/v1/events?eventType=rate-limits&org=${ORG}`,
      {
        token: server.masterKey,
      },
    );
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.events.length, 2);
  });

  it('its reads have an allowance of their own', async () => {
    const read = await call(`${server.url}/api/v1/events?limit=1`, { token: writer });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(header(read, 'ratelimit-limit'), '2');
    assert.equal(header(read, 'ratelimit-remaining'), '1');
  });

  it('another credential of the same organization, and the master key, are not affected', async () => {
    const answer = await post(other);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(header(answer, 'ratelimit-remaining'), '1');
    const master = await post(server.masterKey, ORG);
    assert.equal(master.status, 200, JSON.stringify(master.body));
  });

  it('another organization keeps its defaults, even for the master key', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await post(server.masterKey);
      assert.equal(answer.status, 200);
      assert.equal(header(answer, 'ratelimit-limit'), String(50_000 * 10));
    }
  });

  it('routes without a credential (health, readiness) are never limited, and carry no RateLimit headers', async () => {
    for (let i = 0; i < 5; i++) {
      const health = await call(`${server.url}/rest/ua/v15/analytics/monitoring/health`);
      assert.equal(health.status, 200);
      assert.equal(header(health, 'ratelimit-limit'), null);
    }
  });

  it('administration is not limited: the settings can be changed while a credential is over its limit', async () => {
    const admin = await createKey(server, ['admin'], ORG);
    for (let i = 0; i < 5; i++) {
      const read = await call(orgUrl(), { token: admin });
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.equal(header(read, 'ratelimit-limit'), null);
    }
    assert.equal((await settings(LIMIT)).status, 200);
  });

  it('lifts after the window', async () => {
    await sleep(Number(header(refused, 'retry-after')) * 1000 + 100);
    const answer = await post(writer);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(header(answer, 'ratelimit-remaining'), '1');
  });

  it('counts batches once per request, and OData reads as reads, with the OData error shape', async () => {
    const id = `rl-${randomUUID().slice(0, 8)}`;
    const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id } });
    assert.equal(created.status, 201);
    assert.equal((await settings({ writePerSecond: 1, readPerSecond: 1, burst: 2 }, id)).status, 200);
    const reader = await createKey(server, ['analytics:read'], id);
    const odata = `${server.url}/api/data/v9.1/msdyn_conversationsdata?$top=1`;
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await call(odata, { token: reader }));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 429],
    );
    const refusedRead = answers[2] as Answer;
    assert.ok(Number(header(refusedRead, 'retry-after')) >= 1);
    assert.equal((refusedRead.body as { error?: { code?: string } }).error?.code, 'RATE_LIMITED');

    const batcher = await createKey(server, ['analytics:write'], id);
    const batch = (n: number) =>
      call(`${server.url}/api/v1/events/batch`, {
        token: batcher,
        body: {
          events: Array.from({ length: n }, () => ({
            kind: 'custom',
            ...validCustomEvent({ eventType: 'rl-batch' }),
          })),
        },
      });
    const first = await batch(5);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(header(first, 'ratelimit-remaining'), '1', 'five events, one request');
  });

  it('is counted per server process: one key per organization and credential', async () => {
    // The count lives in this process's memory; a second server would count alone (see the README).
    const id = `rl-${randomUUID().slice(0, 8)}`;
    const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id } });
    assert.equal(created.status, 201);
    assert.equal((await settings({ writePerSecond: 1, burst: 1 }, id)).status, 200);
    assert.equal((await post(server.masterKey, id)).status, 200);
    errorOf(await post(server.masterKey, id), 429, 'RATE_LIMITED');
    assert.equal((await post(server.masterKey)).status, 200, 'the master key in another organization');
  });
});
