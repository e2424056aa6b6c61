/**
 * A chat conversation, end to end, as a channel provider logs it: through the JS API's HTTP form
 * (`runDesktopScenario`) or, for a provider without a desktop, through the OData entity API in the
 * required order (`runServerSideScenario`). The tests run both; so can you, against a running server:
 *
 *   OPENUA_MASTER_KEY=… npm run scenario:channel -- [http://127.0.0.1:8080]
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export interface ScenarioTarget {
  url: string;
  /** A credential with `admin` and `analytics:write` (the master key, or an admin key that also writes). */
  token: string;
}

/** What a run made, for checking it afterwards. */
export interface ScenarioRun {
  providerId: string;
  conversationId: string;
  providerSessionId: string;
  correlationId: string;
  agent: string;
  secondAgent: string;
  orderId: string;
  /** Each step's client time, ISO 8601. */
  times: Record<
    | 'created'
    | 'queued'
    | 'notificationDisplayed'
    | 'notificationAccepted'
    | 'sessionStarted'
    | 'orderLookup'
    | 'transfer'
    | 'sessionClosed',
    string
  >;
}

async function send(target: ScenarioTarget, method: string, path: string, body?: unknown) {
  const response = await fetch(new URL(path, target.url), {
    method,
    headers: {
      authorization: `Bearer ${target.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const answer = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
  return { answer, headers: response.headers };
}

/** Steps one minute apart, ending a minute ago, so every time is distinct and in the past. */
function timeline(): ScenarioRun['times'] {
  const steps = [
    'created',
    'queued',
    'notificationDisplayed',
    'notificationAccepted',
    'sessionStarted',
    'orderLookup',
    'transfer',
    'sessionClosed',
  ] as const;
  const start = Math.floor(Date.now() / 1000) * 1000 - (steps.length + 1) * 60_000;
  return Object.fromEntries(
    steps.map((step, i) => [step, new Date(start + i * 60_000).toISOString()]),
  ) as ScenarioRun['times'];
}

/** The provider, switched on, and the custom KPI the scenario logs (defined once per organization). */
async function prepare(target: ScenarioTarget, suffix: string): Promise<string> {
  const { answer: provider } = await send(target, 'POST', '/api/v1/providers', {
    name: `Contoso Chat ${suffix}`,
    label: 'Contoso Chat',
    enableAnalytics: false,
  });
  await send(target, 'PATCH', `/api/v1/providers/${provider.id}`, { enableAnalytics: true });
  const definitions = await send(target, 'GET', '/api/v1/kpi-definitions');
  if (!definitions.answer.items.some((d: { name: string }) => d.name === 'OrderLookup')) {
    await send(target, 'POST', '/api/v1/kpi-definitions', {
      name: 'OrderLookup',
      displayName: 'Order lookup',
      description: 'The agent looked up an order (entityName, entityRecordId)',
      eventType: 'Custom',
    });
  }
  return provider.id;
}

/** The agent desktop's calls: initLogAnalytics, then logAnalyticsEvent (v2 and v1 payloads). */
export async function runDesktopScenario(target: ScenarioTarget): Promise<ScenarioRun> {
  const suffix = randomUUID().slice(0, 8);
  const times = timeline();
  const providerId = await prepare(target, suffix);
  const run: ScenarioRun = {
    providerId,
    conversationId: `chat-${suffix}`,
    providerSessionId: `session-${suffix}`,
    correlationId: randomUUID(),
    agent: 'agent-alex',
    secondAgent: 'agent-sam',
    orderId: `order-${suffix}`,
    times,
  };
  const participant = (id: string, name: string, at: string, reason: string) => ({
    participantId: id,
    name,
    type: 'Agent',
    mode: 'Primary',
    addedTimestamp: at,
    assignReason: reason,
  });
  const conversation = (participants: unknown[]) => ({
    data: {
      conversation: {
        conversationId: run.conversationId,
        channel: 'chat',
        providerId,
        providerName: 'Contoso Chat',
        createdTimestamp: times.created,
        regionData: { city: 'Montréal', country: 'CA' },
        customData: [{ attribute: 'Customer Tier', value: 'gold' }],
        session: {
          providerSessionId: run.providerSessionId,
          channel: 'chat',
          createdTimestamp: times.created,
          queueAssignedTimestamp: times.queued,
          agentAssignedTimestamp: times.notificationAccepted,
          queueId: 'queue-support',
          queueName: 'Support',
          participants,
        },
      },
    },
    correlationId: run.correlationId,
  });
  const first = participant(run.agent, 'Alex', times.notificationDisplayed, 'Routed');
  await send(target, 'POST', '/api/v1/channel/initLogAnalytics', conversation([first]));

  const log = (eventName: string, data: Record<string, unknown>) =>
    send(target, 'POST', '/api/v1/channel/logAnalyticsEvent', {
      data,
      eventName,
      correlationId: run.correlationId,
    });
  // v2: providerSessionId and participantId.
  const v2 = { conversationId: run.conversationId, providerSessionId: run.providerSessionId };
  await log('NotificationDisplayed', {
    ...v2,
    participantId: run.agent,
    events: [{ kpiEventName: 'NotificationDisplayed', eventTimestamp: times.notificationDisplayed }],
  });
  await log('NotificationResponse', {
    ...v2,
    participantId: run.agent,
    events: [
      {
        kpiEventName: 'NotificationResponse',
        notificationResponseAction: 'Accept',
        eventTimestamp: times.notificationAccepted,
      },
    ],
  });
  await log('SessionStarted', {
    ...v2,
    participantId: run.agent,
    events: [{ kpiEventName: 'SessionStarted', eventTimestamp: times.sessionStarted }],
  });
  // v1: sessionId and eventParticipantId name the same things.
  await log('OrderLookup', {
    conversationId: run.conversationId,
    sessionId: run.providerSessionId,
    eventParticipantId: run.agent,
    events: [
      {
        kpiEventName: 'OrderLookup',
        kpiEventReason: 'Customer asked where the order is',
        entityName: 'salesorder',
        entityRecordId: run.orderId,
        eventTimestamp: times.orderLookup,
        customData: [{ attribute: 'Order Status', value: 'shipped' }],
      },
    ],
  });
  // The transfer: the same conversation again, now with a second agent, and the event that says why.
  const second = participant(run.secondAgent, 'Sam', times.transfer, 'Transfer');
  await send(target, 'POST', '/api/v1/channel/initLogAnalytics', conversation([first, second]));
  await log('ParticipantAdded', {
    ...v2,
    participantId: run.secondAgent,
    events: [
      { kpiEventName: 'ParticipantAdded', kpiEventReason: 'Transfer', eventTimestamp: times.transfer },
    ],
  });
  await log('SessionClosed', {
    ...v2,
    participantId: run.secondAgent,
    events: [{ kpiEventName: 'SessionClosed', eventTimestamp: times.sessionClosed }],
  });
  return run;
}

/**
 * A provider's server logging the same conversation through the OData API, in the order the reference
 * requires: Conversation Data, Session Data, Session Participant Data, then KPI Event Data.
 */
export async function runServerSideScenario(
  target: ScenarioTarget,
): Promise<ScenarioRun & { ids: string[] }> {
  const suffix = randomUUID().slice(0, 8);
  const times = timeline();
  const providerId = await prepare(target, suffix);
  const run: ScenarioRun = {
    providerId,
    conversationId: `server-chat-${suffix}`,
    providerSessionId: `server-session-${suffix}`,
    correlationId: randomUUID(),
    agent: 'agent-alex',
    secondAgent: 'agent-sam',
    orderId: `order-${suffix}`,
    times,
  };
  const ids: string[] = [];
  const create = async (set: string, body: Record<string, unknown>) => {
    const { headers } = await send(target, 'POST', `/api/data/v9.1/${set}`, body);
    const entityId = headers.get('OData-EntityId') ?? '';
    ids.push(/\(([^)]+)\)$/.exec(entityId)?.[1] ?? '');
  };
  const place = { msdyn_conversationid: run.conversationId, msdyn_providersessionid: run.providerSessionId };
  await create('msdyn_conversationsdata', {
    msdyn_conversationid: run.conversationId,
    msdyn_channel: 'chat',
    msdyn_providerid: providerId,
    msdyn_conversationtimestamp: times.created,
    openua_correlationid: run.correlationId,
  });
  await create('msdyn_sessionsdata', {
    ...place,
    msdyn_sessionchannel: 'chat',
    msdyn_sessioncreatedtimestamp: times.created,
    msdyn_sessionqueueassignedtimestamp: times.queued,
    msdyn_queuename: 'Support',
    openua_correlationid: run.correlationId,
  });
  for (const [agent, at, reason] of [
    [run.agent, times.notificationDisplayed, 'Routed'],
    [run.secondAgent, times.transfer, 'Transfer'],
  ] as const) {
    await create('msdyn_sessionparticipantsdata', {
      ...place,
      msdyn_participantid: agent,
      msdyn_participanttype: 'Agent',
      msdyn_participantaddedtimestamp: at,
      msdyn_participantassignreason: reason,
      openua_correlationid: run.correlationId,
    });
  }
  const kpi = (name: string, at: string, participant: string, extra: Record<string, unknown> = {}) =>
    create('msdyn_kpieventsdata', {
      ...place,
      msdyn_participantid: participant,
      msdyn_kpieventname: name,
      msdyn_eventtimestamp: at,
      openua_correlationid: run.correlationId,
      ...extra,
    });
  await kpi('NotificationDisplayed', times.notificationDisplayed, run.agent);
  await kpi('NotificationResponse', times.notificationAccepted, run.agent, {
    openua_notificationresponseaction: 'Accept',
  });
  await kpi('SessionStarted', times.sessionStarted, run.agent);
  await kpi('OrderLookup', times.orderLookup, run.agent, {
    openua_entityname: 'salesorder',
    openua_entityrecordid: run.orderId,
    msdyn_customattribute1: 'shipped',
  });
  await kpi('ParticipantAdded', times.transfer, run.secondAgent, { msdyn_kpieventreason: 'Transfer' });
  await kpi('SessionClosed', times.sessionClosed, run.secondAgent);
  return { ...run, ids };
}

async function main(): Promise<void> {
  const url = process.argv[2] ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`;
  const token = process.env.OPENUA_MASTER_KEY;
  if (!token) throw new Error('Set OPENUA_MASTER_KEY (the server must run with the same one)');
  const run = await runDesktopScenario({ url, token });
  const show = async (path: string) =>
    console.log(path, JSON.stringify((await send({ url, token }, 'GET', path)).answer, null, 2));
  await show(
    `/api/data/v9.1/msdyn_kpieventsdata?$filter=msdyn_conversationid eq '${run.conversationId}'&$orderby=msdyn_eventtimestamp&$select=msdyn_kpieventname,msdyn_eventtimestamp,msdyn_participantid&$count=true`,
  );
  await show(`/api/v1/correlations/${run.correlationId}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
