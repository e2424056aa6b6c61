import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createProvider, INIT_PATH, LOG_PATH, ODATA } from '../helpers/channel.ts';
import { call, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * One story (a conversation, transferred once, and a second one its first agent switches to and back),
 * told with OpenUA's first-party names, with the framework's 2019 build's, with its later build's, and with a
 * mix of all three, each into an organization of its own. Every KPI of the catalogue must give the same
 * figures for all four; a few are also checked against values counted by hand from the story, so that
 * "the same" cannot mean "the same nothing".
 */

let server: TestServer;
const RUN = randomUUID().slice(0, 8);
const HOUR = 3600_000;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

const [agent1, agent2, agent3, agent4] = ['agent-1', 'agent-2', 'agent-3', 'agent-4'];
const X = { id: `X-${RUN}`, channel: 'chat', queue: 'billing' };
const Y = { id: `Y-${RUN}`, channel: 'voice', queue: 'support' };
const x1 = { conversation: X, id: `X-s1-${RUN}`, agent: agent1 };
const x2 = { conversation: X, id: `X-s2-${RUN}`, agent: agent4 };
const y1 = { conversation: Y, id: `Y-s1-${RUN}`, agent: agent1 };
type Session = typeof x1;

/** What happened, told in no one's names. */
type Step =
  | {
      t: number;
      kind: 'displayed' | 'accepted' | 'rejected' | 'timedOut';
      conversation: typeof X;
      /** The session the agent was offered the conversation in, as a participant. */
      session: Session;
      agent: string;
    }
  | { t: number; kind: 'switched'; from: Session; to: Session }
  | { t: number; kind: 'desktopLoaded' | 'desktopClosed'; session: Session }
  | {
      t: number;
      kind: 'own';
      name: string;
      conversation: typeof X;
      session?: Session;
      extra?: Record<string, unknown>;
    };

const own = (t: number, name: string, session: Session, extra?: Record<string, unknown>): Step => ({
  t,
  kind: 'own',
  name,
  conversation: session.conversation,
  session,
  ...(extra && { extra }),
});
const ofConversation = (t: number, name: string, conversation: typeof X): Step => ({
  t,
  kind: 'own',
  name,
  conversation,
});
const offer = (
  t: number,
  kind: 'displayed' | 'accepted' | 'rejected' | 'timedOut',
  session: Session,
  agent = session.agent,
): Step => ({ t, kind, conversation: session.conversation, session, agent });

const STORY: Step[] = [
  { t: -10, kind: 'desktopLoaded', session: x1 },
  ofConversation(0, 'ConversationQueued', X),
  // Agent 3's notification times out, agent 2 rejects hers, agent 1 accepts his; agent 4 takes the transfer.
  offer(5, 'displayed', x1, agent3),
  offer(25, 'timedOut', x1, agent3),
  offer(30, 'displayed', x1, agent2),
  offer(40, 'rejected', x1, agent2),
  offer(45, 'displayed', x1),
  offer(50, 'accepted', x1),
  own(50, 'SessionStarted', x1),
  own(60, 'FirstResponseSent', x1),
  // Y comes in; agent 1 takes it and its session takes the focus, then he switches back to X.
  ofConversation(100, 'ConversationQueued', Y),
  offer(105, 'displayed', y1),
  offer(110, 'accepted', y1),
  own(110, 'SessionStarted', y1),
  { t: 110, kind: 'switched', from: x1, to: y1 },
  { t: 200, kind: 'switched', from: y1, to: x1 },
  own(250, 'HoldStarted', x1),
  own(280, 'HoldEnded', x1),
  own(300, 'SessionClosed', x1, { kpiEventReason: 'Transfer' }),
  offer(305, 'displayed', x2),
  offer(310, 'accepted', x2),
  own(310, 'SessionStarted', x2),
  own(400, 'SessionClosed', y1),
  ofConversation(400, 'ConversationEnded', Y),
  own(550, 'WrapUpStarted', x2),
  own(600, 'WrapUpEnded', x2),
  own(600, 'SessionClosed', x2),
  ofConversation(600, 'ConversationEnded', X),
  { t: 700, kind: 'desktopClosed', session: x1 },
];

interface Logged {
  name: string;
  conversation: typeof X;
  session?: Session;
  agent?: string;
  extra?: Record<string, unknown>;
}

/** How one build of the desktop names a step: the events it logs for it. */
type Teller = (step: Step) => Logged[];

type Offer = Extract<Step, { agent: string }>;
type Switch = Extract<Step, { kind: 'switched' }>;
type Desktop = Extract<Step, { kind: 'desktopLoaded' | 'desktopClosed' }>;

/** The names a build gives the steps the desktop reports by itself; a step it has no name for logs nothing. */
interface Names {
  displayed: (step: Offer) => Logged[];
  accepted: (step: Offer) => Logged[];
  rejected: (step: Offer) => Logged[];
  timedOut: (step: Offer) => Logged[];
  switched: (step: Switch) => Logged[];
  desktopLoaded?: (step: Desktop) => Logged[];
  desktopClosed?: (step: Desktop) => Logged[];
}

/** A notification event of the offer's agent, under `name`. */
const offered =
  (name: string, extra?: Record<string, unknown>) =>
  (step: Offer): Logged[] => [
    {
      name,
      conversation: step.conversation,
      session: step.session,
      agent: step.agent,
      ...(extra && { extra }),
    },
  ];
/** An event of one session. */
const ofSession = (name: string, session: Session): Logged => ({
  name,
  conversation: session.conversation,
  session,
});
const switchedTo = (step: Switch) => [ofSession('SessionSwitched', step.to)];

/** A teller: the build's names for the desktop's steps; the provider's own events under OpenUA's names. */
function teller(names: Names): Teller {
  return (step) => {
    switch (step.kind) {
      case 'own':
        return [
          { name: step.name, conversation: step.conversation, session: step.session, extra: step.extra },
        ];
      case 'switched':
        return names.switched(step);
      case 'desktopLoaded':
      case 'desktopClosed':
        return names[step.kind]?.(step) ?? [];
      default:
        return names[step.kind](step);
    }
  };
}

const TELLERS: Record<string, Teller> = {
  openua: teller({
    displayed: offered('NotificationDisplayed'),
    accepted: offered('NotificationResponse', { notificationResponseAction: 'Accept' }),
    rejected: offered('NotificationResponse', { notificationResponseAction: 'Reject' }),
    timedOut: offered('NotificationResponse', { notificationResponseAction: 'Timeout' }),
    switched: switchedTo,
  }),
  // The 2019 build's own spelling of the response's action.
  cif2019: teller({
    displayed: offered('NotificationReceived'),
    accepted: offered('NotificationResponse', { notificationResponseAction: 'accepted' }),
    rejected: offered('NotificationResponse', { notificationResponseAction: 'rejected' }),
    timedOut: offered('NotificationTimedOut'),
    switched: switchedTo,
  }),
  cifLater: teller({
    displayed: offered('NotificationReceived'),
    accepted: offered('NotificationAccepted'),
    rejected: offered('NotificationRejected'),
    timedOut: offered('NotificationTimedOut'),
    switched: (step) => [ofSession('SessionFocusOut', step.from), ofSession('SessionFocusIn', step.to)],
    desktopLoaded: (step) => [ofSession('CifSessionStart', step.session)],
    desktopClosed: (step) => [ofSession('CifSessionEnd', step.session)],
  }),
};

/** Each step told by the next teller in turn: a desktop fleet on both builds, beside OpenUA's own names. */
const mixed: Teller = (() => {
  const tellers = Object.values(TELLERS);
  return (step: Step) => (tellers[STORY.indexOf(step) % tellers.length] as Teller)(step);
})();

const TELLINGS: Record<string, Teller> = { ...TELLERS, mixed };

async function tell(org: string, teller: Teller) {
  await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: org } });
  const providerId = await createProvider(server, { org });
  for (const session of [x1, x2, y1]) {
    const answer = await call(`${server.url}${INIT_PATH}?org=${org}`, {
      token: server.masterKey,
      body: {
        data: {
          conversation: {
            conversationId: session.conversation.id,
            providerId,
            channel: session.conversation.channel,
            session: {
              providerSessionId: session.id,
              queueName: session.conversation.queue,
              // Everyone offered the conversation takes part in its first session.
              participants: [session.agent, ...(session === x1 ? [agent2, agent3] : [])].map(
                (participantId) => ({ participantId, type: 'Agent' }),
              ),
            },
          },
        },
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  }
  for (const step of STORY) {
    for (const event of teller(step)) {
      const participantId = event.agent ?? event.session?.agent;
      const answer = await call(`${server.url}${LOG_PATH}?org=${org}`, {
        token: server.masterKey,
        body: {
          data: {
            conversationId: event.conversation.id,
            ...(event.session && { providerSessionId: event.session.id }),
            participantId,
            events: [{ kpiEventName: event.name, eventTimestamp: at(step.t), ...event.extra }],
          },
          eventName: event.name,
        },
      });
      assert.equal(answer.status, 200, `${org} ${event.name} at ${step.t}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual((answer.body as { flagged: string[] }).flagged, [], `${event.name} is first-party`);
    }
  }
}

/** The catalogue: each KPI with the dimensions it can be broken down by. */
let catalogue: { name: string; dimensions: string[] }[];

serverForSuite(async (started) => {
  server = started;
  for (const [name, teller] of Object.entries(TELLINGS)) await tell(`${name.toLowerCase()}-${RUN}`, teller);
  const answer = await call<{ kpis: typeof catalogue }>(`${server.url}/api/v1/kpis`, {
    token: server.masterKey,
  });
  catalogue = answer.body.kpis;
  assert.ok(catalogue.length >= 15, 'the whole catalogue');
});

/** Every KPI of the catalogue that can be broken down by `dimensions`, for one organization. */
async function figures(org: string, dimensions: string[] = []) {
  const measures = catalogue
    .filter((k) => dimensions.every((d) => k.dimensions.includes(d)))
    .map((k) => k.name);
  const answer = await call<{ rows: Record<string, unknown>[] }>(`${server.url}/api/v1/query?org=${org}`, {
    token: server.masterKey,
    body: {
      from: at(-3600),
      to: at(3600),
      measures,
      dimensions,
      orderBy: dimensions.map((field) => ({ field })),
    },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.rows;
}

describe("the framework's first-party KPI event names", () => {
  it("every organization knows both builds' names as active first-party definitions", async () => {
    const answer = await call<{ value: Record<string, unknown>[] }>(
      `${server.url}${ODATA}/msdyn_kpieventdefinitions?org=openua-${RUN}&$select=msdyn_name,openua_firstparty,statecode`,
      { token: server.masterKey },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const known = new Map(answer.body.value.map((d) => [d.msdyn_name, d]));
    for (const name of [
      'NotificationReceived',
      'NotificationResponse',
      'NotificationAccepted',
      'NotificationRejected',
      'NotificationTimedOut',
      'SessionStarted',
      'SessionSwitched',
      'SessionFocusIn',
      'SessionFocusOut',
      'SessionClosed',
      'CifSessionStart',
      'CifSessionEnd',
    ]) {
      assert.equal(known.get(name)?.openua_firstparty, true, name);
      assert.equal(known.get(name)?.statecode, 0, `${name} is active`);
    }
  });

  it("every KPI gives the same figures whichever names told the story, and the figures are the story's", async () => {
    const expected = await figures(`openua-${RUN}`);
    assert.equal(expected.length, 1);
    const row = expected[0] as Record<string, unknown>;
    // Counted by hand from STORY.
    assert.equal(row.conversations, 2);
    assert.equal(row.sessions, 3);
    assert.equal(row.sessionSwitches, 2, 'to Y, and back to X');
    assert.equal(row.averageSpeedToAnswer, (50 + 10) / 2);
    assert.equal(
      row.notificationAcceptanceRate,
      (100 * 3) / 5,
      'three accepted, one rejected, one timed out',
    );
    assert.equal(row.averageNotificationResponseTime, (10 + 5 + 5 + 5) / 4, 'timeouts left out');
    assert.equal(row.averageHandleTime, (250 + 290 + 290) / 3);
    assert.equal(row.sessionTransferRate, 100 / 3);
    assert.equal(row.averageHoldTime, 30 / 3);
    for (const org of ['cif2019', 'ciflater', 'mixed']) {
      assert.deepEqual(await figures(`${org}-${RUN}`), expected, org);
    }
  });

  it('per agent and per channel too', async () => {
    for (const dimensions of [['participantId'], ['channel']]) {
      const expected = await figures(`openua-${RUN}`, dimensions);
      assert.ok(expected.length >= 2, JSON.stringify(expected));
      for (const org of ['cif2019', 'ciflater', 'mixed']) {
        assert.deepEqual(await figures(`${org}-${RUN}`, dimensions), expected, `${org} by ${dimensions}`);
      }
    }
  });

  it('stored events keep the names they were logged with', async () => {
    const answer = await call<{ events: Record<string, unknown>[] }>(
      `${server.url}/api/v1/events?org=ciflater-${RUN}&limit=100`,
      { token: server.masterKey },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const names = new Set(answer.body.events.map((e) => e.eventType));
    for (const name of [
      'NotificationReceived',
      'NotificationAccepted',
      'SessionFocusIn',
      'CifSessionStart',
    ]) {
      assert.ok(names.has(name), `${name} in ${[...names]}`);
    }
    assert.ok(!names.has('NotificationDisplayed'), 'no name was rewritten');
  });
});
