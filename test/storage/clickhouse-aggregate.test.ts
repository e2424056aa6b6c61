import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CanonicalEvent, EventCategory } from '../../src/model/canonical-event.ts';
import { aggregateEvents, compileAggregate } from '../../src/storage/clickhouse/aggregate.ts';
import { ClickHouseStorage } from '../../src/storage/clickhouse/clickhouse-storage.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { AggregateQuery, ColumnType, QueryField, Storage, TimeUnit } from '../../src/storage/storage.ts';
import { type ClickHouseServers, skipReason, startClickHouse } from '../helpers/clickhouse.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/**
 * The query API's aggregates on ClickHouse give DuckDB's answers: the same events written to a DuckDB store and
 * to a ClickHouse one (a real clickhouse-server 18.16), the same AggregateQuery on both, the same rows and
 * type-error counts. The events straddle the days clocks change (Paris, New York, Havana) and the queries bucket
 * in zones with half- and quarter-hour offsets; customData holds text in every shape DuckDB's casts take or refuse.
 */

const ORG = 'agg';
const OTHER_ORG = 'other';
const NUMBERS_ORG = 'numbers';

/** A seeded generator, so a failure reproduces. */
function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  return { next, pick };
}

/** Text for customData.n, read as a number: what DuckDB's TRY_CAST takes, with its odd cases, and what it refuses. */
const NUMBER_TEXTS = [
  '1',
  '2.5',
  ' 3 ',
  '+4',
  '1_000',
  '7.0e-10',
  '0.1',
  '-0.5',
  '1e3',
  '12.25',
  '.5',
  '5.',
  '1E-0_1',
  '\t6\n',
  '123456789.123456789',
  '0.30000000000000004',
  '9007199254740993',
  '1e22',
  '1.5e-7',
  '00012',
  '+-7',
  'inf',
  '-Infinity',
  // Refused by DuckDB's cast: counted as type errors.
  'abc',
  '',
  '.',
  '0x10',
  '1,5',
  '--1',
  '1e',
  '1_',
];
const BOOLEAN_TEXTS = ['true', 'T', 'yes', 'Y', 'false', 'f', 'NO', '0', '1', 'nope', ' true', ''];

/** Windows around the days clocks change: March (New York, Paris), and late October into November (Paris, New York, Havana). */
const WINDOWS: [Date, Date][] = [
  [new Date('2026-03-05T00:00:00Z'), new Date('2026-04-03T00:00:00Z')],
  [new Date('2026-10-20T00:00:00Z'), new Date('2026-11-05T00:00:00Z')],
];
const FROM = new Date('2026-03-01T00:00:00Z');
const TO = new Date('2026-11-10T00:00:00Z');

/** Instants at and around the changes of clocks, which buckets are most likely to get wrong. */
const EDGES = [
  '2026-03-08T06:59:59.999Z',
  '2026-03-08T07:00:00Z',
  '2026-03-29T00:59:59Z',
  '2026-03-29T01:00:00Z',
  '2026-03-29T01:30:00Z',
  '2026-10-25T00:30:00Z',
  '2026-10-25T01:30:00Z',
  '2026-11-01T04:30:00Z',
  '2026-11-01T05:30:00Z',
  '2026-11-01T06:30:00Z',
  '2026-10-31T18:15:00Z',
  '2026-10-31T18:29:59Z',
].map((t) => new Date(t));

function makeEvents(count: number): CanonicalEvent[] {
  const { next, pick } = random(17);
  const events: CanonicalEvent[] = [];
  for (let i = 0; i < count; i++) {
    const window = pick(WINDOWS);
    const time =
      i < EDGES.length
        ? (EDGES[i] as Date)
        : new Date(window[0].getTime() + Math.floor(next() * (window[1].getTime() - window[0].getTime())));
    const customData: Record<string, string> = {};
    if (next() < 0.8) customData.n = pick(NUMBER_TEXTS);
    // Summed and averaged: halves and quarters, whose sums are exact in any order.
    if (next() < 0.7) customData.m = String(Math.floor(next() * 400 - 100) / 4);
    if (next() < 0.7) customData.b = pick(BOOLEAN_TEXTS);
    if (next() < 0.6) customData.t = pick(['alpha', 'beta', 'Ünïcode ✓', "it's", 'back\\slash', '']);
    events.push(
      canonicalEvent({
        org: i % 23 === 0 ? OTHER_ORG : ORG,
        category: pick<EventCategory>(['custom', 'search', 'click', 'kpi']),
        eventType: pick(['a', 'b', 'c', 'd']),
        eventValue: pick([null, 'x', 'y', 'zèta']),
        receivedTime: time,
        derivedTime: time,
        eventTime: pick([null, new Date('2026-03-10T10:00:00Z'), new Date('2026-10-30T23:59:59.123Z')]),
        username: pick([null, 'ann', 'bob', 'cé']),
        anonymous: next() < 0.3,
        outcome: pick([null, -5, 0, 1, 2, 3, 7, 100]),
        responseTime: next() < 0.2 ? null : Math.floor(next() * 5000),
        customData,
      }),
    );
    // Search fields on search events only, as the API writes them.
    const event = events[events.length - 1] as CanonicalEvent & { contextual?: boolean | null };
    if (event.category === 'search') event.contextual = pick([null, true, false]);
  }
  return events;
}

const column = (field: string, type: ColumnType): QueryField => ({ kind: 'column', field, type });
const custom = (key: string, type: 'text' | 'number' | 'boolean', kinds?: string[]): QueryField => ({
  kind: 'custom',
  key,
  type,
  ...(kinds && { kinds }),
});

const base = (extra: Partial<AggregateQuery>): AggregateQuery => ({
  from: FROM,
  to: TO,
  dimensions: [],
  measures: [{ name: 'count', fn: 'count' }],
  orderBy: [],
  limit: 100_000,
  ...extra,
});

const outcome = column('outcome', 'integer');
const n = custom('n', 'number');
const m = custom('m', 'number');
const ALL_FNS = ['count', 'uniq', 'sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'] as const;

/** Every measure of a numeric field. */
const everyMeasure = (field: QueryField, prefix: string) =>
  ALL_FNS.map((fn) => ({ name: `${prefix}_${fn}`, fn, ...(fn !== 'count' && { field }) }));

const bucketed = (unit: TimeUnit, timeZone: string, range?: [Date, Date]) =>
  base({
    ...(range && { from: range[0], to: range[1] }),
    bucket: { name: 'time', unit, timeZone },
    measures: [
      { name: 'count', fn: 'count' },
      { name: 'users', fn: 'uniq', field: column('username', 'text') },
    ],
    orderBy: [{ name: 'time', descending: false }],
  });

const QUERIES: [string, AggregateQuery][] = [
  ['a count of everything', base({})],
  [
    'a count over nothing (one row: 0, and null sums)',
    base({
      from: new Date('2020-01-01T00:00:00Z'),
      to: new Date('2020-01-02T00:00:00Z'),
      measures: [{ name: 'count', fn: 'count' }, ...everyMeasure(outcome, 'o').slice(1)],
    }),
  ],
  ['every measure of an integer column', base({ measures: everyMeasure(outcome, 'o') })],
  [
    'every measure of an integer column, by event type',
    base({
      dimensions: [{ name: 'eventType', field: column('eventType', 'text') }],
      measures: everyMeasure(column('responseTime', 'integer'), 'rt'),
      orderBy: [{ name: 'eventType', descending: false }],
    }),
  ],
  [
    'every measure of a custom number (exact sums)',
    base({
      dimensions: [{ name: 'category', field: column('category', 'text') }],
      measures: everyMeasure(m, 'm'),
      orderBy: [{ name: 'category', descending: true }],
    }),
  ],
  [
    'order-free measures of a custom number parsed in every shape',
    base({
      measures: ['count', 'uniq', 'min', 'max', 'p50', 'p90', 'p99'].map((fn) => ({
        name: fn,
        fn: fn as (typeof ALL_FNS)[number],
        ...(fn !== 'count' && { field: n }),
      })),
    }),
  ],
  [
    'a custom number as a dimension (values and type errors)',
    base({
      dimensions: [{ name: 'customData.n', field: n }],
      orderBy: [{ name: 'customData.n', descending: false }],
    }),
  ],
  [
    'a custom boolean as a dimension',
    base({
      dimensions: [{ name: 'customData.b', field: custom('b', 'boolean') }],
      orderBy: [{ name: 'customData.b', descending: true }],
    }),
  ],
  [
    'custom text as a dimension',
    base({
      dimensions: [{ name: 'customData.t', field: custom('t', 'text') }],
      orderBy: [{ name: 'customData.t', descending: false }],
    }),
  ],
  [
    'a dimension declared for some kinds',
    base({
      dimensions: [
        { name: 'customData.n', field: custom('n', 'number', ['search', 'kpi']) },
        { name: 'category', field: column('category', 'text') },
      ],
      orderBy: [
        { name: 'category', descending: false },
        { name: 'customData.n', descending: false },
      ],
    }),
  ],
  [
    'booleans, integers, times and text as dimensions',
    base({
      dimensions: [
        { name: 'anonymous', field: column('anonymous', 'boolean') },
        { name: 'contextual', field: column('contextual', 'boolean') },
        { name: 'outcome', field: outcome },
        { name: 'eventTime', field: column('eventTime', 'timestamp') },
        { name: 'username', field: column('username', 'text') },
      ],
      orderBy: [
        { name: 'count', descending: true },
        { name: 'anonymous', descending: false },
        { name: 'contextual', descending: false },
        { name: 'outcome', descending: true },
        { name: 'eventTime', descending: false },
        { name: 'username', descending: false },
      ],
    }),
  ],
  [
    'the largest groups first, cut by the limit',
    base({
      dimensions: [
        { name: 'eventValue', field: column('eventValue', 'text') },
        { name: 'eventType', field: column('eventType', 'text') },
      ],
      measures: [
        { name: 'count', fn: 'count' },
        { name: 'avg', fn: 'avg', field: outcome },
      ],
      orderBy: [
        { name: 'count', descending: true },
        { name: 'eventValue', descending: false },
        { name: 'eventType', descending: false },
      ],
      limit: 5,
    }),
  ],
  [
    'a measure ordered with its nulls last',
    base({
      dimensions: [
        { name: 'username', field: column('username', 'text') },
        { name: 'eventValue', field: column('eventValue', 'text') },
      ],
      measures: [{ name: 'max', fn: 'max', field: custom('m', 'number', ['click']) }],
      orderBy: [
        { name: 'max', descending: true },
        { name: 'username', descending: false },
        { name: 'eventValue', descending: false },
      ],
    }),
  ],
  [
    'filters of every kind',
    base({
      dimensions: [{ name: 'eventType', field: column('eventType', 'text') }],
      where: {
        kind: 'and',
        filters: [
          { kind: 'in', field: column('eventType', 'text'), values: ['a', 'b', 'c'] },
          {
            kind: 'or',
            filters: [
              { kind: 'compare', op: 'ne', field: outcome, value: 3 },
              { kind: 'compare', op: 'eq', field: column('username', 'text'), value: null },
            ],
          },
          {
            kind: 'not',
            filter: { kind: 'match', op: 'contains', field: column('eventValue', 'text'), value: 'è' },
          },
          {
            kind: 'compare',
            op: 'ge',
            field: column('derivedTime', 'timestamp'),
            value: new Date('2026-03-10T00:00:00Z'),
          },
        ],
      },
      orderBy: [{ name: 'eventType', descending: false }],
    }),
  ],
  [
    'a filter on a custom number (its type errors counted)',
    base({ where: { kind: 'compare', op: 'gt', field: n, value: 2 } }),
  ],
  [
    'a filter on a custom boolean and a custom text',
    base({
      dimensions: [{ name: 'category', field: column('category', 'text') }],
      where: {
        kind: 'and',
        filters: [
          { kind: 'compare', op: 'eq', field: custom('b', 'boolean'), value: true },
          { kind: 'match', op: 'startswith', field: custom('t', 'text'), value: 'al' },
        ],
      },
      orderBy: [{ name: 'category', descending: false }],
    }),
  ],
  [
    'in with a null among the values',
    base({
      dimensions: [{ name: 'outcome', field: outcome }],
      where: { kind: 'in', field: outcome, values: [null, 1, 7] },
      orderBy: [{ name: 'outcome', descending: false }],
    }),
  ],
];

const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'America/Havana'];
for (const zone of ZONES) {
  for (const unit of ['hour', 'day', 'week', 'month'] as const) {
    QUERIES.push([`${unit} buckets in ${zone}`, bucketed(unit, zone)]);
  }
}
QUERIES.push(
  [
    'minute buckets in Asia/Kathmandu',
    bucketed('minute', 'Asia/Kathmandu', [
      new Date('2026-03-29T00:00:00Z'),
      new Date('2026-03-30T00:00:00Z'),
    ]),
  ],
  [
    'hour buckets by a dimension, the newest first',
    {
      ...bucketed('hour', 'Europe/Paris', [
        new Date('2026-10-24T12:00:00Z'),
        new Date('2026-10-26T00:00:00Z'),
      ]),
      dimensions: [{ name: 'eventType', field: column('eventType', 'text') }],
      orderBy: [
        { name: 'time', descending: true },
        { name: 'eventType', descending: false },
      ],
    },
  ],
);

/**
 * Text of every shape for the number parse, one event each: the shortest text of random doubles of every
 * magnitude (as JSON writes numbers), random digit strings with points and exponents, and the odd cases. The
 * random ones stay within what the engine reads exactly (18 significant digits, powers of ten to 290): beyond,
 * ClickHouse's own parser reads the text and may miss DuckDB's double by a bit (`'6941.393445247955768e-30'`,
 * 19 digits), and reads a subnormal (`'4.9e-324'`) as 0.
 */
function numberCorpus(count: number): string[] {
  const { next, pick } = random(23);
  const texts = new Set<string>([
    ...NUMBER_TEXTS,
    '-0',
    '0',
    '-0.0',
    'nan',
    '-nan',
    '1e-400',
    '1e400',
    '2.2250738585072014e-308',
    '1.7976931348623157e308',
    '1.00000000000000011102230246251565404236316680908203125',
  ]);
  while (texts.size < count) {
    const kind = next();
    if (kind < 0.4) {
      texts.add(String((next() - 0.5) * 10 ** Math.floor(next() * 60 - 30)));
    } else if (kind < 0.7) {
      const digits = Array.from({ length: 1 + Math.floor(next() * 18) }, () => Math.floor(next() * 10)).join(
        '',
      );
      const point = Math.floor(next() * (digits.length + 1));
      const text = `${digits.slice(0, point)}.${digits.slice(point)}`;
      texts.add(next() < 0.5 ? text : `${text}e${pick(['', '-', '+'])}${Math.floor(next() * 40)}`);
    } else if (kind < 0.85) {
      texts.add(String(Math.floor(next() * 10 ** Math.floor(next() * 19))));
    } else {
      texts.add(`${Math.floor(next() * 1000) / pick([4, 8, 10, 100, 1000])}`);
    }
  }
  return [...texts];
}

// One node, and the two-shard cluster (a Distributed table over each shard's own): the same answers from both.
const clickhouse: ClickHouseServers | undefined = await startClickHouse();
const cluster: ClickHouseServers | undefined = clickhouse && (await startClickHouse({ shards: 2 }));

describe('aggregates on ClickHouse answer as on DuckDB', { skip: !cluster && skipReason() }, () => {
  const dir = tempDir('openua-ch-aggregate-');
  let duckdb: Storage;
  /** The node's store, then the cluster's. */
  const stores: { on: string; ch: ClickHouseStorage }[] = [];
  const events = makeEvents(3000);

  before(async () => {
    duckdb = await openStorage({ dataDir: dir });
    await duckdb.migrate([]);
    stores.push(
      {
        on: 'one node',
        ch: await ClickHouseStorage.open({ url: clickhouse?.url as string, database: 'aggregates' }),
      },
      {
        on: 'two shards',
        ch: await ClickHouseStorage.open({
          url: cluster?.url as string,
          database: 'aggregates',
          cluster: cluster?.cluster,
          shards: cluster?.shardUrls,
        }),
      },
    );
    for (const { ch } of stores) await ch.migrate([]);
    const all: { appendEvents(events: readonly CanonicalEvent[]): Promise<void> }[] = [
      duckdb,
      ...stores.map((s) => s.ch),
    ];
    for (let i = 0; i < events.length; i += 1000) {
      for (const store of all) await store.appendEvents(events.slice(i, i + 1000));
    }
    const numbers = numberCorpus(3000).map((text) =>
      canonicalEvent({
        org: NUMBERS_ORG,
        derivedTime: FROM,
        receivedTime: FROM,
        customData: { n: text, t: text },
      }),
    );
    for (const store of all) await store.appendEvents(numbers);
    // A replay stores nothing twice: FINAL collapses it, and every answer below counts each event once.
    for (const { ch } of stores) await ch.appendEvents(events.slice(0, 500));
  });

  after(async () => {
    await duckdb?.close();
    for (const { ch } of stores) await ch.close();
    await clickhouse?.stop();
    await cluster?.stop();
    removeDir(dir);
  });

  for (const [title, query] of QUERIES) {
    it(title, async () => {
      const expected = await duckdb.aggregateEvents(ORG, query);
      for (const { on, ch } of stores) {
        assert.deepStrictEqual(await aggregateEvents(ch.run, ORG, query), expected, on);
      }
    });
  }

  it('reads customData text as numbers as DuckDB casts it, to the last bit', async () => {
    const query = base({
      dimensions: [
        { name: 'text', field: custom('t', 'text') },
        { name: 'number', field: n },
      ],
      orderBy: [{ name: 'text', descending: false }],
    });
    const expected = await duckdb.aggregateEvents(NUMBERS_ORG, query);
    const actual = await aggregateEvents((stores[0] as (typeof stores)[number]).ch.run, NUMBERS_ORG, query);
    const duckdbOf = new Map(expected.rows.map((row) => [row.text, row.number]));
    const differ = actual.rows.filter((row) => !Object.is(row.number, duckdbOf.get(row.text)));
    assert.deepStrictEqual(
      differ.map((row) => ({ text: row.text, clickhouse: row.number, duckdb: duckdbOf.get(row.text) })),
      [],
    );
    assert.equal(actual.rows.length, expected.rows.length);
    assert.deepStrictEqual(actual, expected);
  });

  it('answers something worth comparing', async () => {
    const { rows, typeErrors } = await duckdb.aggregateEvents(ORG, QUERIES[6]?.[1] as AggregateQuery);
    assert.ok(rows.length > 10, 'many custom numbers');
    assert.ok((typeErrors['customData.n'] ?? 0) > 0, 'some type errors');
  });

  it('puts no name of the spec in the SQL', () => {
    const { sql } = compileAggregate(
      ORG,
      base({ measures: [{ name: "x` FROM system.one --'", fn: 'count' }] }),
    );
    assert.doesNotMatch(sql, /system\.one/);
  });
});
