import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FIRST_PARTY_KPI_EVENTS } from '../../../src/model/first-party-kpi-events.ts';
import { createProvider, filter, ODATA, unique } from '../../../test/helpers/channel.ts';
import { call, serverForSuite, type TestServer } from '../../../test/helpers/server.ts';
import {
  type ChannelClient,
  type ChannelOptions,
  createChannelClient,
  createDesktop,
  installCIFramework,
  OpenUAError,
} from '../src/node.ts';

/**
 * The Channel Analytics API of the SDK against a real OpenUA: the channel client's initLogAnalytics (sent
 * at once) and logAnalyticsEvent (batch items of kind `kpi`), the drop-in `Microsoft.CIFramework`, and the
 * agent-desktop helper, whose events the KPI catalogue counts.
 */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const channels: ChannelClient[] = [];
after(() => Promise.all(channels.map((channel) => channel.client.close())));

const channelClient = (options: Partial<ChannelOptions> = {}) => {
  const made = createChannelClient({
    endpoint: server.url,
    token: server.masterKey,
    flushIntervalMs: 20,
    ...options,
  } as ChannelOptions);
  channels.push(made);
  return made;
};

/** The bodies the SDK posts to the channel and batch routes, as sent. */
const posted: { path: string; body: Record<string, unknown> }[] = [];
const realFetch = globalThis.fetch;
before(() => {
  globalThis.fetch = (input, init) => {
    const { pathname } = new URL(String(input));
    if (/^\/api\/v1\/(channel|events\/batch)/.test(pathname) && typeof init?.body === 'string') {
      posted.push({ path: pathname, body: JSON.parse(init.body) });
    }
    return realFetch(input, init);
  };
});
after(() => {
  globalThis.fetch = realFetch;
});

const newIds = () => ({
  conversationId: unique('conversation'),
  providerSessionId: unique('session'),
  participantId: unique('agent'),
});
type Ids = ReturnType<typeof newIds>;

/** The framework's initLogAnalytics data (latest shape), with one agent. */
const conversation = (ids: Ids, extra: Record<string, unknown> = {}) => ({
  conversation: {
    conversationId: ids.conversationId,
    channel: 'chat',
    ...extra,
    session: {
      providerSessionId: ids.providerSessionId,
      queueName: 'billing',
      participants: [{ participantId: ids.participantId, name: 'Alex', type: 'Agent' }],
    },
  },
});

/** A v2 logAnalyticsEvent payload for the conversation's session and agent. */
const events = (ids: Ids, ...items: Record<string, unknown>[]) => ({ ...ids, events: items });

const UUID = /^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/;

async function odata(set: string, expression: string): Promise<Record<string, unknown>[]> {
  const answer = await call<{ value: Record<string, unknown>[] }>(
    `${server.url}${ODATA}/${set}${filter(expression)}`,
    { token: server.masterKey },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.value;
}

/** The conversation's KPI events through OData, once there are `count` (acknowledged events load within moments). */
async function kpiEvents(conversationId: string, count: number) {
  const read = () => odata('msdyn_kpieventsdata', `msdyn_conversationid eq '${conversationId}'`);
  const deadline = Date.now() + 10_000;
  while ((await read()).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return read();
}

const conversationRecord = async (conversationId: string) =>
  (await odata('msdyn_conversationsdata', `msdyn_conversationid eq '${conversationId}'`))[0];

/** The OpenUAError a promise rejects with. */
async function refusal(promise: Promise<unknown>): Promise<OpenUAError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  assert.ok('error' in outcome, `expected a rejection, got ${JSON.stringify(outcome)}`);
  assert.ok(outcome.error instanceof OpenUAError, String(outcome.error));
  return outcome.error;
}

const violations = (error: OpenUAError) => error.violations.map(({ field, rule }) => ({ field, rule }));

describe('the channel client', () => {
  it("takes the framework's JSON strings and answers the server's result strings; readable through OData", async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    const channel = channelClient();
    const cid = randomUUID();
    const initialized = await channel.initLogAnalytics(
      JSON.stringify(conversation(ids, { providerId })),
      cid,
    );
    assert.equal(
      initialized,
      `initLogAnalytics succeeded: conversation ${ids.conversationId}, session ${ids.providerSessionId}, ` +
        '1 participant(s); 3 record(s) written',
    );
    const started = await channel.logAnalyticsEvent(
      JSON.stringify(events(ids, { kpiEventName: 'SessionStarted' })),
      'SessionStarted',
      cid,
    );
    assert.equal(
      started,
      `logAnalyticsEvent succeeded: 1 KPI event(s) logged for conversation ${ids.conversationId}`,
    );
    // An object, in v1's names, with two events: each its own batch item, one answer for the call.
    const tabs = await channel.logAnalyticsEvent(
      {
        conversationId: ids.conversationId,
        sessionId: ids.providerSessionId,
        eventParticipantId: ids.participantId,
        events: [
          { kpiEventName: 'TabOpened', tabId: 'tab-1', tabName: 'Orders' },
          { kpiEventName: 'TabClosed', tabId: 'tab-1', tabName: 'Orders' },
        ],
      },
      'TabOpened',
      cid,
    );
    assert.equal(
      tabs,
      `logAnalyticsEvent succeeded: 2 KPI event(s) logged for conversation ${ids.conversationId}`,
    );

    assert.equal((await conversationRecord(ids.conversationId))?.openua_correlationid, cid);
    const stored = await kpiEvents(ids.conversationId, 3);
    assert.deepEqual(stored.map((e) => e.msdyn_kpieventname).sort(), [
      'SessionStarted',
      'TabClosed',
      'TabOpened',
    ]);
    for (const event of stored) {
      assert.equal(event.openua_correlationid, cid);
      assert.equal(event.msdyn_providersessionid, ids.providerSessionId);
      assert.equal(event.msdyn_participantid, ids.participantId);
      assert.equal(event.msdyn_providerid, providerId);
      assert.ok(event.msdyn_eventtimestamp, 'stamped with the time of the call');
    }
    const batched = posted.filter((p) => p.path === '/api/v1/events/batch');
    const items = batched
      .flatMap((p) => p.body.events as Record<string, unknown>[])
      .filter((item) => (item.data as { conversationId?: string }).conversationId === ids.conversationId);
    assert.equal(items.length, 3, 'sent as batch items');
    assert.ok(items.every((item) => item.kind === 'kpi' && UUID.test(String(item.eventId))));
    assert.equal(new Set(items.map((item) => item.eventId)).size, 3, 'each with its own idempotency key');
  });

  it('makes a correlation id when none is given: one per call, kept on its records and events', async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    const channel = channelClient({ providerId });
    const from = posted.length;
    await channel.initLogAnalytics(conversation(ids));
    await channel.logAnalyticsEvent(
      events(ids, { kpiEventName: 'SessionStarted' }, { kpiEventName: 'SessionClosed' }),
      'SessionStarted',
    );
    const init = posted.slice(from).find((p) => p.path === '/api/v1/channel/initLogAnalytics');
    const initId = String(init?.body.correlationId);
    assert.match(initId, UUID, 'made by the SDK, not left to the server');
    assert.equal((await conversationRecord(ids.conversationId))?.openua_correlationid, initId);
    const stored = await kpiEvents(ids.conversationId, 2);
    const [logId, ...others] = stored.map((e) => String(e.openua_correlationid));
    assert.match(String(logId), UUID);
    assert.notEqual(logId, initId, 'each call its own');
    assert.deepEqual(others, [logId], 'one for every event of a call');
  });

  it('logs events queued while their initLogAnalytics is on its way after it', async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    const channel = channelClient({ providerId });
    const [initialized, logged] = await Promise.all([
      channel.initLogAnalytics(conversation(ids)),
      channel.logAnalyticsEvent(
        events(ids, { kpiEventName: 'NotificationReceived' }),
        'NotificationReceived',
      ),
    ]);
    assert.match(initialized, /^initLogAnalytics succeeded/);
    assert.match(logged, /^logAnalyticsEvent succeeded: 1 KPI event/);
  });

  it('fills in the provider when the payload names none, and keeps the one it names', async () => {
    const [own, other] = [await createProvider(server), await createProvider(server)];
    const channel = channelClient({ providerId: own });
    const filled = newIds();
    await channel.initLogAnalytics(JSON.stringify(conversation(filled)));
    assert.equal((await conversationRecord(filled.conversationId))?.msdyn_providerid, own);
    const named = newIds();
    // The earlier shape's name for it counts as naming one.
    await channel.initLogAnalytics(conversation(named, { externalProviderId: other }));
    assert.equal((await conversationRecord(named.conversationId))?.msdyn_providerid, other);
  });

  it('answers a replayed event (same eventId) as logged before, not logged again', async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    const channel = channelClient({ providerId });
    await channel.initLogAnalytics(conversation(ids));
    const payload = events(ids, { kpiEventName: 'SessionStarted', eventId: `started-${ids.conversationId}` });
    assert.match(await channel.logAnalyticsEvent(payload, 'SessionStarted'), /: 1 KPI event\(s\) logged/);
    assert.match(await channel.logAnalyticsEvent(payload, 'SessionStarted'), /: 0 KPI event\(s\) logged/);
    assert.equal((await kpiEvents(ids.conversationId, 1)).length, 1);
  });
});

describe("the channel client's refusals: typed, naming the field, the rule or the record", () => {
  it('a KPI event of a conversation never initialised: the record it refers to', async () => {
    const channel = channelClient();
    const error = await refusal(
      channel.logAnalyticsEvent(events(newIds(), { kpiEventName: 'SessionStarted' }), 'SessionStarted'),
    );
    assert.equal(error.code, 'REJECTED');
    const [violation] = error.violations;
    assert.deepEqual(
      { field: violation?.field, rule: violation?.rule, limit: violation?.limit },
      { field: 'data.conversationId', rule: 'reference', limit: 'msdyn_conversationsdata' },
    );
    assert.match(error.message, /data\.conversationId/);
  });

  it('an event name without a definition, and an event of several refused: named in the whole payload', async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    const channel = channelClient({ providerId });
    await channel.initLogAnalytics(conversation(ids));
    const unknown = await refusal(channel.logAnalyticsEvent(events(ids, {}), 'NoSuchKpiEvent'));
    assert.deepEqual(violations(unknown), [{ field: 'eventName', rule: 'kpiEventDefinition' }]);
    const longAgo = new Date(Date.now() - 90 * 86_400_000).toISOString();
    const mixed = await refusal(
      channel.logAnalyticsEvent(
        events(
          ids,
          { kpiEventName: 'SessionStarted' },
          { kpiEventName: 'HoldStarted', eventTimestamp: longAgo },
          { kpiEventName: 'NoSuchKpiEvent' },
        ),
        'SessionStarted',
      ),
    );
    assert.equal(mixed.code, 'REJECTED');
    assert.deepEqual(violations(mixed), [
      { field: 'data.events[1].eventTimestamp', rule: 'maxEventAge' },
      { field: 'data.events[2].kpiEventName', rule: 'kpiEventDefinition' },
    ]);
    // Each event is its own batch item: the one that passed is stored.
    assert.deepEqual(
      (await kpiEvents(ids.conversationId, 1)).map((e) => e.msdyn_kpieventname),
      ['SessionStarted'],
    );
  });

  it("initLogAnalytics: the server's 400 with every violation; data that is not JSON, before sending", async () => {
    const channel = channelClient();
    const ids = newIds();
    const noProvider = await refusal(channel.initLogAnalytics(JSON.stringify(conversation(ids))));
    assert.equal(noProvider.status, 400);
    assert.equal(noProvider.code, 'INVALID_REQUEST');
    assert.deepEqual(violations(noProvider), [{ field: 'data.conversation.providerId', rule: 'required' }]);
    const badId = await refusal(channel.initLogAnalytics(conversation(ids), 'not-a-uuid'));
    assert.deepEqual(violations(badId), [{ field: 'correlationId', rule: 'format' }]);

    const from = posted.length;
    const notJson = await refusal(channel.initLogAnalytics('{"conversation": '));
    assert.equal(notJson.status, 0, 'refused by the SDK');
    assert.deepEqual(violations(notJson), [{ field: 'data', rule: 'json' }]);
    const notObject = await refusal(channel.logAnalyticsEvent('[1, 2]', 'SessionStarted'));
    assert.deepEqual(violations(notObject), [{ field: 'data', rule: 'type' }]);
    assert.equal(posted.length, from, 'nothing was sent');
  });
});

describe('installCIFramework', () => {
  after(() => {
    delete (globalThis as { Microsoft?: unknown }).Microsoft;
  });

  it("gives a provider's framework code a Microsoft.CIFramework on OpenUA, keeping the host's own members", async () => {
    const providerId = await createProvider(server);
    const host = { getEnvironment: () => 'host' };
    const page = globalThis as unknown as { Microsoft: { CIFramework: Record<string, unknown> } };
    page.Microsoft = { CIFramework: host };
    channels.push(
      installCIFramework({ endpoint: server.url, token: server.masterKey, providerId, flushIntervalMs: 20 }),
    );

    // ---- The provider's code, as written for the framework. ----
    const { CIFramework } = page.Microsoft as unknown as {
      CIFramework: {
        initLogAnalytics(data: string, correlationId?: string): Promise<string>;
        logAnalyticsEvent(data: string, eventName: string, correlationId?: string): Promise<string>;
        getEnvironment(): string;
      };
    };
    const ids = newIds();
    const cid = randomUUID();
    const initialized = await CIFramework.initLogAnalytics(JSON.stringify(conversation(ids)), cid);
    const outcomes: string[] = [];
    for (const eventName of ['NotificationReceived', 'NotificationAccepted', 'SessionStarted', 'Unknown']) {
      await CIFramework.logAnalyticsEvent(
        JSON.stringify(events(ids, { kpiEventName: eventName })),
        eventName,
        cid,
      ).then(
        (result) => outcomes.push(result),
        (error: OpenUAError) =>
          outcomes.push(`${error.code} ${error.violations[0]?.field} ${error.violations[0]?.rule}`),
      );
    }
    // ---- End of the provider's code. ----

    assert.equal(CIFramework, host, 'the same object, given the two calls');
    assert.equal(CIFramework.getEnvironment(), 'host');
    assert.equal(CIFramework.initLogAnalytics.length, 2);
    assert.equal(CIFramework.logAnalyticsEvent.length, 3);
    assert.match(initialized, /^initLogAnalytics succeeded/);
    assert.deepEqual(outcomes, [
      ...Array(3).fill(
        `logAnalyticsEvent succeeded: 1 KPI event(s) logged for conversation ${ids.conversationId}`,
      ),
      'REJECTED data.events[0].kpiEventName kpiEventDefinition',
    ]);
    assert.equal((await conversationRecord(ids.conversationId))?.msdyn_providerid, providerId, 'filled in');
    const stored = await kpiEvents(ids.conversationId, 3);
    assert.deepEqual(stored.map((e) => e.msdyn_kpieventname).sort(), [
      'NotificationAccepted',
      'NotificationReceived',
      'SessionStarted',
    ]);
    assert.ok(stored.every((e) => e.openua_correlationid === cid));
  });

  it('defines Microsoft.CIFramework on a page that has none', () => {
    delete (globalThis as { Microsoft?: unknown }).Microsoft;
    channels.push(installCIFramework({ endpoint: server.url, token: server.masterKey, providerId: 'any' }));
    const { CIFramework } = (globalThis as unknown as { Microsoft: { CIFramework: Record<string, unknown> } })
      .Microsoft;
    assert.deepEqual(Object.keys(CIFramework).sort(), ['initLogAnalytics', 'logAnalyticsEvent']);
  });
});

describe('the agent-desktop helper', () => {
  it('logs each moment as a first-party KPI event, which the KPI catalogue counts', async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    const channel = channelClient({ providerId });
    const correlationId = randomUUID();
    const from = new Date(Date.now() - 60_000).toISOString();
    await channel.initLogAnalytics(conversation(ids), correlationId);
    const desktop = createDesktop({ channel, ...ids, correlationId });
    await desktop.presenceChanged({ oldPresence: 'Available', newPresence: 'Busy' });
    await desktop.notificationReceived();
    await desktop.notificationAccepted();
    await desktop.sessionStarted();
    await desktop.tabOpened({ tabId: 'tab-1', tabName: 'Case 42' });
    await desktop.knowledgeArticleViewed({
      knowledgeArticleId: 'kb-42',
      knowledgeArticleName: 'Reset a password',
    });
    await desktop.tabClosed({ tabId: 'tab-1', tabName: 'Case 42' });
    await desktop.sessionFocusOut();
    const result = await desktop.sessionFocusIn();
    assert.equal(
      result,
      `logAnalyticsEvent succeeded: 1 KPI event(s) logged for conversation ${ids.conversationId}`,
    );
    await desktop.sessionClosed({ kpiEventReason: 'Resolved' });

    const stored = await kpiEvents(ids.conversationId, 10);
    const names = stored.map((e) => String(e.msdyn_kpieventname));
    assert.deepEqual(names.sort(), [
      'KnowledgeArticleViewed',
      'NotificationAccepted',
      'NotificationReceived',
      'PresenceChanged',
      'SessionClosed',
      'SessionFocusIn',
      'SessionFocusOut',
      'SessionStarted',
      'TabClosed',
      'TabOpened',
    ]);
    const firstParty = new Set(FIRST_PARTY_KPI_EVENTS.map((e) => e.name));
    assert.ok(
      names.every((name) => firstParty.has(name)),
      'the names the server knows as first-party',
    );
    const byName = new Map(stored.map((e) => [e.msdyn_kpieventname, e]));
    assert.equal(byName.get('KnowledgeArticleViewed')?.openua_knowledgearticleid, 'kb-42');
    assert.equal(byName.get('PresenceChanged')?.openua_newpresence, 'Busy');
    assert.equal(byName.get('TabOpened')?.openua_tabid, 'tab-1');
    assert.equal(byName.get('SessionClosed')?.msdyn_kpieventreason, 'Resolved');
    assert.ok(
      stored.every(
        (e) => e.openua_correlationid === correlationId && e.msdyn_participantid === ids.participantId,
      ),
    );

    const query = async (body: Record<string, unknown>) => {
      const answer = await call<{ rows: Record<string, unknown>[] }>(`${server.url}/api/v1/query`, {
        token: server.masterKey,
        body: { from, to: new Date(Date.now() + 60_000).toISOString(), ...body },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.rows;
    };
    const [row] = await query({
      measures: [
        'sessions',
        'sessionSwitches',
        'notificationAcceptanceRate',
        'averageHandleTime',
        'openSessions',
      ],
      filters: [{ field: 'providerId', op: 'eq', value: providerId }],
    });
    assert.equal(row?.sessions, 1, JSON.stringify(row));
    assert.equal(row?.sessionSwitches, 1, 'SessionFocusOut then SessionFocusIn: one switch');
    assert.equal(row?.notificationAcceptanceRate, 100);
    assert.equal(row?.openSessions, 0);
    assert.equal(typeof row?.averageHandleTime, 'number');
    const presence = await query({
      measures: ['presenceTime'],
      dimensions: ['newPresence'],
      filters: [{ field: 'participantId', op: 'eq', value: ids.participantId }],
    });
    assert.deepEqual(
      presence.map((p) => p.newPresence),
      ['Busy'],
    );
  });

  it('makes a channel client of its own from an endpoint and a token', async () => {
    const providerId = await createProvider(server);
    const ids = newIds();
    await channelClient({ providerId }).initLogAnalytics(conversation(ids));
    const desktop = createDesktop({
      endpoint: server.url,
      token: server.masterKey,
      flushIntervalMs: 20,
      ...ids,
    });
    channels.push(desktop.channel);
    await desktop.notificationReceived();
    await desktop.notificationRejected();
    const refused = await refusal(desktop.presenceChanged({ newPresence: 'x'.repeat(500) }));
    assert.equal(refused.violations[0]?.field, 'data.events[0].newPresence');
    assert.deepEqual((await kpiEvents(ids.conversationId, 2)).map((e) => e.msdyn_kpieventname).sort(), [
      'NotificationReceived',
      'NotificationRejected',
    ]);
  });
});
