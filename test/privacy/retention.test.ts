import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONVERSATIONS, PARTICIPANTS, SESSIONS } from '../../src/channel/entity-sets.ts';
import { ORGANIZATIONS } from '../../src/orgs/organizations.ts';
import type { AuditInput } from '../../src/privacy/audit-log.ts';
import { checkpointName, Retention, type RetentionKind } from '../../src/privacy/retention.ts';
import { createProvider, INIT_PATH, LOG_PATH } from '../helpers/channel.ts';
import { openua, openuaJson } from '../helpers/cli.ts';
import { testStorage } from '../helpers/engine.ts';
import { violationsOf } from '../helpers/errors.ts';
import { call, readEvents, removeDir, startServer, type TestServer, tempDir } from '../helpers/server.ts';

/**
 * Retention per organization through HTTP and the CLI: the sweep removes exactly what is older than each kind's
 * cutoff (00:00 UTC, N days before today; an event at the cutoff itself stays), for events, KPI events and
 * Channel Analytics records separately, and nothing of an organization without retention; KPI figures and
 * distinct counts after the sweep equal a fresh server's fed only the kept events; an interrupted sweep resumes.
 */

const DAY = 86_400_000;
const SECOND = 1000;
// A run that crosses midnight UTC moves every cutoff by a day; the fixture is far enough from "now" for the rest.
const TODAY = Math.floor(Date.now() / DAY) * DAY;
const EVENT_DAYS = 10;
const KPI_DAYS = 20;
const RECORD_DAYS = 30;
const CUT_EVENTS = TODAY - EVENT_DAYS * DAY;
const CUT_KPI = TODAY - KPI_DAYS * DAY;
const CUT_RECORDS = TODAY - RECORD_DAYS * DAY;
const iso = (ms: number) => new Date(ms).toISOString();
const RUN = randomUUID().slice(0, 8);

type Item = Record<string, unknown> & { kind: string };
/** A fixture event: its batch item, and whether retention keeps it. */
interface Fixture {
  item: Item;
  kept: boolean;
}

const [v1, v2, v3] = [randomUUID(), randomUUID(), randomUUID()];
const custom = (time: number, clientId: string, kept: boolean): Fixture => ({
  item: {
    kind: 'custom',
    eventType: `retention-${RUN}`,
    eventValue: 'v',
    language: 'en',
    clientId,
    eventTime: iso(time),
  },
  kept,
});
const search = (time: number, clientId: string, queryText: string, kept: boolean): Fixture => ({
  item: {
    kind: 'search',
    actionCause: 'searchboxSubmit',
    queryText,
    responseTime: 42,
    searchQueryUid: randomUUID(),
    language: 'en',
    clientId,
    eventTime: iso(time),
  },
  kept,
});

/** The events but KPI events: on both sides of their cutoff, and at it. */
const UA_EVENTS: Fixture[] = [
  custom(CUT_KPI - 3 * DAY, v1, false),
  // Older than the events' cutoff, not the KPI events': a custom event goes all the same.
  custom(CUT_EVENTS - 2 * DAY, v1, false),
  custom(CUT_EVENTS - 1, v2, false),
  custom(CUT_EVENTS, v2, true),
  custom(CUT_EVENTS + 3600 * SECOND, v3, true),
  custom(CUT_EVENTS + DAY + 5 * 3600 * SECOND, v1, true),
  search(CUT_EVENTS - DAY, v3, 'reset password', false),
  search(CUT_EVENTS + 2 * 3600 * SECOND, v1, 'reset password', true),
  search(CUT_EVENTS + DAY, v2, 'invoice', true),
  search(CUT_EVENTS + DAY + 60 * SECOND, v3, 'invoice', true),
];

interface Conversation {
  id: string;
  session: string;
  agent: string;
}
const conversation = (name: string): Conversation => ({
  id: `${name}-${RUN}`,
  session: `${name}-s-${RUN}`,
  agent: `agent-${name}`,
});
const X1 = conversation('x1');
const X2 = conversation('x2');
const X3 = conversation('x3');
const X4 = conversation('x4');
/** Records last changed before the records' cutoff (removed), and at it (kept). */
const Z = conversation('z');
const Y = conversation('y');

const kpi = (c: Conversation, name: string, time: number, kept: boolean, extra = {}): Fixture => ({
  item: {
    kind: 'kpi',
    eventName: name,
    data: {
      conversationId: c.id,
      ...(name.startsWith('Session') && { providerSessionId: c.session, participantId: c.agent }),
      events: [{ kpiEventName: name, eventTimestamp: iso(time), ...extra }],
    },
  },
  kept,
});

/** A handled conversation: queued, answered after `answer` s, handled `handle` s, ended. */
const handled = (c: Conversation, t: number, answer: number, handle: number, kept: boolean) => [
  kpi(c, 'ConversationQueued', t, kept),
  kpi(c, 'SessionStarted', t + answer * SECOND, kept),
  kpi(c, 'SessionClosed', t + (answer + handle) * SECOND, kept),
  kpi(c, 'ConversationEnded', t + (answer + handle + 10) * SECOND, kept),
];

const KPI_EVENTS: Fixture[] = [
  ...handled(X1, CUT_KPI - 2 * DAY, 10, 300, false),
  // Across the KPI events' cutoff: its first two events go, the rest stays.
  kpi(X2, 'ConversationQueued', CUT_KPI - 60 * SECOND, false),
  kpi(X2, 'SessionStarted', CUT_KPI - 1, false),
  kpi(X2, 'SessionClosed', CUT_KPI, true),
  kpi(X2, 'ConversationEnded', CUT_KPI + 10 * SECOND, true),
  // Older than the events' cutoff, not the KPI events': kept.
  ...handled(X3, CUT_EVENTS - 3 * DAY, 20, 180, true),
  ...handled(X4, TODAY - 2 * DAY, 5, 600, true),
];

const FIXTURE = [...UA_EVENTS, ...KPI_EVENTS];

/** The KPI figures and distinct counts compared with a fresh server's, over whole UTC days. */
const RANGE = { from: iso(CUT_KPI - 5 * DAY), to: iso(TODAY - DAY), granularity: 'day', timeZone: 'UTC' };
const SPECS = [
  { measures: ['conversations', 'sessions', 'averageHandleTime', 'averageConversationHandleTime'] },
  { measures: ['averageSpeedToAnswer', 'abandonedConversations'] },
  { measures: ['count', 'distinctClients'] },
  {
    measures: ['distinctClients'],
    dimensions: ['queryText'],
    filters: [{ field: 'category', op: 'eq', value: 'search' }],
  },
];

async function createOrg(server: TestServer, id: string) {
  const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await patchOrg(server, id, { maxEventAgeDays: 3650 });
}

async function patchOrg(server: TestServer, id: string, body: Record<string, unknown>) {
  const answer = await call(`${server.url}/api/v1/orgs/${id}`, {
    method: 'PATCH',
    token: server.masterKey,
    body,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** Conversation records through initLogAnalytics, one session with one agent each. */
async function init(server: TestServer, org: string, conversations: Conversation[]) {
  const providerId = await createProvider(server, { org });
  for (const c of conversations) {
    const answer = await call(`${server.url}${INIT_PATH}?org=${org}`, {
      token: server.masterKey,
      body: {
        data: {
          conversation: {
            conversationId: c.id,
            providerId,
            channel: 'chat',
            session: {
              providerSessionId: c.session,
              queueName: 'billing',
              participants: [{ participantId: c.agent, type: 'Agent' }],
            },
          },
        },
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  }
}

/** Sends items in one batch; answers their ids, in order. */
async function send(server: TestServer, org: string, items: Item[]): Promise<string[]> {
  const answer = await call<{ results: { status: string; id?: string }[] }>(
    `${server.url}/api/v1/events/batch?org=${org}`,
    { token: server.masterKey, body: { events: items } },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.ok(
    answer.body.results.every((r) => r.status === 'accepted'),
    JSON.stringify(answer.body.results),
  );
  return answer.body.results.map((r) => r.id as string);
}

/** One KPI event through logAnalyticsEvent, now. */
const logNow = (server: TestServer, org: string, c: Conversation) =>
  call(`${server.url}${LOG_PATH}?org=${org}`, {
    token: server.masterKey,
    body: {
      data: {
        conversationId: c.id,
        events: [{ kpiEventName: 'ConversationQueued', eventTimestamp: iso(Date.now() - 1000) }],
      },
      eventName: 'ConversationQueued',
    },
  });

const RECORD_SETS = [CONVERSATIONS, SESSIONS, PARTICIPANTS];

/** The ids of a conversation's records (conversation, session, participant). */
async function recordIds(server: TestServer, org: string, c: Conversation): Promise<string[]> {
  const ids: string[] = [];
  for (const set of RECORD_SETS) {
    const rows = await server.services.storage.find(set.table as NonNullable<typeof set.table>, {
      org,
      conversationId: c.id,
    });
    ids.push(...rows.map((r) => r.id));
  }
  return ids.sort();
}

/** Records as if last changed at `time`: only the store can say a record is old. */
async function backdate(server: TestServer, org: string, c: Conversation, time: number) {
  for (const set of RECORD_SETS) {
    const table = set.table as NonNullable<typeof set.table>;
    for (const row of await server.services.storage.find(table, { org, conversationId: c.id })) {
      await server.services.storage.upsert(table, { ...row, modifiedOn: new Date(time) });
    }
  }
}

const eventIds = async (server: TestServer, org: string) =>
  (await readEvents(server, server.masterKey, `&org=${org}`)).map((e) => e.id as string).sort();

/** Polls until `read` answers `expected` (the sweep runs every second), then asserts it. */
async function eventually<T>(read: () => Promise<T>, expected: T, what: string) {
  const deadline = Date.now() + 60_000;
  let actual = await read();
  while (JSON.stringify(actual) !== JSON.stringify(expected) && Date.now() < deadline) {
    await sleep(200);
    actual = await read();
  }
  assert.deepEqual(actual, expected, what);
}

const query = async (server: TestServer, org: string, spec: Record<string, unknown>) => {
  const answer = await call<{ rows: unknown[] }>(`${server.url}/api/v1/query?org=${org}`, {
    token: server.masterKey,
    body: { ...RANGE, ...spec },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.rows;
};

describe('retention per organization', () => {
  const R = `retain-${RUN}`;
  const K = `keep-${RUN}`;
  const N = `none-${RUN}`;
  let server: TestServer;
  const ids = new Map<string, string[]>();
  /** The KPI event logged for Z just before the sweep, which keeps Z's records in the record cache. */
  let zEvent: string;
  const figures = new Map<string, unknown[]>();

  before(async () => {
    server = await startServer({ env: { OPENUA_RETENTION_SWEEP_SECONDS: '1' } });
    for (const org of [R, K]) {
      await createOrg(server, org);
      await init(server, org, [X1, X2, X3, X4, Z, Y]);
      ids.set(
        org,
        await send(
          server,
          org,
          FIXTURE.map((f) => f.item),
        ),
      );
      await backdate(server, org, Z, CUT_RECORDS - 1);
      await backdate(server, org, Y, CUT_RECORDS);
    }
    // The figures before: the comparison below is only worth something if the sweep changes them.
    for (const [i, spec] of SPECS.entries()) figures.set(`before ${i}`, await query(server, R, spec));
  });
  after(async () => {
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  it('refuses a retention out of range or not a whole number, naming the field, the rule and the value', async () => {
    const cases: [Record<string, unknown>, string, string, unknown][] = [
      [{ eventRetentionDays: 0 }, 'eventRetentionDays', 'minimum', 0],
      [{ kpiEventRetentionDays: 36_501 }, 'kpiEventRetentionDays', 'maximum', 36_501],
      [{ recordRetentionDays: 1.5 }, 'recordRetentionDays', 'type', 1.5],
      [{ eventRetentionDays: '30' }, 'eventRetentionDays', 'type', '30'],
    ];
    for (const [body, field, rule, received] of cases) {
      const answer = await call(`${server.url}/api/v1/orgs/${R}`, {
        method: 'PATCH',
        token: server.masterKey,
        body,
      });
      const [violation, ...more] = violationsOf(answer);
      assert.deepEqual(more, [], JSON.stringify(answer.body));
      assert.equal(violation?.field, field);
      assert.equal(violation?.rule, rule);
      assert.deepEqual(violation?.received, received);
    }
    const run = await openua(['org', 'update', R, '--event-retention-days', '0', '--server', server.url], {
      OPENUA_MASTER_KEY: server.masterKey,
    });
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, /eventRetentionDays: must be ≥ 1 \(received 0\)/);
    const word = await openua(
      ['org', 'update', R, '--kpi-event-retention-days', 'ten', '--server', server.url],
      { OPENUA_MASTER_KEY: server.masterKey },
    );
    assert.equal(word.code, 1, word.stdout);
    assert.match(word.stderr, /kpiEventRetentionDays: .*\(received "ten"\)/);
    // Nothing was set: every retention is still forever.
    const { body: org } = await call(`${server.url}/api/v1/orgs/${R}`, { token: server.masterKey });
    assert.deepEqual(
      [org?.eventRetentionDays, org?.kpiEventRetentionDays, org?.recordRetentionDays],
      [null, null, null],
    );
  });

  it('a null retention is forever: PATCH null and `forever` in the CLI set it back', async () => {
    // An organization of its own: the sweep runs every second, and would act on a retention set for a moment.
    await createOrg(server, N);
    const set = await patchOrg(server, N, { eventRetentionDays: 5 });
    assert.equal(set.eventRetentionDays, 5);
    const cleared = await patchOrg(server, N, { eventRetentionDays: null });
    assert.equal(cleared.eventRetentionDays, null);
    const viaCli = await openuaJson<Record<string, unknown>>(
      ['org', 'update', N, '--record-retention-days', '7', '--server', server.url],
      { OPENUA_MASTER_KEY: server.masterKey },
    );
    assert.equal(viaCli.recordRetentionDays, 7);
    const forever = await openuaJson<Record<string, unknown>>(
      ['org', 'update', N, '--record-retention-days', 'forever', '--server', server.url],
      { OPENUA_MASTER_KEY: server.masterKey },
    );
    assert.equal(forever.recordRetentionDays, null);
  });

  it('removes exactly what is older than each cutoff, and nothing of the organization without retention', async () => {
    // The record cache holds Z's conversation now: the sweep must not leave it answering for a removed record.
    const warm = await logNow(server, R, Z);
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
    zEvent = ((warm.body as { eventIds: string[] }).eventIds as string[])[0] as string;
    const zRecords = await recordIds(server, R, Z);
    assert.equal(zRecords.length, 3);

    await patchOrg(server, R, { eventRetentionDays: EVENT_DAYS, kpiEventRetentionDays: KPI_DAYS });
    const updated = await openuaJson<Record<string, unknown>>(
      ['org', 'update', R, '--record-retention-days', String(RECORD_DAYS), '--server', server.url],
      { OPENUA_MASTER_KEY: server.masterKey },
    );
    assert.deepEqual(
      [updated.eventRetentionDays, updated.kpiEventRetentionDays, updated.recordRetentionDays],
      [EVENT_DAYS, KPI_DAYS, RECORD_DAYS],
    );

    const all = ids.get(R) as string[];
    const kept = [...all.filter((_, i) => FIXTURE[i]?.kept), zEvent].sort();
    await eventually(() => eventIds(server, R), kept, 'the kept events, no more and no fewer');
    await eventually(() => recordIds(server, R, Z), [], "Z's records, changed before the records' cutoff");
    // Y's records changed at the cutoff itself, the others' today: kept.
    for (const c of [Y, X1, X2, X3, X4]) assert.equal((await recordIds(server, R, c)).length, 3, c.id);
    // The cache forgot Z: a KPI event for it is refused at once, its conversation gone.
    const after = await logNow(server, R, Z);
    assert.notEqual(after.status, 200, JSON.stringify(after.body));

    // The other organization keeps everything, records included.
    assert.deepEqual(await eventIds(server, K), [...(ids.get(K) as string[])].sort());
    for (const c of [Z, Y, X1]) assert.equal((await recordIds(server, K, c)).length, 3, c.id);

    // Another sweep finds nothing more to remove (the first call joins the timer's sweep if one is under way).
    await server.services.retention.sweep();
    assert.deepEqual(await server.services.retention.sweep(), []);
    assert.deepEqual(await eventIds(server, R), kept);

    // One audit entry per kind that removed rows, by the server itself; none for the organization without retention.
    const audit = async (org: string) => {
      const answer = await call<{ entries: Record<string, unknown>[] }>(
        `${server.url}/api/v1/audit?org=${org}&action=retention.sweep`,
        { token: server.masterKey },
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.entries;
    };
    const entries = (await audit(R)).map((e) => [e.actorKind, e.actorId, e.rows, e.details]);
    const removed = (items: Fixture[]) => items.filter((f) => !f.kept).length;
    assert.deepEqual(
      entries.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        ['system', 'retention', 3, { kind: 'records', cutoff: iso(CUT_RECORDS) }],
        ['system', 'retention', removed(KPI_EVENTS), { kind: 'kpiEvents', cutoff: iso(CUT_KPI) }],
        ['system', 'retention', removed(UA_EVENTS), { kind: 'events', cutoff: iso(CUT_EVENTS) }],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    assert.deepEqual(await audit(K), []);

    // And the metrics count them, by kind.
    const metrics = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${server.masterKey}` },
    }).then((r) => r.text());
    const removedOf = (kind: string) =>
      Number(
        new RegExp(`^openua_retention_removed_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(metrics)?.[1],
      );
    assert.deepEqual(['events', 'kpiEvents', 'records'].map(removedOf), [
      removed(UA_EVENTS),
      removed(KPI_EVENTS),
      3,
    ]);
  });

  it('KPI figures and distinct counts after the sweep equal a fresh server fed only the kept events', async () => {
    const fresh = await startServer({ env: { OPENUA_RETENTION_SWEEP_SECONDS: '0' } });
    try {
      await createOrg(fresh, R);
      await init(fresh, R, [X1, X2, X3, X4]);
      await send(
        fresh,
        R,
        FIXTURE.filter((f) => f.kept).map((f) => f.item),
      );
      let changed = false;
      for (const [i, spec] of SPECS.entries()) {
        const swept = await query(server, R, spec);
        assert.deepEqual(swept, await query(fresh, R, spec), JSON.stringify(spec));
        if (JSON.stringify(swept) !== JSON.stringify(figures.get(`before ${i}`))) changed = true;
      }
      assert.ok(changed, 'the sweep changed the figures');
    } finally {
      await fresh.close();
      removeDir(fresh.dataDir);
    }
  });
});

describe('an interrupted sweep', () => {
  const S = `resume-${RUN}`;
  let server: TestServer;
  let all: string[] = [];
  const OLD_DAYS = 5;

  before(async () => {
    // No sweep of its own: the test runs its sweepers.
    server = await startServer({ env: { OPENUA_RETENTION_SWEEP_SECONDS: '0' } });
    await createOrg(server, S);
    const items: Item[] = [];
    // Two events on each of five days before the cutoff, two after it.
    for (let day = OLD_DAYS; day >= 1; day--) {
      items.push(custom(CUT_EVENTS - day * DAY + 3600 * SECOND, v1, false).item);
      items.push(custom(CUT_EVENTS - day * DAY + 7200 * SECOND, v2, false).item);
    }
    items.push(custom(CUT_EVENTS, v1, true).item, custom(TODAY - DAY, v2, true).item);
    all = await send(server, S, items);
    await patchOrg(server, S, { eventRetentionDays: EVENT_DAYS });
  });
  after(async () => {
    await server?.close();
    if (server) removeDir(server.dataDir);
  });

  /** The tables each sweeper asked the store to expunge. */
  const expunged: string[][] = [];
  const sweeper = (audit: AuditInput[]) => {
    const { organizations, reader, storage, channelRecords } = server.services;
    const expunging = new Proxy(storage, {
      get(target, property) {
        if (property === 'expunge') {
          return async (tables: string[]) => {
            expunged.push(tables);
            await target.expunge?.(tables);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return new Retention(
      organizations,
      reader,
      expunging,
      channelRecords,
      {
        record: async (input) => {
          audit.push(input);
          return undefined as never;
        },
      },
      { intervalSeconds: 0 },
    );
  };

  it('resumes from its checkpoint: the same end state, and one audit entry counting both runs', async () => {
    const audit: AuditInput[] = [];
    const first = sweeper(audit);
    const chunks: [RetentionKind, string][] = [];
    first.afterChunk = (org, kind, through) => {
      if (org !== S) return;
      chunks.push([kind, through.toISOString()]);
      // A crash after the second day's chunk.
      if (chunks.length === 2) throw new Error('crash');
    };
    assert.deepEqual(await first.sweep(), []);
    assert.deepEqual(chunks, [
      ['events', iso(CUT_EVENTS - (OLD_DAYS - 1) * DAY)],
      ['events', iso(CUT_EVENTS - (OLD_DAYS - 2) * DAY)],
    ]);
    // The two oldest days are gone, the three others not yet; nothing audited, the sweep unfinished.
    assert.deepEqual(await eventIds(server, S), all.slice(4).sort());
    assert.deepEqual(expunged, [], 'nothing expunged before the sweep finished');
    assert.deepEqual(audit, []);
    const saved = JSON.parse(
      (await server.services.storage.readCheckpoint(checkpointName(S, 'events'))) ?? '{}',
    );
    assert.deepEqual(saved, {
      cutoff: iso(CUT_EVENTS),
      next: iso(CUT_EVENTS - (OLD_DAYS - 2) * DAY),
      removed: 4,
    });

    const second = sweeper(audit);
    const resumed: string[] = [];
    second.afterChunk = (org, _kind, through) => {
      if (org === S) resumed.push(through.toISOString());
    };
    const report = await second.sweep();
    // It went on from the checkpoint, a day at a time, up to the cutoff.
    assert.deepEqual(
      resumed,
      [2, 1, 0].map((d) => iso(CUT_EVENTS - d * DAY)),
    );
    assert.deepEqual(report, [{ org: S, kind: 'events', cutoff: new Date(CUT_EVENTS), rows: 10 }]);
    assert.deepEqual(await eventIds(server, S), all.slice(10).sort());
    // Then the removed rows are made physically gone (ClickHouse's tombstones hold whole copies of them).
    assert.deepEqual(expunged, [['events']]);
    // One entry for the whole sweep: the first run's four rows, read back from the checkpoint, and the six after.
    assert.deepEqual(audit, [
      {
        org: S,
        actor: { kind: 'system', id: 'retention' },
        action: 'retention.sweep',
        rows: 10,
        details: { kind: 'events', cutoff: iso(CUT_EVENTS) },
      },
    ]);

    // Finished: the next sweep removes nothing and audits nothing.
    assert.deepEqual(await sweeper(audit).sweep(), []);
    assert.equal(audit.length, 1);
    assert.equal(expunged.length, 1);
  });

  it('stops at the next chunk when stopped (a server closing), and the next sweeper finishes the job', async () => {
    const T = `stop-${RUN}`;
    await createOrg(server, T);
    const old = [3, 2, 1].map((d) => custom(CUT_EVENTS - d * DAY, v1, false).item);
    const ids = await send(server, T, [...old, custom(CUT_EVENTS, v2, true).item]);
    await patchOrg(server, T, { eventRetentionDays: EVENT_DAYS });
    const audit: AuditInput[] = [];
    const first = sweeper(audit);
    first.afterChunk = (org) => {
      if (org === T) void first.stop();
    };
    await first.sweep();
    // One chunk, then nothing: the oldest day is gone, the two others stay until the next sweeper.
    assert.deepEqual(await eventIds(server, T), ids.slice(1).sort());
    assert.equal(audit.length, 0);
    const report = await sweeper(audit).sweep();
    assert.deepEqual(report, [{ org: T, kind: 'events', cutoff: new Date(CUT_EVENTS), rows: 3 }]);
    assert.deepEqual(await eventIds(server, T), ids.slice(3));
    assert.deepEqual(
      audit.map((a) => a.rows),
      [3],
    );
  });
});

describe('an organizations table from before retention', () => {
  it('gains the retention columns, null (forever) in the rows it holds', async () => {
    const dataDir = tempDir();
    const { eventRetentionDays, kpiEventRetentionDays, recordRetentionDays, ...columns } =
      ORGANIZATIONS.columns;
    const older = { ...ORGANIZATIONS, columns } as unknown as typeof ORGANIZATIONS;
    const id = `old-${RUN}`;
    let storage = await testStorage(dataDir);
    try {
      await storage.migrate([older as never]);
      await storage.upsert(older, {
        id,
        name: id,
        tokenSecret: 's',
        createdAt: new Date(),
        unknownKpiEvents: null,
        dedupWindowDays: 3,
        rejectionRetentionDays: null,
        maxEventAgeDays: null,
        maxEventFutureMinutes: null,
        kpiDefaults: null,
        rateLimits: null,
        allowedOrigins: null,
      } as never);
      await storage.close();
      storage = await testStorage(dataDir);
      await storage.migrate([ORGANIZATIONS as never]);
      const [org] = await storage.find(ORGANIZATIONS, { id });
      assert.equal(org?.dedupWindowDays, 3);
      assert.deepEqual(
        [org?.eventRetentionDays, org?.kpiEventRetentionDays, org?.recordRetentionDays],
        [null, null, null],
      );
      void [eventRetentionDays, kpiEventRetentionDays, recordRetentionDays];
    } finally {
      await storage.close();
      removeDir(dataDir);
    }
  });
});
