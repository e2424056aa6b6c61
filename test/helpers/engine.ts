import { createHash } from 'node:crypto';
import type { ClickHouseSettings, StorageSettings } from '../../src/core/config.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { type ClickHouseServers, startClickHouse } from './clickhouse.ts';

/**
 * The engine a test run asks for: OPENUA_TEST_ENGINE = duckdb (the default) | clickhouse | clickhouse-cluster.
 * The same integration tests run on each (scripts/test-matrix.ts), so what they assert is the contract, not DuckDB.
 */
export type TestEngine = 'duckdb' | 'clickhouse' | 'clickhouse-cluster';

export function testEngine(): TestEngine {
  const engine = process.env.OPENUA_TEST_ENGINE || 'duckdb';
  if (engine !== 'duckdb' && engine !== 'clickhouse' && engine !== 'clickhouse-cluster') {
    throw new Error(`OPENUA_TEST_ENGINE=${engine}: expected duckdb, clickhouse or clickhouse-cluster`);
  }
  return engine;
}

let servers: Promise<ClickHouseServers> | undefined;

/**
 * The ClickHouse this test process uses: the one the matrix wrapper started (OPENUA_TEST_CLICKHOUSE_URL, with
 * OPENUA_TEST_CLICKHOUSE_SHARDS and OPENUA_TEST_CLICKHOUSE_CLUSTER for a cluster), else one started for this process
 * on first use and stopped when it exits.
 */
export function testClickHouse(): Promise<ClickHouseServers> {
  servers ??= (async () => {
    const url = process.env.OPENUA_TEST_CLICKHOUSE_URL;
    const cluster = process.env.OPENUA_TEST_CLICKHOUSE_CLUSTER || undefined;
    if (url) {
      const shardUrls = process.env.OPENUA_TEST_CLICKHOUSE_SHARDS?.split(',') ?? [url];
      return { url, shardUrls, cluster, stop: async () => {} };
    }
    const started = await startClickHouse({ shards: testEngine() === 'clickhouse-cluster' ? 2 : 1 });
    // The run asked for ClickHouse: a run that cannot have it fails rather than passing on nothing.
    if (!started)
      throw new Error('OPENUA_TEST_ENGINE asks for ClickHouse, and clickhouse-server did not start');
    return started;
  })();
  return servers;
}

/**
 * The database a data directory's store lives in on ClickHouse. Derived from the directory, so a test that reopens
 * a store (a restart, a spawned `openua serve` over the same directory) finds its data, and tests, whose directories
 * are fresh temporary ones, never see each other's.
 */
export function databaseFor(dataDir: string): string {
  return `t_${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`;
}

/** ClickHouse settings for a store of its own, on the run's server (or cluster). */
export async function clickHouseSettings(database: string): Promise<ClickHouseSettings> {
  const ch = await testClickHouse();
  return {
    url: ch.url,
    database,
    user: 'default',
    password: '',
    ...(ch.cluster ? { cluster: ch.cluster, shards: ch.shardUrls } : {}),
  };
}

/** The storage settings for a store in `dataDir` on the run's engine. */
export async function testStorageSettings(
  dataDir: string,
  options: { memoryLimit?: string } = {},
): Promise<StorageSettings> {
  if (testEngine() === 'duckdb') return { dataDir, ...options };
  return { dataDir, ...options, clickhouse: await clickHouseSettings(databaseFor(dataDir)) };
}

/** A store for `dataDir` on the engine the run asks for; the same directory reopens the same store. */
export async function testStorage(dataDir: string, options: { memoryLimit?: string } = {}): Promise<Storage> {
  return openStorage(await testStorageSettings(dataDir, options));
}

/**
 * The OPENUA_* environment a child `openua serve` (or any CLI command) over `dataDir` needs to open the same store
 * as testStorage(dataDir): nothing for DuckDB, the ClickHouse settings otherwise.
 */
export async function testEngineEnv(dataDir: string): Promise<Record<string, string>> {
  return clickHouseEnv((await testStorageSettings(dataDir)).clickhouse);
}

/** The OPENUA_* environment that names these ClickHouse settings (nothing for DuckDB), for a child process. */
export function clickHouseEnv(clickhouse: ClickHouseSettings | undefined): Record<string, string> {
  if (!clickhouse) return {};
  return {
    OPENUA_CLICKHOUSE_URL: clickhouse.url,
    OPENUA_CLICKHOUSE_DATABASE: clickhouse.database,
    OPENUA_CLICKHOUSE_USER: clickhouse.user,
    OPENUA_CLICKHOUSE_PASSWORD: clickhouse.password,
    ...(clickhouse.cluster && clickhouse.shards
      ? {
          OPENUA_CLICKHOUSE_CLUSTER: clickhouse.cluster,
          OPENUA_CLICKHOUSE_SHARDS: clickhouse.shards.join(','),
        }
      : {}),
  };
}

/**
 * The options of a test (or suite) about DuckDB itself, inside a file that otherwise runs on every engine: it is
 * skipped, with its reason, when the run is on ClickHouse. Whole files about DuckDB are listed in
 * scripts/test-matrix.ts instead.
 */
export function duckdbOnly(reason: string): { skip: string | false } {
  return { skip: testEngine() === 'duckdb' ? false : `DuckDB only: ${reason}` };
}
