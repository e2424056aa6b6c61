import { type CanonicalEvent, NO_UA_FIELDS } from '../model/canonical-event.ts';

/**
 * Realistic demo data from a seed: the same seed gives the same events, byte for byte. A contact center
 * (providers, channels, queues, agents; conversations with transfers, consults, abandons inside and outside the
 * short-abandon threshold, notifications received, accepted, rejected and timed out, holds, wrap-up, presence
 * changes, a sentiment and a CSAT per conversation, and a custom KPI) and a search page (page views, searches,
 * clicks on results, custom events tied to them). Desktops log under OpenUA's names or under the framework's own
 * (its 2019 build's, its later build's), mixed, as real desktops do. Used by `openua demo` and `npm run bench:query`.
 */

export interface GeneratorOptions {
  seed: number;
  org: string;
  /** About how many events to produce (the last conversation is finished, so a few more). */
  events: number;
  /** The events fall in the `days` days before `end`. */
  days: number;
  end: Date;
  /** Events per yielded batch. */
  batchSize?: number;
}

/** What the generator made, for checks: the edges it is meant to contain, counted. */
export interface GeneratorTally {
  conversations: number;
  abandonedShort: number;
  abandonedLong: number;
  transfers: number;
  consults: number;
  notifications: { accepted: number; rejected: number; timedOut: number };
  openSessions: number;
  searches: number;
  views: number;
  customKpiEvents: number;
}

export const newTally = (): GeneratorTally => ({
  conversations: 0,
  abandonedShort: 0,
  abandonedLong: 0,
  transfers: 0,
  consults: 0,
  notifications: { accepted: 0, rejected: 0, timedOut: 0 },
  openSessions: 0,
  searches: 0,
  views: 0,
  customKpiEvents: 0,
});

/** The short-abandon threshold the generated abandons are placed around, in seconds. */
export const DEMO_SHORT_ABANDON_SECONDS = 20;

export const DEMO_CHANNELS = ['voice', 'chat', 'sms', 'email'] as const;
export const DEMO_QUEUES = ['billing', 'support', 'sales', 'vip'] as const;
/** The demo's providers: KPI events carry a provider's record id, as the server puts it on them. */
export const DEMO_PROVIDERS = [
  { id: 'd3e0a1c2-0000-4000-a000-000000000001', name: 'contoso-voice' },
  { id: 'd3e0a1c2-0000-4000-a000-000000000002', name: 'contoso-chat' },
  { id: 'd3e0a1c2-0000-4000-a000-000000000003', name: 'contoso-messaging' },
] as const;
/** A provider whose analytics are switched off: it has no events, and the live API refuses any for it. */
export const DEMO_SWITCHED_OFF_PROVIDERS = [
  { id: 'd3e0a1c2-0000-4000-a000-000000000004', name: 'contoso-legacy-ivr' },
] as const;
/**
 * The demo's custom KPIs: an agent checking who the customer is, and looking an order up (with the order's value
 * as customData). Their definitions are the organization's own (Custom), made before their events.
 */
export const DEMO_CUSTOM_KPIS = [
  {
    name: 'CustomerVerified',
    displayName: 'Customer verified',
    description: "The agent checked the customer's identity (demo data; customData.method)",
  },
  {
    name: 'OrderLookup',
    displayName: 'Order lookup',
    description: 'The agent opened the order the conversation is about (demo data; customData.order_value)',
  },
] as const;
/**
 * The names a desktop logs its notifications under: OpenUA's, the framework's 2019 build's (NotificationReceived,
 * NotificationResponse accepted/rejected, NotificationTimedOut) or its later build's (NotificationAccepted…).
 */
type Desktop = 'openua' | 'cif2019' | 'cifLater';
const DESKTOPS: readonly Desktop[] = ['openua', 'openua', 'openua', 'cif2019', 'cifLater'];
const PRESENCE = ['Available', 'Busy', 'Away', 'DoNotDisturb', 'Offline'] as const;
const WORDS = [
  'reset',
  'password',
  'invoice',
  'refund',
  'billing',
  'login',
  'error',
  'shipping',
  'account',
  'plan',
];
const SOURCES = ['Knowledge Base', 'Community', 'Product Docs'];
const PAGES = ['/', '/help', '/help/billing', '/help/account', '/community', '/contact'];
export const DEMO_AGENTS = 60;

/** mulberry32: a small, fast PRNG whose whole state is one 32-bit number. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function* generateEvents(
  options: GeneratorOptions,
  tally?: GeneratorTally,
): Generator<CanonicalEvent[]> {
  const random = prng(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const between = (min: number, max: number) => min + random() * (max - min);
  const hex = (digits: number) => {
    let out = '';
    for (let i = 0; i < digits; i++) out += Math.floor(random() * 16).toString(16);
    return out;
  };
  // UUIDv7-shaped ids from the PRNG, so the same seed gives the same ids.
  const idAt = (ms: number) => {
    const time = Math.floor(ms).toString(16).padStart(12, '0');
    return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hex(3)}-${(8 + Math.floor(random() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
  };
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  const agents = Array.from({ length: DEMO_AGENTS }, (_, i) => `agent-${String(i + 1).padStart(3, '0')}`);
  const visitors = Array.from({ length: 5_000 }, uuid);
  const start = options.end.getTime() - options.days * 86_400_000;
  const span = options.end.getTime() - start;
  const batchSize = options.batchSize ?? 10_000;
  const count = tally ?? newTally();

  let batch: CanonicalEvent[] = [];
  let produced = 0;
  const emit = (event: CanonicalEvent) => {
    batch.push(event);
    produced++;
  };
  const base = (ms: number, category: CanonicalEvent['category'], eventType: string): CanonicalEvent => {
    const at = new Date(Math.min(ms, options.end.getTime() - 1));
    return {
      id: idAt(at.getTime()),
      org: options.org,
      category,
      eventType,
      eventValue: null,
      eventTime: at,
      sentTime: null,
      receivedTime: at,
      derivedTime: at,
      ...NO_UA_FIELDS,
      username: null,
      userDisplayName: null,
      anonymous: false,
      correlationId: null,
      credentialId: 'demo',
      customData: {},
    };
  };

  /** One conversation, from queueing to its end (or an open session at the end of the range). */
  const conversation = (t0: number) => {
    count.conversations++;
    const conversationId = uuid();
    const channel = pick(DEMO_CHANNELS);
    const queue = pick(DEMO_QUEUES);
    const providerId = pick(DEMO_PROVIDERS).id;
    const desktop = pick(DESKTOPS);
    // The customer's mood, -1 to 1, as a sentiment model scores it: on each session as it goes, and at the end.
    const sentiment = String(Math.round(between(-1, 1) * 100) / 100);
    const kpi = (ms: number, name: string, extra: Partial<CanonicalEvent> = {}) =>
      emit({
        ...base(ms, 'kpi', name),
        name,
        conversationId,
        providerId,
        // As the server copies them from the conversation's records onto each of its KPI events.
        channel,
        queueId: queue,
        queueName: queue,
        correlationId: conversationId,
        ...extra,
      });
    kpi(t0, 'ConversationQueued');
    let t = t0;
    if (random() < 0.08) {
      // Abandoned before any agent accepted: half inside the short-abandon threshold.
      const short = random() < 0.5;
      const wait = short
        ? between(2, DEMO_SHORT_ABANDON_SECONDS - 1)
        : between(DEMO_SHORT_ABANDON_SECONDS + 5, 600);
      if (short) count.abandonedShort++;
      else count.abandonedLong++;
      kpi(t0 + wait * 1000, 'ConversationEnded', { eventValue: 'abandoned', customData: { sentiment } });
      return;
    }
    let sessions = 0;
    for (;;) {
      // Offer the conversation to agents until one accepts.
      let agent = pick(agents);
      for (;;) {
        t += between(3, 90) * 1000;
        kpi(t, desktop === 'openua' ? 'NotificationDisplayed' : 'NotificationReceived', {
          participantId: agent,
        });
        const roll = random();
        const action = roll < 0.8 ? 'Accept' : roll < 0.9 ? 'Reject' : 'Timeout';
        t += (action === 'Timeout' ? 60 : between(1, 20)) * 1000;
        kpi(t, ...notificationResponse(desktop, action, agent));
        if (action === 'Accept') {
          count.notifications.accepted++;
          break;
        }
        if (action === 'Reject') count.notifications.rejected++;
        else count.notifications.timedOut++;
        agent = pick(agents);
      }
      sessions++;
      const providerSessionId = uuid();
      const inSession = { participantId: agent, providerSessionId };
      kpi(t, 'SessionStarted', { ...inSession, customData: { sentiment } });
      if (sessions === 1) {
        t += between(5, 120) * 1000;
        kpi(t, 'FirstResponseSent', inSession);
      }
      if (random() < 0.3) {
        t += between(30, 300) * 1000;
        kpi(t, 'HoldStarted', inSession);
        t += between(10, 240) * 1000;
        kpi(t, 'HoldEnded', inSession);
      }
      if (random() < 0.2) {
        t += between(10, 120) * 1000;
        kpi(t, 'CustomerVerified', {
          ...inSession,
          customData: { method: pick(['otp', 'kba', 'voiceprint']) },
        });
      }
      if (random() < 0.25) {
        count.customKpiEvents++;
        t += between(5, 60) * 1000;
        kpi(t, 'OrderLookup', {
          ...inSession,
          entityName: 'salesorder',
          entityRecordId: uuid(),
          customData: { order_value: String(Math.round(between(5, 900) * 100) / 100) },
        });
      }
      if (random() < 0.1) {
        // A consult: the agent brings another agent in, then lets them go; the session stays the agent's.
        count.consults++;
        const consulted = pick(agents);
        t += between(20, 300) * 1000;
        kpi(t, 'ParticipantAdded', {
          ...inSession,
          eventValue: 'Consult',
          customData: { consulted_agent: consulted },
        });
        t += between(30, 400) * 1000;
        kpi(t, 'ParticipantRemoved', {
          ...inSession,
          eventValue: 'ConsultEnd',
          customData: { consulted_agent: consulted },
        });
      }
      t += between(60, 900) * 1000;
      if (t > options.end.getTime()) {
        // Still going when the range ends: the session stays open.
        count.openSessions++;
        return;
      }
      if (sessions < 3 && random() < 0.15) {
        count.transfers++;
        kpi(t, 'SessionClosed', { ...inSession, eventValue: 'transferred' });
        continue;
      }
      kpi(t, 'WrapUpStarted', inSession);
      t += between(10, 180) * 1000;
      kpi(t, 'WrapUpEnded', inSession);
      kpi(t, 'SessionClosed', inSession);
      kpi(t, 'ConversationEnded', {
        eventValue: pick(['Customer', 'Agent', 'Customer', 'System']),
        // The customer's survey answer, 1 to 5: better the happier they were.
        customData: { sentiment, csat: String(csatFor(Number(sentiment), random())) },
      });
      return;
    }
  };

  /** A visitor's search, maybe a click on a result, maybe a custom event tied to the search. */
  const search = (t0: number) => {
    count.searches++;
    const visitor = pick(visitors);
    const searchQueryUid = uuid();
    const words = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(WORDS)).join(' ');
    const numberOfResults = random() < 0.05 ? 0 : Math.floor(between(1, 500));
    const originLevel2 = pick(['All', 'Articles', 'Community']);
    const ua = (
      ms: number,
      category: CanonicalEvent['category'],
      eventType: string,
      extra: Partial<CanonicalEvent>,
    ) =>
      emit({
        ...base(ms, category, eventType),
        language: 'en',
        username: 'anonymous',
        clientId: visitor,
        visitorId: visitor,
        visitId: `${visitor.slice(0, 8)}-${Math.floor(ms / 1_800_000)}`,
        originLevel1: 'SupportHub',
        originLevel2,
        ...extra,
      });
    if (random() < 0.4) {
      // The page the visitor searched from.
      count.views++;
      const page = pick(PAGES);
      ua(t0 - between(1, 30) * 1000, 'view', 'view', {
        eventValue: 'page',
        location: `https://support.example.com${page}`,
        title: `Support ${page}`,
        contentIdKey: '@permanentid',
        contentIdValue: `page${page}`,
        contentType: 'page',
        customData: { page_section: page.split('/')[1] || 'home' },
      });
    }
    ua(t0, 'search', 'search', {
      eventValue: 'searchboxSubmit',
      searchQueryUid,
      actionCause: 'searchboxSubmit',
      queryText: words,
      numberOfResults,
      responseTime: Math.floor(between(20, 400)),
      customData: { context_role: pick(['customer', 'partner', 'employee']) },
    });
    if (numberOfResults > 0 && random() < 0.45) {
      ua(t0 + between(2, 60) * 1000, 'click', 'click', {
        eventValue: 'documentOpen',
        searchQueryUid,
        actionCause: 'documentOpen',
        documentPosition: 1 + Math.floor(random() ** 2 * Math.min(numberOfResults, 20)),
        sourceName: pick(SOURCES),
        documentUri: `https://kb.example.com/${Math.floor(random() * 2000)}`,
      });
    }
    if (random() < 0.3) {
      ua(t0 + between(5, 120) * 1000, 'custom', 'facet', {
        eventValue: 'facetSelect',
        lastSearchQueryUid: searchQueryUid,
        customData: {
          facet_id: pick(['@source', '@author', '@filetype', '@date']),
          wait_seconds: String(Math.floor(between(0, 30))),
        },
      });
    }
  };

  /** An agent's presence changes through the day. */
  const presence = (t0: number) => {
    const agent = pick(agents);
    const oldPresence = pick(PRESENCE);
    let newPresence = pick(PRESENCE);
    while (newPresence === oldPresence) newPresence = pick(PRESENCE);
    emit({
      ...base(t0, 'kpi', 'PresenceChanged'),
      name: 'PresenceChanged',
      participantId: agent,
      oldPresence,
      newPresence,
    });
  };

  while (produced < options.events) {
    // Time moves forward with the events made, and each batch is sorted, so the store receives them roughly
    // in time order, as a live server does (a conversation's last events come a little after the batch).
    const t0 = start + (produced / options.events) * span + random() * 60_000;
    const roll = random();
    if (roll < 0.35) conversation(t0);
    else if (roll < 0.4) presence(t0);
    else search(t0);
    if (batch.length >= batchSize) {
      yield inTimeOrder(batch);
      batch = [];
    }
  }
  if (batch.length > 0) yield inTimeOrder(batch);
}

/** A notification's answer as each desktop logs it: the event's name and its fields. */
function notificationResponse(
  desktop: Desktop,
  action: 'Accept' | 'Reject' | 'Timeout',
  participantId: string,
): [string, Partial<CanonicalEvent>] {
  if (desktop === 'openua')
    return ['NotificationResponse', { participantId, notificationResponseAction: action }];
  if (action === 'Timeout') return ['NotificationTimedOut', { participantId }];
  if (desktop === 'cif2019') {
    const notificationResponseAction = action === 'Accept' ? 'accepted' : 'rejected';
    return ['NotificationResponse', { participantId, notificationResponseAction }];
  }
  return [action === 'Accept' ? 'NotificationAccepted' : 'NotificationRejected', { participantId }];
}

/** A CSAT answer, 1 to 5, that follows the sentiment (-1 to 1) with some noise. */
const csatFor = (sentiment: number, noise: number) =>
  Math.min(5, Math.max(1, Math.round(3 + sentiment * 2 + (noise - 0.5) * 2)));

/** Oldest first; events of the same instant keep the order they were made in. */
const inTimeOrder = (events: CanonicalEvent[]) =>
  events.sort((a, b) => a.derivedTime.getTime() - b.derivedTime.getTime());
