import { randomUUID } from 'node:crypto';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { overloaded, unavailable } from '../core/errors.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { Storage } from '../storage/storage.ts';
import {
  formatPosition,
  type IngestLog,
  type LoggedRecord,
  type LogPosition,
  parsePosition,
} from './ingest-log.ts';

interface Pending {
  events: readonly CanonicalEvent[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Events accepted but not yet in the store; beyond it `submit` refuses with 503. */
  capacity: number;
  /** Most events loaded into the store in one append. */
  batchSize: number;
  /** Extra wait to gather a bigger log write, in ms; 0 writes as soon as the log is free. */
  lingerMs: number;
  /** How long acknowledged events may wait before they are loaded into the store, in ms. */
  loadIntervalMs: number;
  /** Told how each log write and each load went (the server's metrics); never allowed to throw. */
  observer?: IngestObserver;
}

/** What the writer reports as it works, for metrics. Durations are in seconds. */
export interface IngestObserver {
  /** These events are on disk, about to be acknowledged. */
  acknowledged?(events: readonly CanonicalEvent[]): void;
  /** One write to the ingest log (ok: it succeeded). */
  logWrite?(seconds: number, ok: boolean): void;
  /**
   * One load into the store, its append and its checkpoint (ok: both succeeded), and, when it did, how long
   * the oldest of its events had waited since it was acknowledged.
   */
  load?(seconds: number, ok: boolean, lagSeconds: number): void;
}

export interface IngestStats {
  /** Submitted, not yet acknowledged. */
  queued: number;
  /** Acknowledged (in the log), not yet in the store. */
  unloaded: number;
  acknowledgedEvents: number;
  logWrites: number;
  loadedEvents: number;
  loads: number;
  failedLoads: number;
  deadLettered: number;
  shed: number;
  /** The last write to the ingest log failed and none has succeeded since: events are answered 503. */
  logFailing: boolean;
  /** Draining before a stop: new events are refused. */
  closing: boolean;
  /** Starting (the ingest log left by the last run is being loaded): new events are refused. */
  starting: boolean;
}

/**
 * How many of the first items fit within `limit` events: at least one, so a single item larger than the
 * limit still goes through on its own.
 */
function prefixWithin(items: readonly { events: readonly unknown[] }[], limit: number): number {
  let size = 0;
  let count = 0;
  for (const item of items) {
    if (count > 0 && size + item.events.length > limit) break;
    size += item.events.length;
    count++;
  }
  return count;
}

/**
 * The checkpoints that record how far the store has consumed an ingest log are named `ingest-log:<log id>`.
 * Each server keeps its own log on its own disk, and several may share a store: one name for all would let a
 * server's restart start from another's position, skipping its own acknowledged events. The id is drawn once
 * per log directory and kept in it (LOG_ID_FILE); a log without one (this version's first start over an older
 * log) is replayed from its start, which the idempotent append makes harmless.
 */
export const LOG_CHECKPOINT = 'ingest-log';
const LOG_ID_FILE = 'log-id';

/** The checkpoint name of the ingest log in `dir`, its id drawn and kept there durably the first time. */
export async function logCheckpointName(dir: string): Promise<string> {
  const file = path.join(dir, LOG_ID_FILE);
  const kept = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (kept?.trim()) return `${LOG_CHECKPOINT}:${kept.trim()}`;
  const id = randomUUID();
  const handle = await open(file, 'w');
  try {
    await handle.writeFile(id);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return `${LOG_CHECKPOINT}:${id}`;
}

/**
 * The bounded ingest queue and its two stages.
 *
 * 1. Group commit into the log: everything submitted while the previous log write ran goes out in the
 *    next one, as one synchronous (O_DSYNC) write; only then are those submits acknowledged. An
 *    acknowledgement therefore always means the events are on disk.
 * 2. Loading: acknowledged events are appended to the store in large loads, each followed by saving the log
 *    position it reached. A restart replays the log from the position last saved: a crash between an append
 *    and its save replays events the store already holds, which the store's append (idempotent by event id)
 *    does not store again, so every acknowledged event is stored exactly once.
 *
 * Back-pressure counts both stages: when the store falls behind, new submits are refused with 503
 * rather than held in memory without bound.
 */
export class GroupCommit {
  private readonly waiting: Pending[] = [];
  private readonly unloaded: LoggedRecord[] = [];
  /** Events written to the log's segment `segmentOf` (kept while the store loads segments whole). */
  private segmentEvents = 0;
  private segmentOf = 0;
  /** When each record of `unloaded` was acknowledged (ms since the epoch), in the same order. */
  private readonly loggedAt: number[] = [];
  /** Until it settles, new events are refused and sync() waits (see hold). */
  private held: Promise<unknown> | undefined;
  private queued = 0;
  private unloadedEvents = 0;
  private writing: Promise<void> | undefined;
  private loading: Promise<void> | undefined;
  private loadTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;
  /** Segments below this one were deleted after loading (recovery deletes the older runs' segments). */
  private releasedBefore = 0;
  private closed = false;
  private logFailing = false;
  private loggedRecords = 0;
  private loadedRecords = 0;
  private readonly syncWaiters: { target: number; resolve: () => void }[] = [];
  /** The records (position and events set aside) written to the dead-letter file by this run. */
  private readonly deadLettered = new Set<string>();
  private deadLetterTail: Promise<unknown> = Promise.resolve();
  /** This log's checkpoint name (logCheckpointName), read once. */
  private checkpointName: Promise<string> | undefined;
  private readonly counters = {
    acknowledgedEvents: 0,
    logWrites: 0,
    loadedEvents: 0,
    loads: 0,
    failedLoads: 0,
    deadLettered: 0,
    shed: 0,
  };

  constructor(
    private readonly storage: Storage,
    private readonly log: IngestLog,
    private readonly options: GroupCommitOptions,
    private readonly onError: (message: string, cause: unknown) => void = () => undefined,
  ) {}

  /** The name of the checkpoint that records how far the store has loaded this writer's log. */
  checkpoint(): Promise<string> {
    this.checkpointName ??= logCheckpointName(this.log.dir);
    return this.checkpointName;
  }

  /** Saves how far the store has loaded this writer's log. */
  private async savePosition(position: LogPosition): Promise<void> {
    await this.storage.saveCheckpoint(await this.checkpoint(), formatPosition(position));
  }

  /**
   * Loads into the store whatever earlier runs acknowledged but did not load (after a crash, say).
   * Call once, before the first submit.
   */
  async recover(): Promise<number> {
    const from = parsePosition(await this.storage.readCheckpoint(await this.checkpoint()));
    let recovered = 0;
    const corrupt = (file: string, offset: number, error: unknown) =>
      this.onError(`unreadable ingest log record in ${file} at byte ${offset}; skipped`, error);
    for (const segment of await this.log.unconsumed(from)) {
      const whole = !(from && from.segment === segment && from.offset > 0);
      if (whole && this.storage.loadEventFile) {
        const loaded = await this.loadPrepared(segment);
        if (loaded !== undefined) {
          recovered += loaded;
          continue;
        }
      }
      let batch: LoggedRecord[] = [];
      let batchEvents = 0;
      const flush = async () => {
        const last = batch.at(-1);
        if (!last) return;
        await this.storage.appendEvents(batch.flatMap((r) => r.events));
        await holdForTest();
        await this.savePosition(last.position);
        recovered += batchEvents;
        batch = [];
        batchEvents = 0;
      };
      for await (const record of this.log.replay(from, corrupt, segment)) {
        batch.push(record);
        batchEvents += record.events.length;
        if (batchEvents >= this.options.batchSize) await flush();
      }
      await flush();
    }
    // Everything the earlier runs logged is in the store now: their segments can go.
    await this.log.release({ segment: Number.MAX_SAFE_INTEGER, offset: 0 });
    return recovered;
  }

  /**
   * An earlier run's segment loaded whole by the store's bulk loader; answers its events, or undefined when it
   * must be read record by record instead (written by an older version, a damaged record, a load refused).
   */
  private async loadPrepared(segment: number): Promise<number | undefined> {
    const prepared = await this.log.prepare(segment);
    if (!prepared) return undefined;
    if (prepared.end === 0) return 0;
    try {
      await this.storage.loadEventFile?.(prepared.file);
      await holdForTest();
      await this.savePosition({ segment, offset: prepared.end });
      return prepared.rows;
    } catch (cause) {
      this.onError(`loading ${prepared.file} whole failed; it is read record by record`, cause);
      return undefined;
    }
  }

  /**
   * Refuses new events (503) and holds sync() until `work` settles: a server that listens while it recovers
   * (work: recover(), then whatever must follow it before the first event) takes no event meanwhile, and its
   * readers wait for the recovered events.
   */
  hold(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.held = settled;
    void settled.then(() => {
      if (this.held === settled) this.held = undefined;
    });
  }

  /**
   * Refuses (503) what `submit` would refuse for `count` events now, before a caller spends work on them:
   * under overload, checking a big batch only to shed it would take the CPU the store needs to catch up.
   */
  admit(count: number): void {
    if (this.closed) throw unavailable('The server is shutting down; the event was not accepted. Retry.');
    if (this.held) {
      throw unavailable(
        'The server is starting: it is loading the events its last run acknowledged into the store. Retry.',
      );
    }
    const held = this.queued + this.unloadedEvents;
    if (held + count > this.options.capacity && held > 0) {
      this.counters.shed += count;
      throw overloaded(this.retryAfterSeconds());
    }
  }

  /** Resolves once the events are durable (in the log); rejects with 503 at once when full or closing. */
  submit(events: readonly CanonicalEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    try {
      this.admit(events.length);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ events, resolve, reject });
      this.queued += events.length;
      this.scheduleWrite();
    });
  }

  /** Resolves once every event acknowledged before the call is in the store (read-your-writes). */
  sync(): Promise<void> {
    if (this.held) return this.held.then(() => this.sync());
    const target = this.loggedRecords;
    if (this.loadedRecords >= target) return Promise.resolve();
    return new Promise((resolve) => {
      this.syncWaiters.push({ target, resolve });
      this.scheduleLoad(true);
    });
  }

  /**
   * Every event acknowledged before the call is in the store, and the log segments that held them are deleted
   * (a person's erasure: nothing of theirs may stay in the log on disk). The segment being written is ended
   * first, so that it can go too; events acknowledged from then on are in the next one.
   */
  async purge(): Promise<void> {
    if (this.held) await this.held;
    const before = this.log.current;
    const sealed = await this.log.seal();
    const last = sealed ?? before - 1;
    // A write whose append went to the sealed segment may not have counted its record yet.
    if (this.writing) await this.writing;
    await this.sync();
    await this.log.release({ segment: last + 1, offset: 0 });
  }

  /**
   * Removes from the dead-letter file every event of `org` set aside whose text contains `text` (a person's
   * identifier); answers how many. Set-aside events are not in the store, so an erasure finds them only here.
   */
  eraseDeadLettered(org: string, text: string): Promise<number> {
    return this.deadLetterWork(async () => {
      const file = path.join(this.log.dir, 'dead-letter.jsonl');
      const content = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (content === undefined || !content.includes(text)) return 0;
      let removed = 0;
      const lines: string[] = [];
      for (const line of content.split('\n')) {
        if (!line.includes(text)) {
          if (line) lines.push(line);
          continue;
        }
        const entry = JSON.parse(line) as { events: { org?: unknown }[] };
        const kept = entry.events.filter((e) => e.org !== org || !JSON.stringify(e).includes(text));
        removed += entry.events.length - kept.length;
        if (kept.length > 0) lines.push(JSON.stringify({ ...entry, events: kept }));
      }
      const temporary = `${file}.erasing`;
      const handle = await open(temporary, 'w');
      try {
        await handle.writeFile(lines.map((line) => `${line}\n`).join(''));
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
      return removed;
    });
  }

  /** Dead-letter writes and rewrites, one at a time: a rewrite must not lose an append made under it. */
  private deadLetterWork<T>(work: () => Promise<T>): Promise<T> {
    const run = this.deadLetterTail.then(work, work);
    this.deadLetterTail = run.catch(() => undefined);
    return run;
  }

  stats(): IngestStats {
    return {
      queued: this.queued,
      unloaded: this.unloadedEvents,
      ...this.counters,
      logFailing: this.logFailing,
      closing: this.closed,
      starting: this.held !== undefined,
    };
  }

  /** Refuses new events, then waits until everything already accepted is logged and loaded. */
  async drain(): Promise<void> {
    this.closed = true;
    // A stop during recovery lets it finish: it reads the log this closes.
    if (this.held) await this.held;
    while (this.writing || this.waiting.length > 0) {
      if (!this.writing) this.scheduleWrite();
      await this.writing;
    }
    if (this.unloaded.length > 0 || this.loading) await this.sync();
    await this.log.close();
  }

  // ---- stage 1: the log -------------------------------------------------------------------------

  private scheduleWrite(): void {
    if (this.writing || this.waiting.length === 0) return;
    this.writing = this.writeToLog().finally(() => {
      this.writing = undefined;
      // Events that arrived during the last write start the next one.
      this.scheduleWrite();
    });
  }

  private async writeToLog(): Promise<void> {
    // Yield once so that requests parsed in the same turn of the event loop share this write.
    await new Promise<void>((r) =>
      this.options.lingerMs > 0 ? setTimeout(r, this.options.lingerMs) : setImmediate(r),
    );
    const batch = this.takeBatch();
    const events = batch.flatMap((p) => p.events);
    const started = performance.now();
    try {
      // A segment is loaded whole: one that would pass batchSize events is ended first (at most one in
      // batchSize events pays for a new file).
      if (this.storage.loadEventFile) {
        if (this.segmentOf !== this.log.current) {
          this.segmentOf = this.log.current;
          this.segmentEvents = 0;
        }
        if (this.segmentEvents > 0 && this.segmentEvents + events.length > this.options.batchSize) {
          await this.log.seal();
        }
        if (this.segmentOf !== this.log.current) {
          this.segmentOf = this.log.current;
          this.segmentEvents = 0;
        }
        this.segmentEvents += events.length;
      }
      const { position, start } = await this.log.append(events);
      const seconds = (performance.now() - started) / 1000;
      this.tell((o) => {
        o.logWrite?.(seconds, true);
        o.acknowledged?.(events);
      });
      this.counters.logWrites++;
      this.logFailing = false;
      this.counters.acknowledgedEvents += events.length;
      this.unloaded.push({ events, position, start });
      this.loggedAt.push(Date.now());
      this.unloadedEvents += events.length;
      this.loggedRecords++;
      for (const p of batch) p.resolve();
      this.scheduleLoad(this.unloadedEvents >= this.options.batchSize);
    } catch (cause) {
      const seconds = (performance.now() - started) / 1000;
      this.tell((o) => o.logWrite?.(seconds, false));
      this.onError('ingest log write failed; its events were answered 503', cause);
      this.logFailing = true;
      const error = unavailable('The event could not be written to disk, so it was not accepted. Retry.');
      error.cause = cause;
      for (const p of batch) p.reject(error);
    } finally {
      // Counted until now, so events whose write is under way still count against the capacity.
      this.queued -= events.length;
    }
  }

  /** Submits for one log record, so that each record can later be loaded in one transaction. */
  private takeBatch(): Pending[] {
    return this.waiting.splice(0, prefixWithin(this.waiting, this.options.batchSize));
  }

  // ---- stage 2: the store -----------------------------------------------------------------------

  private scheduleLoad(now = false): void {
    if (this.loading || this.unloaded.length === 0) return;
    if (this.loadTimer && !now) return;
    clearTimeout(this.loadTimer);
    const delay = now ? 0 : Math.max(this.options.loadIntervalMs, this.retryDelayMs);
    this.loadTimer = setTimeout(() => {
      this.loadTimer = undefined;
      this.loading = this.loadIntoStore()
        // Setting a record aside needs the store too (its checkpoint): if the store fails then, wait and retry,
        // as for any failed load, rather than let the rejection end the process.
        .catch((cause) => {
          this.onError('loading into the store failed; it is retried', cause);
          this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, 100), 5_000);
        })
        .finally(() => {
          this.loading = undefined;
          this.scheduleLoad(this.unloadedEvents >= this.options.batchSize || this.syncWaiters.length > 0);
        });
    }, delay);
    // A routine load must not keep a process alive on its own (drain() loads what is left); one that
    // somebody waits for must.
    if (!now) this.loadTimer.unref();
  }

  private async loadIntoStore(): Promise<void> {
    if (await this.loadSegment()) {
      this.retryDelayMs = 0;
      return;
    }
    const records = this.unloaded.slice(0, prefixWithin(this.unloaded, this.options.batchSize));
    if (await this.load(records)) {
      this.retryDelayMs = 0;
      return;
    }
    // The store refused the batch. Go record by record, in order, so the checkpoint never passes a
    // record that is not stored. A record the store refuses alone, while it still takes a checkpoint
    // write, holds poison: its poisoned events are set aside durably in a dead-letter file, and only
    // then skipped, so one bad event cannot block every event behind it. If the store takes nothing, it is
    // down: wait.
    for (const record of records) {
      if (await this.load([record])) continue;
      if (!(await this.storeWorks())) {
        this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, 100), 5_000);
        return;
      }
      // Once more before calling it poison: a refusal that does not repeat was the transaction's, not the
      // record's (a transaction aborted by something else on the connection), and sets nothing aside.
      if (await this.load([record])) continue;
      await this.setAside(record);
    }
    this.retryDelayMs = 0;
  }

  /**
   * The oldest unloaded segment loaded whole from its file by the store's bulk loader (ending it first if it is
   * the one being written), when the store has one and nothing of the segment is loaded yet. False when it
   * cannot, or the load failed: the records are then appended from memory (load), where a refused event is
   * found and set aside.
   */
  private async loadSegment(): Promise<boolean> {
    const first = this.unloaded[0];
    if (!this.storage.loadEventFile || !first || first.start !== 0) return false;
    const { segment } = first.position;
    if (segment === this.log.current) await this.log.seal();
    if (segment === this.log.current || !this.log.loadable(segment)) return false;
    const count = this.unloaded.findIndex((r) => r.position.segment !== segment);
    const records = this.unloaded.slice(0, count < 0 ? this.unloaded.length : count);
    const file = this.log.segmentFile(segment);
    return this.load(records, () => this.storage.loadEventFile?.(file) ?? Promise.resolve());
  }

  /** One load: the records' events (or `store`, which stores them), then the log position after the last of them. */
  private async load(records: readonly LoggedRecord[], store?: () => Promise<void>): Promise<boolean> {
    const last = records.at(-1);
    if (!last) return true;
    const events = records.flatMap((r) => r.events);
    const started = performance.now();
    try {
      if (store) await store();
      else await this.storage.appendEvents(events);
      await holdForTest();
      await this.savePosition(last.position);
      const seconds = (performance.now() - started) / 1000;
      // The records loaded are the oldest unloaded ones: loggedAt[0] is the first's acknowledgement.
      const lag = (Date.now() - (this.loggedAt[0] ?? Date.now())) / 1000;
      this.tell((o) => o.load?.(seconds, true, lag));
    } catch (cause) {
      const seconds = (performance.now() - started) / 1000;
      this.tell((o) => o.load?.(seconds, false, 0));
      this.counters.failedLoads++;
      this.onError(
        `loading ${events.length} acknowledged events into the store failed; they stay in the log`,
        cause,
      );
      return false;
    }
    this.counters.loads++;
    this.counters.loadedEvents += events.length;
    this.forget(records.length, events.length);
    // Segments end only when the log rotates (64 MiB): look for finished ones only then, not on every load.
    if (last.position.segment > this.releasedBefore) {
      this.releasedBefore = last.position.segment;
      await this.log
        .release(last.position)
        .catch((cause) => this.onError('could not delete a loaded log segment', cause));
    }
    return true;
  }

  /**
   * Whether the store takes a write at all: the log position saved last, saved again (a write every engine
   * makes for real, where an empty append may be no work). A fresh store that has none only answers the read.
   */
  private async storeWorks(): Promise<boolean> {
    try {
      const name = await this.checkpoint();
      const saved = await this.storage.readCheckpoint(name);
      if (saved !== undefined) await this.storage.saveCheckpoint(name, saved);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A record the store refuses even alone. One record holds the events of every request that its log write
   * grouped, so setting it aside whole would set aside other clients' acknowledged events with the one at
   * fault. The events the store refuses one by one, twice (tried in transactions it rolls back), are set aside,
   * durably, first; the others are then appended and the checkpoint saved past the record (a retry appends
   * them again, which the store ignores), so each is stored exactly once. A store that cannot tell (no refusedEvents), that refuses every event, or none alone,
   * has the record set aside whole.
   */
  private async setAside(record: LoggedRecord): Promise<void> {
    const { events } = record;
    const refused = events.length > 1 ? await this.refusedTwice(events) : new Set<number>();
    if (refused.size > 0 && refused.size < events.length) {
      const poisoned = events.filter((_, i) => refused.has(i));
      const rest = events.filter((_, i) => !refused.has(i));
      const file = await this.writeDeadLetter(record.position, poisoned);
      // If this fails, the load is retried from this record: its poisoned events may then be written to the
      // dead-letter file twice, and the others are never set aside.
      await this.storage.appendEvents(rest);
      await this.savePosition(record.position);
      this.counters.loads++;
      this.counters.loadedEvents += rest.length;
      this.counters.deadLettered += poisoned.length;
      this.onError(
        `the store refused ${poisoned.length} of ${events.length} acknowledged events of a record even alone; kept in ${file}, the others loaded`,
        undefined,
      );
      this.forget(1, events.length);
      return;
    }
    await this.deadLetter(record);
  }

  /** The events the store refuses alone, asked twice: only a refusal that repeats counts. */
  private async refusedTwice(events: readonly CanonicalEvent[]): Promise<Set<number>> {
    const { storage } = this;
    if (!storage.refusedEvents) return new Set();
    const first = await storage.refusedEvents(events).catch(() => []);
    if (first.length === 0) return new Set();
    const again = await storage.refusedEvents(first.map((i) => events[i] as CanonicalEvent)).catch(() => []);
    return new Set(again.map((j) => first[j] as number));
  }

  /**
   * Appends events to the dead-letter file and waits until they are on disk; answers the file. The events of a
   * record already written there (a load retried after its poisoned events were set aside) are not written again.
   */
  private writeDeadLetter(position: LogPosition, events: readonly CanonicalEvent[]): Promise<string> {
    return this.deadLetterWork(async () => {
      const file = path.join(this.log.dir, 'dead-letter.jsonl');
      const key = `${formatPosition(position)} ${events.length}`;
      if (this.deadLettered.has(key)) return file;
      const handle = await open(file, 'a');
      try {
        await handle.writeFile(`${JSON.stringify({ at: new Date(), position, events })}\n`);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.deadLettered.add(key);
      return file;
    });
  }

  private async deadLetter(record: LoggedRecord): Promise<void> {
    const file = await this.writeDeadLetter(record.position, record.events);
    // Only now, with the record safe elsewhere, may the checkpoint pass it.
    await this.savePosition(record.position);
    this.counters.deadLettered += record.events.length;
    this.onError(
      `the store refused ${record.events.length} acknowledged events even alone; kept in ${file}`,
      undefined,
    );
    this.forget(1, record.events.length);
  }

  /** Drops the oldest records from memory once they are in the store (or set aside). */
  private forget(records: number, events: number): void {
    this.unloaded.splice(0, records);
    this.loggedAt.splice(0, records);
    this.unloadedEvents -= events;
    this.loadedRecords += records;
    for (let i = this.syncWaiters.length - 1; i >= 0; i--) {
      const waiter = this.syncWaiters[i];
      if (waiter && waiter.target <= this.loadedRecords) {
        this.syncWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** Tells the observer what happened; whatever it does, it cannot break the writer. */
  private tell(report: (observer: IngestObserver) => void): void {
    const observer = this.options.observer;
    if (!observer) return;
    try {
      report(observer);
    } catch {}
  }

  private retryAfterSeconds(): number {
    return Math.max(
      1,
      Math.ceil((this.queued + this.unloadedEvents) / Math.max(this.options.batchSize, 1) / 10),
    );
  }
}

/**
 * A test's window between a load and its checkpoint: with OPENUA_TEST_HOLD_AFTER_LOAD set to a file name, the
 * first load that reaches here creates that file and never goes on, so a test can kill the process exactly where
 * a crash makes the replay store what the store already holds.
 */
let held = false;
async function holdForTest(): Promise<void> {
  const file = process.env.OPENUA_TEST_HOLD_AFTER_LOAD;
  if (!file || held) return;
  held = true;
  await writeFile(file, String(process.pid));
  await new Promise(() => undefined);
}
