import { existsSync } from 'node:fs';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import {
  compareEventCounts,
  compareTableCounts,
  copyEvents,
  copyTables,
  type DayCount,
  planMigration,
  type TableCount,
} from '../admin/migration.ts';
import { type ClickHouseSettings, type Config, readConfig, type StorageSettings } from '../core/config.ts';
import { createServices, ENTITY_TABLES } from '../startup/services.ts';
import { openStorage } from '../storage/open-storage.ts';
import { type Storage, StoreBusyError, StoreUnreachableError } from '../storage/storage.ts';
import { STORE_FILE } from '../storage/store-file.ts';
import { dataDirProblem, StartError } from './start-errors.ts';

export interface MigrateCommand {
  /** The target ClickHouse's HTTP URL. */
  to: string;
  database?: string;
  user?: string;
  /** The environment variable that holds the target user's password (never the password itself: argv is public). */
  passwordEnv: string;
  dataDir?: string;
  batchSize: number;
}

/** `openua migrate`, as the command list registers it (main.ts). */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description(
      'copy the DuckDB store of a data directory into ClickHouse, with progress; run again after an interruption, it continues; ends comparing the events per organization and day on both sides (exit code 1 if they differ)',
    )
    .requiredOption('--to <url>', "the target ClickHouse's HTTP URL, such as http://127.0.0.1:8123")
    .option('--database <name>', 'the ClickHouse database (default: OPENUA_CLICKHOUSE_DATABASE, else openua)')
    .option('--user <name>', 'the ClickHouse user (default: OPENUA_CLICKHOUSE_USER, else default)')
    .option(
      '--password-env <variable>',
      "the environment variable holding the user's password",
      'OPENUA_CLICKHOUSE_PASSWORD',
    )
    .option(
      '--data-dir <dir>',
      'the data directory to copy (default: OPENUA_DATA_DIR); no server may hold it',
    )
    .option('--batch-size <n>', 'events per read and write', positiveInt, 10_000)
    .action(async (o: MigrateCommand) => {
      await runMigrate(readConfig(), o);
    });
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

/** The DuckDB file a data directory holds when it has a store. */

/**
 * `openua migrate --to <url>`: copies the DuckDB store of a data directory into ClickHouse (src/admin/migration.ts),
 * with a progress bar on stderr, then compares the events per organization and day, and each table's rows, on both
 * sides, on stdout; a difference makes the exit code 1. Run again after an interruption, it continues.
 */
export async function runMigrate(config: Config, command: MigrateCommand): Promise<void> {
  const started = performance.now();
  const dataDir = path.resolve(command.dataDir ?? config.dataDir);
  if (!existsSync(path.join(dataDir, STORE_FILE)))
    throw new StartError(
      `there is no OpenUA store in ${dataDir} (no ${STORE_FILE}): set --data-dir or OPENUA_DATA_DIR`,
    );
  const clickhouse = targetSettings(config, command);
  const sourceSettings: StorageSettings = {
    dataDir,
    ...(config.storage.memoryLimit !== undefined && { memoryLimit: config.storage.memoryLimit }),
  };
  const sourceConfig: Config = { ...config, dataDir, storage: sourceSettings };
  // The target first: an unreachable ClickHouse is said before the source is opened and upgraded.
  const target = await openStorage({ dataDir, clickhouse }).catch((error: unknown) => {
    if (!(error instanceof StoreUnreachableError)) throw error;
    throw new StartError(
      `cannot reach ClickHouse at ${error.location} (${error.reason}): is it running there?`,
    );
  });
  try {
    const engine = await openStorage(sourceSettings).catch((error: unknown) => {
      throw busyStore(error, dataDir) ?? dataDirProblem(error, sourceConfig) ?? error;
    });
    // The server's own start: the source is upgraded, and events its ingest log acknowledged but a crash left out
    // of the store are loaded, so the copy has every acknowledged event.
    const services = await createServices(sourceConfig, engine).catch(async (error: unknown) => {
      await engine.close().catch(() => undefined);
      throw error;
    });
    try {
      await target.migrate(ENTITY_TABLES as never);
      await migrate(services.storage, target, command, clickhouse, started);
    } finally {
      await services.close();
    }
  } finally {
    await target.close();
  }
}

async function migrate(
  source: Storage,
  target: Storage,
  command: MigrateCommand,
  clickhouse: ClickHouseSettings,
  started: number,
) {
  const plan = await planMigration(source, target);
  const where = `${clickhouse.url} (database ${clickhouse.database})`;
  console.error(
    plan.copied > 0
      ? `Resuming: ${plan.copied} of ${plan.events} events are already in ${where}`
      : `Copying ${source.location} into ${where}: ${plan.events} events`,
  );
  await copyTables(source, target, ENTITY_TABLES, {
    onTable: (table, rows) => console.error(`  ${table}: ${rows} rows`),
  });
  const bar = progressBar(plan.events, plan.copied);
  let copied: number;
  try {
    copied = await copyEvents(source, target, plan, {
      pageSize: command.batchSize,
      onEvents: (n, org) => bar.update(n, { org }),
    });
  } finally {
    bar.stop();
  }
  const days = await compareEventCounts(
    source,
    target,
    plan.orgs.map((o) => o.org),
  );
  const tables = await compareTableCounts(source, target, ENTITY_TABLES);
  console.log(
    [
      `Copied ${copied - plan.copied} events (${copied} in all) and ${ENTITY_TABLES.length} tables into ${where} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      '',
      ...countsTable(
        ['organization', 'day (UTC)', 'duckdb', 'clickhouse'],
        days.map((d) => [d.org, d.day, d.source, d.target]),
      ),
      '',
      ...countsTable(
        ['table', 'duckdb', 'clickhouse'],
        tables.map((t) => [t.table, t.source, t.target]),
      ),
    ].join('\n'),
  );
  const differ = [...days, ...tables].filter((c) => c.source !== c.target);
  if (differ.length > 0)
    throw new StartError(
      `the counts differ on both sides (marked ≠ above): ${differ.slice(0, 5).map(describe).join('; ')}${differ.length > 5 ? '…' : ''}`,
    );
  console.log(
    `\nThe counts are equal: ${days.length} days of events in ${plan.orgs.length} organization${plan.orgs.length === 1 ? '' : 's'}, and every table`,
  );
}

const describe = (c: DayCount | TableCount) =>
  'day' in c ? `${c.org} ${c.day}: ${c.source} ≠ ${c.target}` : `${c.table}: ${c.source} ≠ ${c.target}`;

/** Aligned columns, numbers on the right; a row whose last two differ is marked. */
function countsTable(header: string[], rows: (string | number)[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] as string).length)));
  return cells.map((r, n) => {
    const line = r
      .map((cell, i) =>
        typeof rows[n - 1]?.[i] === 'number'
          ? cell.padStart(widths[i] as number)
          : cell.padEnd(widths[i] as number),
      )
      .join('  ');
    const row = rows[n - 1];
    return row && row.at(-1) !== row.at(-2) ? `${line}  ≠` : line.trimEnd();
  });
}

function targetSettings(config: Config, command: MigrateCommand): ClickHouseSettings {
  let url: URL;
  try {
    url = new URL(command.to);
  } catch {
    throw new StartError(
      `--to must be ClickHouse's HTTP URL, such as http://127.0.0.1:8123 (received ${command.to})`,
    );
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.pathname !== '/')
    throw new StartError(
      '--to must be an http(s) URL without a user or a path, such as http://127.0.0.1:8123 (the database, user and password have their own options)',
    );
  // The cluster settings of the environment apply when they are about this ClickHouse.
  const configured = config.storage.clickhouse;
  const cluster =
    configured?.cluster && configured.url === url.origin
      ? { cluster: configured.cluster, shards: configured.shards }
      : {};
  return {
    url: url.origin,
    database: command.database ?? config.clickhouseDatabase,
    user: command.user ?? config.clickhouseUser,
    password: process.env[command.passwordEnv] ?? '',
    ...cluster,
  };
}

/** A store a running server holds, in one line. */
function busyStore(error: unknown, dataDir: string): StartError | undefined {
  if (!(error instanceof StoreBusyError)) return undefined;
  return new StartError(
    `the store in ${dataDir} is in use by another process${error.holderPid ? ` (pid ${error.holderPid})` : ''}: stop the server, then run openua migrate again`,
  );
}

/** Events copied, with their rate and the time left; on stderr, so stdout keeps only the comparison. */
function progressBar(total: number, start: number): SingleBar {
  const bar = new SingleBar({
    stream: process.stderr,
    format:
      'migrate [{bar}] {percentage}% | {value}/{total} events | {speed} events/s | ETA {eta_formatted} | {org}',
    // Without a terminal (a log, a pipe) it prints a line every second instead of redrawing.
    noTTYOutput: true,
    notTTYSchedule: 1000,
    etaBuffer: 20,
    hideCursor: true,
  });
  const startedAt = performance.now();
  bar.start(total, start, { speed: 0, org: '' });
  const update = bar.update.bind(bar);
  // The rate of this run: cli-progress shows an ETA but not a rate.
  bar.update = ((value: number | object, payload?: object) => {
    if (typeof value !== 'number') return update(value);
    const seconds = (performance.now() - startedAt) / 1000;
    update(Math.min(value, total), {
      speed: seconds > 0 ? Math.round((value - start) / seconds) : 0,
      ...payload,
    });
  }) as SingleBar['update'];
  return bar;
}
