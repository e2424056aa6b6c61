import { Delivery, type DeliveryOptions } from './delivery.ts';
import { OpenUAError } from './errors.ts';
import { browserIdentity, clientIdFrom, type IdentityStore, memoryIdentity } from './identity.ts';
import { MemoryQueue, type PersistentQueue } from './queue.ts';
import { IndexedDbQueue } from './queue-indexeddb.ts';
import type { BatchItem, EventInput, Stored, UaEvents, UaKind, Violation } from './types.ts';

export interface ClientOptions extends Omit<DeliveryOptions, 'queue'> {
  /** The OpenUA server, e.g. `https://analytics.example.com`. */
  endpoint: string;
  /** An API key or search token with `analytics:write`. */
  token: string;
  /**
   * Where events wait to be sent: by default IndexedDB in a browser (a database per endpoint and token,
   * so a reload sends what the last page could not), memory elsewhere (Node's `createClient` takes
   * `queueFile`).
   */
  queue?: PersistentQueue;
  /** Where the visitor id is kept: by default localStorage and the `coveo_visitorId` cookie in a browser, memory elsewhere. */
  identity?: IdentityStore;
  /** Check each event before queuing it and throw an OpenUAError naming every violation (development). */
  debug?: boolean;
}

/** What a `log…Event` promise resolves with: the stored event's id (`duplicate`: stored before, by its key). */
export type Logged = Promise<Stored>;

export interface Client {
  /** The visitor id sent with every event that names none. */
  readonly clientId: string;
  readonly endpoint: string;
  readonly token: string;
  logCustomEvent(event: EventInput<UaEvents['custom']>): Logged;
  logSearchEvent(event: EventInput<UaEvents['search']>): Logged;
  logClickEvent(event: EventInput<UaEvents['click']>): Logged;
  logViewEvent(event: EventInput<UaEvents['view']>): Logged;
  /** Queues one batch item of any kind (the channel helpers send their KPI events through it). */
  send(item: BatchItem): Logged;
  /** Sends what is queued now; resolves once the queue is empty. */
  flush(): Promise<void>;
  /** One last attempt, then stops; resolves with the number of events left in the queue. */
  close(): Promise<number>;
}

/**
 * The fields the server requires of each kind, which debug mode checks (`satisfies`: each is a required
 * field of the kind's schema). The integers are checked as integers; every other required field is text,
 * non-empty except a search's `queryText`.
 */
const REQUIRED = {
  custom: ['eventType', 'eventValue', 'language'],
  search: ['actionCause', 'queryText', 'responseTime', 'searchQueryUid', 'language'],
  click: ['actionCause', 'documentPosition', 'searchQueryUid', 'sourceName', 'language'],
  view: ['location', 'language'],
} satisfies { [K in UaKind]: RequiredKey<UaEvents[K]>[] };
type RequiredKey<T> = { [P in keyof T]-?: object extends Pick<T, P> ? never : P }[keyof T];

const INTEGERS = ['responseTime', 'documentPosition', 'numberOfResults', 'outcome'];

/** Debug mode's check: what the server would refuse for a missing or mistyped required field. */
function violationsOf(kind: UaKind, event: Record<string, unknown>): Violation[] {
  const found: Violation[] = [];
  for (const field of REQUIRED[kind] as string[]) {
    const value = event[field];
    if (value == null) found.push({ field, rule: 'required', message: 'is required' });
    else if (
      !INTEGERS.includes(field) &&
      (typeof value !== 'string' || (value === '' && field !== 'queryText'))
    ) {
      found.push({ field, rule: 'type', message: 'must be a non-empty string', received: value });
    }
  }
  for (const field of INTEGERS) {
    const value = event[field];
    if (value != null && !Number.isInteger(value)) {
      found.push({ field, rule: 'type', message: 'must be an integer', received: value });
    }
  }
  return found;
}

/**
 * A client for a search page or a Node service: `log…Event` queues an event (with the visitor id, the
 * time it happened, an idempotency key and, in a browser, the page's language, user agent and referrer)
 * and answers a promise settled when the server has answered it. Delivery batches, retries and persists
 * them (see Delivery); in a browser, the queue goes by beacon when the page is hidden or left.
 */
export function createClient(options: ClientOptions): Client {
  const { endpoint, token, debug } = options;
  const browser = typeof document !== 'undefined';
  const clientId = clientIdFrom(options.identity ?? (browser ? browserIdentity() : memoryIdentity()));
  const page = browser
    ? {
        language: navigator.language,
        userAgent: navigator.userAgent.slice(0, 1024),
        // The referrer, which Coveo cuts at 1,024 characters as its official client does.
        ...(document.referrer && { originLevel3: document.referrer.slice(0, 1024) }),
      }
    : {};
  const queue =
    options.queue ??
    (typeof indexedDB !== 'undefined'
      ? new IndexedDbQueue(`openua ${endpoint} ${hash(token)}`)
      : new MemoryQueue());
  const delivery = new Delivery({ ...options, queue });

  const log =
    <K extends UaKind>(kind: K) =>
    (event: EventInput<UaEvents[K]>): Logged => {
      const item = { ...page, clientId, eventTime: new Date().toISOString(), ...event, kind };
      const violations = debug ? violationsOf(kind, item) : [];
      if (violations.length > 0) {
        throw new OpenUAError(
          `Invalid ${kind} event: ${violations.map((v) => `${v.field} ${v.message}`).join('; ')}`,
          0,
          'INVALID_REQUEST',
          violations,
        );
      }
      // The caller's event is typed by its kind's schema; the item is that event with its kind.
      return delivery.send(item as unknown as BatchItem);
    };

  const hide = () => document.visibilityState === 'hidden' && delivery.flushWithBeacon();
  const leave = () => delivery.flushWithBeacon();
  if (browser) {
    addEventListener('pagehide', leave);
    document.addEventListener('visibilitychange', hide);
  }

  return {
    clientId,
    endpoint,
    token,
    logCustomEvent: log('custom'),
    logSearchEvent: log('search'),
    logClickEvent: log('click'),
    logViewEvent: log('view'),
    send: (item) => delivery.send(item),
    flush: () => delivery.flush(),
    close() {
      if (browser) {
        removeEventListener('pagehide', leave);
        document.removeEventListener('visibilitychange', hide);
      }
      return delivery.close();
    },
  };
}

/** A short, stable name for a credential (the queue's database is named by it, not by the secret). */
function hash(text: string): string {
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = (h * 33) ^ text.charCodeAt(i);
  return (h >>> 0).toString(36);
}
