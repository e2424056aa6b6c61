import { setTimeout as pause } from 'node:timers/promises';
import { CONVERSATIONS, type EntitySet, PARTICIPANTS, SESSIONS } from '../channel/entity-sets.ts';
import type { ChannelRecords } from '../channel/records.ts';
import type { EventReader } from '../ingest/event-reader.ts';
import type { Organization, Organizations } from '../orgs/organizations.ts';
import type { RecordFilter, Storage } from '../storage/storage.ts';
import type { AuditLog } from './audit-log.ts';

/**
 * Retention per organization (docs/operations/retention.md): what each setting covers, the instant before which
 * its data goes, and the sweep that removes it in bounded chunks, resumable after a restart.
 */

/** What a retention setting covers: events but KPI events, KPI events, Channel Analytics records. */
export type RetentionKind = 'events' | 'kpiEvents' | 'records';
export const RETENTION_KINDS: readonly RetentionKind[] = ['events', 'kpiEvents', 'records'];

export type RetentionSettings = Pick<
  Organization,
  'eventRetentionDays' | 'kpiEventRetentionDays' | 'recordRetentionDays'
>;

const SETTING_OF = {
  events: 'eventRetentionDays',
  kpiEvents: 'kpiEventRetentionDays',
  records: 'recordRetentionDays',
} as const satisfies Record<RetentionKind, keyof RetentionSettings>;

/**
 * The records that follow conversations; providers and KPI event definitions are configuration and never expire.
 */
export const EXPIRING_RECORD_SETS: readonly EntitySet[] = [CONVERSATIONS, SESSIONS, PARTICIPANTS];

export const DAY_MS = 86_400_000;

const startOfUtcDay = (time: Date) => new Date(Math.floor(time.getTime() / DAY_MS) * DAY_MS);

/**
 * Per kind, the instant before which its data goes: 00:00 UTC of the day `days` before today. A whole day, so that
 * what "older" means does not move with the minute a sweep runs: an event at the cutoff itself is kept, one a
 * millisecond before it goes. A kind kept forever (null) has none.
 */
export function retentionCutoffs(
  settings: RetentionSettings,
  now: Date,
): Partial<Record<RetentionKind, Date>> {
  const today = startOfUtcDay(now).getTime();
  const cutoffs: Partial<Record<RetentionKind, Date>> = {};
  for (const kind of RETENTION_KINDS) {
    const days = settings[SETTING_OF[kind]];
    if (days !== null && days !== undefined) cutoffs[kind] = new Date(today - days * DAY_MS);
  }
  return cutoffs;
}

const before = (field: string, time: Date): RecordFilter => ({
  kind: 'compare',
  op: 'lt',
  field,
  value: time,
});

/** The events a kind covers (the records' sets are EXPIRING_RECORD_SETS). */
const CATEGORY: Record<Exclude<RetentionKind, 'records'>, RecordFilter> = {
  // A category other than kpi; null never happens (the column is required).
  events: { kind: 'compare', op: 'ne', field: 'category', value: 'kpi' },
  kpiEvents: { kind: 'compare', op: 'eq', field: 'category', value: 'kpi' },
};

/**
 * Where a sweep of one organization and kind got to, saved after each chunk (`retention:<org>:<kind>`). `next`: the
 * end of the last chunk removed while the sweep is unfinished, null once it finished; `removed`: the rows it
 * removed so far, so that a resumed sweep audits the whole of it once.
 */
interface Progress {
  cutoff: string;
  next: string | null;
  removed: number;
}

export const checkpointName = (org: string, kind: RetentionKind) => `retention:${org}:${kind}`;

function readProgress(value: string | undefined): Progress | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Progress;
    return typeof parsed.removed === 'number' ? parsed : undefined;
  } catch {
    // An unreadable checkpoint costs a sweep from the oldest row, which removes nothing twice.
    return undefined;
  }
}

/** What one sweep removed, by organization and kind (only those that removed rows). */
export type SweepReport = { org: string; kind: RetentionKind; cutoff: Date; rows: number }[];

export interface RetentionLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

const SILENT: RetentionLogger = { info: () => undefined, error: () => undefined };

export interface RetentionOptions {
  /** Seconds between the end of a sweep and the next (OPENUA_RETENTION_SWEEP_SECONDS); 0: no sweeps here. */
  intervalSeconds: number;
  /** How soon after start the first sweep runs, in ms; at most the interval. */
  firstSweepMs?: number;
  /** Each chunk removed, for the metrics. */
  onRemoved?: (kind: RetentionKind, rows: number) => void;
}

/** The longest pause between two chunks, however long the last one took. */
const MAX_PAUSE_MS = 10_000;

/** Soon, but after the start's own work (the ingest log's recovery, the first requests). */
const FIRST_SWEEP_MS = 10_000;

/**
 * Removes each organization's data older than its retention, a day of it per statement, oldest first, pausing
 * between chunks so that ingest and queries go on meanwhile. One sweep at a time in a process; several servers
 * over one store may each sweep, since removing what is gone removes nothing.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepReport> | undefined;
  private stopped = false;
  /** Ends a pause between chunks at stop(). */
  private readonly stopping = new AbortController();
  private log: RetentionLogger = SILENT;
  /** A test's hook, called after each chunk: throwing there stops the sweep as a crash would. */
  afterChunk: ((org: string, kind: RetentionKind, through: Date) => void) | undefined;

  constructor(
    private readonly organizations: Pick<Organizations, 'list'>,
    private readonly reader: Pick<EventReader, 'queryEvents' | 'deleteEvents'>,
    private readonly storage: Storage,
    private readonly records: Pick<ChannelRecords, 'expire'>,
    private readonly audit: Pick<AuditLog, 'record'>,
    private readonly options: RetentionOptions,
  ) {}

  /** Sweeps shortly after, then `intervalSeconds` after each sweep ends (never when it is 0). */
  start(log: RetentionLogger = SILENT): void {
    this.log = log;
    const intervalMs = this.options.intervalSeconds * 1000;
    if (intervalMs <= 0 || this.stopped) return;
    const next = (delay: number) => {
      this.timer = setTimeout(() => {
        void this.sweep().finally(() => {
          if (!this.stopped) next(intervalMs);
        });
      }, delay);
      this.timer.unref();
    };
    next(Math.min(this.options.firstSweepMs ?? FIRST_SWEEP_MS, intervalMs));
  }

  /** Stops the timer and waits for the sweep under way to end at its next chunk. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Sweeps every organization once (a sweep under way is joined, not doubled). Never throws: errors are logged. */
  sweep(now = new Date()): Promise<SweepReport> {
    this.running ??= this.sweepAll(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweepAll(now: Date): Promise<SweepReport> {
    const report: SweepReport = [];
    let orgs: Organization[];
    try {
      orgs = await this.organizations.list();
    } catch (error) {
      this.log.error({ err: error }, 'retention: the organizations could not be read');
      return report;
    }
    for (const org of orgs) {
      const cutoffs = retentionCutoffs(org, now);
      for (const kind of RETENTION_KINDS) {
        const cutoff = cutoffs[kind];
        if (!cutoff || this.stopped) continue;
        try {
          const rows = await this.sweepKind(org.id, kind, cutoff);
          if (rows > 0) report.push({ org: org.id, kind, cutoff, rows });
        } catch (error) {
          // The next sweep resumes from the checkpoint; the other organizations are swept meanwhile.
          this.log.error({ err: error, org: org.id, kind }, 'retention: a sweep failed');
        }
      }
    }
    await this.expunge(report);
    return report;
  }

  /**
   * Makes what the sweep removed physically gone: on ClickHouse a removed row is hidden by a tombstone that holds a
   * whole copy of it, and would stay on disk. Once per sweep that removed rows (the cutoff moves a day at a time, so
   * about once a day), never between chunks.
   */
  private async expunge(report: SweepReport): Promise<void> {
    const tables = new Set(
      report.flatMap(({ kind }) =>
        kind === 'records'
          ? EXPIRING_RECORD_SETS.map((set) => (set.table as NonNullable<EntitySet['table']>).name)
          : ['events'],
      ),
    );
    if (tables.size === 0 || this.stopped || !this.storage.expunge) return;
    try {
      await this.storage.expunge([...tables]);
    } catch (error) {
      // Hidden already; the next sweep that removes rows tries again.
      this.log.error({ err: error, tables: [...tables] }, 'retention: removed rows could not be expunged');
    }
  }

  /** Removes one organization's rows of one kind older than `cutoff`; answers how many, once the sweep finished. */
  private async sweepKind(org: string, kind: RetentionKind, cutoff: Date): Promise<number> {
    const name = checkpointName(org, kind);
    const saved = readProgress(await this.storage.readCheckpoint(name));
    const resuming = saved?.next ? saved : undefined;
    let removed = resuming?.removed ?? 0;
    // A resumed sweep goes on from where it stopped; a new one starts at the oldest row's day. Each chunk removes
    // everything before its end, so a late event older than where a resumed sweep starts still goes.
    let from = resuming ? new Date(resuming.next as string) : await this.oldest(org, kind, cutoff);
    if (!from && removed === 0) return 0;
    while (from && from < cutoff) {
      if (this.stopped) return 0;
      const through = new Date(Math.min(startOfUtcDay(from).getTime() + DAY_MS, cutoff.getTime()));
      const started = performance.now();
      const rows = await this.removeBefore(org, kind, through);
      removed += rows;
      if (rows > 0) this.options.onRemoved?.(kind, rows);
      await this.storage.saveCheckpoint(
        name,
        JSON.stringify({ cutoff: cutoff.toISOString(), next: through.toISOString(), removed }),
      );
      this.afterChunk?.(org, kind, through);
      from = through;
      // As long again as the chunk took, so that the sweep has the store at most half the time: a query waiting
      // behind a chunk runs before the next (DuckDB runs them on one connection), and the loads catch up.
      await pause(Math.min(performance.now() - started, MAX_PAUSE_MS), undefined, {
        signal: this.stopping.signal,
      }).catch(() => undefined);
    }
    if (removed > 0) {
      // Before the checkpoint says finished: an audit that failed is tried again by the next sweep.
      await this.audit.record({
        org,
        actor: { kind: 'system', id: 'retention' },
        action: 'retention.sweep',
        rows: removed,
        details: { kind, cutoff: cutoff.toISOString() },
      });
      this.log.info({ org, kind, rows: removed, cutoff }, 'retention: removed what is older than the cutoff');
    }
    await this.storage.saveCheckpoint(
      name,
      JSON.stringify({ cutoff: cutoff.toISOString(), next: null, removed: 0 }),
    );
    return removed;
  }

  /** The time of the oldest row of a kind before the cutoff, or undefined when there is none. */
  private async oldest(org: string, kind: RetentionKind, cutoff: Date): Promise<Date | undefined> {
    if (kind === 'records') {
      const times = await Promise.all(
        EXPIRING_RECORD_SETS.map(async (set) => {
          const { rows } = await this.storage.query(
            set.table as NonNullable<EntitySet['table']>,
            { org },
            {
              where: before('modifiedOn', cutoff),
              orderBy: [{ field: 'modifiedOn', descending: false }],
              limit: 1,
            },
          );
          return rows[0]?.modifiedOn as Date | undefined;
        }),
      );
      const found = times.filter((t): t is Date => t !== undefined).map((t) => t.getTime());
      return found.length > 0 ? new Date(Math.min(...found)) : undefined;
    }
    const { rows } = await this.reader.queryEvents(org, {
      where: { kind: 'and', filters: [CATEGORY[kind], before('derivedTime', cutoff)] },
      orderBy: [{ field: 'derivedTime', descending: false }],
      limit: 1,
    });
    return rows[0]?.derivedTime;
  }

  /** Removes a kind's rows before `through`: one statement per table. */
  private async removeBefore(org: string, kind: RetentionKind, through: Date): Promise<number> {
    if (kind === 'records') {
      let rows = 0;
      for (const set of EXPIRING_RECORD_SETS) rows += await this.records.expire(set, org, through);
      return rows;
    }
    // Through the reader: acknowledged events still in the ingest log are loaded first, and go too.
    return this.reader.deleteEvents(org, {
      kind: 'and',
      filters: [CATEGORY[kind], before('derivedTime', through)],
    });
  }
}
