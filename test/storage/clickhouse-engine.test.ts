import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CanonicalEvent } from '../../src/model/canonical-event.ts';
import { ClickHouseStorage } from '../../src/storage/clickhouse/clickhouse-storage.ts';
import { EVENT_COLUMNS } from '../../src/storage/event-columns.ts';
import type { EntityTable, RecordFilter } from '../../src/storage/storage.ts';
import {
  type ClickHouseServers,
  clickhouseQuery,
  skipReason,
  startClickHouse,
} from '../helpers/clickhouse.ts';
import { canonicalEvent } from '../helpers/events.ts';

/**
 * The ClickHouse engine's own checks, on a real clickhouse-server (18.16) started for this file: round trips,
 * replays, updates and deletes as versions and tombstones, and values that must reach SQL only as literals.
 * The contract suite (test/storage/contract*.test.ts) runs the same promises on every engine.
 */

interface Thing {
  org: string;
  id: string;
  n: number | null;
  tags: string[];
  at: Date | null;
  on: boolean | null;
  doc: object | null;
}

const THINGS: EntityTable<Thing> = {
  name: 'things',
  key: ['org', 'id'],
  columns: {
    org: 'text',
    id: 'text',
    n: 'integer',
    tags: 'text[]',
    at: 'timestamp',
    on: 'boolean',
    doc: 'json',
  },
};

/** Text that would end a literal, escape one, or comment out the rest, if it ever reached SQL unquoted. */
const NASTY = [
  "it's",
  'back\\slash',
  "\\'; DROP TABLE events; --",
  "' OR 1=1 --",
  'ünïcødé 😀 中文',
  'tab\there\nnewline',
  '%_*',
  '`backquote`',
  '',
];

/** What reading an event back gives: every column, null where the event left a field out. */
function stored(event: CanonicalEvent): CanonicalEvent {
  const source = event as unknown as Record<string, unknown>;
  const full: Record<string, unknown> = { customData: event.customData };
  for (const { field } of EVENT_COLUMNS) full[field] = source[field] ?? null;
  return full as unknown as CanonicalEvent;
}

let servers: ClickHouseServers | undefined;
let database = 0;

async function withStore(
  run: (storage: ClickHouseStorage) => Promise<void>,
  target: ClickHouseServers | undefined = servers,
): Promise<void> {
  if (!target) return;
  const storage = await ClickHouseStorage.open({
    url: target.url,
    database: `engine_${process.pid}_${database++}`,
    user: 'default',
    password: '',
    cluster: target.cluster,
    shards: target.cluster ? target.shardUrls : undefined,
  });
  try {
    await storage.migrate([THINGS as EntityTable<object>]);
    await run(storage);
  } finally {
    await storage.close();
  }
}

const ids = (events: readonly CanonicalEvent[]) => events.map((e) => e.id).sort();

describe('the ClickHouse engine', { timeout: 120_000 }, () => {
  before(async () => {
    servers = await startClickHouse();
  });
  after(async () => {
    await servers?.stop();
  });

  it('gives back every field of an event as it was stored', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const full = canonicalEvent({
        org: 'o',
        category: 'search',
        eventTime: new Date('2026-11-01T10:00:00.123Z'),
        sentTime: new Date('2026-11-01T10:00:01.456Z'),
        outcome: -3,
        numberOfResults: 12,
        contextual: true,
        anonymous: true,
        userGroups: ["g'1", 'g\\2'],
        facetState: [{ field: 'x', value: "it's" }],
        results: [],
        queryText: NASTY.join('|'),
        customData: { quote: "it's", slash: 'a\\b', empty: '', emoji: '😀' },
      });
      const sparse = canonicalEvent({ org: 'o', eventValue: null, language: null, contextual: false });
      await storage.appendEvents([full, sparse]);
      const page = await storage.queryEvents('o', { count: true });
      assert.equal(page.count, 2);
      const byId = new Map(page.rows.map((e) => [e.id, e]));
      assert.deepEqual(byId.get(full.id), stored(full));
      assert.deepEqual(byId.get(sparse.id), stored(sparse));
    });
  });

  it('stores a replayed batch once, and a replay does not undo a later delete or update', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const batch = Array.from({ length: 5 }, (_, i) => canonicalEvent({ org: 'o', eventValue: `v${i}` }));
      await storage.appendEvents(batch);
      await storage.appendEvents(batch);
      await storage.appendEvents(batch.slice(2));
      assert.equal((await storage.queryEvents('o', { count: true, limit: 0 })).count, 5);
      assert.equal(
        await storage.deleteEvents('o', { kind: 'compare', op: 'eq', field: 'eventValue', value: 'v0' }),
        1,
      );
      assert.equal(await storage.updateEvent('o', batch[1]?.id as string, { eventValue: 'changed' }), true);
      await storage.appendEvents(batch);
      const rows = (await storage.queryEvents('o', {})).rows;
      assert.deepEqual(ids(rows), ids(batch.slice(1)));
      assert.equal(rows.find((e) => e.id === batch[1]?.id)?.eventValue, 'changed');
    });
  });

  it('updates an event as a new version, also when the change moves it to another month', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const event = canonicalEvent({ org: 'o', derivedTime: new Date('2026-10-31T23:59:59Z') });
      await storage.appendEvents([event]);
      assert.equal(await storage.updateEvent('o', 'no-such-id', { eventValue: 'x' }), false);
      assert.equal(await storage.updateEvent('other-org', event.id, { eventValue: 'x' }), false);
      assert.equal(await storage.updateEvent('o', event.id, { customData: { k: "v'" } }), true);
      const moved = new Date('2026-11-01T00:00:00.001Z');
      assert.equal(
        await storage.updateEvent('o', event.id, { derivedTime: moved, eventValue: 'later' }),
        true,
      );
      const { rows, count } = await storage.queryEvents('o', { count: true });
      assert.equal(count, 1);
      assert.deepEqual(
        rows[0],
        stored({ ...event, derivedTime: moved, eventValue: 'later', customData: { k: "v'" } }),
      );
      // After ClickHouse merges the parts, the answer is the same.
      const db = storage.location.split('/').pop() as string;
      await clickhouseQuery((servers as ClickHouseServers).url, `OPTIMIZE TABLE ${db}.events FINAL`);
      assert.equal((await storage.queryEvents('o', { count: true })).count, 1);
    });
  });

  it('matches values literally: quotes, backslashes, unicode and SQL are data', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const events = NASTY.map((text, i) =>
        canonicalEvent({ org: 'o', eventValue: text, eventType: `t${i}`, userGroups: [text, 'all'] }),
      );
      await storage.appendEvents(events);
      for (const [i, text] of NASTY.entries()) {
        const eq = await storage.queryEvents('o', {
          where: { kind: 'compare', op: 'eq', field: 'eventValue', value: text },
        });
        assert.deepEqual(
          eq.rows.map((e) => e.eventType),
          [`t${i}`],
          `eq ${JSON.stringify(text)}`,
        );
        const has = await storage.queryEvents('o', {
          where: { kind: 'has', field: 'userGroups', value: text },
        });
        assert.deepEqual(
          has.rows.map((e) => e.eventType),
          [`t${i}`],
        );
        for (const op of ['contains', 'startswith', 'endswith'] as const) {
          const matched = await storage.queryEvents('o', {
            where: { kind: 'match', op, field: 'eventValue', value: text },
          });
          assert.ok(
            matched.rows.some((e) => e.eventType === `t${i}`),
            `${op} ${JSON.stringify(text)}`,
          );
        }
      }
      const contains = await storage.queryEvents('o', {
        where: { kind: 'match', op: 'contains', field: 'eventValue', value: "'" },
      });
      assert.deepEqual(contains.rows.map((e) => e.eventType).sort(), ['t0', 't2', 't3']);
      // Case-sensitive, and % and _ are not wildcards.
      const percent = await storage.queryEvents('o', {
        where: { kind: 'match', op: 'startswith', field: 'eventValue', value: '%' },
      });
      assert.deepEqual(
        percent.rows.map((e) => e.eventType),
        ['t6'],
      );
      const upper = await storage.queryEvents('o', {
        where: { kind: 'match', op: 'contains', field: 'eventValue', value: 'ÜNÏ' },
      });
      assert.equal(upper.rows.length, 0);
      // Nothing was dropped by the attempts.
      assert.equal((await storage.queryEvents('o', { count: true, limit: 0 })).count, NASTY.length);
    });
  });

  it('keeps the null rules: eq null, ne keeps nulls, not keeps unknowns, in with null, empty and/or', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const events = [
        canonicalEvent({ org: 'o', eventType: 'a', eventValue: 'x', outcome: 1 }),
        canonicalEvent({ org: 'o', eventType: 'b', eventValue: null, outcome: null }),
        canonicalEvent({ org: 'o', eventType: 'c', eventValue: 'y', outcome: 5 }),
      ];
      await storage.appendEvents(events);
      const types = async (where: RecordFilter) =>
        (await storage.queryEvents('o', { where })).rows.map((e) => e.eventType).sort();
      const value = (op: 'eq' | 'ne' | 'gt', v: string | null): RecordFilter => ({
        kind: 'compare',
        op,
        field: 'eventValue',
        value: v,
      });
      assert.deepEqual(await types(value('eq', null)), ['b']);
      assert.deepEqual(await types(value('ne', null)), ['a', 'c']);
      assert.deepEqual(await types(value('gt', null)), []);
      assert.deepEqual(await types(value('ne', 'x')), ['b', 'c']);
      assert.deepEqual(await types({ kind: 'not', filter: value('eq', 'x') }), ['b', 'c']);
      assert.deepEqual(await types({ kind: 'in', field: 'eventValue', values: ['x', null] }), ['a', 'b']);
      assert.deepEqual(await types({ kind: 'in', field: 'eventValue', values: [] }), []);
      assert.deepEqual(await types({ kind: 'and', filters: [] }), ['a', 'b', 'c']);
      assert.deepEqual(await types({ kind: 'or', filters: [] }), []);
      assert.deepEqual(await types({ kind: 'compare', op: 'ge', field: 'outcome', value: 1 }), ['a', 'c']);
      assert.deepEqual(await types({ kind: 'compare', op: 'lt', field: 'outcome', value: -1 }), []);
      assert.deepEqual(
        await types({
          kind: 'or',
          filters: [value('eq', 'y'), { kind: 'compare', op: 'le', field: 'outcome', value: 1 }],
        }),
        ['a', 'c'],
      );
      const since = events[0]?.derivedTime as Date;
      assert.deepEqual(await types({ kind: 'compare', op: 'ge', field: 'derivedTime', value: since }), [
        'a',
        'b',
        'c',
      ]);
      await assert.rejects(() => types({ kind: 'compare', op: 'eq', field: 'nope', value: 1 }), /no field/);
    });
  });

  it('aggregates each event once: replays, updates and deletes do not change the counts', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const at = new Date('2026-11-15T12:00:00Z');
      const events = ['a', 'a', 'b', 'c'].map((type) =>
        canonicalEvent({ org: 'o', eventType: type, derivedTime: at }),
      );
      await storage.appendEvents(events);
      await storage.appendEvents(events);
      await storage.updateEvent('o', events[0]?.id as string, { eventValue: 'changed' });
      await storage.deleteEvents('o', { kind: 'compare', op: 'eq', field: 'eventType', value: 'c' });
      const result = await storage.aggregateEvents('o', {
        from: new Date('2026-11-01T00:00:00Z'),
        to: new Date('2026-12-01T00:00:00Z'),
        dimensions: [{ name: 'type', field: { kind: 'column', field: 'eventType', type: 'text' } }],
        measures: [{ name: 'n', fn: 'count' }],
        orderBy: [{ name: 'type', descending: false }],
        limit: 10,
      });
      assert.deepEqual(result.rows, [
        { type: 'a', n: 2 },
        { type: 'b', n: 1 },
      ]);
    });
  });

  it('orders and pages events, newest first by default', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const base = Date.parse('2026-11-10T00:00:00Z');
      const events = Array.from({ length: 6 }, (_, i) =>
        canonicalEvent({ org: 'o', eventType: `e${i}`, derivedTime: new Date(base + i * 1000) }),
      );
      await storage.appendEvents([...events, canonicalEvent({ org: 'other' })]);
      const page = await storage.queryEvents('o', { limit: 2, offset: 1, count: true });
      assert.deepEqual(
        page.rows.map((e) => e.eventType),
        ['e4', 'e3'],
      );
      assert.equal(page.count, 6);
      const ascending = await storage.queryEvents('o', {
        orderBy: [{ field: 'eventType', descending: false }],
        offset: 4,
      });
      assert.deepEqual(
        ascending.rows.map((e) => e.eventType),
        ['e4', 'e5'],
      );
    });
  });

  it('deletes by filter with tombstones, and answers how many', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      await storage.appendEvents([
        canonicalEvent({ org: 'o', eventType: 'keep' }),
        canonicalEvent({ org: 'o', eventType: 'drop', derivedTime: new Date('2025-01-15T00:00:00Z') }),
        canonicalEvent({ org: 'o', eventType: 'drop' }),
        canonicalEvent({ org: 'p', eventType: 'drop' }),
      ]);
      const drop: RecordFilter = { kind: 'compare', op: 'eq', field: 'eventType', value: 'drop' };
      assert.equal(await storage.deleteEvents('o', drop), 2);
      assert.equal(await storage.deleteEvents('o', drop), 0);
      assert.deepEqual(
        (await storage.queryEvents('o', {})).rows.map((e) => e.eventType),
        ['keep'],
      );
      assert.equal((await storage.queryEvents('p', { count: true })).count, 1);
    });
  });

  it('finds the last visit and the keyed events, ignoring deleted ones', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const t0 = Date.parse('2026-11-20T08:00:00Z');
      const at = (s: number) => new Date(t0 + s * 1000);
      await storage.appendEvents([
        canonicalEvent({
          org: 'o',
          visitorId: "v'1",
          visitId: 'first',
          receivedTime: at(0),
          idempotencyKey: 'k1',
        }),
        canonicalEvent({
          org: 'o',
          visitorId: "v'1",
          visitId: 'second',
          receivedTime: at(10),
          idempotencyKey: 'k2',
        }),
        canonicalEvent({ org: 'o', visitorId: 'v2', visitId: 'other', receivedTime: at(20) }),
      ]);
      assert.deepEqual(await storage.lastVisit('o', "v'1"), { visitId: 'second', lastSeen: at(10) });
      assert.equal(await storage.lastVisit('p', "v'1"), undefined);
      const keyed = await storage.keyedEvents(at(0));
      assert.deepEqual(
        keyed.map((k) => [k.key, k.receivedTime.getTime()]),
        [
          ['k1', at(0).getTime()],
          ['k2', at(10).getTime()],
        ],
      );
      await storage.deleteEvents('o', { kind: 'compare', op: 'eq', field: 'visitId', value: 'second' });
      assert.deepEqual(await storage.lastVisit('o', "v'1"), { visitId: 'first', lastSeen: at(0) });
      assert.deepEqual(
        (await storage.keyedEvents(at(1))).map((k) => k.key),
        [],
      );
    });
  });

  it('saves checkpoints, the latest value winning', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      assert.equal(await storage.readCheckpoint('log'), undefined);
      await storage.saveCheckpoint('log', '1');
      await storage.saveCheckpoint('log', "2'");
      assert.equal(await storage.readCheckpoint('log'), "2'");
      assert.equal(await storage.readCheckpoint('clickhouse_schema'), '1');
    });
  });

  it('upserts, queries, counts and removes entity rows', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const at = new Date('2026-11-30T12:34:56.789Z');
      await storage.upsert(THINGS, {
        org: 'o',
        id: 'a',
        n: 0,
        tags: ['before'],
        at: null,
        on: null,
        doc: null,
      });
      await storage.upsertAll([
        {
          table: THINGS,
          row: { org: 'o', id: 'a', n: 1, tags: ['first'], at, on: true, doc: { q: "it's" } },
        },
        { table: THINGS, row: { org: 'o', id: "b'", n: 2, tags: [], at: null, on: false, doc: [1, 2] } },
        {
          table: THINGS,
          row: { org: 'other', id: 'a', n: 3, tags: ['x', 'y'], at: null, on: null, doc: null },
        },
        {
          table: THINGS,
          row: { org: 'o', id: 'a', n: null, tags: ['last', 'x'], at, on: true, doc: { q: 1 } },
        },
      ]);
      assert.deepEqual(await storage.find(THINGS, { org: 'o' }), [
        { org: 'o', id: 'a', n: null, tags: ['last', 'x'], at, on: true, doc: { q: 1 } },
        { org: 'o', id: "b'", n: 2, tags: [], at: null, on: false, doc: [1, 2] },
      ]);
      const page = await storage.query(
        THINGS,
        {},
        {
          orderBy: [{ field: 'n', descending: true }],
          limit: 1,
          count: true,
          where: { kind: 'has', field: 'tags', value: 'x' },
        },
      );
      assert.deepEqual(
        page.rows.map((r) => [r.org, r.id]),
        [['other', 'a']],
      );
      assert.equal(page.count, 2);
      assert.deepEqual(await storage.countBy(THINGS, {}, undefined, 'tags'), [
        { value: 'x', count: 2 },
        { value: 'last', count: 1 },
        { value: 'y', count: 1 },
      ]);
      assert.deepEqual(await storage.countBy(THINGS, { org: 'o' }, undefined, 'on'), [
        { value: false, count: 1 },
        { value: true, count: 1 },
      ]);
      assert.equal(
        await storage.remove(THINGS, { org: 'o' }, { kind: 'compare', op: 'eq', field: 'id', value: "b'" }),
        1,
      );
      assert.equal(await storage.remove(THINGS, { org: 'o', id: "b'" }), 0);
      assert.deepEqual(
        (await storage.find(THINGS, {})).map((r) => r.id),
        ['a', 'a'],
      );
      // A removed key written again is back.
      await storage.upsert(THINGS, { org: 'o', id: "b'", n: 9, tags: [], at: null, on: null, doc: null });
      assert.equal((await storage.find(THINGS, { org: 'o', id: "b'" }))[0]?.n, 9);
    });
  });

  it('brings an older database up to date: missing columns are added, data kept', async (t) => {
    if (!servers) return t.skip(skipReason());
    const url = servers.url;
    await withStore(async (storage) => {
      const event = canonicalEvent({ org: 'o', queueName: 'q' });
      await storage.appendEvents([event]);
      const db = storage.location.split('/').pop() as string;
      await clickhouseQuery(url, `ALTER TABLE ${db}.events DROP COLUMN queue_name`);
      await clickhouseQuery(url, `ALTER TABLE ${db}.things DROP COLUMN doc`);
      await storage.migrate([THINGS as EntityTable<object>]);
      const [row] = (await storage.queryEvents('o', {})).rows;
      assert.deepEqual(row, stored({ ...event, queueName: null }));
    });
  });

  it('tells the events it would refuse from the others, writing nothing', async (t) => {
    if (!servers) return t.skip(skipReason());
    await withStore(async (storage) => {
      const good = canonicalEvent({ org: 'o' });
      const bad = [
        canonicalEvent({ org: 'o', credentialId: null as never }),
        canonicalEvent({ org: 'o', derivedTime: new Date(Number.NaN) }),
        canonicalEvent({ org: 'o', outcome: 1.5 }),
      ];
      assert.deepEqual(await storage.refusedEvents([good, ...bad]), [1, 2, 3]);
      assert.equal((await storage.queryEvents('o', { count: true, limit: 0 })).count, 0);
      // What it says it refuses, ClickHouse does refuse; the rest it takes.
      for (const event of bad) await assert.rejects(() => storage.appendEvents([event]));
      await storage.appendEvents([good]);
      assert.equal((await storage.queryEvents('o', { count: true, limit: 0 })).count, 1);
    });
  });

  it('says which URL does not answer', async () => {
    await assert.rejects(
      () =>
        ClickHouseStorage.open({
          url: 'http://user:secret@127.0.0.1:1',
          database: 'x',
          user: 'u',
          password: 'secret',
        }),
      (error: Error) => {
        assert.match(error.message, /ClickHouse at http:\/\/user@127\.0\.0\.1:1 does not answer/);
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
  });
});

describe('the ClickHouse engine on two shards', { timeout: 120_000 }, () => {
  let cluster: ClickHouseServers | undefined;
  before(async () => {
    cluster = await startClickHouse({ shards: 2 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('spreads events over the shards and reads each once, through updates and deletes', async (t) => {
    if (!cluster) return t.skip(skipReason());
    await withStore(async (storage) => {
      const events = Array.from({ length: 40 }, (_, i) =>
        canonicalEvent({ org: 'o', conversationId: `c${i % 10}`, eventType: `e${i}` }),
      );
      await storage.appendEvents(events);
      await storage.appendEvents(events);
      assert.equal((await storage.queryEvents('o', { count: true, limit: 0 })).count, 40);
      const db = storage.location.split('/').pop() as string;
      const perShard = await Promise.all(
        (cluster as ClickHouseServers).shardUrls.map(async (url) =>
          Number(await clickhouseQuery(url, `SELECT count() FROM ${db}.events_local FINAL`)),
        ),
      );
      assert.equal(perShard.length, 2);
      assert.ok(
        perShard.every((n) => n > 0 && n < 40),
        `per shard: ${perShard}`,
      );
      const first = events[0] as CanonicalEvent;
      // Another conversation may live on the other shard: the old row must not stay behind on its own.
      assert.equal(await storage.updateEvent('o', first.id, { conversationId: 'elsewhere-7' }), true);
      assert.equal(await storage.updateEvent('o', first.id, { conversationId: 'elsewhere-8' }), true);
      const { rows, count } = await storage.queryEvents('o', {
        where: { kind: 'compare', op: 'eq', field: 'eventType', value: 'e0' },
        count: true,
      });
      assert.equal(count, 1);
      assert.equal(rows[0]?.conversationId, 'elsewhere-8');
      assert.equal(
        await storage.deleteEvents('o', {
          kind: 'match',
          op: 'startswith',
          field: 'conversationId',
          value: 'c1',
        }),
        4,
      );
      assert.equal((await storage.queryEvents('o', { count: true, limit: 0 })).count, 36);
      // An older cluster lacks a column on the local and the Distributed tables of every shard.
      for (const url of (cluster as ClickHouseServers).shardUrls) {
        for (const table of ['events', 'events_local']) {
          await clickhouseQuery(url, `ALTER TABLE ${db}.${table} DROP COLUMN queue_name`);
        }
      }
      await storage.migrate([THINGS as EntityTable<object>]);
      await storage.appendEvents([canonicalEvent({ org: 'o', eventType: 'queued', queueName: "q'" })]);
      const queued = await storage.queryEvents('o', {
        where: { kind: 'compare', op: 'eq', field: 'queueName', value: "q'" },
      });
      assert.deepEqual(
        queued.rows.map((e) => e.eventType),
        ['queued'],
      );
      await storage.upsert(THINGS, { org: 'o', id: 'a', n: 1, tags: [], at: null, on: null, doc: null });
      await storage.upsert(THINGS, { org: 'o', id: 'a', n: 2, tags: [], at: null, on: null, doc: null });
      assert.deepEqual(
        (await storage.find(THINGS, {})).map((r) => r.n),
        [2],
      );
    }, cluster);
  });
});
