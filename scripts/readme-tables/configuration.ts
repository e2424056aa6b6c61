import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_RETRY_DELAY_MS } from '../../src/alerts/webhook.ts';
import { SETTINGS, type Setting } from '../../src/core/config.ts';
import { DEFAULT_MEMORY_LIMIT } from '../../src/storage/duckdb/connection.ts';
import { cell, table } from './markdown.ts';

/**
 * The environment variables of docs/operations/configuration.md: every setting of SETTINGS (src/core/config.ts),
 * which the server reads its configuration through, and the few variables read elsewhere. Every `env.NAME` that
 * src/ or bin/ reads must be one of them, so a variable cannot be added without a row. Links in the notes are
 * relative to docs/operations/.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');

const settings = () => Object.values(SETTINGS) as Setting<unknown>[];

/** What a setting without a default becomes when unset, where another part of the code decides it. */
const UNSET: Record<string, string> = {
  OPENUA_STORE_MEMORY_LIMIT: `unset: DuckDB's store takes \`${DEFAULT_MEMORY_LIMIT}\` (unbounded, it would take 80% of the machine's memory)`,
  OPENUA_CLICKHOUSE_PASSWORD: 'unset: no password',
};

/** Appended to a setting's meaning: where the documentation says more, and bounds decided elsewhere. */
const NOTES: Record<string, string> = {
  OPENUA_QUEUE_CAPACITY: ' (each queued event is memory: see [Memory](running.md#memory))',
  OPENUA_OPTIMIZE_FOR_SIZE: ' (see [Memory](running.md#memory))',
  OPENUA_VISITOR_COOKIE_DOMAIN: ' (see [Visits](../api/ua-write.md#visits))',
  OPENUA_WEBHOOK_RETRY_BASE_MS: ` (up to ${MAX_RETRY_DELAY_MS / 60_000} minutes; see [Breach alerts](../api/alerts.md))`,
  OPENUA_METRICS_ADDRESS: ' (see [Metrics](running.md#metrics))',
  OPENUA_LOG_FORMAT: ' (see [Starting, and logs](running.md#starting-and-logs))',
  OPENUA_CLICKHOUSE_URL: ' (see [ClickHouse](clickhouse.md))',
  OPENUA_CLICKHOUSE_CLUSTER: ' (see [ClickHouse](clickhouse.md))',
  OPENUA_CACHE_TTL_MS: ' (see [Scale-out](scale-out.md))',
};

/** A variable read outside SETTINGS: by what file, and to what end. */
interface ReadElsewhere {
  variable: string;
  file: string;
  default: (source: string) => string;
  accepts: string;
  meaning: string;
}

const READ_ELSEWHERE: ReadElsewhere[] = [
  {
    variable: 'NO_COLOR',
    file: 'src/core/log.ts',
    default: () => 'unset',
    accepts: 'any text',
    meaning: 'set (and not empty), the `pretty` log lines on a terminal have no colours (`src/core/log.ts`)',
  },
  {
    variable: 'DUCKDB_JE_MALLOC_CONF',
    file: 'bin/openua.js',
    default: (source) => {
      const set = /DUCKDB_JE_MALLOC_CONF \?\?= '([^']+)'/.exec(source)?.[1];
      if (set === undefined) throw new Error('bin/openua.js no longer sets DUCKDB_JE_MALLOC_CONF ??= …');
      return `\`${set}\`, set by \`bin/openua.js\``;
    },
    accepts: "jemalloc's options",
    meaning:
      "DuckDB's allocator settings, read when DuckDB first allocates: the default has it give the memory it frees " +
      'back at once, where it would keep it for seconds (a value set outside wins)',
  },
  {
    variable: 'OPENUA_TEST_HOLD_AFTER_LOAD',
    file: 'src/ingest/group-commit.ts',
    default: () => 'unset',
    accepts: 'a file name',
    meaning:
      "for the crash tests only: the writer's first load creates this file and then stops between the store load " +
      'and its checkpoint, where a kill makes the restart replay events the store already holds',
  },
];

/** Each source file of src/ and bin/, by its path from the repository's root. */
function sources(): { file: string; text: string }[] {
  return ['src', 'bin'].flatMap((dir) =>
    readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => /\.(ts|js)$/.test(file))
      .map((file) => path.join(dir, file))
      .map((file) => ({ file, text: readFileSync(path.join(ROOT, file), 'utf8') })),
  );
}

/** `env.NAME` and `env['NAME']`, as src/ and bin/ read variables outside SETTINGS. */
const ENV_READ = /\benv(?:\.([A-Z][A-Z0-9_]*)|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g;

/** Throws for a variable read by name that has no row, or a row of READ_ELSEWHERE whose file no longer reads it. */
function checkEveryVariableHasARow(): void {
  const read = settings().flatMap((s) => (s.alias ? [s.variable, s.alias] : [s.variable]));
  const found = sources().flatMap(({ file, text }) =>
    [...text.matchAll(ENV_READ)].map((m) => ({ file, variable: (m[1] ?? m[2]) as string })),
  );
  const unknown = found.filter(
    ({ file, variable }) =>
      !read.includes(variable) && !READ_ELSEWHERE.some((r) => r.variable === variable && r.file === file),
  );
  if (unknown.length > 0) {
    throw new Error(
      `environment variables without a row: ${unknown.map((u) => `${u.variable} (${u.file})`).join(', ')}; ` +
        'read them through SETTINGS in src/core/config.ts, or add them to READ_ELSEWHERE',
    );
  }
  const gone = READ_ELSEWHERE.filter(
    (r) => !found.some((f) => f.variable === r.variable && f.file === r.file),
  );
  if (gone.length > 0)
    throw new Error(`no longer read: ${gone.map((r) => `${r.variable} in ${r.file}`).join(', ')}`);
}

export function environmentTable(): string {
  checkEveryVariableHasARow();
  const list = settings();
  for (const [what, words] of [
    ['UNSET', UNSET],
    ['NOTES', NOTES],
  ] as const) {
    const gone = Object.keys(words).filter((v) => !list.some((s) => s.variable === v));
    if (gone.length > 0) throw new Error(`${what} names variables that are not settings: ${gone.join(', ')}`);
  }
  const defaulted = Object.keys(UNSET).filter((v) => list.some((s) => s.variable === v && s.default));
  if (defaulted.length > 0)
    throw new Error(`UNSET names settings that have a default: ${defaulted.join(', ')}`);

  const rows = list.map((s) => [
    `\`${s.variable}\`${s.alias ? ` (or \`${s.alias}\`)` : ''}`,
    s.default !== undefined ? `\`${s.default}\`` : (UNSET[s.variable] ?? 'unset'),
    cell(s.accepts),
    cell(s.meaning + (NOTES[s.variable] ?? '')),
  ]);
  for (const r of READ_ELSEWHERE) {
    rows.push([
      `\`${r.variable}\``,
      r.default(readFileSync(path.join(ROOT, r.file), 'utf8')),
      r.accepts,
      cell(r.meaning),
    ]);
  }
  return table(['Variable', 'Default', 'Takes', 'Meaning'], rows);
}
