import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CanonicalEvent } from '../../src/model/canonical-event.ts';
import { UNIT_DECLARATIONS } from '../../src/model/kpi-units.ts';
import { ClickHouseStorage } from '../../src/storage/clickhouse/clickhouse-storage.ts';
import { aggregateUnits } from '../../src/storage/clickhouse/units.ts';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import {
  type AggregateResult,
  type QueryField,
  type QueryFilter,
  type Scalar,
  UNIT_FACTS,
  type UnitQuery,
} from '../../src/storage/storage.ts';
import { type ClickHouseServers, skipReason, startClickHouse } from '../helpers/clickhouse.ts';
import { canonicalEvent } from '../helpers/events.ts';

/**
 * The KPI units declared once (src/model/kpi-units.ts) give the same rows on both engines: DuckDB's unit tables,
 * rebuilt from the events, and ClickHouse's query over the events. A day of a small contact center's KPI events
 * (answered, abandoned, transferred and open conversations, holds, wrap-up, notifications accepted, rejected,
 * declined and timed out, the framework's names for them, presence changes) is written to both, and every fact
 * is measured with every kind of measure, bucketed, broken down and filtered.
 */

const ORG = 'acme';
const T0 = Date.parse('2026-03-02T09:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const HOUR = 3600;
const DAY = 24 * HOUR;

function kpi(eventType: string, seconds: number, fields: Partial<CanonicalEvent> = {}): CanonicalEvent {
  const time = at(seconds);
  return canonicalEvent({
    org: ORG,
    category: 'kpi',
    eventType,
    eventValue: null,
    eventTime: time,
    derivedTime: time,
    receivedTime: time,
    visitorId: null,
    visitId: null,
    ...fields,
  });
}

/** The events of one conversation: its place and customData on each. */
function conversation(
  id: string,
  place: Partial<CanonicalEvent>,
  events: [string, number, Partial<CanonicalEvent>?][],
): CanonicalEvent[] {
  return events.map(([type, seconds, fields]) =>
    kpi(type, seconds, { conversationId: id, ...place, ...fields }),
  );
}

/** Conversations' first instants around a fall-back hour, by zone: before, in either occurrence, after. */
const FALL_BACK: [string, string[]][] = [
  [
    'Europe/Paris',
    [
      '2026-10-24T23:59:00Z',
      '2026-10-25T00:00:00Z',
      '2026-10-25T00:10:00Z',
      '2026-10-25T00:59:59Z',
      '2026-10-25T01:00:00Z',
      '2026-10-25T01:30:00Z',
      '2026-10-25T01:59:00Z',
      '2026-10-25T02:00:00Z',
    ],
  ],
  [
    'America/New_York',
    [
      '2026-11-01T04:59:00Z',
      '2026-11-01T05:00:00Z',
      '2026-11-01T05:45:00Z',
      '2026-11-01T06:00:00Z',
      '2026-11-01T06:15:00Z',
      '2026-11-01T06:59:59Z',
      '2026-11-01T07:00:00Z',
    ],
  ],
];

const chat = { channel: 'chat', queueName: 'Sales', queueId: 'q1', providerId: 'p1' };
const voice = { channel: 'voice', queueName: 'Support', queueId: 'q2', providerId: 'p1' };

const EVENTS: CanonicalEvent[] = [
  // Answered, held once, wrapped up, ended: the whole story in OpenUA's names.
  ...conversation('c1', { ...chat, customData: { region: 'eu', score: '4', vip: 'yes' } }, [
    ['ConversationQueued', 0],
    ['NotificationDisplayed', 2, { participantId: 'a1' }],
    ['NotificationResponse', 5.25, { participantId: 'a1', notificationResponseAction: 'Accept' }],
    ['SessionStarted', 5.5, { participantId: 'a1', providerSessionId: 's1' }],
    ['FirstResponseSent', 20.125, { participantId: 'a1', providerSessionId: 's1' }],
    ['HoldStarted', 30, { participantId: 'a1', providerSessionId: 's1' }],
    ['HoldEnded', 45.5, { participantId: 'a1', providerSessionId: 's1' }],
    ['SessionClosed', 120, { participantId: 'a1', providerSessionId: 's1' }],
    ['WrapUpStarted', 120.5, { participantId: 'a1', providerSessionId: 's1' }],
    ['WrapUpEnded', 150, { participantId: 'a1', providerSessionId: 's1' }],
    ['ConversationEnded', 121],
  ]),
  // Abandoned: offered, timed out (the framework's name), ended unanswered.
  ...conversation('c2', { ...chat, customData: { region: 'us', score: 'bad' } }, [
    ['ConversationQueued', 600],
    ['NotificationReceived', 700, { participantId: 'a2' }],
    ['NotificationTimedOut', 730, { participantId: 'a2' }],
    ['ConversationEnded', 845.5],
  ]),
  // Transferred, in the framework's later names: two sessions, a switch, two agents.
  ...conversation('c3', { ...voice, customData: { region: 'eu', score: '7.5', vip: 'maybe' } }, [
    ['ConversationQueued', HOUR],
    ['NotificationReceived', HOUR + 3, { participantId: 'a1' }],
    ['NotificationAccepted', HOUR + 9, { participantId: 'a1' }],
    ['SessionStarted', HOUR + 10, { participantId: 'a1', providerSessionId: 's3a' }],
    ['SessionClosed', HOUR + 300, { participantId: 'a1', providerSessionId: 's3a', eventValue: 'Transfer' }],
    ['SessionStarted', HOUR + 301, { participantId: 'a2', providerSessionId: 's3b' }],
    ['SessionFocusIn', HOUR + 320, { participantId: 'a2', providerSessionId: 's3b' }],
    ['SessionFocusOut', HOUR + 330, { participantId: 'a2', providerSessionId: 's3b' }],
    ['SessionSwitched', HOUR + 340, { participantId: 'a2', providerSessionId: 's3b' }],
    ['SessionClosed', HOUR + 900, { participantId: 'a2', providerSessionId: 's3b' }],
    ['ConversationEnded', HOUR + 901],
  ]),
  // Rejected by one agent, accepted (the 2019 build's lower case) by another, still open and on hold.
  ...conversation('c4', voice, [
    ['ConversationQueued', 2 * HOUR],
    ['NotificationDisplayed', 2 * HOUR + 1, { participantId: 'a2' }],
    ['NotificationResponse', 2 * HOUR + 4, { participantId: 'a2', notificationResponseAction: 'Reject' }],
    ['NotificationDisplayed', 2 * HOUR + 5, { participantId: 'a1' }],
    [
      'NotificationResponse',
      2 * HOUR + 6.75,
      { participantId: 'a1', notificationResponseAction: 'accepted' },
    ],
    ['SessionStarted', 2 * HOUR + 7, { participantId: 'a1', providerSessionId: 's4' }],
    ['HoldStarted', 2 * HOUR + 60, { participantId: 'a1', providerSessionId: 's4' }],
  ]),
  // The next day, no ConversationQueued (it starts at its first event); a decline, then the framework's reject.
  ...conversation('c5', { ...chat, customData: { region: 'apac' } }, [
    ['NotificationDisplayed', DAY + 100, { participantId: 'a3' }],
    ['NotificationResponse', DAY + 103, { participantId: 'a3', notificationResponseAction: 'Decline' }],
    ['NotificationDisplayed', DAY + 110, { participantId: 'a2' }],
    ['NotificationRejected', DAY + 111, { participantId: 'a2' }],
    ['NotificationDisplayed', DAY + 120, { participantId: 'a1' }],
    ['NotificationResponse', DAY + 150, { participantId: 'a1', notificationResponseAction: 'Accept' }],
    ['SessionStarted', DAY + 151, { participantId: 'a1', providerSessionId: 's5' }],
    ['ConversationEnded', DAY + 600],
  ]),
  // Answered after it ended: not answered, abandoned.
  ...conversation('c6', chat, [
    ['ConversationQueued', DAY + 200],
    ['ConversationEnded', DAY + 230],
    ['SessionStarted', DAY + 240, { participantId: 'a2', providerSessionId: 's6' }],
    ['SessionClosed', DAY + 400, { participantId: 'a2', providerSessionId: 's6' }],
  ]),
  // Outside the range asked: counted by neither engine.
  ...conversation('c7', chat, [
    ['ConversationQueued', 5 * DAY],
    ['ConversationEnded', 5 * DAY + 10],
  ]),
  // Presence: a1 changed before the range, a2's last change is still open (until now).
  kpi('PresenceChanged', -DAY, { participantId: 'a1', newPresence: 'Available' }),
  kpi('PresenceChanged', HOUR / 2, { participantId: 'a1', newPresence: 'Busy' }),
  kpi('PresenceChanged', 3 * HOUR, { participantId: 'a1', newPresence: 'Available' }),
  kpi('PresenceChanged', DAY + 5 * HOUR, { participantId: 'a1', newPresence: 'Offline' }),
  kpi('PresenceChanged', 300, { participantId: 'a2', newPresence: 'Available' }),
  kpi('PresenceChanged', 4 * DAY, { participantId: 'a3', newPresence: 'Available' }),
  // Around the hour clocks go back, in Paris (01:00Z, 2026-10-25) and New York (06:00Z, 2026-11-01): each
  // conversation's bucket is the hour of its wall clock, and both occurrences of the repeated hour are one bucket
  // that begins at the later (ClickHouse's own toStartOfHour makes two of them).
  ...FALL_BACK.flatMap(([zone, times]) =>
    times.map((time, i) =>
      conversation(`${zone}-${i}`, chat, [
        ['ConversationQueued', (Date.parse(time) - T0) / 1000],
        ['ConversationEnded', (Date.parse(time) - T0) / 1000 + 90],
      ]),
    ),
  ).flat(),
  // Another organization's: never counted.
  kpi('ConversationQueued', 10, { org: 'other', conversationId: 'c1' }),
];

const fact = (name: string): QueryField => ({ kind: 'fact', fact: name as never });
const column = (field: string): QueryField => ({ kind: 'column', field, type: 'text' });
const is = (name: string, value: Scalar): QueryFilter => ({
  kind: 'compare',
  op: 'eq',
  field: fact(name),
  value,
});
const RANGE = { from: at(-HOUR), to: at(2 * DAY), now: at(2 * DAY + HOUR), limit: 1000 };

const QUERIES: Record<string, UnitQuery> = {
  'conversations by day and channel': {
    ...RANGE,
    unit: 'conversation',
    bucket: { name: 'day', unit: 'day', timeZone: 'UTC' },
    dimensions: [{ name: 'channel', field: column('channel') }],
    measures: [
      { name: 'conversations', measure: { fn: 'count' } },
      { name: 'answered', measure: { fn: 'count', where: is('answered', true) } },
      {
        name: 'abandonmentRate',
        measure: { fn: 'percent', numerator: is('abandoned', true), denominator: is('ended', true) },
      },
      { name: 'asa', measure: { fn: 'avg', fact: 'answerSeconds' } },
      { name: 'asa90', measure: { fn: 'p90', fact: 'answerSeconds' } },
      { name: 'wait50', measure: { fn: 'p50', fact: 'waitSeconds' } },
      { name: 'handle', measure: { fn: 'sum', fact: 'handleSeconds' } },
      { name: 'firstResponse', measure: { fn: 'avg', fact: 'firstResponseSeconds' } },
      { name: 'sessions', measure: { fn: 'max', fact: 'sessions' } },
      { name: 'transfers', measure: { fn: 'sum', fact: 'transfers' } },
      {
        name: 'serviceLevel',
        measure: {
          fn: 'percent',
          numerator: {
            kind: 'and',
            filters: [
              is('answered', true),
              { kind: 'compare', op: 'lt', field: fact('answerSeconds'), value: 20 },
            ],
          },
          denominator: { kind: 'or', filters: [is('answered', true), is('abandoned', true)] },
        },
      },
    ],
  },
  'conversations by hour in Paris, agent, queue and customData': {
    ...RANGE,
    unit: 'conversation',
    bucket: { name: 'hour', unit: 'hour', timeZone: 'Europe/Paris' },
    dimensions: [
      { name: 'agent', field: column('participantId') },
      { name: 'queue', field: column('queueName') },
      { name: 'region', field: { kind: 'custom', key: 'region', type: 'text' } },
      { name: 'score', field: { kind: 'custom', key: 'score', type: 'number' } },
      { name: 'vip', field: { kind: 'custom', key: 'vip', type: 'boolean' } },
    ],
    measures: [
      { name: 'n', measure: { fn: 'count' } },
      { name: 'waitMax', measure: { fn: 'max', fact: 'waitSeconds' } },
      { name: 'answerMin', measure: { fn: 'min', fact: 'answerSeconds', where: is('answered', true) } },
      {
        name: 'highScore',
        measure: {
          fn: 'count',
          where: {
            kind: 'compare',
            op: 'gt',
            field: { kind: 'custom', key: 'score', type: 'number' },
            value: 5,
          },
        },
      },
    ],
    where: { kind: 'not', filter: { kind: 'compare', op: 'eq', field: column('queueId'), value: 'q9' } },
  },
  'conversations, one row, filtered on customData': {
    ...RANGE,
    unit: 'conversation',
    dimensions: [],
    measures: [
      { name: 'n', measure: { fn: 'count' } },
      { name: 'abandoned', measure: { fn: 'count', where: is('abandoned', true) } },
      { name: 'handle99', measure: { fn: 'p99', fact: 'handleSeconds' } },
    ],
    where: {
      kind: 'or',
      filters: [
        { kind: 'in', field: { kind: 'custom', key: 'region', type: 'text' }, values: ['eu', 'apac'] },
        { kind: 'match', op: 'startswith', field: column('queueName'), value: 'Sup' },
      ],
    },
  },
  'nothing in range': {
    ...RANGE,
    from: at(10 * DAY),
    to: at(11 * DAY),
    unit: 'conversation',
    dimensions: [],
    measures: [
      { name: 'n', measure: { fn: 'count' } },
      { name: 'asa', measure: { fn: 'avg', fact: 'answerSeconds' } },
      { name: 'asa50', measure: { fn: 'p50', fact: 'answerSeconds' } },
      {
        name: 'rate',
        measure: { fn: 'percent', numerator: is('abandoned', true), denominator: is('ended', true) },
      },
    ],
  },
  'sessions by agent': {
    ...RANGE,
    unit: 'session',
    dimensions: [{ name: 'agent', field: column('participantId') }],
    measures: [
      { name: 'sessions', measure: { fn: 'count' } },
      { name: 'closed', measure: { fn: 'count', where: is('closed', true) } },
      { name: 'aht', measure: { fn: 'avg', fact: 'handleSeconds' } },
      { name: 'aht99', measure: { fn: 'p99', fact: 'handleSeconds' } },
      { name: 'ahtMin', measure: { fn: 'min', fact: 'handleSeconds' } },
      { name: 'hold', measure: { fn: 'avg', fact: 'holdSeconds' } },
      { name: 'holdSum', measure: { fn: 'sum', fact: 'holdSeconds' } },
      { name: 'wrapUp', measure: { fn: 'avg', fact: 'wrapUpSeconds' } },
      { name: 'switches', measure: { fn: 'sum', fact: 'switches' } },
      {
        name: 'transferRate',
        measure: { fn: 'percent', numerator: is('transferred', true), denominator: is('closed', true) },
      },
      { name: 'open', measure: { fn: 'count', where: { kind: 'not', filter: is('closed', true) } } },
    ],
  },
  'sessions by week and channel': {
    ...RANGE,
    unit: 'session',
    bucket: { name: 'week', unit: 'week', timeZone: 'America/New_York' },
    dimensions: [{ name: 'channel', field: column('channel') }],
    measures: [{ name: 'sessions', measure: { fn: 'count' } }],
  },
  'notifications by agent': {
    ...RANGE,
    unit: 'notification',
    bucket: { name: 'month', unit: 'month', timeZone: 'Asia/Kolkata' },
    dimensions: [{ name: 'agent', field: column('participantId') }],
    measures: [
      { name: 'offered', measure: { fn: 'count' } },
      {
        name: 'acceptance',
        measure: {
          fn: 'percent',
          numerator: is('action', 'accept'),
          denominator: { kind: 'in', field: fact('action'), values: ['accept', 'reject', 'timeout'] },
        },
      },
      { name: 'rejected', measure: { fn: 'count', where: is('action', 'reject') } },
      { name: 'timedOut', measure: { fn: 'count', where: is('action', 'timeout') } },
      { name: 'response', measure: { fn: 'avg', fact: 'responseSeconds' } },
      { name: 'response50', measure: { fn: 'p50', fact: 'responseSeconds' } },
    ],
  },
  'presence by agent and state': {
    ...RANGE,
    unit: 'presence',
    bucket: { name: 'day', unit: 'day', timeZone: 'UTC' },
    dimensions: [
      { name: 'agent', field: column('participantId') },
      { name: 'presence', field: column('newPresence') },
    ],
    measures: [
      { name: 'seconds', measure: { fn: 'sum', fact: 'seconds' } },
      { name: 'intervals', measure: { fn: 'count' } },
    ],
  },
  ...Object.fromEntries(
    FALL_BACK.map(([zone, times]): [string, UnitQuery] => [
      `conversations by hour around the fall-back in ${zone}`,
      {
        ...RANGE,
        from: new Date(Date.parse(times[0] as string) - 2 * HOUR * 1000),
        to: new Date(Date.parse(times.at(-1) as string) + 2 * HOUR * 1000),
        unit: 'conversation',
        bucket: { name: 'hour', unit: 'hour', timeZone: zone },
        dimensions: [{ name: 'channel', field: column('channel') }],
        measures: [
          { name: 'conversations', measure: { fn: 'count' } },
          { name: 'wait', measure: { fn: 'sum', fact: 'waitSeconds' } },
        ],
      },
    ]),
  ),
  'presence, one row': {
    ...RANGE,
    unit: 'presence',
    dimensions: [],
    measures: [{ name: 'seconds', measure: { fn: 'sum', fact: 'seconds' } }],
    where: { kind: 'compare', op: 'ne', field: column('newPresence'), value: 'Offline' },
  },
};

const find = (conversationId: string, eventType: string, participantId?: string) => {
  const found = EVENTS.find(
    (e) =>
      e.conversationId === conversationId &&
      e.eventType === eventType &&
      (participantId === undefined || e.participantId === participantId),
  );
  if (!found) throw new Error(`no ${eventType} in ${conversationId}`);
  return found.id;
};

/** Changes after the load, on both engines: a rejection becomes an accept, an end is deleted. */
async function change(storage: DuckDBStorage | ClickHouseStorage): Promise<void> {
  assert.equal(
    await storage.updateEvent(ORG, find('c4', 'NotificationResponse', 'a2'), {
      notificationResponseAction: 'Accept',
    }),
    true,
  );
  // c6 is no longer ended, so no longer abandoned.
  const id = find('c6', 'ConversationEnded');
  assert.equal(await storage.deleteEvents(ORG, { kind: 'compare', op: 'eq', field: 'id', value: id }), 1);
}

/** Rows in one order, numbers to a billionth (the engines' floating sums may differ in the last bits). */
function normal(result: AggregateResult): { rows: string[]; typeErrors: Record<string, number> } {
  const rows = result.rows.map((row) =>
    JSON.stringify(
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [
          k,
          v instanceof Date ? v.toISOString() : typeof v === 'number' ? Math.round(v * 1e9) / 1e9 : v,
        ]),
      ),
    ),
  );
  return { rows: rows.sort(), typeErrors: result.typeErrors };
}

test('the declaration has every fact of the contract', () => {
  for (const [unit, facts] of Object.entries(UNIT_FACTS)) {
    const declared = UNIT_DECLARATIONS[unit as keyof typeof UNIT_FACTS].facts.map(([name]) => name);
    for (const name of facts) assert.ok(declared.includes(name), `${unit}.${name} is declared`);
  }
});

for (const shards of [1, 2] as const) {
  describe(`KPI units give the same rows on DuckDB and ClickHouse (${shards === 1 ? 'one node' : 'two shards'})`, () => {
    let dir: string;
    let duckdb: DuckDBStorage;
    let servers: ClickHouseServers | undefined;
    let clickhouse: ClickHouseStorage | undefined;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'openua-kpi-units-'));
      duckdb = await DuckDBStorage.open(dir);
      await duckdb.migrate([]);
      await duckdb.appendEvents(EVENTS);
      await change(duckdb);
      servers = await startClickHouse({ shards });
      if (!servers) return;
      clickhouse = await ClickHouseStorage.open({
        url: servers.url,
        database: 'kpi_units',
        ...(servers.cluster ? { cluster: servers.cluster, shards: servers.shardUrls } : {}),
      });
      await clickhouse.migrate([]);
      await clickhouse.appendEvents(EVENTS);
      // A replay of the same events: stored once as every read counts.
      await clickhouse.appendEvents(EVENTS.slice(0, 10));
      await change(clickhouse);
    });

    after(async () => {
      await duckdb?.close();
      await clickhouse?.close();
      await servers?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('DuckDB counts what the story says', { skip: shards > 1 }, async () => {
      const { rows } = await duckdb.aggregateUnits(
        ORG,
        QUERIES['conversations, one row, filtered on customData'] as UnitQuery,
      );
      // c1, c3 (eu), c4 (Support), c5 (apac); c2 (us, Sales) and c6 (no region, Sales) are filtered out.
      assert.deepEqual(rows, [{ n: 4, abandoned: 0, handle99: rows[0]?.handle99 ?? null }]);
      const all = await duckdb.aggregateUnits(ORG, {
        ...RANGE,
        unit: 'conversation',
        dimensions: [],
        measures: [
          { name: 'n', measure: { fn: 'count' } },
          { name: 'abandoned', measure: { fn: 'count', where: is('abandoned', true) } },
          { name: 'transfers', measure: { fn: 'sum', fact: 'transfers' } },
        ],
      });
      assert.deepEqual(all.rows, [{ n: 6, abandoned: 1, transfers: 1 }]);
    });

    for (const [name, query] of Object.entries(QUERIES)) {
      test(name, async (t) => {
        if (!clickhouse) return t.skip(skipReason());
        const expected = normal(await duckdb.aggregateUnits(ORG, query));
        const actual = normal(await aggregateUnits(clickhouse.run, ORG, query));
        assert.ok(expected.rows.length > 0);
        assert.deepEqual(actual, expected);
      });
    }
  });
}
