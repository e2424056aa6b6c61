import { overloaded, unavailable } from '../server/errors.ts';
import type { Storage } from '../storage/storage.ts';
import type { CanonicalEvent } from './canonical-event.ts';

interface Pending {
  events: readonly CanonicalEvent[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Events that may wait for a commit; beyond it `submit` refuses with 503. */
  capacity: number;
  /** Most events written in one transaction. */
  batchSize: number;
  /** Extra wait to gather a bigger batch, in ms; 0 means commit as soon as the writer is free. */
  lingerMs: number;
}

export interface IngestStats {
  queued: number;
  committedEvents: number;
  commits: number;
  failedCommits: number;
  shed: number;
}

/**
 * The bounded ingest queue and its single writer. Callers `submit` events and get a promise that
 * settles only when the transaction holding them has committed, so an acknowledgement always means
 * the events are durable. While one commit runs, new events pile up and go out together in the next:
 * the busier the server, the bigger (and cheaper per event) each commit.
 */
export class GroupCommit {
  private readonly waiting: Pending[] = [];
  private queued = 0;
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly counters = { committedEvents: 0, commits: 0, failedCommits: 0, shed: 0 };

  constructor(
    private readonly storage: Storage,
    private readonly options: GroupCommitOptions,
    private readonly onCommitError?: (cause: unknown) => void,
  ) {}

  /** Resolves once every event is committed; rejects with 503 at once when the queue is full or closing. */
  submit(events: readonly CanonicalEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (this.closed)
      return Promise.reject(unavailable('The server is shutting down; the event was not accepted. Retry.'));
    if (this.queued + events.length > this.options.capacity && this.queued > 0) {
      this.counters.shed += events.length;
      return Promise.reject(overloaded(this.retryAfterSeconds()));
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ events, resolve, reject });
      this.queued += events.length;
      this.schedule();
    });
  }

  stats(): IngestStats {
    return { queued: this.queued, ...this.counters };
  }

  /** Refuses new events, then waits until everything already accepted is committed. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.writing || this.waiting.length > 0) {
      if (!this.writing) this.schedule();
      await this.writing;
    }
  }

  private schedule(): void {
    if (this.writing || this.waiting.length === 0) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = undefined;
      // Events that arrived during the last commit start the next one.
      this.schedule();
    });
  }

  private async writeLoop(): Promise<void> {
    // Yield once so that requests parsed in the same turn of the event loop share this commit.
    await new Promise<void>((r) =>
      this.options.lingerMs > 0 ? setTimeout(r, this.options.lingerMs) : setImmediate(r),
    );
    const batch = this.takeBatch();
    const events = batch.flatMap((p) => p.events);
    try {
      if (await this.commit(events)) {
        for (const p of batch) p.resolve();
        return;
      }
      // One submit that storage refuses must not fail the others that shared its transaction:
      // retry each alone, so only the culprit (or every one, if storage itself is down) hears 503.
      for (const p of batch) {
        if (batch.length > 1 && (await this.commit(p.events))) p.resolve();
        else p.reject(this.lastFailure());
      }
    } finally {
      this.queued -= events.length;
    }
  }

  private failure: unknown;

  /** One transaction; answers whether it committed, counting either way. */
  private async commit(events: readonly CanonicalEvent[]): Promise<boolean> {
    try {
      await this.storage.appendEvents(events);
      this.counters.commits++;
      this.counters.committedEvents += events.length;
      return true;
    } catch (cause) {
      this.counters.failedCommits++;
      this.failure = cause;
      this.onCommitError?.(cause);
      return false;
    }
  }

  private lastFailure() {
    const error = unavailable('Storage could not commit this event, so it was not stored. Retry.');
    error.cause = this.failure;
    return error;
  }

  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let size = 0;
    while (this.waiting.length > 0) {
      const next = this.waiting[0] as Pending;
      if (batch.length > 0 && size + next.events.length > this.options.batchSize) break;
      batch.push(next);
      size += next.events.length;
      this.waiting.shift();
    }
    return batch;
  }

  private retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.queued / Math.max(this.options.batchSize, 1) / 10));
  }
}
