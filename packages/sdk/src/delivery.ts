import { OpenUAError, rejected } from './errors.ts';
import { newId } from './ids.ts';
import type { PersistentQueue } from './queue.ts';
import { type Backoff, backoffMs, post } from './transport.ts';
import type { BatchItem, BatchResult, QueuedItem, Stored, Violation } from './types.ts';

export const BATCH_PATH = '/api/v1/events/batch';

/** Browsers refuse a beacon once 64 KiB are in flight: the queue goes in beacons of about this much. */
const BEACON_BYTES = 60_000;

export interface DeliveryOptions extends Backoff {
  endpoint: string;
  token: string;
  queue: PersistentQueue;
  /** Events per request (default 100): a batch goes as soon as it is full. */
  batchSize?: number;
  /** The longest an event waits for its batch to fill (ms, default 1,000). */
  flushIntervalMs?: number;
  /** The most events queued (default 10,000); past it, the oldest are dropped (see `onDropped`). */
  maxQueued?: number;
  /** An event the server refused, with every violation; it is not retried. */
  onRejected?: (event: QueuedItem, violations: Violation[]) => void;
  /**
   * Events dropped because the queue held `maxQueued` (the server unreachable or refusing for long): the
   * OLDEST queued events that are not being sent are dropped, so the newest are kept, and their promises
   * reject with code `DROPPED`.
   */
  onDropped?: (count: number) => void;
}

interface Waiting {
  promise: Promise<Stored>;
  resolve: (result: Stored) => void;
  reject: (error: OpenUAError) => void;
}

/** A callback's exception is its own: it surfaces, and delivery goes on. */
function report(callback: () => void): void {
  try {
    callback();
  } catch (error) {
    setTimeout(() => {
      throw error;
    });
  }
}

/** `events[3].customData.k` → [3, 'customData.k']: a whole-batch refusal naming one item. */
const ITEM_FIELD = /^events\[(\d+)\]\.?(.*)$/;

/**
 * Gets every queued event to `POST /api/v1/events/batch`, once: in batches (by size and by time), one
 * request at a time, oldest first. Each event carries its idempotency key (`eventId`) from the moment it is
 * queued, so a retry of a batch the server stored but whose answer was lost is answered `duplicate`, not
 * stored again. No answer, 408, 429 and 5xx are retried with backoff (full jitter, never sooner than
 * Retry-After); an event the server rejects is reported (`onRejected`) and not retried. The queue is capped,
 * dropping the oldest (`onDropped`).
 *
 * `send` answers each event with a promise, settled when the server answers it; the promises live only
 * in the page or process that queued the events: after a reload or a restart the events still go, and
 * their fates are reported to the callbacks only.
 */
export class Delivery {
  private readonly waiting = new Map<string, Waiting>();
  /**
   * What this page or process queued or read back and has not seen answered. A beacon sends it
   * synchronously, and a batch includes it even if another page of the same queue removed it first (so
   * its promise is settled here, as `duplicate` at worst).
   */
  private readonly unsent = new Map<string, QueuedItem>();
  private readonly inFlight = new Set<string>();
  private readonly idle: (() => void)[] = [];
  private readonly batchSize: number;
  private limit: number;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retrying = false;
  private running: Promise<void> | undefined;
  /** Queue changes and reads, one at a time: a drop never picks an event that a batch has just read. */
  private queueing: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: DeliveryOptions) {
    this.limit = this.batchSize = options.batchSize ?? 100;
    // What an earlier page or run left in the queue goes with the first batch.
    this.schedule(options.flushIntervalMs ?? 1000);
  }

  /**
   * Queues one event; the promise resolves once it is stored (or was), and rejects if it is refused or
   * dropped. An event whose `eventId` is already waiting here is that event: its promise is answered.
   */
  send(item: BatchItem): Promise<Stored> {
    const queued = { ...item, eventId: item.eventId ?? newId() } as QueuedItem;
    const id = queued.eventId;
    const known = this.waiting.get(id);
    if (known) return known.promise;
    const waiting = {} as Waiting;
    waiting.promise = new Promise<Stored>((resolve, reject) => Object.assign(waiting, { resolve, reject }));
    // Refusals are reported to onRejected too: a caller that ignores the promise gets no unhandled rejection.
    waiting.promise.catch(() => {});
    this.waiting.set(id, waiting);
    this.unsent.set(id, queued);
    // Kept in memory if the queue fails (storage full): this page or process still sends it.
    this.serially(() => this.store(queued)).catch(() => {});
    if (this.unsent.size >= this.batchSize && !this.retrying) void this.pump();
    else this.schedule(this.options.flushIntervalMs ?? 1000);
    return waiting.promise;
  }

  /** Sends what is queued now; resolves once the queue is empty (through retries, if the server is away). */
  flush(): Promise<void> {
    const empty = new Promise<void>((resolve) => this.idle.push(resolve));
    if (!this.retrying) void this.pump();
    return empty;
  }

  /**
   * Stops: one last attempt (unless a retry is waiting, whose Retry-After stands), then no more. Resolves
   * with how many events are left in the queue; a persistent queue sends them from the next client.
   */
  async close(): Promise<number> {
    this.closed = true;
    if (!this.retrying) await this.pump();
    clearTimeout(this.timer);
    return this.serially(() => this.options.queue.size());
  }

  /**
   * Sends what this page has not seen answered with `navigator.sendBeacon`, which outlives the page (on
   * pagehide, or when it is hidden and may be discarded). A beacon's answer is never read, so the events
   * stay queued: the next page sends them again, and the server answers `duplicate`.
   */
  flushWithBeacon(): void {
    const { endpoint, token } = this.options;
    const url = `${endpoint.replace(/\/+$/, '')}${BATCH_PATH}?access_token=${encodeURIComponent(token)}`;
    let events: QueuedItem[] = [];
    let bytes = 0;
    const beacon = () =>
      events.length > 0 &&
      navigator.sendBeacon(
        url,
        new Blob([JSON.stringify({ sentAt: new Date().toISOString(), events })], { type: 'text/plain' }),
      );
    for (const item of this.unsent.values()) {
      const size = JSON.stringify(item).length;
      if (bytes + size > BEACON_BYTES) {
        beacon();
        events = [];
        bytes = 0;
      }
      events.push(item);
      bytes += size;
    }
    beacon();
    this.unsent.clear();
  }

  private async store(item: QueuedItem): Promise<void> {
    const { queue, maxQueued = 10_000 } = this.options;
    await queue.add([item]);
    const over = (await queue.size()) - maxQueued;
    if (over <= 0) return;
    const oldest = (await queue.peek(over + this.inFlight.size))
      .filter((queued) => !this.inFlight.has(queued.eventId))
      .slice(0, over);
    await queue.remove(oldest.map((queued) => queued.eventId));
    for (const { eventId } of oldest) {
      this.unsent.delete(eventId);
      this.waiting.get(eventId)?.reject(new OpenUAError('Dropped: the queue was full', 0, 'DROPPED'));
      this.waiting.delete(eventId);
    }
    if (oldest.length > 0) report(() => this.options.onDropped?.(oldest.length));
  }

  private serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queueing.then(operation);
    this.queueing = result.catch(() => {});
    return result;
  }

  private schedule(ms: number): void {
    if (this.timer === undefined && !this.closed) this.timer = setTimeout(() => void this.pump(), ms);
  }

  private pump(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.retrying = false;
    this.running ??= this.drain()
      .catch(() => {
        this.inFlight.clear();
        this.retry();
      })
      .finally(() => {
        this.running = undefined;
        // An event or a flush that came as the drain was ending would otherwise wait for the next event.
        if (this.idle.length > 0 || this.unsent.size > 0) this.schedule(0);
      });
    return this.running;
  }

  private retry(retryAfterMs?: number): void {
    if (this.closed) return;
    this.schedule(backoffMs(this.attempt++, this.options, retryAfterMs));
    this.retrying = true;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = new Map<string, QueuedItem>();
      for (const item of await this.serially(() => this.options.queue.peek(this.limit))) {
        batch.set(item.eventId, item);
      }
      for (const [id, item] of this.unsent) if (batch.size < this.limit) batch.set(id, item);
      const items = [...batch.values()];
      if (items.length === 0) {
        for (const resolve of this.idle.splice(0)) resolve();
        return;
      }
      for (const item of items) {
        this.unsent.set(item.eventId, item);
        this.inFlight.add(item.eventId);
      }
      const answer = await post<{ results?: BatchResult[] }>(
        this.options.endpoint,
        BATCH_PATH,
        this.options.token,
        {
          sentAt: new Date().toISOString(),
          events: items,
        },
      );
      if (answer.ok && answer.body?.results?.length === items.length) {
        this.attempt = 0;
        this.limit = this.batchSize;
        await this.settle(items, answer.body.results);
      } else if (answer.ok || answer.retry) {
        // A 2xx that is not a batch answer (a portal's page, say) is no answer either.
        this.inFlight.clear();
        return this.retry(answer.ok ? undefined : answer.retryAfterMs);
      } else if (answer.error.status === 413 && items.length > 1) {
        this.limit = Math.ceil(items.length / 2);
      } else {
        await this.refuse(items, answer.error);
      }
      this.inFlight.clear();
    }
  }

  /**
   * A whole batch refused (400, 401, 403, 413): where the violations name items, those items are rejected
   * and the others go again; otherwise every item is rejected with the refusal.
   */
  private async refuse(items: QueuedItem[], error: OpenUAError): Promise<void> {
    const byItem = new Map<number, Violation[]>();
    for (const violation of error.violations) {
      const [, index, field = ''] = ITEM_FIELD.exec(violation.field) ?? [];
      if (index !== undefined)
        byItem.set(Number(index), [...(byItem.get(Number(index)) ?? []), { ...violation, field }]);
    }
    const whole =
      error.violations.length > 0
        ? error.violations
        : [{ field: '', rule: error.code, message: error.message }];
    const refused = byItem.size > 0 ? items.filter((_, index) => byItem.has(index)) : items;
    await this.settle(
      refused,
      refused.map((item) => ({ status: 'rejected', errors: byItem.get(items.indexOf(item)) ?? whole })),
    );
  }

  private async settle(items: QueuedItem[], results: BatchResult[]): Promise<void> {
    await this.options.queue.remove(items.map((item) => item.eventId));
    items.forEach((item, index) => {
      const result = results[index] as BatchResult;
      const waiting = this.waiting.get(item.eventId);
      this.waiting.delete(item.eventId);
      this.unsent.delete(item.eventId);
      if (result.status === 'rejected') {
        waiting?.reject(rejected(result.errors));
        report(() => this.options.onRejected?.(item, result.errors));
      } else waiting?.resolve(result);
    });
  }
}
