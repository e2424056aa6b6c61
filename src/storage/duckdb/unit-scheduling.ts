import type { DuckDBConnection } from '@duckdb/node-api';
import type { StorageObserver } from '../storage.ts';
import { inTransaction, type SerialConnection } from './connection.ts';
import {
  CHUNK_EXTENT,
  DIRTY_TABLE,
  DROP_CHUNK,
  markChunk,
  REBUILD_CHUNK,
  UNIT_SPAN_MS,
  type UnitChunk,
} from './kpi-units.ts';
import { timestamp } from './values.ts';

/** How soon after a write that marked KPI units they are rebuilt in the background. */
const UNITS_REFRESH_DELAY_MS = 1000;

/**
 * When the marked KPI units (kpi-units.ts) are rebuilt: soon after a write that marked some, and before any
 * KPI query; a chunk of them per transaction on the write connection, so that loads wait for one chunk at most.
 */
export class UnitScheduler {
  private refreshing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private observer: StorageObserver = {};

  /** `chunk`: how many marked conversations and agents one rebuild transaction takes. */
  constructor(
    private readonly writer: SerialConnection,
    private readonly other: SerialConnection,
    private readonly chunk: UnitChunk,
  ) {}

  observe(observer: StorageObserver): void {
    this.observer = observer;
  }

  /** A rebuild soon after a write that marked units, so that the next KPI query finds little left to do. */
  schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failure here is met again, and reported, by the next KPI query's own refresh.
      this.refresh().catch(() => undefined);
    }, UNITS_REFRESH_DELAY_MS);
    this.timer.unref();
  }

  /** Rebuilds the KPI units of every conversation and agent marked so far, a chunk at a time. */
  refresh(): Promise<void> {
    // One refresh at a time; a caller arriving during one waits for it, then for a pass of its own (marks
    // made after the running pass began may have been missed by it).
    const pass = async () => {
      // Bounded by the marks there are now, so that a steady stream of new ones cannot hold a query forever;
      // with none (a query's usual case) it costs one count.
      const [row] = await this.other.read(`SELECT count(*) AS marks FROM ${DIRTY_TABLE}`, {});
      let chunks = Math.ceil(Number(row?.marks ?? 0) / Math.min(this.chunk.conversations, this.chunk.agents));
      while (
        chunks-- > 0 &&
        !this.stopped &&
        (await this.writer.run((connection) => this.observedChunk(connection)))
      ) {}
    };
    const next = (this.refreshing ?? Promise.resolve()).then(pass, pass);
    this.refreshing = next.catch(() => undefined);
    return next;
  }

  /** No rebuild after this one: waits for the one running, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.refreshing;
  }

  /** refreshChunk, reported to the observer. */
  private async observedChunk(writer: DuckDBConnection): Promise<boolean> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const found = await this.refreshChunk(writer);
      if (found) this.observer.unitsRebuilt?.('rebuilt', seconds());
      return found;
    } catch (error) {
      this.observer.unitsRebuilt?.('failed', seconds());
      throw error;
    }
  }

  /** Rebuilds one chunk of marked units in one transaction; answers whether there was any. */
  private refreshChunk(writer: DuckDBConnection): Promise<boolean> {
    return inTransaction(writer, async () => {
      for (const sql of markChunk(this.chunk)) await writer.run(sql);
      const extent = (await writer.runAndReadAll(CHUNK_EXTENT)).getRowObjectsJS()[0] as {
        conversations: bigint;
        agents: bigint;
        lo: Date | null;
        hi: Date | null;
      };
      const found = extent.conversations + extent.agents > 0n;
      if (found) {
        const bounds = {
          lo: timestamp(new Date((extent.lo?.getTime() ?? 0) - UNIT_SPAN_MS)),
          hi: timestamp(new Date((extent.hi?.getTime() ?? 0) + UNIT_SPAN_MS + 1)),
        };
        for (const sql of REBUILD_CHUNK) await writer.run(sql, sql.includes('$lo') ? bounds : undefined);
      }
      for (const sql of DROP_CHUNK) await writer.run(sql);
      return found;
    });
  }
}
