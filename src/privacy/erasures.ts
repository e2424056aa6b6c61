import { randomUUID } from 'node:crypto';
import type { ChannelRecords } from '../channel/records.ts';
import { notFound } from '../core/errors.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import type { IdempotencyIndex } from '../ingest/idempotency.ts';
import { REJECTIONS, type Rejections } from '../ingest/rejections.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import { newEventId } from '../model/event-id.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import type { AuditActor, AuditLog } from './audit-log.ts';
import { IDENTIFIER_PLACES, type IdentifierKind, type Subject, subjectEvents } from './identifiers.ts';

/**
 * A person's erasure, as a job: requested (queued), run in the background one at a time per server, and kept
 * with what it found and removed. The identifier is kept in clear only until the job is done, so that a restart
 * can finish it (the work is idempotent); the subject is known afterwards by the audit log's keyed hash only.
 */

export type ErasureMode = 'anonymise' | 'delete';
export type ErasureState = 'queued' | 'running' | 'done' | 'failed';

/** What a job found (or removed), by kind; records by table. */
export interface ErasureCounts {
  events: number;
  records: Record<string, number>;
  rejections: number;
  idempotencyKeys: number;
  deadLettered: number;
}

export interface ErasureJob {
  id: string;
  org: string;
  kind: IdentifierKind;
  /** The audit log's keyed hash of `kind:value` (null when the audit log could not hash it). */
  subjectHash: string | null;
  /** The identifier, while the job is queued or running; null once it ends. */
  identifier: string | null;
  mode: ErasureMode;
  state: ErasureState;
  requestedAt: Date;
  /** `<actor kind>:<actor id>`. */
  requestedBy: string;
  /** Every event acknowledged before this instant is covered; a later one is not. */
  coveredUntil: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  found: ErasureCounts | null;
  removed: ErasureCounts | null;
  error: string | null;
}

export const PRIVACY_ERASURES: EntityTable<ErasureJob> = {
  name: 'privacy_erasures',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    kind: 'text',
    subjectHash: 'text',
    identifier: 'text',
    mode: 'text',
    state: 'text',
    requestedAt: 'timestamp',
    requestedBy: 'text',
    coveredUntil: 'timestamp',
    startedAt: 'timestamp',
    finishedAt: 'timestamp',
    found: 'json',
    removed: 'json',
    error: 'text',
  },
};

/** A job as the API answers it: never the identifier. */
export function publicErasure(job: ErasureJob) {
  const { identifier: _identifier, ...rest } = job;
  return rest;
}

/** Events changed or read per store call. */
const PAGE = 500;

/** Fields an anonymised event keeps as they are: they are the server's, never a person's. */
const SERVER_FIELDS = new Set(['id', 'org', 'category', 'receivedTime', 'derivedTime', 'credentialId']);

/** The event with `value` replaced by `pseudonym` wherever it appears in its text; undefined when it holds none. */
export function anonymised(
  event: CanonicalEvent,
  subject: Subject,
  pseudonym: string,
): Partial<CanonicalEvent> | undefined {
  const { value } = subject;
  const changes: Record<string, unknown> = {};
  for (const [field, held] of Object.entries(event)) {
    if (SERVER_FIELDS.has(field) || held === null || held === undefined) continue;
    if (typeof held === 'string') {
      if (held.includes(value)) changes[field] = held.replaceAll(value, pseudonym);
    } else if (field === 'customData') {
      const data = held as Record<string, string>;
      if (Object.values(data).some((v) => v.includes(value))) {
        changes.customData = Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, v.replaceAll(value, pseudonym)]),
        );
      }
    } else if (typeof held === 'object' && !(held instanceof Date)) {
      // Lists (userGroups) and lists of objects (facetState, results), kept whole.
      const text = JSON.stringify(held);
      if (text.includes(value)) changes[field] = JSON.parse(text.replaceAll(value, pseudonym));
    }
  }
  // The display name goes with the username: it is the same person's, and may not contain the id.
  if (subject.kind === 'username' && event.userDisplayName !== null) changes.userDisplayName = null;
  return Object.keys(changes).length > 0 ? (changes as Partial<CanonicalEvent>) : undefined;
}

interface Logger {
  error(object: unknown, message?: string): void;
  info(object: unknown, message?: string): void;
}

export interface ErasureParts {
  storage: Storage;
  writer: GroupCommit;
  rejections: Rejections;
  keys: IdempotencyIndex;
  channelRecords: ChannelRecords;
  audit: AuditLog;
}

export class Erasures {
  private running: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  private log: Logger | undefined;

  constructor(private readonly parts: ErasureParts) {}

  /** Queues an erasure and starts it when the runner is started; answers the job. */
  async request(org: string, subject: Subject, mode: ErasureMode, actor: AuditActor): Promise<ErasureJob> {
    const id = newEventId(Date.now());
    const entry = await this.parts.audit.record({
      org,
      actor,
      action: 'erasure.request',
      subject,
      target: id,
      details: { kind: subject.kind, mode },
    });
    const job: ErasureJob = {
      id,
      org,
      kind: subject.kind,
      subjectHash: entry.subjectHash,
      identifier: subject.value,
      mode,
      state: 'queued',
      requestedAt: new Date(),
      requestedBy: `${actor.kind}:${actor.id}`,
      coveredUntil: null,
      startedAt: null,
      finishedAt: null,
      found: null,
      removed: null,
      error: null,
    };
    await this.parts.storage.upsert(PRIVACY_ERASURES, job);
    this.kick();
    return job;
  }

  async get(org: string, id: string): Promise<ErasureJob> {
    const [job] = await this.parts.storage.find(PRIVACY_ERASURES, { org, id });
    if (!job) throw notFound(`No erasure ${JSON.stringify(id)} in this organization`);
    return job;
  }

  async list(org: string): Promise<ErasureJob[]> {
    const { rows } = await this.parts.storage.query(
      PRIVACY_ERASURES,
      { org },
      { orderBy: [{ field: 'requestedAt', descending: true }] },
    );
    return rows;
  }

  /** Runs queued jobs from now on, resuming those a stop left unfinished (a serving server only). */
  start(log?: Logger): void {
    this.log = log;
    this.started = true;
    this.kick();
  }

  /** Runs no further job; waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Waits until no job is queued or running (the CLI, which runs jobs in its own process). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (!this.started || this.stopped || this.running) return;
    this.running = this.drain()
      .catch((error: unknown) => this.log?.error({ err: error }, 'the erasure runner failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const { storage } = this.parts;
      const waiting = [
        ...(await storage.find(PRIVACY_ERASURES, { state: 'running' })),
        ...(await storage.find(PRIVACY_ERASURES, { state: 'queued' })),
      ].sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime());
      const job = waiting[0];
      if (!job) return;
      await this.run(job).catch(async (error: unknown) => {
        this.log?.error({ err: error, erasure: job.id }, 'an erasure failed');
        // Failed, it forgets the identifier too: a new request names the person again and does the work again.
        await storage.upsert(PRIVACY_ERASURES, {
          ...job,
          identifier: null,
          state: 'failed',
          finishedAt: new Date(),
          error: error instanceof Error ? error.message : String(error),
        });
        await storage.expunge?.([PRIVACY_ERASURES.name]).catch(() => undefined);
      });
    }
  }

  private async run(queued: ErasureJob): Promise<void> {
    const { storage, writer, rejections } = this.parts;
    if (!queued.identifier)
      throw new Error('the job no longer holds the identifier: request the erasure again');
    const subject: Subject = { kind: queued.kind, value: queued.identifier };
    const coveredUntil = new Date();
    let job: ErasureJob = { ...queued, state: 'running', startedAt: new Date(), coveredUntil };
    await storage.upsert(PRIVACY_ERASURES, job);
    // Every event acknowledged until now into the store, and the log segments that held them off the disk.
    await writer.purge();
    await rejections.flush();
    const found = emptyCounts();
    const removed = emptyCounts();
    const tables = new Set<string>(['events', REJECTIONS.name]);

    const filter = subjectEvents(subject);
    if (job.mode === 'delete') {
      found.events =
        (await storage.queryEvents(job.org, { where: filter, limit: 0, count: true })).count ?? 0;
      removed.events = await storage.deleteEvents(job.org, filter);
    } else {
      // Made for this job only, from nothing the person gave: nothing leads from it back to them.
      const pseudonym = `erased-${randomUUID()}`;
      for (;;) {
        // Anonymised events no longer match: the first page is always the next one.
        const { rows } = await storage.queryEvents(job.org, { where: filter, limit: PAGE });
        if (rows.length === 0) break;
        found.events += rows.length;
        const updates = rows.map((event) => ({
          id: event.id,
          changes: anonymised(event, subject, pseudonym) ?? {},
        }));
        if (storage.updateEvents) removed.events += await storage.updateEvents(job.org, updates);
        else {
          for (const { id, changes } of updates) {
            if (await storage.updateEvent(job.org, id, changes)) removed.events++;
          }
        }
      }
    }

    for (const { set, field } of IDENTIFIER_PLACES[subject.kind].records) {
      const table = set.table as EntityTable<object>;
      const equal = { org: job.org, [field]: subject.value };
      const rows = (await storage.find(table, equal)) as { id: string }[];
      found.records[table.name] = (found.records[table.name] ?? 0) + rows.length;
      removed.records[table.name] = (removed.records[table.name] ?? 0) + (await storage.remove(table, equal));
      // The record cache forgets them (a fresh read finds none).
      for (const row of rows) await this.parts.channelRecords.get(set, job.org, row.id, true);
      tables.add(table.name);
    }

    const holding = { kind: 'match', op: 'contains', field: 'payload', value: subject.value } as const;
    found.rejections =
      (await storage.query(REJECTIONS, { org: job.org }, { limit: 0, count: true, where: holding })).count ??
      0;
    removed.rejections = await storage.remove(REJECTIONS, { org: job.org }, holding);

    found.idempotencyKeys = removed.idempotencyKeys = this.parts.keys.forgetContaining(
      job.org,
      subject.value,
    );
    found.deadLettered = removed.deadLettered = await writer.eraseDeadLettered(job.org, subject.value);

    // Old versions of what changed, and what was deleted, physically gone (and DuckDB's KPI units rebuilt).
    await storage.expunge?.([...tables]);
    // Recorded before the job says done, so that a done job has its entry; a failure here does not fail it.
    await this.parts.audit
      .record({
        org: queued.org,
        actor: { kind: 'system', id: 'erasure' },
        action: 'erasure.complete',
        subject,
        target: queued.id,
        rows: removed.events + sum(removed.records) + removed.rejections,
        details: { mode: queued.mode, coveredUntil, found, removed },
      })
      .catch((error: unknown) =>
        this.log?.error({ err: error, erasure: queued.id }, 'auditing an erasure failed'),
      );
    job = { ...job, state: 'done', identifier: null, finishedAt: new Date(), found, removed, error: null };
    await storage.upsert(PRIVACY_ERASURES, job);
    // The job's own earlier versions held the identifier.
    await storage
      .expunge?.([PRIVACY_ERASURES.name])
      .catch((error: unknown) => this.log?.error({ err: error }, 'expunging the erasure jobs failed'));
    this.log?.info({ erasure: job.id, removed }, 'erasure done');
  }
}

const emptyCounts = (): ErasureCounts => ({
  events: 0,
  records: {},
  rejections: 0,
  idempotencyKeys: 0,
  deadLettered: 0,
});

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
