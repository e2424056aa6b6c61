import { type Client, type ClientOptions, createClient } from './client.ts';
import { OpenUAError, rejected } from './errors.ts';
import { newId } from './ids.ts';
import { postWithRetries } from './transport.ts';
import type { InitAnswer, InitLogAnalytics, LogAnalyticsEvent, Stored, Violation } from './types.ts';

export const INIT_PATH = '/api/v1/channel/initLogAnalytics';

/** What `initLogAnalytics` takes: `{conversation: {…, session: {…, participants}}}`, as an object or its JSON. */
export type InitData = InitLogAnalytics['data'];
/** What `logAnalyticsEvent` takes: a v1 or v2 payload `{conversationId, …, events: [...]}`, as an object or its JSON. */
export type LogData = LogAnalyticsEvent['data'];
/** One item of a logAnalyticsEvent payload's `events`. */
export type KpiEventFields = LogData['events'][number];

/**
 * A channel client on a client of its own (`endpoint`, `token` and the client's options) or on `client`,
 * whose queue and delivery it then shares (in Node, a client with a `queueFile`). `providerId` is the
 * conversation's provider when an initLogAnalytics payload names none.
 */
export type ChannelOptions = (ClientOptions | { client: Client }) & { providerId?: string };

export interface ChannelClient {
  /**
   * Creates or updates the conversation, its session and participants, and resolves with the server's
   * `result` string. Sent at once (retried when the server is away or busy), not queued: it answers records.
   */
  initLogAnalytics(data: string | InitData, correlationId?: string): Promise<string>;
  /**
   * Queues the payload's KPI events for delivery and resolves, once the server has stored them, with the
   * string the HTTP route answers. Each event of `events` goes as its own batch item with its own
   * idempotency key, so one refused event does not keep the others from being stored; the promise then
   * rejects, naming the refused ones as `data.events[i]…`.
   */
  logAnalyticsEvent(data: string | LogData, eventName: string, correlationId?: string): Promise<string>;
  /** The client the events go through. */
  readonly client: Client;
}

type Payload = Record<string, unknown>;

/** The SDK's own refusal of a payload it cannot send (status 0: the server never saw it). */
const invalid = (violation: Violation) =>
  new OpenUAError(`Invalid data: ${violation.field} ${violation.message}`, 0, 'INVALID_REQUEST', [violation]);

/** `data` as an object: the JS API passes its JSON text. */
function payloadOf(data: unknown): Payload {
  let value = data;
  if (typeof data === 'string') {
    try {
      value = JSON.parse(data);
    } catch {
      throw invalid({
        field: 'data',
        rule: 'json',
        message: 'is not valid JSON',
        received: data.slice(0, 256),
      });
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid({
      field: 'data',
      rule: 'type',
      limit: 'object',
      message: 'must be a JSON object',
      received: value,
    });
  }
  return value as Payload;
}

/** The payload with `providerId` filled in when its conversation names no provider under either name. */
function withProvider(payload: Payload, providerId: string | undefined): Payload {
  const conversation = payload.conversation as Payload | undefined;
  if (providerId === undefined || conversation === null || typeof conversation !== 'object') return payload;
  if (conversation.providerId != null || conversation.externalProviderId != null) return payload;
  return { ...payload, conversation: { ...conversation, providerId } };
}

/**
 * One payload per event, each stamped with the time of the call when it has none: queued events may reach
 * the server much later, and the batch's `sentAt` corrects the client's clock.
 */
function splitEvents(payload: Payload): Payload[] {
  const events = Array.isArray(payload.events) && payload.events.length > 0 ? payload.events : undefined;
  // A payload without events goes as it is, for the server to name what is wrong with it.
  if (!events) return [payload];
  const eventTimestamp = new Date().toISOString();
  return events.map((event: unknown) => ({
    ...payload,
    events: [
      event !== null &&
      typeof event === 'object' &&
      !Array.isArray(event) &&
      (event as Payload).eventTimestamp == null
        ? { ...event, eventTimestamp }
        : event,
    ],
  }));
}

/** A batch item's violations, named as in the whole payload: its one event is `data.events[index]`. */
const inPayload = (violations: Violation[], index: number): Violation[] =>
  violations.map((v) => ({ ...v, field: v.field.replace(/^data\.events\[0\]/, `data.events[${index}]`) }));

/**
 * The Channel Integration Framework's analytics API (`initLogAnalytics`, `logAnalyticsEvent`) against
 * OpenUA: `data` is the framework's payload or its JSON text, a correlation id is made when none is given,
 * and every promise resolves with a string or rejects with an OpenUAError naming each field, rule or record
 * at fault (the framework resolved "success" even when it dropped an event).
 */
export function createChannelClient(options: Client | ChannelOptions): ChannelClient {
  const client = 'send' in options ? options : 'client' in options ? options.client : createClient(options);
  const providerId = 'send' in options ? undefined : options.providerId;
  // KPI events need their conversation: those logged while an initLogAnalytics is on its way wait for it.
  const initialising = new Set<Promise<unknown>>();

  async function initLogAnalytics(data: string | InitData, correlationId?: string): Promise<string> {
    const body = { data: withProvider(payloadOf(data), providerId), correlationId: correlationId ?? newId() };
    const call = postWithRetries<InitAnswer>(client.endpoint, INIT_PATH, client.token, body);
    initialising.add(call);
    try {
      return (await call).result;
    } finally {
      initialising.delete(call);
    }
  }

  async function logAnalyticsEvent(
    data: string | LogData,
    eventName: string,
    correlationId?: string,
  ): Promise<string> {
    // One id for every event of the call (`??`: the framework's callers may pass null for none).
    const correlation = correlationId ?? newId();
    const payloads = splitEvents(payloadOf(data));
    await Promise.allSettled([...initialising]);
    const sent = payloads.map((payload) => {
      const event = (payload.events as unknown[] | undefined)?.[0] as Payload | undefined;
      // An event's own key, if it has one, is its batch item's: the server refuses two keys for one event.
      const eventId = typeof event?.eventId === 'string' ? event.eventId : undefined;
      return client.send({
        kind: 'kpi',
        data: payload as LogData,
        eventName,
        correlationId: correlation,
        ...(eventId !== undefined && { eventId }),
      });
    });
    const outcomes = await Promise.allSettled(sent);
    const failed = outcomes.flatMap((o, i) =>
      o.status === 'rejected' ? [{ error: o.reason, index: i }] : [],
    );
    if (failed.length === 0) {
      const logged = outcomes.filter(
        (o) => (o as PromiseFulfilledResult<Stored>).value.status === 'accepted',
      );
      // The words of `POST /api/v1/channel/logAnalyticsEvent`'s `result`, so that code reads either alike.
      return `logAnalyticsEvent succeeded: ${logged.length} KPI event(s) logged for conversation ${String(
        payloads[0]?.conversationId,
      )}`;
    }
    // A dropped event (or any other failure) says so itself; refusals are gathered, each naming its event.
    const other = failed.find(({ error }) => !(error instanceof OpenUAError && error.code === 'REJECTED'));
    if (other) throw other.error;
    throw rejected(failed.flatMap(({ error, index }) => inPayload((error as OpenUAError).violations, index)));
  }

  return { initLogAnalytics, logAnalyticsEvent, client };
}
