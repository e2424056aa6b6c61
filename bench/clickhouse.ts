import { randomBytes } from 'node:crypto';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseSettings, StorageSettings } from '../src/core/config.ts';
import { ident } from '../src/storage/clickhouse/sql.ts';
import { startClickHouse } from '../test/helpers/clickhouse.ts';

/** The environment an `openua serve` needs to open the same store as storageSettings(…, clickhouse). */
export { clickHouseEnv } from '../test/helpers/engine.ts';

/**
 * The engine a bench runs on, and the ClickHouse it uses when that is ClickHouse: a server the bench starts (the
 * tests' starter: Debian's clickhouse-server on free loopback ports, a temporary directory, stopped with the
 * bench), or BENCH_CLICKHOUSE_URL's, for a run on a server configured for it (a full-size run needs more memory
 * per query than the test servers allow).
 */

export type BenchEngine = 'duckdb' | 'clickhouse';

/** `--engine clickhouse` (or `--engine=clickhouse`) on the command line, else BENCH_ENGINE; DuckDB by default. */
export function benchEngine(argv: readonly string[] = process.argv.slice(2)): BenchEngine {
  let engine = process.env.BENCH_ENGINE || 'duckdb';
  argv.forEach((arg, i) => {
    if (arg === '--engine') engine = argv[i + 1] ?? '';
    else if (arg.startsWith('--engine=')) engine = arg.slice('--engine='.length);
  });
  if (engine !== 'duckdb' && engine !== 'clickhouse') {
    throw new Error(`the engine must be duckdb or clickhouse; received ${JSON.stringify(engine)}`);
  }
  return engine;
}

export interface BenchClickHouse {
  url: string;
  /** Whether the bench started the server (and its data goes with it). */
  started: boolean;
  stop(): Promise<void>;
}

/** BENCH_CLICKHOUSE_URL's server, or one started for this bench (failing, not skipping, when it cannot start). */
export async function benchClickHouse(): Promise<BenchClickHouse> {
  const url = process.env.BENCH_CLICKHOUSE_URL;
  if (url) return { url: url.replace(/\/$/, ''), started: false, stop: async () => {} };
  const servers = await startClickHouse();
  if (!servers)
    throw new Error('clickhouse-server did not start (see the line above), and the bench needs it');
  return { url: servers.url, started: true, stop: () => servers.stop() };
}

/** A database name of its own for one run's store, so runs on a shared server never meet. */
export const runDatabase = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;

export function clickHouseSettings(url: string, database: string): ClickHouseSettings {
  return { url, database, user: 'default', password: '' };
}

/** The storage settings of a store in `dataDir` (DuckDB), or in ClickHouse when `clickhouse` is given. */
export function storageSettings(dataDir: string, clickhouse?: ClickHouseSettings): StorageSettings {
  return clickhouse ? { dataDir, clickhouse } : { dataDir };
}

/**
 * A client of the bench's own, not OpenUA's connection: the baselines are ClickHouse alone. It sends the session
 * settings OpenUA's connection sends (src/storage/clickhouse/connection.ts), because they decide what the same SQL
 * does: without `optimize_move_to_prewhere = 0` a condition would apply before FINAL collapses a row's versions.
 */
export function rawClient(clickhouse: ClickHouseSettings): ClickHouseClient {
  return createClient({
    url: clickhouse.url,
    username: clickhouse.user,
    password: clickhouse.password,
    database: clickhouse.database,
    request_timeout: 300_000,
    log: { level: ClickHouseLogLevel.OFF },
    clickhouse_settings: { optimize_move_to_prewhere: 0, max_read_buffer_size: 65_536 } as Record<
      string,
      number
    >,
  });
}

/** Events stored as every query counts them: one per (org, id), live versions only. */
export async function countEvents(clickhouse: ClickHouseSettings): Promise<number> {
  const client = rawClient(clickhouse);
  try {
    const result = await client.query({
      query: 'SELECT count() AS n FROM events FINAL WHERE _deleted = 0',
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ n: string }>();
    return Number(row?.n ?? 0);
  } finally {
    await client.close();
  }
}

/** Drops a database this bench made (never one it did not name). */
export async function dropDatabase(clickhouse: ClickHouseSettings): Promise<void> {
  const client = createClient({
    url: clickhouse.url,
    username: clickhouse.user,
    password: clickhouse.password,
    log: { level: ClickHouseLogLevel.OFF },
  });
  try {
    await client.command({ query: `DROP DATABASE IF EXISTS ${ident(clickhouse.database)}` });
  } finally {
    await client.close();
  }
}
