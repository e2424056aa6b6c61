import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DuckDBConnection, DuckDBInstance, listValue } from '@duckdb/node-api';
import { QUERIES, QUERY_DIMENSIONS, QUERY_END, QUERY_ORG } from '../../bench/query-set.ts';
import { writeDemo } from '../../src/demo/demo-writer.ts';
import { newEventId } from '../../src/model/event-id.ts';
import type { Dimension } from '../../src/query/dimensions.ts';
import { resolveQuery } from '../../src/query/query-spec.ts';
import { compileAggregate } from '../../src/storage/duckdb/aggregate.ts';
import {
  APPENDED_EVENTS,
  COMPACT_STEPS,
  DISTINCT_KEYS_CHECKPOINT,
  distinctKeySteps,
  hoursOf,
  KEY_TABLES,
  migrateDistinctKeys,
  planDistinctKeys,
  rebuildHoursSteps,
} from '../../src/storage/duckdb/distinct-keys.ts';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import { timestamp } from '../../src/storage/duckdb/values.ts';
import { eventToRowJson } from '../../src/storage/event-rows.ts';
import type { AggregateQuery } from '../../src/storage/storage.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/**
 * Distinct keys per hour (issue 18): every query a distinct-key table can answer gives, from it, the rows the
 * events give, to the unit, after an upgrade builds the tables, after loads (in order, late, replayed), after
 * changes and deletions, and after compaction. The events are a seeded slice of the demo month.
 */

const DAY = 86_400_000;
const HOUR = 3_600_000;
const at = (ms: number) => new Date(QUERY_END.getTime() - ms).toISOString();

const dimensions = new Map<string, Dimension>(
  QUERY_DIMENSIONS.map((d) => [
    d.name,
    {
      org: QUERY_ORG,
      name: d.name,
      displayName: d.name,
      type: d.type,
      eventKinds: [],
      createdAt: new Date(0),
      coveoType: null,
    } as unknown as Dimension,
  ]),
);

/** The bench's distinct counts and variants: partial hours, zones with whole and half-hour offsets, filters. */
const SPECS: { name: string; spec: Record<string, unknown> }[] = [
  ...QUERIES,
  {
    name: 'visitors per hour, partial hours at both ends',
    spec: {
      measures: ['distinctClients', 'distinctVisits', 'count'],
      granularity: 'hour',
      from: at(3 * DAY + 17 * 60_000),
      to: at(HOUR / 2),
    },
  },
  {
    name: 'visitors per day in New York (a change of offset in the range)',
    spec: {
      measures: ['distinctClients', 'distinctVisits'],
      granularity: 'day',
      timeZone: 'America/New_York',
      from: at(30 * DAY),
      to: at(0),
    },
  },
  {
    name: 'visits per day in Paris, partial hours at both ends',
    spec: {
      measures: ['distinctVisits', 'count'],
      granularity: 'day',
      timeZone: 'Europe/Paris',
      from: at(6 * DAY + 17 * 60_000),
      to: at(20 * 60_000),
    },
  },
  {
    name: 'visitors per day in Kolkata (a half-hour offset: the events are read)',
    spec: {
      measures: ['distinctClients'],
      granularity: 'day',
      timeZone: 'Asia/Kolkata',
      from: at(30 * DAY),
      to: at(0),
    },
  },
  {
    name: 'visitors per week and per month',
    spec: { measures: ['distinctClients', 'count'], granularity: 'week', from: at(30 * DAY), to: at(0) },
  },
  {
    name: 'conversations of two queues, not support, by category',
    spec: {
      measures: ['distinctConversations', 'count'],
      dimensions: ['category'],
      filters: [
        { field: 'queueName', op: 'in', value: ['billing', 'sales', 'support'] },
        { field: 'queueName', op: 'ne', value: 'support' },
      ],
      from: at(10 * DAY + 5 * 60_000),
      to: at(0),
    },
  },
  {
    name: 'distinct clients of searches for a text, within an hour',
    spec: {
      measures: ['distinctClients', 'count'],
      dimensions: ['queryText'],
      filters: [{ field: 'category', op: 'eq', value: 'search' }],
      from: at(2 * DAY + 40 * 60_000),
      to: at(2 * DAY + 10 * 60_000),
    },
  },
  {
    name: 'distinct clients of every category (no search-only table)',
    spec: { measures: ['distinctClients', 'count'], dimensions: ['category'], from: at(30 * DAY), to: at(0) },
  },
  {
    name: 'distinct query clients per day, searches only, in Paris',
    spec: {
      measures: ['distinctClients'],
      dimensions: ['queryText'],
      filters: [{ field: 'category', op: 'in', value: ['search'] }],
      granularity: 'day',
      timeZone: 'Europe/Paris',
      from: at(20 * DAY),
      to: at(0),
      limit: 500,
    },
  },
];

/** The events-only queries of SPECS, resolved (the KPI ones read units, not events). */
const QUERY_SET = SPECS.flatMap(({ name, spec }) => {
  const { query, previous, kpis } = resolveQuery(spec, dimensions, QUERY_END);
  if (kpis.length > 0) return [];
  return [query, ...(previous ? [previous] : [])].map((q) => ({ name, query: q as AggregateQuery }));
});

const plain = (rows: Record<string, unknown>[]) =>
  JSON.parse(JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? Number(v) : v)));

async function answers(connection: DuckDBConnection, query: AggregateQuery, distinctKeys: boolean) {
  const { sql, params } = compileAggregate(QUERY_ORG, query, { distinctKeys });
  return plain((await connection.runAndReadAll(sql, params)).getRowObjectsJS());
}

/** Every query of the set, from the tables and from the events: the same rows. */
async function assertSameAnswers(connection: DuckDBConnection, when: string) {
  for (const { name, query } of QUERY_SET) {
    const fromEvents = await answers(connection, query, false);
    const fromKeys = await answers(connection, query, true);
    assert.deepEqual(fromKeys, fromEvents, `${name}, ${when}`);
  }
}

async function run(connection: DuckDBConnection, statements: readonly string[]) {
  await connection.run('BEGIN TRANSACTION');
  for (const sql of statements) await connection.run(sql);
  await connection.run('COMMIT');
}

/** Rows per table, and how many of them repeat a combination of their hour (before compaction). */
async function tableRows(connection: DuckDBConnection) {
  const counts: Record<string, { rows: number; repeats: number }> = {};
  for (const t of KEY_TABLES) {
    const keys = ['org', 'hour', ...t.columns].join(', ');
    const [row] = (
      await connection.runAndReadAll(
        `SELECT (SELECT count(*) FROM ${t.name})::INT AS rows, (SELECT count(*) FROM (SELECT ${keys} FROM ${t.name} GROUP BY ALL HAVING count(*) > 1))::INT AS repeats`,
      )
    ).getRowObjectsJS() as { rows: number; repeats: number }[];
    counts[t.name] = row as { rows: number; repeats: number };
  }
  return counts;
}

describe('distinct keys per hour answer as the events do', () => {
  const dir = tempDir('openua-distinct-keys-');
  let instance: DuckDBInstance;
  let connection: DuckDBConnection;

  before(async () => {
    const storage = await DuckDBStorage.open(dir);
    await storage.migrate([]);
    await writeDemo(storage, undefined, {
      seed: 18,
      org: QUERY_ORG,
      events: 20_000,
      days: 30,
      end: QUERY_END,
      batchSize: 5_000,
    });
    await storage.close();
    instance = await DuckDBInstance.create(path.join(dir, 'openua.duckdb'));
    connection = await instance.connect();
  });

  after(() => {
    connection?.closeSync();
    instance?.closeSync();
    removeDir(dir);
  });

  it('a store without the tables builds them once, and they answer the distinct counts', async () => {
    await connection.run('DELETE FROM checkpoints WHERE name = $1', [DISTINCT_KEYS_CHECKPOINT]);
    assert.equal(await migrateDistinctKeys(connection), true);
    assert.equal(await migrateDistinctKeys(connection), false);
    const answered = QUERY_SET.filter(({ query }) => planDistinctKeys(query)).map(({ name }) => name);
    for (const name of [
      'top 20 queries, 30 days',
      'conversations per queue per day, 30 days',
      'visitors per day, 30 days (CSV)',
      'visitors per hour, partial hours at both ends',
      'visits per day in Paris, partial hours at both ends',
      'visitors per day in New York (a change of offset in the range)',
      'conversations of two queues, not support, by category',
    ]) {
      assert.ok(answered.includes(name), `${name} is answered from a table`);
    }
    for (const name of [
      'visitors per day in Kolkata (a half-hour offset: the events are read)',
      'distinct clients of searches for a text, within an hour',
      'distinct clients of every category (no search-only table)',
      'events per hour by category, 7 days',
    ]) {
      assert.ok(!answered.includes(name), `${name} is answered from the events`);
    }
    await assertSameAnswers(connection, 'after the upgrade');
  });

  it('loads in order, late, and replayed keep every answer', async () => {
    // A copy of a day of events, as a load would bring them: new ids, the same keys, some hours of them.
    const load = async (shiftMs: number, where: string) => {
      await connection.run('BEGIN TRANSACTION');
      await connection.run(
        `CREATE TEMP TABLE loaded AS SELECT * REPLACE (uuid()::VARCHAR AS id, derived_time + to_milliseconds(${shiftMs}::BIGINT) AS derived_time) FROM events WHERE ${where}`,
      );
      await connection.run('INSERT INTO events SELECT * FROM loaded');
      for (const sql of distinctKeySteps('loaded')) await connection.run(sql);
      await connection.run('DROP TABLE loaded');
      await connection.run('COMMIT');
    };
    const lastDay = `derived_time >= TIMESTAMP '${at(DAY).slice(0, 19)}'`;
    // In order: the last day again, an hour later; late: three weeks back; a replay of the same rows.
    await load(HOUR, lastDay);
    await load(-21 * DAY + 7 * 60_000, `${lastDay} AND category IN ('search', 'kpi')`);
    await load(0, `derived_time >= TIMESTAMP '${at(HOUR * 5).slice(0, 19)}'`);
    // Small loads of single events into the same hours: their rows repeat combinations until compaction.
    for (let i = 0; i < 5; i++) await load(i * 60_000, `id IN (SELECT id FROM events ORDER BY id LIMIT 3)`);
    // A load appended straight to the events table, found again by its ids and the span of its times.
    await connection.run('BEGIN TRANSACTION');
    const appended = (
      await connection.runAndReadAll(
        `INSERT INTO events SELECT * REPLACE (uuid()::VARCHAR AS id, derived_time - INTERVAL 13 DAY AS derived_time)
          FROM events WHERE derived_time >= TIMESTAMP '${at(3 * HOUR).slice(0, 19)}' RETURNING id, derived_time`,
      )
    ).getRowObjectsJS() as { id: string; derived_time: Date }[];
    const times = appended.map((r) => r.derived_time.getTime());
    for (const sql of distinctKeySteps(APPENDED_EVENTS)) {
      await connection.run(sql, {
        ids: listValue(appended.map((r) => r.id)),
        lo: timestamp(new Date(Math.min(...times))),
        hi: timestamp(new Date(Math.max(...times))),
      });
    }
    await connection.run('COMMIT');
    await assertSameAnswers(connection, 'after loads');
    const before = await tableRows(connection);
    assert.ok(
      Object.values(before).some((t) => t.repeats > 0),
      'loads appended repeated combinations',
    );
    await run(connection, COMPACT_STEPS);
    const compacted = await tableRows(connection);
    for (const [name, t] of Object.entries(compacted)) {
      assert.equal(t.repeats, 0, `${name} has no repeated combination after compaction`);
      assert.ok(t.rows <= (before[name]?.rows ?? 0));
    }
    await assertSameAnswers(connection, 'after compaction');
  });

  it('changed and deleted events rebuild their hours', async () => {
    // The events' hours before the change and after it are rebuilt, as duckdb-storage's changeEvents does.
    const change = async (where: string, statement: string) => {
      await connection.run('BEGIN TRANSACTION');
      await connection.run(`CREATE TEMP TABLE changed_hours AS ${hoursOf(where)}`);
      await connection.run(statement);
      await connection.run(`INSERT INTO changed_hours ${hoursOf(where)}`);
      for (const sql of rebuildHoursSteps('changed_hours')) await connection.run(sql);
      await connection.run('DROP TABLE changed_hours');
      await connection.run('COMMIT');
    };
    const some = `id IN (SELECT id FROM events WHERE category IN ('search', 'view', 'kpi') ORDER BY hash(id) LIMIT 300)`;
    await change(some, `UPDATE events SET derived_time = derived_time - INTERVAL 9 DAY WHERE ${some}`);
    await change(some, `UPDATE events SET client_id = 'someone else', queue_name = 'vip' WHERE ${some}`);
    const gone = `id IN (SELECT id FROM events WHERE category = 'search' ORDER BY hash(id) LIMIT 500)`;
    // A delete's events are gone after it: only the hours taken before are rebuilt, which holds them all.
    await change(gone, `DELETE FROM events WHERE ${gone}`);
    await assertSameAnswers(connection, 'after changes and deletions');
  });
});

/**
 * The same through the store (DuckDBStorage): its migrate builds the tables, its loads (in order, late, replayed)
 * feed them (appended from memory, and loaded from a file of log rows by DuckDB's JSON reader), its changes and
 * deletions rebuild their hours.
 */
describe('the store keeps its distinct keys exact', () => {
  const dir = tempDir('openua-distinct-keys-store-');
  after(() => removeDir(dir));

  it('through loads, file loads, replays, late events, changes and deletions', async () => {
    const storage = await DuckDBStorage.open(dir);
    try {
      await storage.migrate([]);
      const demo = (seed: number, events: number, end: Date, days: number) =>
        writeDemo(storage, undefined, { seed, org: QUERY_ORG, events, days, end, batchSize: 2_000 });
      await demo(18, 8_000, QUERY_END, 30);
      // Late: a second stream over hours the store already holds.
      await demo(19, 3_000, new Date(QUERY_END.getTime() - 10 * DAY), 5);
      // A replay: events the store holds, appended again, are stored once.
      const held = await storage.queryEvents(QUERY_ORG, { limit: 300 });
      await storage.appendEvents(held.rows);
      // The ingest log's path: copies under new ids, loaded from a file of rows, and that file loaded again.
      const file = path.join(dir, 'rows.jsonl');
      const copies = held.rows.slice(0, 200).map((e) => ({ ...e, id: newEventId() }));
      writeFileSync(file, copies.map((e) => `${eventToRowJson(e)}\n`).join(''));
      await storage.loadEventFile(file);
      await storage.loadEventFile(file);
      const [moved, changed] = held.rows;
      if (moved) {
        await storage.updateEvent(QUERY_ORG, moved.id, {
          derivedTime: new Date(moved.derivedTime.getTime() - 7 * DAY),
        });
      }
      if (changed) await storage.updateEvent(QUERY_ORG, changed.id, { clientId: 'someone else' });
      await storage.deleteEvents(QUERY_ORG, {
        kind: 'compare',
        op: 'eq',
        field: 'queryText',
        value: 'login',
      });
    } finally {
      await storage.close();
    }
    const instance = await DuckDBInstance.create(path.join(dir, 'openua.duckdb'));
    const connection = await instance.connect();
    try {
      const built = (
        await connection.runAndReadAll('SELECT value FROM checkpoints WHERE name = $1', [
          DISTINCT_KEYS_CHECKPOINT,
        ])
      ).getRowObjectsJS();
      assert.equal(built.length, 1, 'the store built its distinct-key tables');
      await assertSameAnswers(connection, 'after the store wrote, changed and deleted events');
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
