import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { clickhouseQuery, startClickHouse } from '../test/helpers/clickhouse.ts';

/**
 * The engine matrix's second pass: after `npm test` has run every test on DuckDB, the integration tests run again on
 * one ClickHouse this script starts (and stops), so every answer a server gives is checked on both engines.
 *
 *   node --import tsx scripts/test-matrix.ts [--list] [--engine clickhouse|clickhouse-cluster] [test files…]
 *
 * A file takes part when it starts its servers or stores through the test helpers (startServer, serverForSuite,
 * spawnServer, the dashboard's demo server, testStorage, the CLI), which open the store OPENUA_TEST_ENGINE names;
 * but those in DUCKDB_ONLY, and those that start ClickHouse themselves (they choose their engines, and already ran).
 * Without ClickHouse it fails in CI, and elsewhere skips loudly.
 */

const ROOT = path.resolve(import.meta.dirname, '..');

/** Files about DuckDB itself, each with the reason it does not run on ClickHouse. The one list of them. */
const DUCKDB_ONLY: Record<string, string> = {
  'test/server/memory-settings.test.ts': "DuckDB's memory_limit setting and how DuckDB reports it",
  'test/storage/reused-buffers.test.ts': "DuckDB's appender: the one column chunk reused from load to load",
  'test/storage/upserts.test.ts':
    "DuckDB's memory per statement in a transaction (the contract suite covers upserts)",
  'test/storage/upgrade.test.ts': 'data directories of older OpenUA versions: DuckDB files made by hand',
  'test/demo/generator.test.ts': "reads the DuckDB file directly and sets DuckDB's KPI-unit chunk sizes",
};

/** What marks a file whose servers or stores come from the helpers that follow OPENUA_TEST_ENGINE. */
const ENGINE_FOLLOWING =
  /\b(startServer|serverForSuite|spawnServer|startDemoServer|dashboardForSuite|testStorage|testEngineEnv|openua|openuaJson)\(/;
/** A file that starts ClickHouse itself runs its engines in the DuckDB pass already. */
const OWN_ENGINES = /helpers\/clickhouse\.ts/;

function testFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return testFiles(file);
    return entry.name.endsWith('.test.ts') ? [file] : [];
  });
}

/** The files the ClickHouse pass runs, and those it leaves out with why. */
function matrixFiles(): { run: string[]; skipped: Record<string, string> } {
  const run: string[] = [];
  const skipped: Record<string, string> = {};
  for (const file of testFiles('test').sort()) {
    const source = readFileSync(path.join(ROOT, file), 'utf8');
    if (DUCKDB_ONLY[file]) skipped[file] = `DuckDB only: ${DUCKDB_ONLY[file]}`;
    else if (OWN_ENGINES.test(source))
      skipped[file] = 'starts its own ClickHouse: its engines ran in the first pass';
    else if (ENGINE_FOLLOWING.test(source)) run.push(file);
  }
  return { run, skipped };
}

function parseArgs(argv: string[]) {
  let list = false;
  let engine = 'clickhouse';
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--list') list = true;
    else if (arg === '--engine') engine = argv[++i] ?? '';
    else files.push(arg);
  }
  if (engine !== 'clickhouse' && engine !== 'clickhouse-cluster') {
    throw new Error(`--engine ${engine}: expected clickhouse or clickhouse-cluster`);
  }
  return { list, engine, files };
}

async function main(): Promise<number> {
  const { list, engine, files } = parseArgs(process.argv.slice(2));
  const { run, skipped } = matrixFiles();
  if (list) {
    for (const file of run) console.log(`run   ${file}`);
    for (const [file, why] of Object.entries(skipped)) console.log(`skip  ${file}: ${why}`);
    return 0;
  }
  const chosen = files.length > 0 ? files : run;
  const started = Date.now();
  console.log(
    `\n=== Engine matrix: ${chosen.length} test files on ${engine} (${new Date().toISOString()}) ===`,
  );
  for (const [file, why] of Object.entries(skipped)) console.log(`    not on ClickHouse: ${file} (${why})`);

  // Throws in CI when ClickHouse cannot start; elsewhere it has printed the loud SKIPPED line.
  const clickhouse = await startClickHouse({ shards: engine === 'clickhouse-cluster' ? 2 : 1 });
  if (!clickhouse) return 0;
  try {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--test',
          '--test-concurrency=1',
          `--test-reporter=${process.env.OPENUA_TEST_REPORTER ?? 'spec'}`,
          ...chosen,
        ],
        {
          cwd: ROOT,
          stdio: 'inherit',
          env: {
            ...process.env,
            OPENUA_TEST_ENGINE: engine,
            OPENUA_TEST_CLICKHOUSE_URL: clickhouse.url,
            OPENUA_TEST_CLICKHOUSE_SHARDS: clickhouse.shardUrls.join(','),
            OPENUA_TEST_CLICKHOUSE_CLUSTER: clickhouse.cluster ?? '',
          },
        },
      );
      child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
    });
    // A pass that stored nothing on ClickHouse checked DuckDB twice: the helpers did not follow OPENUA_TEST_ENGINE.
    const stores = Number(
      await clickhouseQuery(clickhouse.url, "SELECT count() FROM system.databases WHERE name LIKE 't\\_%'"),
    );
    console.log(`    ${stores} test stores were made on ClickHouse`);
    if (code === 0 && stores === 0) {
      console.error('!!! The ClickHouse pass made no store on ClickHouse: the tests ran on DuckDB again');
      return 1;
    }
    const minutes = ((Date.now() - started) / 60_000).toFixed(1);
    console.log(`=== Engine matrix on ${engine}: ${code === 0 ? 'passed' : 'FAILED'} in ${minutes} min ===`);
    return code;
  } finally {
    await clickhouse.stop();
  }
}

process.exitCode = await main();
