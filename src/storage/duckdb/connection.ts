import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
// Before any read: text comes back exactly as it was stored (a leading U+FEFF included).
import './text-decoding.ts';
import { StoreBusyError, type StoreMemory } from '../storage.ts';

/** DuckDB's memory limit unless the configuration sets one (OPENUA_STORE_MEMORY_LIMIT). */
export const DEFAULT_MEMORY_LIMIT = '192MB';

/**
 * One connection, and the queue that runs async work on it strictly one at a time: a DuckDB connection holds
 * one transaction.
 */
export class SerialConnection {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly connection: DuckDBConnection) {}

  /** Runs `work` on the connection once the work queued before it is done. */
  run<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const start = () => work(this.connection);
    const next = this.tail.then(start, start);
    this.tail = next.catch(() => undefined);
    return next;
  }

  read(sql: string, params: Record<string, DuckDBValue>): Promise<Record<string, unknown>[]> {
    return this.run(async (connection) => {
      const reader = await connection.runAndReadAll(sql, params);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    });
  }

  /** Runs a statement that changes rows; answers how many it changed. */
  change(sql: string, params: Record<string, DuckDBValue>): Promise<number> {
    return this.run(async (connection) => Number((await connection.run(sql, params)).rowsChanged));
  }

  /** How many rows of `from` match `where` ('' for all). */
  async count(from: string, where: string, params: Record<string, DuckDBValue>): Promise<number> {
    const [row] = await this.read(
      `SELECT count(*) AS n FROM ${from}${where ? ` WHERE ${where}` : ''}`,
      params,
    );
    return Number(row?.n ?? 0);
  }
}

/** Runs `work` in a transaction of `connection`: committed once it is done, rolled back if it (or COMMIT) fails. */
export async function inTransaction<T>(connection: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await connection.run('BEGIN TRANSACTION');
  try {
    const result = await work();
    await connection.run('COMMIT');
    return result;
  } catch (error) {
    await connection.run('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The embedded engine: one DuckDB file, one write connection for events, one for everything else. */
export class Connections {
  private constructor(
    readonly file: string,
    private readonly instance: DuckDBInstance,
    readonly writer: SerialConnection,
    readonly other: SerialConnection,
  ) {}

  static async open(dataDir: string, memoryLimit = DEFAULT_MEMORY_LIMIT): Promise<Connections> {
    mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'openua.duckdb');
    // Every extension OpenUA uses (ICU for time zones) is built in: nothing may be downloaded at run time.
    const instance = await DuckDBInstance.create(file, {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      // DuckDB would take 80% of the machine's memory for its buffers, and keep what a big task allocated:
      // a server beside others must stay bounded, and give memory back once a load or a query is done.
      memory_limit: memoryLimit,
      allocator_flush_threshold: '16MB',
      // DuckDB's allocator keeps freed pages for reuse; its background threads give them back to the system once
      // idle, so a server returns near its resting size after a burst instead of staying at the burst's peak.
      allocator_background_threads: 'true',
    }).catch((error: unknown) => {
      throw busy(error, file) ?? error;
    });
    const [writer, other] = await Promise.all([instance.connect(), instance.connect()]);
    return new Connections(file, instance, new SerialConnection(writer), new SerialConnection(other));
  }

  /**
   * A new connection of the caller's own, for a long read (an export, a backup) that must hold up neither the
   * writer nor the other connection's reads and writes; the caller closes it.
   */
  connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  /** What the engine holds in memory now, by use, and its limit. */
  async memory(): Promise<StoreMemory> {
    const rows = await this.other.read(
      `SELECT tag, memory_usage_bytes::BIGINT AS used, current_setting('memory_limit') AS "limit"
        FROM duckdb_memory() WHERE memory_usage_bytes > 0`,
      {},
    );
    const byUse = Object.fromEntries(rows.map((r) => [String(r.tag), Number(r.used)]));
    const limit =
      rows[0]?.limit ??
      (await this.other.read(`SELECT current_setting('memory_limit') AS "limit"`, {}))[0]?.limit;
    return {
      usedBytes: Object.values(byUse).reduce((sum, n) => sum + n, 0),
      limitBytes: bytesOf(String(limit)),
      byUse,
    };
  }

  /** Closes both connections and the file, once the work queued on them is done. */
  async close(): Promise<void> {
    await this.writer.run(async () => undefined);
    await this.other.run(async (connection) => {
      // A checkpoint folds the WAL into the file so the next start does not replay it.
      await connection.run('CHECKPOINT').catch(() => undefined);
    });
    this.writer.connection.closeSync();
    this.other.connection.closeSync();
    this.instance.closeSync();
  }
}

/**
 * DuckDB's lock error, the one place its words are read: `Could not set lock on file "…": Conflicting lock is held
 * in /usr/bin/node (PID 1234) by user …`. Every caller sees a StoreBusyError instead.
 */
function busy(error: unknown, file: string): StoreBusyError | undefined {
  const message = String((error as Error | undefined)?.message ?? error);
  if (!/Could not set lock on file|Conflicting lock/i.test(message)) return undefined;
  const pid = /\(PID (\d+)\)/.exec(message)?.[1];
  return new StoreBusyError(file, pid === undefined ? undefined : Number(pid), { cause: error });
}

/** DuckDB's way of writing a size (`244.1 MiB`, `1.0 GiB`, `512 bytes`) in bytes; NaN if it is not one. */
function bytesOf(text: string): number {
  const [, amount, unit] = /^([\d.]+)\s*(\w+)$/.exec(text.trim()) ?? [];
  const scale: Record<string, number> = {
    bytes: 1,
    KiB: 2 ** 10,
    MiB: 2 ** 20,
    GiB: 2 ** 30,
    TiB: 2 ** 40,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
  };
  return Math.round(Number(amount) * (scale[unit ?? ''] ?? Number.NaN));
}
