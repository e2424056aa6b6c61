import type { DuckDBConnection } from '@duckdb/node-api';
import { UTC_ZONES } from '../aggregate-semantics.ts';
import { EVENT_COLUMN_OF } from '../event-columns.ts';
import type { AggregateQuery, QueryField, QueryFilter } from '../storage.ts';
import { inTransaction } from './connection.ts';

/**
 * Distinct keys per UTC hour: small tables that let an exact distinct count over a month read one row per key
 * and hour instead of every event (issue 18). Each table holds, per organization and hour, the distinct
 * combinations of a few columns with `n`, the number of events that had them; a query whose measures are
 * counts and distinct counts of those columns, and whose dimensions and filters read only them, is answered
 * from the table with the same result as from the events:
 * - count(DISTINCT x) over the rows of the range is the events' count, because every event's combination is
 *   there, in its hour, and a count of distinct values does not change when a combination is repeated;
 * - sum(n) is the events' count(*).
 * Hour grain keeps every bucket of a zone whose offset is a whole number of hours (UTC, Paris, New York…)
 * exact; a zone with a 30 or 45-minute offset, minute buckets, or a range shorter than a whole hour read the
 * events as before. The range's partial hours at either end are read from the events and joined to the rest.
 *
 * Upkeep, exact whatever order events come in (late events, replays):
 * - a load appends its rows' combinations (distinctKeySteps), in the load's transaction. A combination may then
 *   be in several rows of an hour, which changes no answer; compaction folds them;
 * - changing or deleting events rebuilds their hours from the events (rebuildHoursSteps);
 * - a store without the tables, or with an older shape (DISTINCT_KEYS_VERSION), builds them on open.
 */

/** Raised whenever a table's columns or meaning change: older tables are dropped and rebuilt. */
export const DISTINCT_KEYS_VERSION = '1';
export const DISTINCT_KEYS_CHECKPOINT = 'distinct-keys';

export interface KeyTable {
  name: string;
  /** Event columns, as named in the events table. */
  columns: readonly string[];
  /**
   * The events it holds, when not all: those with this value in this column. It answers only queries whose
   * filter requires the value (a condition of its top-level AND), and reads the column as that value.
   */
  only?: { column: string; value: string };
}

/**
 * The tables, smallest first: a query is answered from the first whose columns hold all it reads. Their columns
 * are what dashboards count distinct: visitors and visits; visitors per query text; conversations per queue.
 * Each column widens its table (one row per combination), so only columns that group such counts are added.
 */
export const KEY_TABLES: readonly KeyTable[] = [
  { name: 'distinct_visits', columns: ['client_id', 'visit_id'] },
  { name: 'distinct_conversations', columns: ['category', 'queue_name', 'conversation_id'] },
  // Searches only: the other events' rows (a query text is a search's) would double what a search query reads.
  {
    name: 'distinct_query_clients',
    columns: ['query_text', 'client_id'],
    only: { column: 'category', value: 'search' },
  },
];

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** The condition on event rows that selects a table's events. */
export const onlyCondition = (table: KeyTable) =>
  table.only ? `${table.only.column} = ${literal(table.only.value)}` : 'TRUE';

/** The rows of `source` (event rows) as a key table's: its columns per organization and hour, with their count. */
const aggregated = (table: KeyTable, source: string, where = 'TRUE') =>
  `SELECT org, date_trunc('hour', derived_time) AS hour, ${table.columns.join(', ')}, count(*) AS n
    FROM ${source} WHERE ${where} AND ${onlyCondition(table)} GROUP BY ALL`;

/** Creates the tables empty, with the events' column types. */
const CREATE = KEY_TABLES.map((t) => `CREATE TABLE ${t.name} AS ${aggregated(t, 'events')} LIMIT 0`);

/**
 * The hours loads appended to since the last compaction. Loads only append to it and to the tables, so that they
 * never conflict with a compaction or a rebuild running beside them on another connection.
 */
const TOUCHED = 'distinct_keys_touched';
const TOUCHED_DDL = `CREATE TABLE IF NOT EXISTS ${TOUCHED} (org VARCHAR NOT NULL, hour TIMESTAMP NOT NULL)`;

/**
 * The statements that record a load: `relation` holds just-loaded event rows (the events table's columns), none
 * of them already stored. Run in the load's transaction, on the connection that loads.
 */
export function distinctKeySteps(relation: string): string[] {
  return [
    `INSERT INTO ${TOUCHED} SELECT DISTINCT org, date_trunc('hour', derived_time) FROM ${relation}`,
    ...KEY_TABLES.map((t) => `INSERT INTO ${t.name} ${aggregated(t, relation)}`),
  ];
}

/**
 * The rows a load appended straight to the events table (with an appender, not through a stage), as a relation
 * for distinctKeySteps: `$ids` (a VARCHAR list) are their ids, `$lo` and `$hi` the span of their derived times,
 * which lets DuckDB skip the rest of the table. Read in the load's transaction, after the rows are appended.
 */
export const APPENDED_EVENTS = `(SELECT * FROM events WHERE derived_time BETWEEN $lo AND $hi AND id IN (SELECT unnest($ids::VARCHAR[])))`;

/**
 * The statements that rebuild some hours from the events: `hours` is a relation of (org, hour) pairs, such as
 * the hours of events about to change or go and, after a change, of the changed events. Run in the change's
 * transaction, after it.
 */
export function rebuildHoursSteps(hours: string): string[] {
  const within = (alias: string) =>
    `EXISTS (SELECT 1 FROM ${hours} h WHERE h.org = ${alias}.org AND h.hour = ${alias === 'e' ? "date_trunc('hour', e.derived_time)" : `${alias}.hour`})`;
  // The span of the hours bounds the events read, so that DuckDB skips the row groups outside it.
  const span = `e.derived_time >= (SELECT min(hour) FROM ${hours}) AND e.derived_time < (SELECT max(hour) FROM ${hours}) + INTERVAL 1 HOUR`;
  return KEY_TABLES.flatMap((t) => [
    `DELETE FROM ${t.name} k WHERE ${within('k')}`,
    `INSERT INTO ${t.name} ${aggregated(t, 'events e', `${span} AND ${within('e')}`)}`,
  ]);
}

/** The (org, hour) pairs of the events `where` selects (over the events table), for rebuildHoursSteps. */
export const hoursOf = (where: string) =>
  `SELECT DISTINCT org, date_trunc('hour', derived_time) AS hour FROM events WHERE ${where}`;

/**
 * Folds the rows that loads appended for the same combination of an hour into one, in the hours loaded since
 * the last compaction; in a transaction of its own, at leisure (a timer), on the connection that changes and
 * deletes events (rebuildHoursSteps), so that the two never delete the same rows at once. Answers do not depend
 * on it; it keeps the tables small under a stream of small loads.
 */
export const COMPACT_STEPS = [
  `CREATE TEMP TABLE distinct_keys_hours AS SELECT DISTINCT org, hour FROM ${TOUCHED}`,
  ...KEY_TABLES.flatMap((t) => {
    const keys = ['org', 'hour', ...t.columns].join(', ');
    const within = `EXISTS (SELECT 1 FROM distinct_keys_hours h WHERE h.org = k.org AND h.hour = k.hour)`;
    return [
      `CREATE TEMP TABLE distinct_keys_folded AS SELECT ${keys}, sum(n)::BIGINT AS n FROM ${t.name} k WHERE ${within} GROUP BY ALL`,
      `DELETE FROM ${t.name} k WHERE ${within}`,
      `INSERT INTO ${t.name} SELECT * FROM distinct_keys_folded`,
      'DROP TABLE distinct_keys_folded',
    ];
  }),
  `DELETE FROM ${TOUCHED} t WHERE EXISTS (SELECT 1 FROM distinct_keys_hours h WHERE h.org = t.org AND h.hour = t.hour)`,
  'DROP TABLE distinct_keys_hours',
];

/** How long after a load its repeated rows are folded: long enough that one compaction covers many loads. */
export const DISTINCT_KEYS_COMPACTION_MS = 30_000;

export async function compactDistinctKeys(connection: DuckDBConnection): Promise<void> {
  await inTransaction(connection, async () => {
    for (const sql of COMPACT_STEPS) await connection.run(sql);
  });
}

/**
 * Builds the tables if the store has none or older ones (an upgrade reads every event once), in one
 * transaction. Answers whether it built them.
 */
export async function migrateDistinctKeys(connection: DuckDBConnection): Promise<boolean> {
  await connection.run(TOUCHED_DDL);
  const reader = await connection.runAndReadAll('SELECT value FROM checkpoints WHERE name = $name', {
    name: DISTINCT_KEYS_CHECKPOINT,
  });
  if (reader.getRowObjectsJS()[0]?.value === DISTINCT_KEYS_VERSION) return false;
  await inTransaction(connection, async () => {
    for (const t of KEY_TABLES) await connection.run(`DROP TABLE IF EXISTS ${t.name}`);
    for (const sql of CREATE) await connection.run(sql);
    await connection.run(`DELETE FROM ${TOUCHED}`);
    // In time order, so that a range's rows lie together and the rest is skipped by its bounds.
    for (const t of KEY_TABLES) {
      await connection.run(`INSERT INTO ${t.name} ${aggregated(t, 'events')} ORDER BY hour`);
    }
    await connection.run('INSERT OR REPLACE INTO checkpoints VALUES ($1, $2)', [
      DISTINCT_KEYS_CHECKPOINT,
      DISTINCT_KEYS_VERSION,
    ]);
  });
  return true;
}

// ---- Which queries a table answers -------------------------------------------------------------------

const HOUR_MS = 3_600_000;

/** A table that answers the query, with the whole hours it covers; undefined when the events must be read. */
export interface KeyPlan {
  table: string;
  /** The first and the end of the whole hours read from the table; the rest of the range is read from events. */
  from: Date;
  to: Date;
}

export function planDistinctKeys(query: AggregateQuery): KeyPlan | undefined {
  const from = new Date(Math.ceil(query.from.getTime() / HOUR_MS) * HOUR_MS);
  const to = new Date(Math.floor(query.to.getTime() / HOUR_MS) * HOUR_MS);
  if (from >= to) return undefined;
  // Only distinct counts need it: plain counts over the events are already fast.
  if (!query.measures.some((m) => m.fn === 'uniq')) return undefined;
  const read = new Set<string>();
  const column = (field: QueryField | undefined): boolean => {
    if (field?.kind !== 'column') return false;
    const found = EVENT_COLUMN_OF.get(field.field);
    if (!found) return false;
    read.add(found.column);
    return true;
  };
  for (const m of query.measures) {
    if (m.fn !== 'count' && !(m.fn === 'uniq' && column(m.field))) return undefined;
  }
  for (const d of query.dimensions) if (!column(d.field)) return undefined;
  if (query.where && !filterColumns(query.where, column)) return undefined;
  if (query.bucket && !wholeHourBuckets(query.bucket, query.from, query.to)) return undefined;
  const table = KEY_TABLES.find(
    (t) =>
      [...read].every((c) => t.columns.includes(c) || c === t.only?.column) &&
      (!t.only || requires(query.where, t.only.column, t.only.value)),
  );
  return table && { table: table.name, from, to };
}

/** Whether the filter keeps only events with this value in this column: it, or a term of its top-level AND, says so. */
function requires(filter: QueryFilter | undefined, column: string, value: string): boolean {
  if (!filter) return false;
  if (filter.kind === 'and') return filter.filters.some((f) => requires(f, column, value));
  const field = filter.kind === 'compare' || filter.kind === 'in' ? filter.field : undefined;
  if (field?.kind !== 'column' || EVENT_COLUMN_OF.get(field.field)?.column !== column) return false;
  if (filter.kind === 'compare') return filter.op === 'eq' && filter.value === value;
  return filter.kind === 'in' && filter.values.length > 0 && filter.values.every((v) => v === value);
}

function filterColumns(filter: QueryFilter, column: (field: QueryField) => boolean): boolean {
  switch (filter.kind) {
    case 'and':
    case 'or':
      return filter.filters.every((f) => filterColumns(f, column));
    case 'not':
      return filterColumns(filter.filter, column);
    default:
      return column(filter.field);
  }
}

/**
 * Whether every bucket of the range begins at a whole UTC hour, so that no hour straddles two buckets: true in
 * UTC, and in a zone whose offset is a whole number of hours all through the range. Offsets are read at each
 * hour, and at each quarter of an hour where the offset changes.
 */
function wholeHourBuckets(bucket: NonNullable<AggregateQuery['bucket']>, from: Date, to: Date): boolean {
  if (bucket.unit === 'minute') return false;
  if (UTC_ZONES.has(bucket.timeZone)) return true;
  const key = `${bucket.timeZone}|${from.getTime()}|${to.getTime()}`;
  const known = WHOLE_HOURS.get(key);
  if (known !== undefined) return known;
  const answer = wholeHourOffsets(bucket.timeZone, from.getTime(), to.getTime());
  if (WHOLE_HOURS.size >= 256) WHOLE_HOURS.delete(WHOLE_HOURS.keys().next().value as string);
  WHOLE_HOURS.set(key, answer);
  return answer;
}

const WHOLE_HOURS = new Map<string, boolean>();

function wholeHourOffsets(timeZone: string, from: number, to: number): boolean {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  const offset = (t: number) => {
    const name = format.formatToParts(t).find((p) => p.type === 'timeZoneName')?.value ?? '';
    const m = /GMT(?:([+-])(\d{2}):(\d{2}))?/.exec(name);
    if (!m) return Number.NaN;
    return m[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  };
  const quarter = HOUR_MS / 4;
  let previous = offset(Math.floor(from / HOUR_MS) * HOUR_MS);
  if (previous % 60 !== 0) return false;
  // One hour past the range: a bucket that begins inside the range may end after it.
  for (let t = Math.floor(from / HOUR_MS) * HOUR_MS + HOUR_MS; t <= to + HOUR_MS; t += HOUR_MS) {
    const current = offset(t);
    if (current % 60 !== 0) return false;
    if (current !== previous) {
      for (let q = t - HOUR_MS + quarter; q < t; q += quarter) if (offset(q) % 60 !== 0) return false;
    }
    previous = current;
  }
  return true;
}
