import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  runDesktopScenario,
  runServerSideScenario,
  type ScenarioRun,
} from '../../examples/channel-scenario.ts';
import { filter, ODATA, odataErrorOf, odataList } from '../helpers/channel.ts';
import { call, serverForSuite, type TestServer } from '../helpers/server.ts';

/** The README's scenario: one chat conversation from incoming notification to close, checked end to end. */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const FIRST_PARTY_ORDER = [
  'NotificationDisplayed',
  'NotificationResponse',
  'SessionStarted',
  'OrderLookup',
  'ParticipantAdded',
  'SessionClosed',
];

/** The KPI events of a run, read through OData with $filter, $orderby and $select. */
async function kpiEventsOf(run: ScenarioRun) {
  return odataList(
    server,
    'msdyn_kpieventsdata',
    `${filter(`msdyn_conversationid eq '${run.conversationId}'`)}&$orderby=msdyn_eventtimestamp asc`,
  );
}

/** What both ways of logging must have produced. */
async function assertConversation(run: ScenarioRun) {
  const [conversation] = await odataList(
    server,
    'msdyn_conversationsdata',
    filter(`msdyn_conversationid eq '${run.conversationId}'`),
  );
  assert.ok(conversation, 'the conversation record exists');
  assert.equal(conversation.msdyn_providerid, run.providerId);
  assert.equal(conversation.msdyn_conversationtimestamp, run.times.created);

  const sessions = await odataList(
    server,
    'msdyn_sessionsdata',
    filter(`msdyn_conversationid eq '${run.conversationId}'`),
  );
  assert.equal(sessions.length, 1);
  const [session] = sessions;
  assert.equal(session?.msdyn_providersessionid, run.providerSessionId);
  assert.equal(session?.msdyn_sessionqueueassignedtimestamp, run.times.queued);

  const participants = await odataList(
    server,
    'msdyn_sessionparticipantsdata',
    `${filter(`msdyn_providersessionid eq '${run.providerSessionId}'`)}&$orderby=msdyn_participantaddedtimestamp`,
  );
  assert.deepEqual(
    participants.map((p) => [
      p.msdyn_participantid,
      p.msdyn_participantaddedtimestamp,
      p.msdyn_participantassignreason,
    ]),
    [
      [run.agent, run.times.notificationDisplayed, 'Routed'],
      [run.secondAgent, run.times.transfer, 'Transfer'],
    ],
    'the transfer added a second participant',
  );

  const events = await kpiEventsOf(run);
  assert.deepEqual(
    events.map((e) => e.msdyn_kpieventname),
    FIRST_PARTY_ORDER,
  );
  assert.deepEqual(
    events.map((e) => e.msdyn_eventtimestamp),
    [
      run.times.notificationDisplayed,
      run.times.notificationAccepted,
      run.times.sessionStarted,
      run.times.orderLookup,
      run.times.transfer,
      run.times.sessionClosed,
    ],
  );
  for (const event of events) {
    // Links: every event points at the session record, the provider and its definition.
    assert.equal(event.msdyn_sessionid, session?.msdyn_sessiondataid);
    assert.equal(event.msdyn_providerid, run.providerId);
    assert.equal(typeof event.msdyn_kpieventid, 'string', `${event.msdyn_kpieventname} has its definition`);
    assert.equal(event.openua_correlationid, run.correlationId);
  }
  assert.equal(events[1]?.openua_notificationresponseaction, 'Accept');
  assert.deepEqual(
    events.map((e) => e.msdyn_participantid),
    [run.agent, run.agent, run.agent, run.agent, run.secondAgent, run.secondAgent],
  );
  const lookup = events[3];
  assert.equal(lookup?.openua_entityname, 'salesorder');
  assert.equal(lookup?.openua_entityrecordid, run.orderId);
  const [definition] = await odataList(
    server,
    'msdyn_kpieventdefinitions',
    filter("msdyn_name eq 'OrderLookup'"),
  );
  assert.equal(lookup?.msdyn_kpieventid, definition?.msdyn_kpieventdefinitionid);

  // The CRM link is queryable on its own.
  const byRecord = await odataList(
    server,
    'msdyn_kpieventsdata',
    filter(`openua_entityname eq 'salesorder' and openua_entityrecordid eq '${run.orderId}'`),
  );
  assert.deepEqual(
    byRecord.map((e) => e.msdyn_conversationid),
    [run.conversationId],
  );
}

/** The correlation route: every record and event with the id, in time order. */
async function assertCorrelation(run: ScenarioRun) {
  const answer = await call<{ items: { kind: string; time: string; record: Record<string, unknown> }[] }>(
    `${server.url}/api/v1/correlations/${run.correlationId}`,
    { token: server.masterKey },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { items } = answer.body;
  const times = items.map((i) => i.time);
  assert.deepEqual(times, [...times].sort(), 'in time order');
  assert.deepEqual(
    items.map((i) => i.kind),
    [
      'conversation',
      'session',
      'participant',
      'kpiEvent',
      'kpiEvent',
      'kpiEvent',
      'kpiEvent',
      'participant',
      'kpiEvent',
      'kpiEvent',
    ],
  );
  assert.deepEqual(
    items.filter((i) => i.kind === 'kpiEvent').map((i) => i.record.eventType),
    FIRST_PARTY_ORDER,
  );
  assert.equal(items[0]?.record.conversationId, run.conversationId);
  assert.equal(items[0]?.time, run.times.created);
  assert.equal(items.at(-1)?.time, run.times.sessionClosed);
}

describe('the channel scenario', () => {
  it('from the agent desktop (initLogAnalytics, logAnalyticsEvent v1 and v2): timestamps and links', async () => {
    const run = await runDesktopScenario({ url: server.url, token: server.masterKey });
    await assertConversation(run);
    await assertCorrelation(run);
    // The OrderLookup item's customData went into the same key/value store as UA customData.
    const events = await call<{ events: Record<string, unknown>[] }>(
      `${server.url}/api/v1/events?eventType=OrderLookup&limit=10000`,
      { token: server.masterKey },
    );
    const lookup = events.body.events.find((e) => e.conversationId === run.conversationId);
    assert.deepEqual(lookup?.customData, { order_status: 'shipped' });
    assert.equal(lookup?.category, 'kpi');
    assert.equal(lookup?.eventValue, 'Customer asked where the order is');
  });

  it('from a server, through the OData API in the required order', async () => {
    const run = await runServerSideScenario({ url: server.url, token: server.masterKey });
    assert.equal(run.ids.length, 10, 'every create answered an OData-EntityId');
    await assertConversation(run);
    await assertCorrelation(run);
    const [lookup] = await odataList(
      server,
      'msdyn_kpieventsdata',
      filter(`msdyn_kpieventname eq 'OrderLookup' and msdyn_conversationid eq '${run.conversationId}'`),
    );
    assert.equal(lookup?.msdyn_customattribute1, 'shipped');
  });

  it('refuses KPI event data before its session exists, and stores nothing', async () => {
    const run = await runServerSideScenario({ url: server.url, token: server.masterKey });
    const before = await kpiEventsOf(run);
    const answer = await call(`${server.url}${ODATA}/msdyn_kpieventsdata`, {
      token: server.masterKey,
      body: {
        msdyn_conversationid: run.conversationId,
        msdyn_providersessionid: 'a-session-not-created-yet',
        msdyn_participantid: run.agent,
        msdyn_kpieventname: 'SessionStarted',
      },
    });
    const error = odataErrorOf(answer, 400, 'INVALID_REQUEST');
    assert.match(error.message, /msdyn_providersessionid/);
    assert.deepEqual(
      error.violations?.map((v) => [v.field, v.rule, v.received]),
      [['msdyn_providersessionid', 'reference', 'a-session-not-created-yet']],
    );
    assert.equal((await kpiEventsOf(run)).length, before.length, 'nothing stored');

    const noConversation = await call(`${server.url}${ODATA}/msdyn_sessionsdata`, {
      token: server.masterKey,
      body: { msdyn_conversationid: 'never-created', msdyn_providersessionid: 's' },
    });
    assert.deepEqual(
      odataErrorOf(noConversation, 400, 'INVALID_REQUEST').violations?.map((v) => [v.field, v.rule]),
      [['msdyn_conversationid', 'reference']],
    );
  });
});
