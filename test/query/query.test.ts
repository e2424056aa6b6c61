import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';
import { validSearchEvent } from '../helpers/ua.ts';

/**
 * `POST /api/v1/query` and `/api/v1/dimensions` over a hand-built fixture whose every answer is counted
 * by hand below: each measure, dimension and filter kind, time buckets in a time zone, the previous
 * period, CSV, and a customData key logged before its dimension was declared.
 */

let server: TestServer;
let reader: string;
serverForSuite(async (started) => {
  server = started;
  reader = await createKey(server, ['analytics:read']);
  await logFixture();
});

const HOUR = 3600_000;
// Two days back, on the hour: inside the default 30-day bound, clear of "now".
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const at = (hours: number) => new Date(T0 + hours * HOUR).toISOString();
const RUN = randomUUID().slice(0, 8);
const type = (name: string) => `${name}-${RUN}`;
const [alice, bob, carol] = [randomUUID(), randomUUID(), randomUUID()];

/** The fixture: facet events over two hours, and one in the hour before the range (the previous period). */
const FIXTURE = [
  {
    hours: 0.1,
    eventType: type('facet'),
    clientId: alice,
    customData: { 'Facet Id': '@source', wait_seconds: '10', vip: 'true' },
  },
  {
    hours: 0.2,
    eventType: type('facet'),
    clientId: alice,
    customData: { 'Facet Id': '@source', wait_seconds: '20', vip: 'false' },
  },
  {
    hours: 0.3,
    eventType: type('facet'),
    clientId: bob,
    customData: { 'Facet Id': '@author', wait_seconds: '30' },
  },
  {
    hours: 1.5,
    eventType: type('facet'),
    clientId: bob,
    customData: { 'Facet Id': '@source', wait_seconds: 'abc' },
  },
  {
    hours: 1.6,
    eventType: type('search-box'),
    clientId: carol,
    customData: { wait_seconds: '40', vip: 'true' },
  },
  {
    hours: -0.5,
    eventType: type('facet'),
    clientId: carol,
    customData: { 'Facet Id': '@source', wait_seconds: '5' },
  },
];

const query = (spec: Record<string, unknown>, token = reader, headers: Record<string, string> = {}) =>
  call<{ rows: Record<string, unknown>[]; meta: Record<string, unknown> }>(`${server.url}/api/v1/query`, {
    token,
    body: spec,
    headers,
  });

/** The fixture's two hours, limited to its own event types. */
const inRange = (extra: Record<string, unknown> = {}) => ({
  from: at(0),
  to: at(2),
  filters: [{ field: 'eventType', op: 'in', value: [type('facet'), type('search-box')] }],
  ...extra,
});

async function logFixture() {
  const answer = await call<{ results: { status: string }[] }>(`${server.url}/api/v1/events/batch`, {
    token: server.masterKey,
    body: {
      events: FIXTURE.map(({ hours, ...event }) => ({
        kind: 'custom',
        eventValue: 'v',
        language: 'en',
        eventTime: at(hours),
        ...event,
      })),
    },
  });
  assert.ok(
    answer.body.results.every((r) => r.status === 'accepted'),
    JSON.stringify(answer.body),
  );
}

describe('the smallest spec', () => {
  it('breaks events down by eventType and a customData key', async () => {
    const answer = await query({
      measures: ['count'],
      dimensions: ['eventType', 'customData.facet_id'],
      filters: [{ field: 'eventType', op: 'eq', value: type('facet') }],
      from: at(0),
      to: at(2),
      granularity: 'hour',
      timeZone: 'Europe/Paris',
      limit: 100,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.rows, [
      { time: at(0), eventType: type('facet'), 'customData.facet_id': '@source', count: 2 },
      { time: at(0), eventType: type('facet'), 'customData.facet_id': '@author', count: 1 },
      { time: at(1), eventType: type('facet'), 'customData.facet_id': '@source', count: 1 },
    ]);
    assert.equal(answer.body.meta.timeZone, 'Europe/Paris');
    assert.equal(answer.body.meta.rowCount, 3);
  });
});

describe('typed custom dimensions', () => {
  it('before its dimension exists, a key is text: numeric measures are refused, saying how to fix it', async () => {
    const refused = violationsOf(
      await query(inRange({ measures: [{ fn: 'avg', field: 'customData.wait_seconds' }] })),
    );
    assert.deepEqual(
      refused.map((v) => [v.field, v.rule]),
      [['measures[0].field', 'numeric']],
    );
    assert.match(refused[0]?.message ?? '', /declared as a number dimension/);
  });

  it('once declared, data logged before is queryable as numbers, and values that do not parse are counted', async () => {
    const created = await call(`${server.url}/api/v1/dimensions`, {
      token: server.masterKey,
      body: { name: 'Wait Seconds', displayName: 'Wait (s)', type: 'number', eventKinds: ['custom'] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'wait_seconds');
    assert.equal(created.body.field, 'customData.wait_seconds');
    const fns = ['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99', 'uniq'];
    const answer = await query(
      inRange({ measures: ['count', ...fns.map((fn) => ({ fn, field: 'customData.wait_seconds' }))] }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    // 10, 20, 30, 40 parse; "abc" does not, and is counted, never read as 0.
    const row = answer.body.rows[0] as Record<string, number>;
    assert.equal(row.count, 5);
    assert.equal(row['sum(customData.wait_seconds)'], 100);
    assert.equal(row['avg(customData.wait_seconds)'], 25);
    assert.equal(row['min(customData.wait_seconds)'], 10);
    assert.equal(row['max(customData.wait_seconds)'], 40);
    assert.equal(row['p50(customData.wait_seconds)'], 25);
    assert.ok(Math.abs((row['p90(customData.wait_seconds)'] as number) - 37) < 1e-9);
    assert.ok(Math.abs((row['p99(customData.wait_seconds)'] as number) - 39.7) < 1e-9);
    assert.equal(row['uniq(customData.wait_seconds)'], 4);
    assert.deepEqual(answer.body.meta.typeErrors, { 'customData.wait_seconds': 1 });
  });

  it('a dimension declared for some event kinds reads its key from those kinds only', async () => {
    const created = await call(`${server.url}/api/v1/dimensions`, {
      token: server.masterKey,
      body: { name: 'basket_size', type: 'number', eventKinds: ['search'] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Not named after RUN: the filter tests count every event whose type contains it.
    const marker = `kinds-${randomUUID().slice(0, 8)}`;
    const logged = await call<{ results: { status: string }[] }>(`${server.url}/api/v1/events/batch`, {
      token: server.masterKey,
      body: {
        events: [
          {
            kind: 'search',
            ...validSearchEvent({ queryText: marker, customData: { basket_size: '7' } }),
            eventTime: at(0.5),
          },
          {
            kind: 'search',
            ...validSearchEvent({ queryText: marker, customData: { basket_size: 'n/a' } }),
            eventTime: at(0.5),
          },
          // A custom event's basket_size is not the dimension's: not read, and not a type error.
          {
            kind: 'custom',
            eventType: marker,
            eventValue: 'v',
            language: 'en',
            customData: { basket_size: '1000' },
            eventTime: at(0.5),
          },
          {
            kind: 'custom',
            eventType: marker,
            eventValue: 'v',
            language: 'en',
            customData: { basket_size: 'x' },
            eventTime: at(0.5),
          },
        ],
      },
    });
    assert.ok(
      logged.body.results.every((r) => r.status === 'accepted'),
      JSON.stringify(logged.body),
    );
    const answer = await query({
      from: at(0),
      to: at(2),
      measures: ['count', { fn: 'sum', field: 'customData.basket_size', as: 'basket' }],
      dimensions: ['category'],
      filters: [
        {
          or: [
            { field: 'queryText', op: 'eq', value: marker },
            { field: 'eventType', op: 'eq', value: marker },
          ],
        },
      ],
      orderBy: [{ field: 'category' }],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.rows, [
      { category: 'custom', count: 2, basket: null },
      { category: 'search', count: 2, basket: 7 },
    ]);
    assert.deepEqual(answer.body.meta.typeErrors, { 'customData.basket_size': 1 });
    const removed = await call(`${server.url}/api/v1/dimensions/basket_size`, {
      method: 'DELETE',
      token: server.masterKey,
    });
    assert.equal(removed.status, 204);
  });

  it('a boolean dimension filters as a boolean; `as` names a measure', async () => {
    await call(`${server.url}/api/v1/dimensions`, {
      token: server.masterKey,
      body: { name: 'vip', type: 'boolean' },
    });
    const answer = await query(
      inRange({
        measures: [{ fn: 'sum', field: 'customData.wait_seconds', as: 'vipWait' }],
        filters: [
          { field: 'eventType', op: 'in', value: [type('facet'), type('search-box')] },
          { field: 'customData.vip', op: 'eq', value: true },
        ],
      }),
    );
    assert.deepEqual(answer.body.rows, [{ vipWait: 50 }]);
    const wrongType = violationsOf(
      await query(
        inRange({ measures: ['count'], filters: [{ field: 'customData.vip', op: 'eq', value: 'yes' }] }),
      ),
    );
    assert.deepEqual(
      wrongType.map((v) => [v.field, v.rule, v.limit]),
      [['filters[0].value', 'type', 'boolean']],
    );
  });

  it('dimensions are listed to readers, created and deleted by admins only, and named once', async () => {
    const listed = await call<{ dimensions: { name: string; type: string }[] }>(
      `${server.url}/api/v1/dimensions`,
      {
        token: reader,
      },
    );
    assert.deepEqual(listed.body.dimensions.map((d) => [d.name, d.type]).sort(), [
      ['vip', 'boolean'],
      ['wait_seconds', 'number'],
    ]);
    errorOf(
      await call(`${server.url}/api/v1/dimensions`, { token: reader, body: { name: 'x', type: 'text' } }),
      403,
      'FORBIDDEN',
    );
    errorOf(
      await call(`${server.url}/api/v1/dimensions`, {
        token: server.masterKey,
        body: { name: 'WAIT seconds', type: 'text' },
      }),
      409,
      'CONFLICT',
    );
    const bad = violationsOf(
      await call(`${server.url}/api/v1/dimensions`, {
        token: server.masterKey,
        body: { name: 'größe', type: 'decimal' },
      }),
    );
    assert.ok(
      bad.some((v) => v.field === 'type' && v.received === 'decimal'),
      JSON.stringify(bad),
    );
    assert.ok(
      bad.some((v) => v.field === 'name' && v.rule === 'keyCharacters'),
      JSON.stringify(bad),
    );
    const removed = await call(`${server.url}/api/v1/dimensions/vip`, {
      method: 'DELETE',
      token: server.masterKey,
    });
    assert.equal(removed.status, 204);
    errorOf(
      await call(`${server.url}/api/v1/dimensions/vip`, { method: 'DELETE', token: server.masterKey }),
      404,
      'NOT_FOUND',
    );
  });
});

describe('measures, dimensions and filters', () => {
  /** The fixture's events in range, counted per bucket as `start` (ms → the bucket's first ms) puts them. */
  async function assertBuckets(granularity: string, timeZone: string, start: (t: number) => number) {
    const expected = new Map<number, number>();
    for (const f of FIXTURE.filter((f) => f.hours >= 0)) {
      const bucket = start(Date.parse(at(f.hours)));
      expected.set(bucket, (expected.get(bucket) ?? 0) + 1);
    }
    const answer = await query(inRange({ measures: ['count'], granularity, timeZone }));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      answer.body.rows,
      [...expected]
        .sort(([a], [b]) => a - b)
        .map(([time, count]) => ({ time: new Date(time).toISOString(), count })),
      `${granularity} in ${timeZone}`,
    );
  }
  const DAY = 86_400_000;
  const floorTo =
    (size: number, offset = 0) =>
    (t: number) =>
      Math.floor((t + offset) / size) * size - offset;

  it('hour and day buckets in a zone 5 h 45 min ahead of UTC (Asia/Kathmandu, no daylight saving)', async () => {
    const offset = (5 * 60 + 45) * 60_000;
    await assertBuckets('hour', 'Asia/Kathmandu', floorTo(HOUR, offset));
    await assertBuckets('day', 'Asia/Kathmandu', floorTo(DAY, offset));
  });

  it('every time bucket: minute, hour, day, week (from Monday) and month, in UTC', async () => {
    await assertBuckets('minute', 'UTC', floorTo(60_000));
    await assertBuckets('hour', 'UTC', floorTo(HOUR));
    await assertBuckets('day', 'UTC', floorTo(DAY));
    // 1970-01-01 was a Thursday: Mondays are 4 days after a multiple of 7 days.
    await assertBuckets('week', 'UTC', floorTo(7 * DAY, -4 * DAY));
    await assertBuckets('month', 'UTC', (t) =>
      Date.UTC(new Date(t).getUTCFullYear(), new Date(t).getUTCMonth(), 1),
    );
  });

  it('distinct clients and visits', async () => {
    const answer = await query(inRange({ measures: ['distinctClients', 'distinctVisits', 'count'] }));
    assert.deepEqual(answer.body.rows, [{ distinctClients: 3, distinctVisits: 3, count: 5 }]);
  });

  it('every filter kind: eq, ne, in, contains, ranges, and and/or', async () => {
    const count = async (filters: unknown[]) => {
      const answer = await query({ measures: ['count'], from: at(0), to: at(2), filters });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return (answer.body.rows[0] as { count: number }).count;
    };
    const mine = { field: 'eventType', op: 'contains', value: RUN };
    assert.equal(await count([mine]), 5);
    assert.equal(
      await count([mine, { field: 'customData.facet_id', op: 'ne', value: '@source' }]),
      2,
      'ne keeps nulls',
    );
    assert.equal(await count([mine, { field: 'customData.facet_id', op: 'eq', value: null }]), 1);
    assert.equal(await count([mine, { field: 'customData.wait_seconds', op: 'gt', value: 10 }]), 3);
    assert.equal(await count([mine, { field: 'customData.wait_seconds', op: 'ge', value: 10 }]), 4);
    assert.equal(await count([mine, { field: 'customData.wait_seconds', op: 'lt', value: 30 }]), 2);
    assert.equal(await count([mine, { field: 'customData.wait_seconds', op: 'le', value: 30 }]), 3);
    assert.equal(
      await count([mine, { field: 'derivedTime', op: 'ge', value: at(1) }]),
      2,
      'a range on a time column',
    );
    assert.equal(await count([mine, { field: 'clientId', op: 'in', value: [alice, carol] }]), 3);
    assert.equal(
      await count([
        mine,
        {
          or: [
            { field: 'clientId', op: 'eq', value: carol },
            {
              and: [
                { field: 'clientId', op: 'eq', value: bob },
                { field: 'customData.facet_id', op: 'eq', value: '@author' },
              ],
            },
          ],
        },
      ]),
      2,
    );
  });

  it('time buckets follow the time zone: a day in Paris is not a day in UTC', async () => {
    const spec = (timeZone: string) => query(inRange({ measures: ['count'], granularity: 'day', timeZone }));
    const utc = (await spec('UTC')).body.rows;
    const tokyo = (await spec('Asia/Tokyo')).body.rows;
    const dayStart = (ms: number, offsetHours: number) => {
      const local = ms + offsetHours * HOUR;
      return new Date(local - (local % (24 * HOUR)) - offsetHours * HOUR).toISOString();
    };
    const expected = (offset: number) => {
      const counts = new Map<string, number>();
      for (const f of FIXTURE.filter((f) => f.hours >= 0)) {
        const day = dayStart(T0 + f.hours * HOUR, offset);
        counts.set(day, (counts.get(day) ?? 0) + 1);
      }
      return [...counts].sort().map(([time, count]) => ({ time, count }));
    };
    assert.deepEqual(utc, expected(0));
    assert.deepEqual(tokyo, expected(9));
  });

  it('compares with the previous period', async () => {
    const answer = await query({
      measures: ['count'],
      dimensions: ['customData.facet_id'],
      filters: [{ field: 'eventType', op: 'eq', value: type('facet') }],
      from: at(0),
      to: at(2),
      compare: 'previousPeriod',
    });
    assert.deepEqual(answer.body.rows, [
      { 'customData.facet_id': '@source', count: 3, 'previous.count': 1 },
      { 'customData.facet_id': '@author', count: 1, 'previous.count': null },
    ]);
    assert.deepEqual(answer.body.meta.previous, {
      from: at(-2),
      to: at(0),
      typeErrors: {},
    });
  });

  it('answers CSV, asked in the spec or by Accept', async () => {
    const spec = inRange({
      measures: ['count'],
      dimensions: ['clientId'],
      orderBy: [{ field: 'clientId', direction: 'asc' }],
    });
    for (const [body, headers] of [
      [{ ...spec, format: 'csv' }, {}],
      [spec, { accept: 'text/csv' }],
    ] as const) {
      const response = await fetch(`${server.url}/api/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      assert.match(response.headers.get('content-type') ?? '', /^text\/csv/);
      const expected = [
        ['clientId', 'count'],
        ...[
          [alice, 2],
          [bob, 2],
          [carol, 1],
        ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      ];
      assert.equal(await response.text(), `${expected.map((r) => r.join(',')).join('\r\n')}\r\n`);
    }
  });

  it('orders and limits, and says when the limit cut the answer', async () => {
    const answer = await query(
      inRange({
        measures: ['count'],
        dimensions: ['clientId'],
        orderBy: [{ field: 'count', direction: 'desc' }, { field: 'clientId' }],
        limit: 2,
      }),
    );
    assert.deepEqual(
      answer.body.rows.map((r) => r.count),
      [2, 2],
    );
    assert.equal(answer.body.meta.truncated, true);
  });
});

describe('refusals point at the bad part', () => {
  it('names each bad measure, dimension, filter, order and setting', async () => {
    const violations = violationsOf(
      await query({
        measures: ['count', 'revenue', { fn: 'median', field: 'x' }],
        dimensions: ['eventType', 'customData.Facet Id', 'facetState', 'colour'],
        filters: [
          { field: 'eventType', op: 'like', value: 'x' },
          { field: 'clientId', op: 'in', value: 'a' },
          'oops',
        ],
        orderBy: [{ field: 'nothing' }],
        timeZone: 'Mars/Olympus',
        from: at(2),
        to: at(0),
      }),
    );
    const named = violations.map((v) => [v.field, v.rule]);
    for (const expected of [
      ['measures[1]', 'measure'],
      ['measures[2].fn', 'enum'],
      ['measures[2].field', 'field'],
      ['dimensions[1]', 'customDataKey'],
      ['dimensions[2]', 'dimension'],
      ['dimensions[3]', 'field'],
      ['filters[0].op', 'enum'],
      ['filters[1].value', 'type'],
      ['filters[2]', 'type'],
      ['orderBy[0].field', 'output'],
      ['timeZone', 'timeZone'],
      ['from', 'range'],
    ]) {
      assert.ok(
        named.some(([f, r]) => f === expected[0] && r === expected[1]),
        `${expected} in ${JSON.stringify(named)}`,
      );
    }
    assert.match(violations.find((v) => v.field === 'dimensions[1]')?.message ?? '', /customData\.facet_id/);
  });

  it("needs analytics:read, and answers only the credential's organization", async () => {
    errorOf(await query({ measures: ['count'] }, ''), 401, 'UNAUTHENTICATED');
    const writer = await createKey(server, ['analytics:write']);
    errorOf(await query({ measures: ['count'] }, writer), 403, 'FORBIDDEN');
    await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'query-other' } });
    const otherReader = await createKey(server, ['analytics:read'], 'query-other');
    const other = await query(inRange({ measures: ['count'] }), otherReader);
    assert.deepEqual(other.body.rows, [{ count: 0 }]);
    const foreign = await call(`${server.url}/api/v1/query?org=default`, {
      token: otherReader,
      body: { measures: ['count'] },
    });
    errorOf(foreign, 403, 'FORBIDDEN');
    const inBody = violationsOf(await query({ measures: ['count'], org: 'default' }, otherReader));
    assert.deepEqual(
      inBody.map((v) => [v.field, v.rule]),
      [['org', 'unknownField']],
      'never from the body',
    );
  });
});
