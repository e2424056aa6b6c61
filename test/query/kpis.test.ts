import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createProvider, INIT_PATH, LOG_PATH } from '../helpers/channel.ts';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * Contact-center KPIs through `POST /api/v1/query`, over a fixture logged through initLogAnalytics and
 * logAnalyticsEvent into an organization of its own, so that every expected value below is counted by hand
 * from the fixture's timeline. Its edges: a transfer (A), a short abandon (B), a notification that timed out
 * (C), a rejected notification and a session still open (D).
 */

let server: TestServer;
let reader: string;
const RUN = randomUUID().slice(0, 8);
const ORG = `kpis-${RUN}`;
const HOUR = 3600_000;
// Two days back, on the hour: inside the 30-day bound on event times, clear of "now".
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const [agent1, agent2, agent3] = ['agent-1', 'agent-2', 'agent-3'];

interface Conversation {
  id: string;
  channel: string;
  queue: string;
  /** Sessions: id and agent. */
  sessions: { id: string; agent: string }[];
  /** Agents offered the conversation outside a session of theirs. */
  offered?: string[];
}

const conversation = (name: string, channel: string, queue: string, agents: string[]): Conversation => ({
  id: `${name}-${RUN}`,
  channel,
  queue,
  sessions: agents.map((agent, i) => ({ id: `${name}-s${i + 1}-${RUN}`, agent })),
});

const A = conversation('A', 'chat', 'billing', [agent1, agent2]);
const B = conversation('B', 'voice', 'support', [agent3]);
const C = conversation('C', 'voice', 'support', [agent3]);
const D = conversation('D', 'chat', 'billing', [agent2]);
D.offered = [agent1];
const E = conversation('E', 'chat', 'billing', [agent2]);
/** Outside the fixture's range, for the test that changes and deletes its events. */
const F = conversation('F', 'chat', 'billing', [agent2]);

async function init(c: Conversation, providerId: string) {
  for (const session of c.sessions) {
    const participants = [session.agent, ...(session === c.sessions[0] ? (c.offered ?? []) : [])];
    const answer = await call(`${server.url}${INIT_PATH}?org=${ORG}`, {
      token: server.masterKey,
      body: {
        data: {
          conversation: {
            conversationId: c.id,
            providerId,
            channel: c.channel,
            session: {
              providerSessionId: session.id,
              channel: c.channel,
              queueName: c.queue,
              queueId: `q-${c.queue}`,
              participants: participants.map((participantId) => ({ participantId, type: 'Agent' })),
            },
          },
        },
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  }
}

/** One KPI event at `seconds` after T0: of the conversation, or of a session and participant. */
async function log(
  c: Conversation,
  seconds: number,
  kpiEventName: string,
  where: { session?: number; agent?: string } = {},
  extra: Record<string, unknown> = {},
) {
  const session = where.session === undefined ? undefined : c.sessions[where.session];
  const answer = await call<{ eventIds: string[] }>(`${server.url}${LOG_PATH}?org=${ORG}`, {
    token: server.masterKey,
    body: {
      data: {
        conversationId: c.id,
        ...(session && { providerSessionId: session.id, participantId: session.agent }),
        ...(where.agent && { participantId: where.agent }),
        events: [{ kpiEventName, eventTimestamp: at(seconds), ...extra }],
      },
      eventName: kpiEventName,
    },
  });
  assert.equal(answer.status, 200, `${kpiEventName} at ${seconds}: ${JSON.stringify(answer.body)}`);
  return answer.body.eventIds[0] as string;
}

const accept = { notificationResponseAction: 'Accept' };

/** The fixture's timeline, in seconds after T0. */
async function logFixture() {
  await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: ORG } });
  reader = await createKey(server, ['analytics:read'], ORG);
  const providerId = await createProvider(server, { org: ORG });
  for (const c of [A, B, C, D, E, F]) await init(c, providerId);

  // A: answered in 15 s by agent 1, first response at 45 s, two holds (80 s); agent 1's session (300 s) ends in
  // a transfer to agent 2, whose session lasts 400 s with 30 s of wrap-up. Conversation handle time 700 s. CSAT 5.
  await log(A, 0, 'ConversationQueued');
  await log(A, 10, 'NotificationDisplayed', { agent: agent1 });
  await log(A, 15, 'NotificationResponse', { agent: agent1 }, accept);
  await log(A, 15, 'SessionStarted', { session: 0 });
  await log(A, 45, 'FirstResponseSent', { session: 0 });
  // Two holds in agent 1's session: 60 s and 20 s.
  await log(A, 100, 'HoldStarted', { session: 0 });
  await log(A, 160, 'HoldEnded', { session: 0 });
  await log(A, 200, 'HoldStarted', { session: 0 });
  await log(A, 220, 'HoldEnded', { session: 0 });
  await log(A, 315, 'SessionClosed', { session: 0 }, { kpiEventReason: 'Transfer' });
  await log(A, 320, 'NotificationDisplayed', { agent: agent2 });
  await log(A, 330, 'NotificationResponse', { agent: agent2 }, accept);
  await log(A, 330, 'SessionStarted', { session: 1 });
  await log(A, 700, 'WrapUpStarted', { session: 1 });
  await log(A, 730, 'WrapUpEnded', { session: 1 });
  await log(A, 730, 'SessionClosed', { session: 1 });
  await log(A, 730, 'ConversationEnded', {}, { customData: [{ attribute: 'csat', value: '5' }] });

  // B: abandoned after 8 s in queue, inside the 20 s short-abandon threshold.
  await log(B, 1000, 'ConversationQueued');
  await log(B, 1008, 'ConversationEnded', {}, { kpiEventReason: 'Customer' });

  // C: offered to agent 3, whose notification timed out after 30 s; abandoned after 100 s.
  await log(C, 2000, 'ConversationQueued');
  await log(C, 2010, 'NotificationDisplayed', { agent: agent3 });
  await log(C, 2040, 'NotificationResponse', { agent: agent3 }, { notificationResponseAction: 'Timeout' });
  await log(C, 2100, 'ConversationEnded', {}, { kpiEventReason: 'Customer' });

  // D: agent 1 rejects in 4 s, agent 2 accepts in 30 s (answered 40 s after queueing), first response at
  // 100 s; the session is still open, the customer on hold.
  await log(D, 3000, 'ConversationQueued');
  await log(D, 3005, 'NotificationDisplayed', { agent: agent1 });
  await log(D, 3009, 'NotificationResponse', { agent: agent1 }, { notificationResponseAction: 'Reject' });
  await log(D, 3010, 'NotificationDisplayed', { agent: agent2 });
  await log(D, 3040, 'NotificationResponse', { agent: agent2 }, accept);
  await log(D, 3040, 'SessionStarted', { session: 0 });
  await log(D, 3100, 'FirstResponseSent', { session: 0 });
  await log(D, 3200, 'HoldStarted', { session: 0 });

  // E: the next hour; agent 2 accepts in 4 s (6 s after queueing), first response at 16 s, handles 300 s
  // with 50 s of wrap-up.
  await log(E, 4000, 'ConversationQueued');
  await log(E, 4002, 'NotificationDisplayed', { agent: agent2 });
  await log(E, 4006, 'NotificationResponse', { agent: agent2 }, accept);
  await log(E, 4006, 'SessionStarted', { session: 0 });
  await log(E, 4016, 'FirstResponseSent', { session: 0 });
  await log(E, 4250, 'WrapUpStarted', { session: 0 });
  await log(E, 4300, 'WrapUpEnded', { session: 0 });
  await log(E, 4306, 'SessionClosed', { session: 0 });
  await log(E, 4306, 'ConversationEnded', {}, { customData: [{ attribute: 'csat', value: '3' }] });

  // Presence: agent 1 Available since before the range, Busy at 600 s, Away at 900 s; agent 2 Busy from
  // 300 s on, still.
  await log(
    A,
    -600,
    'PresenceChanged',
    { agent: agent1 },
    { oldPresence: 'Offline', newPresence: 'Available' },
  );
  await log(A, 600, 'PresenceChanged', { agent: agent1 }, { oldPresence: 'Available', newPresence: 'Busy' });
  await log(A, 900, 'PresenceChanged', { agent: agent1 }, { oldPresence: 'Busy', newPresence: 'Away' });
  await log(A, 300, 'PresenceChanged', { agent: agent2 }, { oldPresence: 'Available', newPresence: 'Busy' });
}

serverForSuite(async (started) => {
  server = started;
  await logFixture();
});

type Rows = Record<string, unknown>[];
const query = (spec: Record<string, unknown>, token = reader) =>
  call<{ rows: Rows; meta: Record<string, unknown> }>(`${server.url}/api/v1/query`, { token, body: spec });
/** The whole fixture: from T0 to the hour after E. */
const RANGE = { from: at(0), to: at(2 * 3600) };

async function rowsOf(spec: Record<string, unknown>): Promise<Rows> {
  const answer = await query({ ...RANGE, ...spec });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.rows;
}

async function one(measure: unknown): Promise<unknown> {
  const [row] = await rowsOf({ measures: [measure] });
  assert.ok(row);
  return Object.values(row)[0];
}

const close = (actual: unknown, expected: number, what: string) => {
  assert.equal(typeof actual, 'number', `${what}: ${JSON.stringify(actual)}`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-6, `${what}: ${actual} is not ${expected}`);
};

describe('contact-center KPIs over a hand-built fixture', () => {
  it('handle, hold and wrap-up time: per session leaves the open session out; per conversation sums across the transfer', async () => {
    close(await one('averageHandleTime'), (300 + 400 + 300) / 3, 'per session');
    close(await one('averageConversationHandleTime'), (700 + 300) / 2, 'per conversation');
    assert.equal(await one('sessions'), 4);
    // Hold: 80 s in agent 1's session, none in the two others handled; D's open hold is in an open session.
    close(await one('averageHoldTime'), (80 + 0 + 0) / 3, 'hold per handled session');
    close(await one({ kpi: 'averageHoldTime', statistic: 'max' }), 80, 'the longest hold');
    close(await one('averageWrapUpTime'), (30 + 50) / 2, 'wrap-up');
    assert.equal(await one('openSessions'), 1);
  });

  it('speed to answer and first response time are different events; durations have percentiles', async () => {
    close(await one('averageSpeedToAnswer'), (15 + 40 + 6) / 3, 'speed to answer');
    close(await one('averageFirstResponseTime'), (45 + 100 + 16) / 3, 'first response');
    // Percentiles of durations, continuous: of 6, 15 and 40 s, p90 lies 80% of the way from 15 to 40.
    const [row] = await rowsOf({
      measures: ['min', 'p50', 'p90', 'max'].map((statistic) => ({
        kpi: 'averageSpeedToAnswer',
        statistic,
        as: statistic,
      })),
    });
    assert.deepEqual(row, { min: 6, p50: 15, p90: 15 + 0.8 * 25, max: 40 });
  });

  it('abandonment rate: the short abandon, the threshold and the denominator are configurable and shown', async () => {
    close(await one('abandonmentRate'), 100 * (1 / 5), 'queued, without short abandons');
    close(await one({ kpi: 'abandonmentRate', shortAbandonSeconds: 5 }), 100 * (2 / 5), 'threshold under B');
    close(await one({ kpi: 'abandonmentRate', excludeShortAbandons: false }), 100 * (2 / 5), 'all abandons');
    close(
      await one({ kpi: 'abandonmentRate', denominator: 'answeredAndAbandoned' }),
      100 * (1 / 4),
      'answered + abandoned, without short abandons',
    );
    close(
      await one({ kpi: 'abandonmentRate', denominator: 'answeredAndAbandoned', excludeShortAbandons: false }),
      100 * (2 / 5),
      'answered + abandoned',
    );
    assert.equal(await one('abandonedConversations'), 2);
    assert.equal(await one('shortAbandonedConversations'), 1);
    const answer = await query({
      ...RANGE,
      measures: [
        'abandonmentRate',
        { kpi: 'abandonmentRate', denominator: 'answeredAndAbandoned', shortAbandonSeconds: 5, as: 'google' },
      ],
    });
    assert.deepEqual((answer.body.meta.kpis as Record<string, unknown>).abandonmentRate, {
      kpi: 'abandonmentRate',
      unit: 'conversation',
      valueUnit: 'percent',
      parameters: { denominator: 'queued', shortAbandonSeconds: 20, excludeShortAbandons: true },
    });
    assert.deepEqual((answer.body.meta.kpis as Record<string, { parameters: unknown }>).google?.parameters, {
      denominator: 'answeredAndAbandoned',
      shortAbandonSeconds: 5,
      excludeShortAbandons: true,
    });
    close(answer.body.rows[0]?.google, 100 * (2 / 5), 'B is not short at 5 s');
  });

  it('service level at X seconds, with the abandons the vendors disagree on', async () => {
    close(await one('serviceLevel'), 100 * (2 / 4), 'A and E within 20 s, of A, C, D, E');
    close(await one({ kpi: 'serviceLevel', seconds: 10 }), 100 * (1 / 4), 'only E within 10 s');
    close(await one({ kpi: 'serviceLevel', abandons: 'exclude' }), 100 * (2 / 3), 'answered only');
    close(await one({ kpi: 'serviceLevel', abandons: 'include' }), 100 * (2 / 5), 'every abandon');
  });

  it('transfer rate per session and per conversation', async () => {
    close(await one('sessionTransferRate'), 100 * (1 / 3), 'one of three handled sessions');
    close(await one('conversationTransferRate'), 100 * (1 / 3), 'one of three answered conversations');
  });

  it('notification acceptance rate and response time (the timeout counts as answered, not timed)', async () => {
    close(await one('notificationAcceptanceRate'), 100 * (4 / 6), 'acceptance');
    close(await one('averageNotificationResponseTime'), (5 + 10 + 4 + 30 + 4) / 5, 'response time');
    const rows = await rowsOf({ measures: ['notificationAcceptanceRate'], dimensions: ['participantId'] });
    assert.deepEqual(rows, [
      { participantId: agent2, notificationAcceptanceRate: 100 },
      { participantId: agent1, notificationAcceptanceRate: 50 },
      { participantId: agent3, notificationAcceptanceRate: 0 },
    ]);
  });

  it('conversations and sessions per agent and per channel, with handle time, in one answer', async () => {
    const rows = await rowsOf({
      measures: ['conversations', 'sessions', 'averageHandleTime'],
      dimensions: ['participantId'],
      orderBy: [{ field: 'participantId' }],
    });
    assert.deepEqual(rows, [
      { participantId: agent1, conversations: 1, sessions: 1, averageHandleTime: 300 },
      { participantId: agent2, conversations: 2, sessions: 3, averageHandleTime: 350 },
      // B and C were never accepted: no agent answered them.
      { participantId: null, conversations: 2, sessions: 0, averageHandleTime: null },
    ]);
    const byChannel = await rowsOf({
      measures: ['conversations', 'abandonmentRate', 'distinctConversations', 'sessions', 'distinctSessions'],
      dimensions: ['channel'],
    });
    assert.deepEqual(byChannel, [
      {
        channel: 'chat',
        conversations: 3,
        abandonmentRate: 0,
        distinctConversations: 3,
        sessions: 4,
        distinctSessions: 4,
      },
      {
        channel: 'voice',
        conversations: 2,
        abandonmentRate: 50,
        distinctConversations: 2,
        sessions: 0,
        distinctSessions: 0,
      },
    ]);
  });

  it('time in each presence status, cut to the range, the open status running to its end', async () => {
    const answer = await query({
      from: at(0),
      to: at(1200),
      measures: ['presenceTime'],
      dimensions: ['newPresence', 'participantId'],
      orderBy: [{ field: 'participantId' }, { field: 'newPresence' }],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.rows, [
      { newPresence: 'Available', participantId: agent1, presenceTime: 600 },
      { newPresence: 'Away', participantId: agent1, presenceTime: 300 },
      { newPresence: 'Busy', participantId: agent1, presenceTime: 300 },
      { newPresence: 'Busy', participantId: agent2, presenceTime: 900 },
    ]);
  });

  it('breaks KPIs down by time bucket, queue and customData, and filters them', async () => {
    assert.deepEqual(await rowsOf({ measures: ['conversations'], granularity: 'hour' }), [
      { time: at(0), conversations: 4 },
      { time: at(3600), conversations: 1 },
    ]);
    assert.deepEqual(
      await rowsOf({ measures: ['conversations', 'averageSpeedToAnswer'], dimensions: ['queueName'] }),
      [
        { queueName: 'billing', conversations: 3, averageSpeedToAnswer: (15 + 40 + 6) / 3 },
        { queueName: 'support', conversations: 2, averageSpeedToAnswer: null },
      ],
    );
    assert.deepEqual(
      await rowsOf({
        measures: ['averageConversationHandleTime'],
        dimensions: ['customData.csat'],
        filters: [{ field: 'customData.csat', op: 'ne', value: null }],
      }),
      [
        { 'customData.csat': '5', averageConversationHandleTime: 700 },
        { 'customData.csat': '3', averageConversationHandleTime: 300 },
      ],
    );
    assert.deepEqual(
      await rowsOf({
        measures: ['conversations', 'abandonmentRate'],
        filters: [
          {
            or: [
              { field: 'channel', op: 'eq', value: 'voice' },
              { field: 'queueId', op: 'in', value: ['q-none'] },
            ],
          },
        ],
      }),
      [{ conversations: 2, abandonmentRate: 50 }],
    );
    assert.deepEqual(
      await rowsOf({
        measures: ['sessions'],
        filters: [{ field: 'participantId', op: 'contains', value: '-2' }],
      }),
      [{ sessions: 3 }],
    );
  });

  it('follows KPI events changed and deleted through the OData API, and events logged late', async () => {
    const range = { from: at(3 * 3600), to: at(4 * 3600) };
    const measures = [
      'conversations',
      'abandonedConversations',
      'shortAbandonedConversations',
      'averageSpeedToAnswer',
    ];
    const kpis = async () => (await query({ ...range, measures })).body.rows[0];
    await log(F, 3 * 3600, 'ConversationQueued');
    const ended = await log(F, 3 * 3600 + 30, 'ConversationEnded');
    assert.deepEqual(await kpis(), {
      conversations: 1,
      abandonedConversations: 1,
      shortAbandonedConversations: 0,
      averageSpeedToAnswer: null,
    });
    const record = `${server.url}/api/data/v9.1/msdyn_kpieventsdata(${ended})?org=${ORG}`;
    const patched = await call(record, {
      method: 'PATCH',
      token: server.masterKey,
      body: { msdyn_eventtimestamp: at(3 * 3600 + 10) },
    });
    assert.equal(patched.status, 204, JSON.stringify(patched.body));
    assert.equal((await kpis())?.shortAbandonedConversations, 1, 'the abandon moved inside the threshold');
    const removed = await call(record, { method: 'DELETE', token: server.masterKey });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.deepEqual(await kpis(), {
      conversations: 1,
      abandonedConversations: 0,
      shortAbandonedConversations: 0,
      averageSpeedToAnswer: null,
    });
    // Answered after all, by an event logged now for then.
    await log(F, 3 * 3600 + 50, 'SessionStarted', { session: 0 });
    assert.equal((await kpis())?.averageSpeedToAnswer, 50);
  });

  it('refuses KPI parameters and dimensions that do not apply, naming each', async () => {
    const violations = violationsOf(
      await query({
        ...RANGE,
        measures: [
          { kpi: 'abandonmentRate', denominator: 'offered' },
          { kpi: 'serviceLevel', seconds: 0, as: 'sl' },
          { kpi: 'averageHandleTime', per: 'call' },
          { kpi: 'handleTime' },
          'presenceTime',
        ],
        dimensions: ['queryText', 'channel'],
      }),
    );
    const named = violations.map((v) => [v.field, v.rule, v.received]);
    assert.deepEqual(named, [
      ['measures[0].denominator', 'enum', 'offered'],
      ['measures[1].seconds', 'range', 0],
      ['measures[2].per', 'unknownField', 'per'],
      ['measures[3].kpi', 'enum', 'handleTime'],
      ['dimensions[0]', 'kpiDimension', 'queryText'],
      ['dimensions[1]', 'kpiDimension', 'channel'],
    ]);
    assert.match(violations[5]?.message ?? '', /presenceTime counts presences/);
  });

  it('GET /api/v1/kpis lists every KPI with its definition, parameters and dimensions; it needs analytics:read', async () => {
    const answer = await call<{ kpis: Record<string, unknown>[] }>(`${server.url}/api/v1/kpis`, {
      token: reader,
    });
    assert.equal(answer.status, 200);
    const names = answer.body.kpis.map((k) => k.name);
    for (const name of ['averageHandleTime', 'abandonmentRate', 'serviceLevel', 'presenceTime']) {
      assert.ok(names.includes(name), name);
    }
    const abandonment = answer.body.kpis.find((k) => k.name === 'abandonmentRate') as Record<string, unknown>;
    assert.match(abandonment.definition as string, /shortAbandonSeconds/);
    assert.deepEqual(
      (abandonment.parameters as { name: string }[]).map((p) => p.name),
      ['denominator', 'shortAbandonSeconds', 'excludeShortAbandons'],
    );
    assert.ok((abandonment.dimensions as string[]).includes('queueName'));
    for (const kpi of answer.body.kpis) {
      assert.ok(typeof kpi.definition === 'string' && kpi.definition.length > 20, `${kpi.name} is defined`);
      assert.ok(typeof kpi.unitDefinition === 'string', `${kpi.name} says what it counts`);
    }
    errorOf(await call(`${server.url}/api/v1/kpis`, {}), 401, 'UNAUTHENTICATED');
    const writer = await createKey(server, ['analytics:write'], ORG);
    errorOf(await call(`${server.url}/api/v1/kpis`, { token: writer }), 403, 'FORBIDDEN');
  });

  it("uses the organization's own KPI defaults where a query sets none, and shows them", async () => {
    const settings = (kpiDefaults: unknown) =>
      call<Record<string, unknown>>(`${server.url}/api/v1/orgs/${ORG}`, {
        method: 'PATCH',
        token: server.masterKey,
        body: { kpiDefaults },
      });
    const refused = violationsOf(await settings({ shortAbandonSeconds: -1, statistic: 'p95', queue: 'x' }));
    assert.deepEqual(
      refused.map((v) => [v.field, v.rule, v.received]),
      [
        ['kpiDefaults.shortAbandonSeconds', 'range', -1],
        ['kpiDefaults.statistic', 'enum', 'p95'],
        ['kpiDefaults.queue', 'unknownField', 'queue'],
      ],
    );
    const set = await settings({ shortAbandonSeconds: 5, statistic: 'max' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.kpiDefaults, { shortAbandonSeconds: 5, statistic: 'max' });
    try {
      const answer = await query({
        ...RANGE,
        measures: [
          'abandonmentRate',
          { kpi: 'abandonmentRate', shortAbandonSeconds: 20, as: 'at20' },
          'averageSpeedToAnswer',
        ],
      });
      assert.deepEqual(answer.body.rows, [
        { abandonmentRate: 100 * (2 / 5), at20: 100 * (1 / 5), averageSpeedToAnswer: 40 },
      ]);
      const kpis = answer.body.meta.kpis as Record<string, { parameters: Record<string, unknown> }>;
      assert.equal(kpis.abandonmentRate?.parameters.shortAbandonSeconds, 5);
      assert.equal(kpis.at20?.parameters.shortAbandonSeconds, 20, 'the query wins');
      assert.equal(kpis.averageSpeedToAnswer?.parameters.statistic, 'max');
    } finally {
      assert.equal((await settings(null)).status, 200);
    }
    close(await one('abandonmentRate'), 100 * (1 / 5), 'back to the catalogue default');
  });

  it("answers KPIs of the credential's organization only", async () => {
    const otherReader = await createKey(server, ['analytics:read']);
    const answer = await query(
      { ...RANGE, measures: ['conversations', 'sessions', 'presenceTime'] },
      otherReader,
    );
    assert.equal(answer.status, 200);
    const [row] = answer.body.rows;
    assert.equal(row?.conversations, 0);
    assert.equal(row?.sessions, 0);
  });
});
