import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { CanonicalEvent } from '../../src/model/canonical-event.ts';
import { EVENT_COLUMNS } from '../../src/storage/event-columns.ts';
import { COMMIT_KEY, eventToRowJson } from '../../src/storage/event-rows.ts';
import { openStorage, type StorageSettings } from '../../src/storage/open-storage.ts';
import type {
  AggregateQuery,
  ColumnType,
  EntityTable,
  QueryField,
  RecordFilter,
  Storage,
  UnitQuery,
} from '../../src/storage/storage.ts';
import {
  type ClickHouseServers,
  clickhouseQuery,
  skipReason,
  startClickHouse,
} from '../helpers/clickhouse.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/**
 * The storage contract (src/storage/storage.ts, docs/design/storage-contract.md), checked the same way on every
 * engine: DuckDB, one ClickHouse node, and a two-shard ClickHouse cluster (Distributed tables over local ones).
 * Each case gets a store of its own. What a case asserts is what a caller may rely on, whatever the engine.
 */

// ClickHouse is started once for the file; without it (outside CI) its engines are skipped with the reason.
const node = await startClickHouse();
const nodeSkip = node ? false : skipReason();
const cluster = await startClickHouse({ shards: 2 });
const clusterSkip = cluster ? false : skipReason();
after(async () => {
  await node?.stop();
  await cluster?.stop();
});

interface Engine {
  name: string;
  skip: string | false;
  settings(dataDir: string): StorageSettings;
  servers?: ClickHouseServers;
}

const database = () => `contract_${randomBytes(6).toString('hex')}`;
const clickhouse = (
  servers: ClickHouseServers | undefined,
  dataDir: string,
  db: string,
): StorageSettings => ({
  dataDir,
  clickhouse: {
    url: servers?.url ?? 'http://127.0.0.1:1',
    database: db,
    user: 'default',
    password: '',
    ...(servers?.cluster ? { cluster: servers.cluster, shards: servers.shardUrls } : {}),
  },
});

/** Databases by data directory, so that reopening a directory reopens its ClickHouse database. */
const databases = new Map<string, string>();
const databaseOf = (dataDir: string) => {
  if (!databases.has(dataDir)) databases.set(dataDir, database());
  return databases.get(dataDir) as string;
};

const ENGINES: Engine[] = [
  { name: 'DuckDB', skip: false, settings: (dataDir) => ({ dataDir }) },
  {
    name: 'one ClickHouse node',
    skip: nodeSkip,
    servers: node,
    settings: (dataDir) => clickhouse(node, dataDir, databaseOf(dataDir)),
  },
  {
    name: 'a two-shard ClickHouse cluster',
    skip: clusterSkip,
    servers: cluster,
    settings: (dataDir) => clickhouse(cluster, dataDir, databaseOf(dataDir)),
  },
];

// ---- An entity table with one column of every type, and names that need quoting or snake case.

interface Thing {
  org: string;
  id: string;
  displayName: string | null;
  n: number | null;
  on: boolean | null;
  createdAt: Date | null;
  tags: string[];
  doc: unknown;
}

const THINGS: EntityTable<Thing> = {
  name: 'contract_things',
  key: ['org', 'id'],
  columns: {
    org: 'text',
    id: 'text',
    displayName: 'text',
    n: 'integer',
    on: 'boolean',
    createdAt: 'timestamp',
    tags: 'text[]',
    doc: 'json',
  },
};

const thing = (id: string, extra: Partial<Thing> = {}): Thing => ({
  org: 'o',
  id,
  displayName: null,
  n: null,
  on: null,
  createdAt: null,
  tags: [],
  doc: null,
  ...extra,
});

// ---- Edge values.

/** Text that trips quoting, escaping, LIKE patterns, parameter syntax and encodings. */
const NASTY = [
  "it's",
  'say "hi"',
  'back\\slash',
  "\\'",
  "\\\\'",
  "'; DROP TABLE events; --",
  '100%_done',
  '{name:String}',
  '$1 ? :x',
  'tab\there\nnewline\r\n',
  'héllo wörld',
  'Ωμέγα',
  '日本語テキスト',
  'עברית',
  '😀👩‍👩‍👧‍👦',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎',
  'e\u0301',
  '',
  ' ',
];

/** The longest values the references allow: customData 32,500 characters, originLevel3 1024, additionalData 2000. */
const LONG_CUSTOM = `${'😀'.repeat(50)}${'x'.repeat(32_400)}`;

/** Instants at millisecond precision (what a Date carries), across zones, DST changes and the epoch. */
const TIMES = [
  new Date('2026-03-29T00:59:59.999Z'), // the minute before Paris moves its clocks
  new Date('2026-03-29T02:30:00.123+05:45'), // written in Kathmandu's offset
  new Date('2026-11-01T05:59:59.001Z'), // New York's fall back
  new Date('2026-06-15T12:00:00.000-09:30'), // Marquesas
  new Date('1969-12-31T23:59:59.999Z'), // before the epoch
  new Date('2099-12-31T23:59:59.998Z'),
];

/** The fields of an event as a caller reads them back: every column (absent ones as null), and customData. */
function asRead(event: CanonicalEvent): Record<string, unknown> {
  const read: Record<string, unknown> = {};
  for (const { field } of EVENT_COLUMNS) read[field] = event[field] ?? null;
  read.customData = event.customData;
  return read;
}

const T0 = new Date('2026-05-04T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function ev(extra: Partial<CanonicalEvent> = {}): CanonicalEvent {
  return canonicalEvent({ org: 'o', receivedTime: T0, derivedTime: T0, ...extra });
}

/** An event with every field set, of every type. */
function fullEvent(extra: Partial<CanonicalEvent> = {}): CanonicalEvent {
  const event = ev({
    category: 'search',
    eventType: 'search',
    eventValue: 'searchboxSubmit',
    eventTime: new Date('2026-05-04T09:59:58.250Z'),
    sentTime: new Date('2026-05-04T09:59:59.500Z'),
    receivedTime: new Date('2026-05-04T10:00:00.001Z'),
    derivedTime: new Date('2026-05-04T09:59:58.751Z'),
    languageTag: 'pt-BR',
    language: 'pt',
    username: 'ana@example.com',
    userDisplayName: 'Ana',
    anonymous: true,
    originContext: 'Search',
    originLevel1: 'hub',
    originLevel2: 'tab',
    originLevel3: 'https://example.com/?q=1',
    outcome: -5,
    splitTestRunName: 'ab',
    splitTestRunVersion: 'b',
    trackingId: 'site_1',
    lastSearchQueryUid: 'last-uid',
    userAgent: 'Mozilla/5.0',
    correlationId: 'corr',
    credentialId: 'key_1',
    searchQueryUid: 'b6f3a7e0-0000-4000-8000-000000000001',
    actionCause: 'searchboxSubmit',
    queryText: 'how to "quote" a \\path',
    advancedQuery: '@source==web',
    // `integer` is 32-bit on DuckDB: the contract's range is the smaller engine's.
    numberOfResults: 2_147_483_647,
    responseTime: 0,
    contextual: false,
    queryPipeline: 'default',
    indexId: 'idx',
    userGroups: ['admins', 'everyone', "o'brien"],
    facetState: [{ field: '@source', value: 'web', state: 'selected', nested: { n: [1, 2.5, null, true] } }],
    results: [{ documentUri: 'https://example.com/1', documentUriHash: 'h1' }],
    documentPosition: 0,
    idempotencyKey: null,
    customData: { plan: 'gold', seats: '12', note: 'it\'s \\ "ok"' },
  });
  return { ...event, ...extra };
}

/** A KPI event of a conversation, as Channel Analytics stores it. */
function kpi(eventType: string, seconds: number, extra: Partial<CanonicalEvent> = {}): CanonicalEvent {
  return ev({
    category: 'kpi',
    eventType,
    eventValue: null,
    language: null,
    clientId: null,
    visitorId: null,
    visitId: null,
    receivedTime: at(seconds),
    derivedTime: at(seconds),
    conversationId: 'conv-1',
    providerSessionId: 'sess-1',
    participantId: 'agent-1',
    providerId: 'prov',
    channel: 'chat',
    queueName: 'Sales',
    ...extra,
  });
}

const column = (field: string, type: ColumnType): QueryField => ({ kind: 'column', field, type });

const countBy = (field: string): AggregateQuery => ({
  from: new Date('2000-01-01T00:00:00Z'),
  to: new Date('2100-01-01T00:00:00Z'),
  dimensions: [{ name: 'value', field: column(field, 'text') }],
  measures: [
    { name: 'n', fn: 'count' },
    { name: 'ids', fn: 'uniq', field: column('id', 'text') },
  ],
  orderBy: [{ name: 'value', descending: false }],
  limit: 1000,
});

/** `aggregateEvents` as plain { value: count } pairs, checking that no id is counted twice. */
async function counts(storage: Storage, field = 'eventValue', org = 'o'): Promise<Record<string, number>> {
  const { rows } = await storage.aggregateEvents(org, countBy(field));
  const result: Record<string, number> = {};
  for (const row of rows) {
    assert.equal(Number(row.n), Number(row.ids), `no event counted twice under ${String(row.value)}`);
    result[String(row.value)] = Number(row.n);
  }
  return result;
}

async function allEvents(storage: Storage, org = 'o', where?: RecordFilter) {
  const page = await storage.queryEvents(org, {
    ...(where && { where }),
    orderBy: [{ field: 'id', descending: false }],
    limit: 10_000,
    count: true,
  });
  assert.equal(page.count, page.rows.length, 'the count agrees with the rows');
  return page.rows;
}

const ids = (events: readonly { id: string }[]) => events.map((e) => e.id).sort();

const eq = (field: string, value: unknown): RecordFilter =>
  ({ kind: 'compare', op: 'eq', field, value }) as RecordFilter;

// ---- The suite, once per engine.

for (const engine of ENGINES) {
  describe(`the storage contract on ${engine.name}`, { skip: engine.skip }, () => {
    /** A fresh store, migrated with THINGS, closed and removed after `run`. */
    async function withStore(run: (storage: Storage, reopen: () => Promise<Storage>) => Promise<void>) {
      const dataDir = tempDir('contract-');
      let storage = await openStorage(engine.settings(dataDir));
      const reopen = async () => {
        await storage.close();
        storage = await openStorage(engine.settings(dataDir));
        await storage.migrate([THINGS as EntityTable<object>]);
        return storage;
      };
      try {
        await storage.migrate([THINGS as EntityTable<object>]);
        await run(storage, reopen);
      } finally {
        await storage.close();
        removeDir(dataDir);
      }
    }

    describe('events in and out', () => {
      it('stores every field of every type and reads it back as given', async () => {
        await withStore(async (storage) => {
          const full = fullEvent();
          const kpiEvent = kpi('SessionClosed', 5, {
            eventValue: 'TransferToQueue',
            name: 'kpi-name',
            clientSessionId: 'cs',
            sessionDataId: 'sd',
            cifSessionId: 'cif',
            kpiEventDefinitionId: 'def',
            entityName: 'incident',
            entityRecordId: 'rec',
            knowledgeArticleId: 'ka',
            knowledgeArticleName: 'KA',
            oldPresence: 'Available',
            newPresence: 'Busy',
            tabId: 'tab',
            tabName: 'Tab',
            notificationResponseAction: 'Accept',
            externalCorrelationId: 'ext',
            additionalData: '{"a":1}',
            flag: 'unknownKpiEvent',
            queueId: 'q1',
          });
          const bare = ev({
            eventValue: null,
            username: null,
            clientId: null,
            visitorId: null,
            visitId: null,
          });
          await storage.appendEvents([full, kpiEvent, bare]);
          const byId = new Map((await allEvents(storage)).map((e) => [e.id, e]));
          for (const event of [full, kpiEvent, bare]) {
            const stored = byId.get(event.id);
            assert.ok(stored, `event ${event.category} is stored`);
            assert.deepEqual(asRead(stored), asRead(event));
          }
        });
      });

      it('keeps nulls and empty customData apart from empty text, and reads an empty list as none', async () => {
        await withStore(async (storage) => {
          const empty = ev({ eventValue: '', username: '', userGroups: [], customData: {}, facetState: [] });
          const nulls = ev({
            eventValue: null,
            username: null,
            userGroups: null,
            facetState: null,
            outcome: null,
          });
          await storage.appendEvents([empty, nulls]);
          const [a, b] = [empty, nulls].map(async (e) => (await allEvents(storage, 'o', eq('id', e.id)))[0]);
          const [storedEmpty, storedNulls] = [await a, await b];
          assert.equal(storedEmpty?.eventValue, '');
          assert.equal(storedEmpty?.username, '');
          // ClickHouse's arrays cannot be null: on every engine an event's empty list reads back as none.
          assert.equal(storedEmpty?.userGroups, null);
          assert.deepEqual(storedEmpty?.facetState, []);
          assert.deepEqual(storedEmpty?.customData, {});
          assert.equal(storedNulls?.eventValue, null);
          assert.equal(storedNulls?.username, null);
          assert.equal(storedNulls?.outcome, null);
          assert.equal(storedNulls?.userGroups, null);
          assert.equal(storedNulls?.facetState, null);
          // A filter tells them apart too.
          assert.deepEqual(ids(await allEvents(storage, 'o', eq('eventValue', null))), [nulls.id]);
          assert.deepEqual(ids(await allEvents(storage, 'o', eq('eventValue', ''))), [empty.id]);
        });
      });

      it('keeps text with quotes, backslashes, patterns, control characters and every script, astral ones too', async () => {
        await withStore(async (storage) => {
          const events = NASTY.map((text, i) =>
            ev({
              eventValue: text,
              originLevel1: `${text}#${i}`,
              userGroups: [text, 'plain'],
              customData: { k: text, [`k${i}`]: `${text}${text}` },
            }),
          );
          await storage.appendEvents(events);
          const byId = new Map((await allEvents(storage)).map((e) => [e.id, e]));
          for (const event of events)
            assert.deepEqual(asRead(byId.get(event.id) as CanonicalEvent), asRead(event));
          // …and each is found by equality, not only read back.
          for (const event of events) {
            const found = await allEvents(storage, 'o', eq('eventValue', event.eventValue));
            assert.deepEqual(ids(found), [event.id], `eq ${JSON.stringify(event.eventValue)}`);
            const has = await allEvents(storage, 'o', {
              kind: 'has',
              field: 'userGroups',
              value: event.eventValue as string,
            });
            assert.deepEqual(ids(has), [event.id], `has ${JSON.stringify(event.eventValue)}`);
          }
        });
      });

      it('keeps the longest values the references allow, whole', async () => {
        await withStore(async (storage) => {
          const long = kpi('SessionStarted', 0, {
            additionalData: `${'a'.repeat(1_999)}z`,
            originLevel3: `https://example.com/${'p'.repeat(1_004)}`,
            eventType: 'E'.repeat(128),
            conversationId: 'c'.repeat(100),
            customData: { blob: LONG_CUSTOM },
          });
          await storage.appendEvents([long]);
          const [stored] = await allEvents(storage);
          assert.equal(stored?.additionalData?.length, 2_000);
          assert.equal(stored?.originLevel3?.length, 1_024);
          assert.equal(stored?.eventType, long.eventType);
          assert.equal(stored?.conversationId, long.conversationId);
          assert.equal(stored?.customData.blob, LONG_CUSTOM);
        });
      });

      it('keeps times to the millisecond, across zones, DST changes and the epoch', async () => {
        await withStore(async (storage) => {
          const events = TIMES.map((time, i) =>
            ev({ eventTime: time, sentTime: TIMES[(i + 1) % TIMES.length] as Date, derivedTime: at(i) }),
          );
          await storage.appendEvents(events);
          const byId = new Map((await allEvents(storage)).map((e) => [e.id, e]));
          for (const event of events) {
            const stored = byId.get(event.id);
            assert.equal(stored?.eventTime?.toISOString(), event.eventTime?.toISOString());
            assert.equal(stored?.sentTime?.toISOString(), event.sentTime?.toISOString());
            assert.equal(stored?.derivedTime.toISOString(), event.derivedTime.toISOString());
          }
          // Comparisons are exact to the millisecond.
          const time = TIMES[1] as Date;
          const [hit] = events.filter((e) => e.eventTime?.getTime() === time.getTime());
          assert.deepEqual(ids(await allEvents(storage, 'o', eq('eventTime', time))), [hit?.id]);
          const later = await allEvents(storage, 'o', {
            kind: 'compare',
            op: 'gt',
            field: 'eventTime',
            value: new Date(time.getTime() - 1),
          });
          assert.ok(ids(later).includes(hit?.id as string), 'one millisecond earlier is before it');
          const notLater = await allEvents(storage, 'o', {
            kind: 'compare',
            op: 'gt',
            field: 'eventTime',
            value: time,
          });
          assert.ok(!ids(notLater).includes(hit?.id as string), 'it is not after itself');
        });
      });

      it("keeps each organization's events apart", async () => {
        await withStore(async (storage) => {
          const mine = ev({ eventValue: 'same' });
          const theirs = ev({ org: 'other', eventValue: 'same' });
          await storage.appendEvents([mine, theirs]);
          assert.deepEqual(ids(await allEvents(storage, 'o')), [mine.id]);
          assert.deepEqual(ids(await allEvents(storage, 'other')), [theirs.id]);
          assert.deepEqual(await counts(storage, 'eventValue', 'other'), { same: 1 });
          assert.equal(await storage.updateEvent('other', mine.id, { eventValue: 'x' }), false);
          assert.equal(await storage.deleteEvents('other', eq('id', mine.id)), 0);
          assert.equal((await allEvents(storage, 'o'))[0]?.eventValue, 'same');
        });
      });

      it('orders newest derived time first by default, then as asked, and pages after the order', async () => {
        await withStore(async (storage) => {
          const events = [3, 1, 4, 1.5, 9, 2, 6].map((s, i) =>
            ev({ derivedTime: at(s), outcome: i % 3 === 0 ? null : i, eventValue: `v${s}` }),
          );
          await storage.appendEvents(events);
          const newestFirst = [...events].sort((a, b) => b.derivedTime.getTime() - a.derivedTime.getTime());
          const page = await storage.queryEvents('o', { limit: 3, offset: 2, count: true });
          assert.equal(page.count, events.length, 'the count ignores limit and offset');
          assert.deepEqual(
            page.rows.map((e) => e.id),
            newestFirst.slice(2, 5).map((e) => e.id),
          );
          const oldest = await storage.queryEvents('o', {
            orderBy: [{ field: 'derivedTime', descending: false }],
            limit: 2,
          });
          assert.deepEqual(
            oldest.rows.map((e) => e.id),
            [...newestFirst]
              .reverse()
              .slice(0, 2)
              .map((e) => e.id),
          );
          const byOutcome = await storage.queryEvents('o', {
            orderBy: [{ field: 'outcome', descending: true }],
          });
          const outcomes = byOutcome.rows.map((e) => e.outcome);
          const present = outcomes.filter((o) => o !== null);
          assert.deepEqual(
            present,
            [...present].sort((a, b) => (b as number) - (a as number)),
          );
          assert.deepEqual(outcomes.slice(present.length), [null, null, null], 'nulls last');
        });
      });

      it('has the time of the newest event of a visitor, per organization', async () => {
        await withStore(async (storage) => {
          await storage.appendEvents([
            ev({ visitorId: 'vis', visitId: 'first', receivedTime: at(0) }),
            ev({ visitorId: 'vis', visitId: 'second', receivedTime: at(60) }),
            ev({ visitorId: 'vis', visitId: 'middle', receivedTime: at(30) }),
            ev({ org: 'other', visitorId: 'vis', visitId: 'elsewhere', receivedTime: at(90) }),
          ]);
          assert.deepEqual(await storage.lastVisit('o', 'vis'), { visitId: 'second', lastSeen: at(60) });
          assert.equal(await storage.lastVisit('o', 'nobody'), undefined);
        });
      });

      it('lists the keyed events received since a time, oldest first', async () => {
        await withStore(async (storage) => {
          const early = ev({ idempotencyKey: 'k-early', receivedTime: at(0) });
          const a = ev({ idempotencyKey: "k'a\\", receivedTime: at(20) });
          const b = ev({ org: 'other', idempotencyKey: 'k-b', receivedTime: at(10) });
          const unkeyed = ev({ receivedTime: at(15) });
          await storage.appendEvents([a, early, b, unkeyed]);
          const keyed = await storage.keyedEvents(at(10));
          assert.deepEqual(keyed, [
            { org: 'other', key: 'k-b', id: b.id, receivedTime: at(10) },
            { org: 'o', key: "k'a\\", id: a.id, receivedTime: at(20) },
          ]);
        });
      });

      it('saves and reads checkpoints by name, the last save winning', async () => {
        await withStore(async (storage, reopen) => {
          assert.equal(await storage.readCheckpoint('ingest-log'), undefined);
          await storage.saveCheckpoint('ingest-log', '1:100');
          await storage.saveCheckpoint('other', "it's");
          await storage.saveCheckpoint('ingest-log', '2:0');
          assert.equal(await storage.readCheckpoint('ingest-log'), '2:0');
          assert.equal(await storage.readCheckpoint('other'), "it's");
          const again = await reopen();
          assert.equal(await again.readCheckpoint('ingest-log'), '2:0');
        });
      });

      it('keeps what it stored across a close and a reopen, and migrating again changes nothing', async () => {
        await withStore(async (storage, reopen) => {
          const event = fullEvent();
          await storage.appendEvents([event]);
          await storage.upsert(THINGS, thing('a', { n: 1 }));
          const again = await reopen();
          await again.migrate([THINGS as EntityTable<object>]);
          assert.deepEqual(asRead((await allEvents(again))[0] as CanonicalEvent), asRead(event));
          assert.deepEqual(await again.find(THINGS, { id: 'a' }), [thing('a', { n: 1 })]);
        });
      });
    });

    describe('what every engine says of itself', () => {
      it('names its engine and location, and its optional members answer when it has them', async () => {
        await withStore(async (storage) => {
          assert.match(storage.engine, /^(duckdb|clickhouse)$/);
          assert.ok(storage.location.length > 0);
          const good = ev();
          if (storage.refusedEvents) assert.deepEqual(await storage.refusedEvents([good, fullEvent()]), []);
          assert.deepEqual(await allEvents(storage), [], 'refusedEvents writes nothing');
          if (storage.memory) {
            const memory = await storage.memory();
            assert.ok(memory.usedBytes >= 0 && memory.limitBytes > 0);
          }
          storage.observe?.({});
        });
      });
    });

    describe('idempotent appends', () => {
      it('stores an event appended twice once, in reads, counts and aggregates', async () => {
        await withStore(async (storage) => {
          const events = [ev({ eventValue: 'a' }), ev({ eventValue: 'b' }), ev({ eventValue: 'b' })];
          await storage.appendEvents(events);
          await storage.appendEvents(events);
          assert.deepEqual(ids(await allEvents(storage)), ids(events));
          assert.deepEqual(await counts(storage), { a: 1, b: 2 });
        });
      });

      it('stores a replay mixed with new events once, and the new ones too', async () => {
        await withStore(async (storage) => {
          const first = [ev({ eventValue: 'a' }), ev({ eventValue: 'a' })];
          const next = [ev({ eventValue: 'c' })];
          await storage.appendEvents(first);
          await storage.appendEvents([next[0] as CanonicalEvent, ...first, first[0] as CanonicalEvent]);
          await storage.appendEvents([...first, ...next]);
          assert.deepEqual(ids(await allEvents(storage)), ids([...first, ...next]));
          assert.deepEqual(await counts(storage), { a: 2, c: 1 });
          const page = await storage.queryEvents('o', { limit: 1, count: true });
          assert.equal(page.count, 3);
        });
      });

      it('stores an id repeated inside one batch once', async () => {
        await withStore(async (storage) => {
          const event = ev({ eventValue: 'dup', idempotencyKey: 'key-1' });
          await storage.appendEvents([event, event, event]);
          assert.deepEqual(ids(await allEvents(storage)), [event.id]);
          assert.equal((await storage.keyedEvents(at(-1))).length, 1);
        });
      });

      it('lists a replayed keyed event once, and its visit once', async () => {
        await withStore(async (storage) => {
          const event = ev({ idempotencyKey: 'key-1', visitorId: 'vis', visitId: 'visit-1' });
          await storage.appendEvents([event]);
          await storage.appendEvents([event]);
          assert.deepEqual(await storage.keyedEvents(at(-1)), [
            { org: 'o', key: 'key-1', id: event.id, receivedTime: event.receivedTime },
          ]);
          assert.deepEqual(await storage.lastVisit('o', 'vis'), { visitId: 'visit-1', lastSeen: T0 });
        });
      });

      it('does not undo a change when the changed event is replayed', async () => {
        await withStore(async (storage) => {
          const event = ev({ eventValue: 'before' });
          await storage.appendEvents([event]);
          assert.equal(await storage.updateEvent('o', event.id, { eventValue: 'after' }), true);
          await storage.appendEvents([event]);
          assert.deepEqual(
            (await allEvents(storage)).map((e) => e.eventValue),
            ['after'],
          );
          assert.deepEqual(await counts(storage), { after: 1 });
        });
      });

      it('counts each KPI event once in its units when it is replayed', async () => {
        await withStore(async (storage) => {
          const events = [
            kpi('ConversationQueued', 0),
            kpi('SessionStarted', 20),
            kpi('SessionClosed', 80),
            kpi('ConversationEnded', 90),
            kpi('ConversationQueued', 5, { conversationId: 'conv-2' }),
            kpi('ConversationEnded', 35, { conversationId: 'conv-2' }),
          ];
          await storage.appendEvents(events);
          const query: UnitQuery = {
            unit: 'conversation',
            from: at(-3600),
            to: at(3600),
            now: at(3600),
            dimensions: [],
            measures: [
              { name: 'conversations', measure: { fn: 'count' } },
              {
                name: 'answered',
                measure: {
                  fn: 'count',
                  where: {
                    kind: 'compare',
                    op: 'eq',
                    field: { kind: 'fact', fact: 'answered' },
                    value: true,
                  },
                },
              },
              { name: 'sessions', measure: { fn: 'sum', fact: 'sessions' } },
              { name: 'answerSeconds', measure: { fn: 'avg', fact: 'answerSeconds' } },
              { name: 'waitSeconds', measure: { fn: 'max', fact: 'waitSeconds' } },
            ],
            limit: 10,
          };
          const once = await storage.aggregateUnits('o', query);
          await storage.appendEvents(events);
          await storage.appendEvents([events[1] as CanonicalEvent, events[2] as CanonicalEvent]);
          const twice = await storage.aggregateUnits('o', query);
          const plain = (rows: Record<string, unknown>[]) =>
            rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)])));
          assert.deepEqual(plain(once.rows), [
            { conversations: 2, answered: 1, sessions: 1, answerSeconds: 20, waitSeconds: 30 },
          ]);
          assert.deepEqual(plain(twice.rows), plain(once.rows));
        });
      });
    });

    describe('loads from a file of event rows (the ingest log shape), where the engine has a bulk loader', () => {
      /** The rows in a file as the ingest log writes them: each write of rows closed by its commit line. */
      /**
       * A test of a store's file load, with `rows` writing files of log rows in a directory of its own; skipped on
       * an engine without one.
       */
      function withRowFiles(
        test: (
          storage: Storage,
          load: (file: string) => Promise<void>,
          rows: (name: string, ...writes: CanonicalEvent[][]) => string,
        ) => Promise<void>,
      ): Promise<void> {
        return withStore(async (storage) => {
          if (!storage.loadEventFile) return;
          const load = storage.loadEventFile.bind(storage);
          const dir = tempDir('rows-');
          try {
            await test(storage, load, (name, ...writes) => rowFile(dir, name, ...writes));
          } finally {
            removeDir(dir);
          }
        });
      }

      function rowFile(dir: string, name: string, ...writes: CanonicalEvent[][]): string {
        const file = path.join(dir, name);
        let text = '';
        for (const events of writes) {
          const rows = events.map((e) => `${eventToRowJson(e)}\n`).join('');
          text += `${rows}{"${COMMIT_KEY}":${events.length},"b":${Buffer.byteLength(rows)}}\n`;
        }
        writeFileSync(file, text);
        return file;
      }

      it('stores every field as appendEvents does, nasty text and times included, and no commit line', async () => {
        await withRowFiles(async (storage, load, rows) => {
          const events = [
            fullEvent(),
            kpi('SessionClosed', 5, { additionalData: '{"a":1}', queueId: 'q1' }),
            ev({ eventValue: null, username: null, clientId: null, visitorId: null, visitId: null }),
            ev({ eventValue: '', username: '', customData: {}, facetState: [] }),
            ...NASTY.map((text, i) =>
              ev({
                eventValue: text,
                userGroups: [text, 'plain'],
                customData: { k: text, [`k${i}`]: text },
              }),
            ),
            ...TIMES.map((time, i) => ev({ eventTime: time, derivedTime: at(i) })),
          ];
          await load(rows('a.log', events.slice(0, 3), events.slice(3)));
          const byId = new Map((await allEvents(storage)).map((e) => [e.id, e]));
          assert.equal(byId.size, events.length);
          for (const event of events) {
            const stored = byId.get(event.id);
            assert.ok(stored, `event ${event.id} is stored`);
            assert.deepEqual(asRead(stored), asRead(event));
          }
        });
      });

      it('stores a file loaded twice, or a file of events already appended, once, KPI units included', async () => {
        await withRowFiles(async (storage, load, rows) => {
          const events = [
            kpi('ConversationQueued', 0),
            kpi('SessionStarted', 20),
            kpi('ConversationEnded', 90),
            ev({ eventValue: 'a' }),
            ev({ eventValue: 'b' }),
          ];
          const repeated = events[3] as CanonicalEvent;
          await storage.appendEvents(events.slice(0, 2));
          const file = rows('b.log', events, [repeated]);
          await load(file);
          await load(file);
          assert.deepEqual(ids(await allEvents(storage)).sort(), ids(events).sort());
          assert.equal((await storage.queryEvents('o', { limit: 1, count: true })).count, events.length);
          const units = await storage.aggregateUnits('o', {
            unit: 'conversation',
            from: at(-3600),
            to: at(3600),
            now: at(3600),
            dimensions: [],
            measures: [
              { name: 'conversations', measure: { fn: 'count' } },
              { name: 'sessions', measure: { fn: 'sum', fact: 'sessions' } },
            ],
            limit: 10,
          });
          assert.deepEqual(
            units.rows.map((r) => [Number(r.conversations), Number(r.sessions)]),
            [[1, 1]],
          );
        });
      });

      it('refuses a file holding an event the store refuses, and stores none of it', async () => {
        await withRowFiles(async (storage, load, rows) => {
          const good = ev({ eventValue: 'good' });
          const bad = ev({ id: null as unknown as string });
          await assert.rejects(load(rows('c.log', [good, bad])));
          assert.deepEqual(await allEvents(storage), []);
        });
      });
    });

    describe('changes and deletes, seen by every read', () => {
      it('updates the fields given, and every read sees the new values once', async () => {
        await withStore(async (storage) => {
          const event = fullEvent({
            eventValue: 'old',
            idempotencyKey: 'k',
            visitorId: 'vis',
            visitId: 'v1',
          });
          const other = ev({ eventValue: 'other' });
          await storage.appendEvents([event, other]);
          assert.equal(
            await storage.updateEvent('o', event.id, {
              eventValue: "n'ew\\",
              outcome: null,
              derivedTime: at(7200),
              userGroups: [],
              customData: { plan: 'silver' },
            }),
            true,
          );
          const stored = (await allEvents(storage, 'o', eq('id', event.id)))[0] as CanonicalEvent;
          assert.deepEqual(asRead(stored), {
            ...asRead(event),
            eventValue: "n'ew\\",
            outcome: null,
            derivedTime: at(7200),
            userGroups: null,
            customData: { plan: 'silver' },
          });
          assert.deepEqual(await counts(storage), { "n'ew\\": 1, other: 1 });
          assert.deepEqual(ids(await allEvents(storage, 'o', eq('eventValue', 'old'))), []);
          const newest = await storage.queryEvents('o', { limit: 1 });
          assert.equal(newest.rows[0]?.id, event.id, 'its new time orders it');
          assert.equal((await storage.keyedEvents(at(-1))).length, 1);
          // Reads in a range see it at its new time only.
          const before = await storage.aggregateEvents('o', { ...countBy('eventValue'), to: at(3600) });
          assert.deepEqual(
            before.rows.map((r) => r.value),
            ['other'],
          );
        });
      });

      it('answers whether the event exists, and an empty change changes nothing', async () => {
        await withStore(async (storage) => {
          const event = ev({ eventValue: 'same' });
          await storage.appendEvents([event]);
          assert.equal(await storage.updateEvent('o', 'no-such-id', { eventValue: 'x' }), false);
          assert.equal(await storage.updateEvent('o', event.id, {}), true);
          assert.deepEqual(asRead((await allEvents(storage))[0] as CanonicalEvent), asRead(event));
        });
      });

      it('updates the same event again and again, each read seeing the last', async () => {
        await withStore(async (storage) => {
          const event = ev({ eventValue: 'v0' });
          await storage.appendEvents([event]);
          for (let i = 1; i <= 5; i++) await storage.updateEvent('o', event.id, { eventValue: `v${i}` });
          assert.deepEqual(
            (await allEvents(storage)).map((e) => e.eventValue),
            ['v5'],
          );
          assert.deepEqual(await counts(storage), { v5: 1 });
        });
      });

      it('deletes the events that match, answers how many, and no read sees them after', async () => {
        await withStore(async (storage) => {
          const gone = [
            ev({
              eventValue: 'gone',
              idempotencyKey: 'k1',
              visitorId: 'vis',
              visitId: 'late',
              receivedTime: at(9),
            }),
            ev({ eventValue: 'gone' }),
          ];
          const kept = [ev({ eventValue: 'kept', visitorId: 'vis', visitId: 'early', receivedTime: at(1) })];
          const elsewhere = ev({ org: 'other', eventValue: 'gone' });
          await storage.appendEvents([...gone, ...kept, elsewhere]);
          assert.equal(await storage.deleteEvents('o', eq('eventValue', 'gone')), 2);
          assert.deepEqual(ids(await allEvents(storage)), ids(kept));
          assert.deepEqual(await counts(storage), { kept: 1 });
          assert.deepEqual(await storage.keyedEvents(at(-1)), []);
          assert.deepEqual(await storage.lastVisit('o', 'vis'), { visitId: 'early', lastSeen: at(1) });
          assert.deepEqual(ids(await allEvents(storage, 'other')), [elsewhere.id]);
          assert.equal(
            await storage.deleteEvents('o', eq('eventValue', 'gone')),
            0,
            'nothing left to delete',
          );
          assert.equal(await storage.updateEvent('o', gone[1]?.id as string, { eventValue: 'back' }), false);
        });
      });

      it('deletes an updated event whole, and counts it once when deleting', async () => {
        await withStore(async (storage) => {
          const event = ev({ eventValue: 'a' });
          await storage.appendEvents([event]);
          await storage.updateEvent('o', event.id, { eventValue: 'b' });
          await storage.updateEvent('o', event.id, { eventValue: 'c' });
          assert.equal(await storage.deleteEvents('o', eq('id', event.id)), 1);
          assert.deepEqual(await allEvents(storage), []);
          assert.deepEqual(await counts(storage), {});
        });
      });

      it("rebuilds a conversation's units after its events change or go", async () => {
        await withStore(async (storage) => {
          const queued = kpi('ConversationQueued', 0);
          const started = kpi('SessionStarted', 20);
          const ended = kpi('ConversationEnded', 90);
          await storage.appendEvents([queued, started, ended]);
          const query: UnitQuery = {
            unit: 'conversation',
            from: at(-3600),
            to: at(3600),
            now: at(3600),
            dimensions: [],
            measures: [
              { name: 'n', measure: { fn: 'count' } },
              { name: 'answerSeconds', measure: { fn: 'max', fact: 'answerSeconds' } },
            ],
            limit: 10,
          };
          const answer = async () =>
            (await storage.aggregateUnits('o', query)).rows.map((r) => [Number(r.n), r.answerSeconds]);
          assert.deepEqual(await answer(), [[1, 20]]);
          await storage.updateEvent('o', started.id, { derivedTime: at(50) });
          assert.deepEqual(await answer(), [[1, 50]]);
          await storage.deleteEvents('o', eq('id', started.id));
          assert.deepEqual(await answer(), [[1, null]]);
          await storage.deleteEvents('o', eq('conversationId', 'conv-1'));
          assert.deepEqual(await answer(), [[0, null]]);
        });
      });
    });

    describe('filters over events', () => {
      const rows = () => [
        ev({ eventValue: 'alpha', outcome: 1, anonymous: true, userGroups: ['a', 'b'], originLevel1: 'Hub' }),
        ev({ eventValue: 'Alpha%', outcome: 5, anonymous: false, userGroups: [], originLevel1: 'hub_1' }),
        ev({ eventValue: null, outcome: null, anonymous: false, userGroups: ['b'], originLevel1: null }),
        ev({ eventValue: 'beta_', outcome: -3, anonymous: true, userGroups: null, originLevel1: 'xhub' }),
      ];

      const cases: [string, RecordFilter, number[]][] = [
        ['eq', eq('eventValue', 'alpha'), [0]],
        ['eq null is "is null"', eq('eventValue', null), [2]],
        ['ne keeps nulls', { kind: 'compare', op: 'ne', field: 'eventValue', value: 'alpha' }, [1, 2, 3]],
        [
          'ne null is "is not null"',
          { kind: 'compare', op: 'ne', field: 'eventValue', value: null },
          [0, 1, 3],
        ],
        ['gt null matches nothing', { kind: 'compare', op: 'gt', field: 'outcome', value: null }, []],
        ['gt', { kind: 'compare', op: 'gt', field: 'outcome', value: 1 }, [1]],
        ['ge', { kind: 'compare', op: 'ge', field: 'outcome', value: 1 }, [0, 1]],
        ['lt negative', { kind: 'compare', op: 'lt', field: 'outcome', value: 0 }, [3]],
        ['le', { kind: 'compare', op: 'le', field: 'outcome', value: 1 }, [0, 3]],
        ['boolean', eq('anonymous', true), [0, 3]],
        ['in', { kind: 'in', field: 'outcome', values: [1, -3, 99] }, [0, 3]],
        ['in with null', { kind: 'in', field: 'eventValue', values: ['beta_', null] }, [2, 3]],
        ['in nothing', { kind: 'in', field: 'eventValue', values: [] }, []],
        [
          'contains is case-sensitive',
          { kind: 'match', op: 'contains', field: 'eventValue', value: 'lph' },
          [0, 1],
        ],
        ['contains "%" is literal', { kind: 'match', op: 'contains', field: 'eventValue', value: '%' }, [1]],
        ['startswith', { kind: 'match', op: 'startswith', field: 'eventValue', value: 'Al' }, [1]],
        ['endswith "_" is literal', { kind: 'match', op: 'endswith', field: 'eventValue', value: '_' }, [3]],
        [
          'match on "hub" is case-sensitive',
          { kind: 'match', op: 'contains', field: 'originLevel1', value: 'hub' },
          [1, 3],
        ],
        ['has', { kind: 'has', field: 'userGroups', value: 'b' }, [0, 2]],
        ['has nothing in an empty list', { kind: 'has', field: 'userGroups', value: '' }, []],
        ['not keeps what is unknown', { kind: 'not', filter: eq('eventValue', 'alpha') }, [1, 2, 3]],
        [
          'not of gt keeps nulls',
          { kind: 'not', filter: { kind: 'compare', op: 'gt', field: 'outcome', value: 0 } },
          [2, 3],
        ],
        ['empty and is true', { kind: 'and', filters: [] }, [0, 1, 2, 3]],
        ['empty or is false', { kind: 'or', filters: [] }, []],
        [
          'and, or, nested',
          {
            kind: 'or',
            filters: [
              {
                kind: 'and',
                filters: [eq('anonymous', true), { kind: 'compare', op: 'gt', field: 'outcome', value: 0 }],
              },
              eq('eventValue', null),
            ],
          },
          [0, 2],
        ],
      ];

      it('answer every kind of condition with its null rules, in queries, counts and deletes alike', async () => {
        await withStore(async (storage) => {
          const events = rows();
          await storage.appendEvents(events);
          const failures: string[] = [];
          for (const [name, where, expected] of cases) {
            const want = expected.map((i) => events[i]?.id as string).sort();
            try {
              const got = ids(await allEvents(storage, 'o', where));
              if (JSON.stringify(got) !== JSON.stringify(want)) {
                failures.push(
                  `${name}: got ${JSON.stringify(got.map((id) => events.findIndex((e) => e.id === id)))}`,
                );
              }
            } catch (error) {
              failures.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
            }
          }
          assert.deepEqual(failures, []);
          // A delete takes the same filter to the same events.
          assert.equal(await storage.deleteEvents('o', { kind: 'has', field: 'userGroups', value: 'b' }), 2);
          assert.deepEqual(ids(await allEvents(storage)), [events[1]?.id, events[3]?.id].sort());
        });
      });
    });

    describe('records', () => {
      it('stores a record of every column type and reads it back as given', async () => {
        await withStore(async (storage) => {
          const full = thing('full', {
            displayName: 'Ωμέγα 😀 "q" \'s\' \\b',
            n: -2_147_483_648,
            on: false,
            createdAt: new Date('2026-03-29T01:00:00.007Z'),
            tags: ['x', "it's", '', '𠜎'],
            doc: { a: [1, 'two', null, { b: true }], s: 'quote\'"\\' },
          });
          const empty = thing('empty');
          await storage.upsert(THINGS, full);
          await storage.upsert(THINGS, empty);
          assert.deepEqual(await storage.find(THINGS, { id: 'full' }), [full]);
          assert.deepEqual(await storage.find(THINGS, { id: 'empty' }), [empty]);
          assert.deepEqual(
            (await storage.find(THINGS, {})).map((t) => t.id),
            ['empty', 'full'],
            'an empty where reads them all, by key',
          );
        });
      });

      it('replaces a record by its key, every read seeing only the last write', async () => {
        await withStore(async (storage) => {
          await storage.upsert(THINGS, thing('a', { n: 1, tags: ['old'], displayName: 'old' }));
          await storage.upsert(THINGS, thing('a', { org: 'p', n: 100 }));
          await storage.upsert(THINGS, thing('a', { n: 2, tags: ['new'], displayName: null }));
          assert.deepEqual(await storage.find(THINGS, { org: 'o' }), [thing('a', { n: 2, tags: ['new'] })]);
          const page = await storage.query(THINGS, { org: 'o' }, { count: true });
          assert.equal(page.count, 1);
          assert.deepEqual(await storage.countBy(THINGS, { org: 'o' }, undefined, 'tags'), [
            { value: 'new', count: 1 },
          ]);
          assert.deepEqual(await storage.find(THINGS, { displayName: 'old' } as Partial<Thing>), []);
          assert.deepEqual(await storage.find(THINGS, { org: 'p' }), [thing('a', { org: 'p', n: 100 })]);
        });
      });

      it('upserts many at once, a key written twice keeping its last write', async () => {
        await withStore(async (storage) => {
          const many = Array.from({ length: 1_200 }, (_, i) =>
            thing(`t${String(i).padStart(4, '0')}`, { n: i }),
          );
          await storage.upsertAll([
            ...many.map((row) => ({ table: THINGS, row })),
            { table: THINGS, row: thing('t0007', { n: -7 }) },
          ]);
          const stored = await storage.find(THINGS, { org: 'o' });
          assert.equal(stored.length, 1_200);
          assert.equal(stored.find((t) => t.id === 't0007')?.n, -7);
          assert.equal(stored.find((t) => t.id === 't1199')?.n, 1_199);
          await storage.upsertAll([]);
        });
      });

      it('finds, filters, orders, pages and counts records', async () => {
        await withStore(async (storage) => {
          await storage.upsertAll(
            [
              thing('a', { n: 3, on: true, tags: ['x', 'y'], displayName: 'Ann', createdAt: at(1) }),
              thing('b', { n: 1, on: false, tags: ['y'], displayName: "O'Brien", createdAt: at(2) }),
              thing('c', { n: null, on: null, tags: [], displayName: null, createdAt: null }),
              thing('d', { n: 2, on: true, tags: ['y', 'z'], displayName: 'ann%', createdAt: at(3) }),
              thing('e', { org: 'p', n: 9, tags: ['y'] }),
            ].map((row) => ({ table: THINGS, row })),
          );
          const query = async (where: RecordFilter | undefined, extra = {}) =>
            (await storage.query(THINGS, { org: 'o' }, { ...(where && { where }), ...extra })).rows.map(
              (t) => t.id,
            );
          assert.deepEqual(await query(eq('on', true)), ['a', 'd']);
          assert.deepEqual(await query(eq('on', null)), ['c']);
          assert.deepEqual(await query({ kind: 'compare', op: 'ne', field: 'on', value: true }), ['b', 'c']);
          assert.deepEqual(
            await query({ kind: 'match', op: 'startswith', field: 'displayName', value: 'Ann' }),
            ['a'],
          );
          assert.deepEqual(await query({ kind: 'match', op: 'contains', field: 'displayName', value: "'" }), [
            'b',
          ]);
          assert.deepEqual(await query({ kind: 'has', field: 'tags', value: 'y' }), ['a', 'b', 'd']);
          assert.deepEqual(await query({ kind: 'compare', op: 'ge', field: 'createdAt', value: at(2) }), [
            'b',
            'd',
          ]);
          assert.deepEqual(
            await query({ kind: 'not', filter: { kind: 'compare', op: 'gt', field: 'n', value: 1 } }),
            ['b', 'c'],
          );
          assert.deepEqual(await query(undefined, { orderBy: [{ field: 'n', descending: true }] }), [
            'a',
            'd',
            'b',
            'c',
          ]);
          assert.deepEqual(await query(undefined, { orderBy: [{ field: 'n', descending: false }] }), [
            'b',
            'd',
            'a',
            'c',
          ]);
          const page = await storage.query(
            THINGS,
            { org: 'o' },
            { orderBy: [{ field: 'displayName', descending: false }], limit: 2, offset: 1, count: true },
          );
          assert.equal(page.count, 4);
          assert.equal(page.rows.length, 2);
          assert.deepEqual(await storage.find(THINGS, { org: 'o', on: true, n: 2 }), [
            thing('d', { n: 2, on: true, tags: ['y', 'z'], displayName: 'ann%', createdAt: at(3) }),
          ]);
          assert.deepEqual(await storage.countBy(THINGS, { org: 'o' }, undefined, 'tags'), [
            { value: 'y', count: 3 },
            { value: 'x', count: 1 },
            { value: 'z', count: 1 },
          ]);
          assert.deepEqual(await storage.countBy(THINGS, { org: 'o' }, eq('on', true), 'on'), [
            { value: true, count: 2 },
          ]);
          const byOn = await storage.countBy(THINGS, { org: 'o' }, undefined, 'on');
          assert.deepEqual(
            byOn.map((c) => c.count),
            [2, 1, 1],
          );
          assert.deepEqual(new Set(byOn.map((c) => c.value)), new Set([true, false, null]));
        });
      });

      it('removes records by key and filter, answers how many, and no read sees them after', async () => {
        await withStore(async (storage) => {
          await storage.upsertAll(
            [thing('a', { n: 1 }), thing('b', { n: 2, tags: ['t'] }), thing('c', { n: 3, tags: ['t'] })].map(
              (row) => ({ table: THINGS, row }),
            ),
          );
          assert.equal(
            await storage.remove(THINGS, { org: 'o' }, { kind: 'has', field: 'tags', value: 't' }),
            2,
          );
          assert.deepEqual(
            (await storage.find(THINGS, {})).map((t) => t.id),
            ['a'],
          );
          assert.equal((await storage.query(THINGS, {}, { count: true })).count, 1);
          assert.deepEqual(await storage.countBy(THINGS, {}, undefined, 'tags'), []);
          assert.equal(await storage.remove(THINGS, { id: 'b' }), 0, 'gone already');
          await storage.upsert(THINGS, thing('b', { n: 20 }));
          assert.deepEqual(
            (await storage.find(THINGS, {})).map((t) => [t.id, t.n]),
            [
              ['a', 1],
              ['b', 20],
            ],
            'a removed key can be written again',
          );
          assert.equal(await storage.remove(THINGS, {}), 2);
          assert.deepEqual(await storage.find(THINGS, {}), []);
        });
      });
    });

    describe('aggregates', () => {
      it('counts by field and by customData typed at read time, with type errors counted', async () => {
        await withStore(async (storage) => {
          await storage.appendEvents([
            ev({ eventValue: 'x', customData: { seats: '3' } }),
            ev({ eventValue: 'x', customData: { seats: 'many' } }),
            ev({ eventValue: 'y', customData: {} }),
            ev({ eventValue: 'y', customData: { seats: '4.5' } }),
          ]);
          const result = await storage.aggregateEvents('o', {
            ...countBy('eventValue'),
            measures: [
              { name: 'n', fn: 'count' },
              { name: 'seats', fn: 'sum', field: { kind: 'custom', key: 'seats', type: 'number' } },
            ],
          });
          assert.deepEqual(
            result.rows.map((r) => [r.value, Number(r.n), Number(r.seats)]),
            [
              ['x', 2, 3],
              ['y', 2, 4.5],
            ],
          );
          assert.equal(
            Object.values(result.typeErrors).reduce((a, b) => a + b, 0),
            1,
          );
        });
      });
    });

    if (engine.servers?.cluster) {
      it("spreads events over both shards, a conversation's on one, and every read sees them all", async () => {
        await withStore(async (storage) => {
          const events = Array.from({ length: 60 }, (_, i) =>
            kpi('SessionSwitched', i, { conversationId: `conv-${i % 12}`, org: `org-${i % 3}` }),
          );
          await storage.appendEvents(events);
          const servers = engine.servers as ClickHouseServers;
          const db = [...databases.values()].at(-1) as string;
          const perShard = await Promise.all(
            servers.shardUrls.map(async (url) =>
              (
                await clickhouseQuery(
                  url,
                  `SELECT conversation_id, count() FROM ${db}.events_local FINAL WHERE _deleted = 0 GROUP BY conversation_id FORMAT TSV`,
                )
              )
                .trim()
                .split('\n')
                .filter(Boolean)
                .map((line) => line.split('\t')[0] as string),
            ),
          );
          assert.ok(
            perShard.every((conversations) => conversations.length > 0),
            `both shards hold events: ${JSON.stringify(perShard)}`,
          );
          const [first, second] = perShard as [string[], string[]];
          assert.deepEqual(
            first.filter((c) => second.includes(c)),
            [],
            "a conversation's events share a shard",
          );
          let total = 0;
          for (const org of ['org-0', 'org-1', 'org-2']) total += (await allEvents(storage, org)).length;
          assert.equal(total, 60);
        });
      });
    }
  });
}
