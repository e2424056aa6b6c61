import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { ChannelRecords } from '../../src/channel/records.ts';
import { writeDemo } from '../../src/demo/demo-writer.ts';
import {
  DEMO_PROVIDERS,
  DEMO_SHORT_ABANDON_SECONDS,
  type GeneratorTally,
  generateEvents,
  newTally,
} from '../../src/demo/generator.ts';
import { ENTITY_TABLES } from '../../src/startup/services.ts';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import type { KpiUnit, QueryFilter, UnitFact, UnitMeasure } from '../../src/storage/storage.ts';
import { LOG_PATH } from '../helpers/channel.ts';
import { testStorage } from '../helpers/engine.ts';
import { call, removeDir, startServer, tempDir } from '../helpers/server.ts';

/** The demo generator: the same seed gives the same events, and the events hold the edges KPIs need. */

const options = (seed: number) => ({
  seed,
  org: 'demo',
  events: 20_000,
  days: 7,
  end: new Date('2026-11-25T00:00:00Z'),
  batchSize: 5_000,
});
const all = (seed: number, tally?: GeneratorTally) => [...generateEvents(options(seed), tally)].flat();

describe('generateEvents', () => {
  it('is deterministic: one seed, one set of events; another seed, another', () => {
    const a = all(42);
    assert.deepEqual(all(42), a);
    assert.notDeepEqual(all(43).slice(0, 10), a.slice(0, 10));
    assert.ok(a.length >= 20_000 && a.length < 20_100, `${a.length} events`);
  });

  it('contains the edges: short and long abandons, transfers, every notification response, open sessions', () => {
    const tally = newTally();
    const events = all(7, tally);
    assert.ok(tally.abandonedShort > 0 && tally.abandonedLong > 0, JSON.stringify(tally));
    assert.ok(tally.transfers > 0);
    assert.ok(
      tally.notifications.accepted > 0 &&
        tally.notifications.rejected > 0 &&
        tally.notifications.timedOut > 0,
    );
    assert.ok(tally.searches > 0);
    const names = new Set(events.map((e) => e.eventType));
    for (const name of [
      'ConversationQueued',
      'SessionStarted',
      'FirstResponseSent',
      'PresenceChanged',
      'CustomerVerified',
      'search',
      'click',
      'facet',
    ]) {
      assert.ok(names.has(name), name);
    }
    // A short abandon ends inside the threshold after its queueing.
    const byConversation = new Map<string, Date[]>();
    for (const e of events.filter(
      (e) => e.eventValue === 'abandoned' || e.eventType === 'ConversationQueued',
    )) {
      byConversation.set(e.conversationId as string, [
        ...(byConversation.get(e.conversationId as string) ?? []),
        e.derivedTime,
      ]);
    }
    const waits = [...byConversation.values()]
      .filter((times) => times.length === 2)
      .map(([a, b]) => Math.abs((b as Date).getTime() - (a as Date).getTime()) / 1000);
    assert.ok(
      waits.some((w) => w < DEMO_SHORT_ABANDON_SECONDS) && waits.some((w) => w > DEMO_SHORT_ABANDON_SECONDS),
    );
    assert.ok(events.every((e) => e.derivedTime < options(7).end && e.org === 'demo'));
  });

  it('writes through the storage interface in bulk', async () => {
    const dir = tempDir();
    const storage = await testStorage(dir);
    try {
      await storage.migrate([]);
      let written = 0;
      for (const batch of generateEvents({ ...options(3), events: 12_000 })) {
        await storage.appendEvents(batch);
        written += batch.length;
      }
      const { count } = await storage.queryEvents('demo', { limit: 1, count: true });
      assert.equal(count, written);
    } finally {
      await storage.close();
      removeDir(dir);
    }
  });

  it('its edges are what the KPIs count, also in a store whose KPI units are built only when it is reopened', async () => {
    const dir = tempDir();
    const tally = newTally();
    const generated = options(11);
    // DuckDB by name: the case is its unit tables, dropped to make a store older than them, and its rebuild chunks.
    let storage = await DuckDBStorage.open(dir);
    try {
      await storage.migrate([]);
      let presenceChanges = 0;
      for (const batch of generateEvents(generated, tally)) {
        presenceChanges += batch.filter((e) => e.eventType === 'PresenceChanged').length;
        await storage.appendEvents(batch);
      }
      await storage.close();
      // As a store made before the unit tables: none, and no record of their version.
      const instance = await DuckDBInstance.create(`${dir}/openua.duckdb`);
      const connection = await instance.connect();
      for (const table of [
        'kpi_conversations',
        'kpi_sessions',
        'kpi_notifications',
        'kpi_presence',
        'kpi_dirty',
      ]) {
        await connection.run(`DROP TABLE ${table}`);
      }
      await connection.run("DELETE FROM checkpoints WHERE name = 'kpi-units'");
      connection.closeSync();
      instance.closeSync();

      // Small chunks: the rebuild takes many transactions, as after a bulk load.
      storage = await DuckDBStorage.open(dir, { unitChunk: { conversations: 97, agents: 7 } });
      await storage.migrate([]);
      const kpis = async (unit: KpiUnit, measures: Record<string, UnitMeasure>) => {
        const { rows } = await storage.aggregateUnits('demo', {
          unit,
          from: new Date(generated.end.getTime() - 30 * 86_400_000),
          to: generated.end,
          now: generated.end,
          dimensions: [],
          measures: Object.entries(measures).map(([name, measure]) => ({ name, measure })),
          limit: 1,
        });
        return rows[0] as Record<string, unknown>;
      };
      const fact = (name: UnitFact, value: string | boolean): QueryFilter => ({
        kind: 'compare',
        op: 'eq',
        field: { kind: 'fact', fact: name },
        value,
      });
      const short: QueryFilter = {
        kind: 'compare',
        op: 'lt',
        field: { kind: 'fact', fact: 'waitSeconds' },
        value: DEMO_SHORT_ABANDON_SECONDS,
      };
      const conversations = await kpis('conversation', {
        all: { fn: 'count' },
        abandoned: { fn: 'count', where: fact('abandoned', true) },
        short: { fn: 'count', where: { kind: 'and', filters: [fact('abandoned', true), short] } },
        transfers: { fn: 'sum', fact: 'transfers' },
      });
      assert.equal(conversations.all, tally.conversations);
      assert.equal(conversations.abandoned, tally.abandonedShort + tally.abandonedLong);
      assert.equal(conversations.short, tally.abandonedShort);
      assert.equal(Number(conversations.transfers), tally.transfers);
      const sessions = await kpis('session', {
        open: { fn: 'count', where: fact('closed', false) },
        transferred: { fn: 'count', where: fact('transferred', true) },
      });
      assert.equal(sessions.open, tally.openSessions);
      assert.equal(sessions.transferred, tally.transfers);
      const notifications = await kpis('notification', {
        timedOut: { fn: 'count', where: fact('action', 'timeout') },
        all: { fn: 'count' },
      });
      // An agent offered the same conversation twice is one notification: at most as many as the tally's.
      const answered =
        tally.notifications.accepted + tally.notifications.rejected + tally.notifications.timedOut;
      assert.ok((notifications.all as number) <= answered && (notifications.all as number) > answered * 0.95);
      assert.ok((notifications.timedOut as number) <= tally.notifications.timedOut);
      // Every presence change of every agent is an interval (agents come in several chunks).
      const presence = await kpis('presence', { intervals: { fn: 'count' } });
      assert.equal(presence.intervals, presenceChanges);
    } finally {
      await storage.close();
      removeDir(dir);
    }
  });

  it('writes the records its events belong to, which the live API then takes events for', async () => {
    const dir = tempDir();
    const tally = newTally();
    const storage = await testStorage(dir);
    try {
      await storage.migrate(ENTITY_TABLES as never);
      const events = await writeDemo(
        storage,
        new ChannelRecords(storage),
        { ...options(5), org: 'default' },
        tally,
      );
      assert.ok(events >= 20_000);
    } finally {
      await storage.close();
    }
    const server = await startServer({ dataDir: dir });
    try {
      const count = async (set: string, filter = '') => {
        const answer = await call<{ '@odata.count': number }>(
          `${server.url}/api/data/v9.1/${set}?$count=true&$top=1${filter}`,
          { token: server.masterKey },
        );
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        return answer.body['@odata.count'];
      };
      assert.equal(
        await count('msdyn_ciproviders', '&$filter=msdyn_enableanalytics eq true'),
        DEMO_PROVIDERS.length,
      );
      assert.equal(await count('msdyn_conversationsdata'), tally.conversations);
      const sessions = await count('msdyn_sessionsdata');
      assert.equal(await count('msdyn_sessionparticipantsdata'), sessions);
      assert.equal(sessions, tally.notifications.accepted, 'every accepted notification opens a session');
      // A demo session, its agent and its provider are real records: logAnalyticsEvent places an event in them.
      const [session] = (
        await call<{ value: Record<string, string>[] }>(
          `${server.url}/api/data/v9.1/msdyn_sessionsdata?$top=1`,
          {
            token: server.masterKey,
          },
        )
      ).body.value;
      const [participant] = (
        await call<{ value: Record<string, string>[] }>(
          `${server.url}/api/data/v9.1/msdyn_sessionparticipantsdata?$top=1&$filter=${encodeURIComponent(
            `msdyn_providersessionid eq '${session?.msdyn_providersessionid}'`,
          )}`,
          { token: server.masterKey },
        )
      ).body.value;
      const logged = await call(`${server.url}${LOG_PATH}`, {
        token: server.masterKey,
        body: {
          data: {
            conversationId: session?.msdyn_conversationid,
            providerSessionId: session?.msdyn_providersessionid,
            participantId: participant?.msdyn_participantid,
            events: [{ kpiEventName: 'TabOpened', tabId: 't1', tabName: 'Case' }],
          },
          eventName: 'TabOpened',
        },
      });
      assert.equal(logged.status, 200, JSON.stringify(logged.body));
    } finally {
      await server.close();
      removeDir(dir);
    }
  });
});
