import type { CanonicalEvent } from '../model/canonical-event.ts';
import { recordsOf } from './demo-writer.ts';
import {
  DEMO_CUSTOM_KPIS,
  DEMO_PROVIDERS,
  DEMO_SWITCHED_OFF_PROVIDERS,
  type GeneratorOptions,
  type GeneratorTally,
  generateEvents,
} from './generator.ts';

/** Where the demo goes over HTTP: a running server, with a key that may write analytics and administer. */
export interface DemoTarget {
  url: string;
  key: string;
  /** Items per POST /api/v1/events/batch (the server takes at most 1000). */
  batchSize?: number;
  /** Record calls (initLogAnalytics, Conversation Data) in flight at once. */
  concurrency?: number;
  /** Told each wait a 503 asks for, in seconds (the command says so under its progress bar). */
  onRetry?: (seconds: number) => void;
}

/** What the server answered for the events sent. */
export interface SendResult {
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** A few rejections' first violation, to show what went wrong. */
  rejections: string[];
  /** Presence changes name no conversation, which the JS API needs: they are not sent. */
  skippedPresence: number;
}

/** An HTTP answer that is not what the demo needs, with what the server said. */
export class DemoHttpError extends Error {}

/**
 * The demo month sent to a running server through its public APIs, as desktops and search pages would send it:
 * the providers and the custom KPIs' definitions (admin API), each conversation's records (initLogAnalytics, or
 * Conversation Data for a conversation abandoned before any session), then the events in batches
 * (POST /api/v1/events/batch, kinds search, click, view, custom and kpi), each keyed by its id so a retry after a
 * 503 stores nothing twice.
 */
export async function sendDemo(
  target: DemoTarget,
  options: GeneratorOptions,
  tally?: GeneratorTally,
  onBatch?: (written: number) => void,
): Promise<SendResult> {
  const http = client(target);
  const org = encodeURIComponent(options.org);
  for (const [list, enableAnalytics] of [
    [DEMO_PROVIDERS, true],
    [DEMO_SWITCHED_OFF_PROVIDERS, false],
  ] as const) {
    for (const { name } of list) {
      const created = await http.call('POST', `/api/v1/providers?org=${org}`, {
        name,
        label: name,
        enableAnalytics,
      });
      if (created.status === 409) {
        await http.expect('PATCH', `/api/v1/providers/${encodeURIComponent(name)}?org=${org}`, {
          enableAnalytics,
          stateCode: 0,
        });
      } else http.check(created, 'POST /api/v1/providers');
    }
  }
  for (const definition of DEMO_CUSTOM_KPIS) {
    const created = await http.call('POST', `/api/v1/kpi-definitions?org=${org}`, { ...definition });
    if (created.status !== 409) http.check(created, 'POST /api/v1/kpi-definitions');
  }

  const result: SendResult = {
    sent: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    rejections: [],
    skippedPresence: 0,
  };
  const batchSize = target.batchSize ?? 1000;
  // Batches of about one POST each, so that the progress moves with every request.
  for (const batch of generateEvents({ batchSize, ...options }, tally)) {
    await inParallel(conversationsOf(batch), target.concurrency ?? 8, (c) => sendRecords(http, c));
    const items: Record<string, unknown>[] = [];
    for (const event of batch) {
      if (event.category === 'kpi' && !event.conversationId) result.skippedPresence++;
      else items.push(itemOf(event));
    }
    for (let i = 0; i < items.length; i += batchSize) {
      const chunk = items.slice(i, i + batchSize);
      const answer = await http.expect<{ results: BatchResult[] }>('POST', '/api/v1/events/batch', {
        events: chunk,
      });
      for (const r of answer.results) {
        if (r.status === 'accepted') result.accepted++;
        else if (r.status === 'duplicate') result.duplicates++;
        else {
          result.rejected++;
          const [first] = r.errors ?? [];
          if (result.rejections.length < 5 && first)
            result.rejections.push(`${first.field}: ${first.message} (${first.rule})`);
        }
      }
      result.sent += chunk.length;
    }
    onBatch?.(result.sent + result.skippedPresence);
  }
  return result;
}

interface BatchResult {
  status: 'accepted' | 'duplicate' | 'rejected';
  errors?: { field: string; rule: string; message: string }[];
}

/** A conversation's records, as the events of a batch open them (every event of a conversation is in one batch). */
interface DemoConversation {
  conversation: Record<string, unknown>;
  sessions: { session: Record<string, unknown>; participants: Record<string, unknown>[] }[];
}

const NOTIFIED = new Set(['NotificationDisplayed', 'NotificationReceived']);

/**
 * Each conversation's records. A session's participants are its agent and, before them, every agent the
 * conversation was offered to on the way and who did not take it: the JS API places a notification event on a
 * participant of the conversation, so those agents are participants over HTTP (a store written directly keeps
 * the session's agent alone).
 */
function conversationsOf(batch: readonly CanonicalEvent[]): DemoConversation[] {
  const byId = new Map<unknown, DemoConversation & { offered: Set<string> }>();
  const records = recordsOf(batch);
  let next = 0;
  for (const event of batch) {
    if (event.eventType === 'ConversationQueued' || event.eventType === 'SessionStarted') {
      const opened = records[next++];
      if (event.eventType === 'ConversationQueued') {
        byId.set(event.conversationId, {
          conversation: opened?.values ?? {},
          sessions: [],
          offered: new Set(),
        });
        continue;
      }
      const conversation = byId.get(event.conversationId);
      const agent = records[next++]?.values ?? {};
      if (!conversation || !opened) continue;
      conversation.offered.delete(agent.participantId as string);
      const others = [...conversation.offered].map((participantId) => ({
        participantId,
        type: agent.type,
        addedTimestamp: agent.addedTimestamp,
      }));
      conversation.sessions.push({ session: opened.values, participants: [...others, agent] });
      conversation.offered.clear();
    } else if (NOTIFIED.has(event.eventType) && event.participantId) {
      byId.get(event.conversationId)?.offered.add(event.participantId);
    }
  }
  return [...byId.values()].map(({ conversation, sessions }) => ({ conversation, sessions }));
}

const providerName = (id: unknown) => DEMO_PROVIDERS.find((p) => p.id === id)?.name ?? String(id);
const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/**
 * A conversation's records: initLogAnalytics for each session (the first creates the conversation too, as a
 * desktop's first call does), or Conversation Data alone when it was abandoned in the queue. The provider is
 * named by its name: over HTTP a provider's id is the server's.
 */
async function sendRecords(http: Http, { conversation, sessions }: DemoConversation) {
  const correlationId = conversation.conversationId;
  const values = {
    conversationId: conversation.conversationId,
    channel: conversation.channel,
    providerId: providerName(conversation.providerId),
    conversationTimestamp: iso(conversation.conversationTimestamp),
  };
  if (sessions.length === 0) {
    await http.expect('POST', '/api/data/v9.1/msdyn_conversationsdata', {
      msdyn_conversationid: values.conversationId,
      msdyn_channel: values.channel,
      msdyn_providerid: values.providerId,
      msdyn_conversationtimestamp: values.conversationTimestamp,
    });
    return;
  }
  for (const { session, participants } of sessions) {
    await http.expect('POST', '/api/v1/channel/initLogAnalytics', {
      correlationId,
      data: {
        conversation: {
          ...values,
          session: {
            providerSessionId: session.providerSessionId,
            channel: session.channel,
            queueId: session.queueId,
            queueName: session.queueName,
            createdTimestamp: iso(session.createdTimestamp),
            agentAssignedTimestamp: iso(session.agentAssignedTimestamp),
            participants: participants.map((p) => ({
              participantId: p.participantId,
              type: p.type,
              addedTimestamp: iso(p.addedTimestamp),
            })),
          },
        },
      },
    });
  }
}

/** The fields each UA kind's body carries, beyond the common ones. */
const UA_FIELDS = {
  search: ['searchQueryUid', 'actionCause', 'queryText', 'numberOfResults', 'responseTime'],
  click: ['searchQueryUid', 'actionCause', 'documentPosition', 'sourceName', 'documentUri'],
  view: ['location', 'title', 'contentIdKey', 'contentIdValue', 'contentType'],
  custom: ['eventType', 'eventValue', 'lastSearchQueryUid'],
} as const satisfies Record<string, readonly (keyof CanonicalEvent)[]>;
const COMMON_UA_FIELDS = ['language', 'clientId', 'originLevel1', 'originLevel2'] as const;
const KPI_ITEM_FIELDS = [
  'entityName',
  'entityRecordId',
  'notificationResponseAction',
  'oldPresence',
  'newPresence',
] as const;

/** An event as the batch item a client sends for it. */
export function itemOf(e: CanonicalEvent): Record<string, unknown> {
  const pick = (fields: readonly (keyof CanonicalEvent)[]) =>
    Object.fromEntries(fields.flatMap((f) => (e[f] == null ? [] : [[f, e[f]]])));
  if (e.category === 'kpi') {
    return {
      kind: 'kpi',
      eventId: e.id,
      eventName: e.eventType,
      ...(e.correlationId && { correlationId: e.correlationId }),
      data: {
        ...pick(['conversationId', 'providerSessionId', 'participantId']),
        events: [
          {
            kpiEventName: e.eventType,
            ...(e.eventValue !== null && { kpiEventReason: e.eventValue }),
            eventTimestamp: (e.eventTime ?? e.derivedTime).toISOString(),
            ...pick(KPI_ITEM_FIELDS),
            customData: Object.entries(e.customData).map(([attribute, value]) => ({ attribute, value })),
          },
        ],
      },
    };
  }
  const kind = e.category as keyof typeof UA_FIELDS;
  return {
    kind,
    eventId: e.id,
    eventTime: (e.eventTime ?? e.derivedTime).toISOString(),
    ...pick(COMMON_UA_FIELDS),
    ...pick(UA_FIELDS[kind]),
    customData: e.customData,
  };
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

type Http = ReturnType<typeof client>;

function client(target: DemoTarget) {
  const base = target.url.replace(/\/+$/, '');
  const call = async (method: string, path: string, body?: unknown) => {
    for (;;) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status !== 503) {
        const text = await response.text();
        return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
      }
      // Overloaded or starting: wait as long as the server asks, then send the same request again.
      await response.body?.cancel();
      const seconds = Number(response.headers.get('retry-after')) || 1;
      target.onRetry?.(seconds);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    }
  };
  const check = (answer: { status: number; body: unknown }, what: string) => {
    if (answer.status >= 300) {
      const message =
        (answer.body as { message?: string } | undefined)?.message ?? JSON.stringify(answer.body);
      throw new DemoHttpError(`${what} answered ${answer.status}: ${message}`);
    }
  };
  return {
    call,
    check,
    async expect<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
      const answer = await call(method, path, body);
      check(answer, `${method} ${path.split('?')[0]}`);
      return answer.body as T;
    },
  };
}
