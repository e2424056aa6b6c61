import { QUANTILES, UTC_ZONES } from '../aggregate-semantics.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMN_OF } from '../event-columns.ts';
import type {
  AggregateFn,
  AggregateQuery,
  AggregateResult,
  ColumnType,
  QueryField,
  Scalar,
  TimeUnit,
} from '../storage.ts';
import { compileFilter, ident, literal, micros, type Resolved } from './sql.ts';

/**
 * The query API's aggregations over events in ClickHouse 18.16 SQL, giving the answers DuckDB's aggregate.ts
 * gives: the same rows, numbers, buckets and type-error counts. Where 18.16 lacks what DuckDB uses (an
 * interpolated quantile, a correctly rounded text-to-double cast, a wall-clock time zone conversion), it is
 * built here from what it has. Every value is a literal of sql.ts; names in the SQL are ours (`__…`), the
 * answer's names are put back on the rows in JS, so no name from a spec is ever SQL text.
 */

export type RunSql = (sql: string) => Promise<Record<string, unknown>[]>;

/** The live rows of the events table: FINAL collapses a row's versions before anything is counted. */
const EVENTS = 'events FINAL';
const LIVE = `${ident('_deleted')} = 0`;

/** How an output column is read back from JSONEachRow, where 64-bit integers come as strings. */
type Decode = 'number' | 'boolean' | 'text' | 'timestamp' | 'list';

interface Output {
  /** The column's name in our SQL, as it is sorted. */
  alias: string;
  /** The column that carries it to us, when not the sorted one (a double's text). */
  carrier?: string;
  /** Its name in the answer. */
  name: string;
  decode: Decode;
}

// ---- customData, read as DuckDB's TRY_CAST reads it ------------------------------------------------------

/** A run of digits, single underscores allowed between them, as DuckDB's number parser takes it. */
const DIGITS = '[0-9]+(?:_[0-9]+)*';
const SPACE = '[ \\t\\n\\v\\f\\r]';
/**
 * The text DuckDB's `TRY_CAST(x AS DOUBLE)` accepts, lower-cased: spaces around, a `+` then a `-`, digits
 * with underscores, an optional fraction and exponent, or inf, infinity and nan. ClickHouse's own parser
 * takes other text (".", "0x…" is refused by both, "+1" only by DuckDB), hence this gate.
 */
const NUMBER_TEXT = `^${SPACE}*\\+?-?(?:(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:e[+-]?${DIGITS})?|inf|infinity|nan)${SPACE}*$`;
/** The largest power of ten the exact reading takes; beyond it, ClickHouse's parser reads the text. */
const MAX_POWER = 290;
/**
 * 10^0 … 10^MAX_POWER as two doubles each, the nearest and what it misses by (0 up to 10^22, which are exact):
 * JS rounds a BigInt to the nearest double, and ClickHouse's SQL parser reads these literals correctly rounded.
 * Up to 10^290, m × 10^±k stays a normal double for every m below 10^18. The tables are named once per query
 * (POWER_TABLES, in its WITH) rather than written into every reading of a number.
 */
const POWER_PAIRS = Array.from({ length: MAX_POWER + 1 }, (_, k) => {
  const exact = 10n ** BigInt(k);
  const high = Number(exact);
  return [high, Number(exact - BigInt(high))] as const;
});
// Written with an exponent, so that every item is a Float64 literal (1 alone would be a UInt8).
const POWERS_HIGH = `[${POWER_PAIRS.map(([h]) => h.toExponential()).join(', ')}]`;
const POWERS_LOW = `[${POWER_PAIRS.map(([, l]) => l.toExponential()).join(', ')}]`;
/** The WITH clause a query that reads numbers (numberFromText) must have, in the SELECT that reads them. */
export const POWER_TABLES = `WITH ${POWERS_HIGH} AS __powers_high, ${POWERS_LOW} AS __powers_low`;

/**
 * Per-row values named in the SELECT that reads the events (`expr AS name`), so that each is written once:
 * ClickHouse lets any expression of the query, WHERE included, name a SELECT's alias, and computes an expression
 * that occurs several times once. It expands every alias where it is named, though, so chains of them are kept
 * short (the arithmetic of scaled() binds its names with a lambda instead).
 */
export type Definitions = string[];

/** Dekker's split of a double into two halves of 26 bits, whose products are exact. */
function split(x: string): { high: string; low: string } {
  const c = `(134217729 * ${x})`;
  const high = `(${c} - (${c} - ${x}))`;
  return { high, low: `(${x} - ${high})` };
}

/** What the double product p = a * b misses of the exact product (Dekker's TwoProduct, without fused multiply-add). */
function productError(a: string, b: string, p: string): string {
  const x = split(a);
  const y = split(b);
  return `(((${x.high} * ${y.high} - ${p}) + ${x.high} * ${y.low} + ${x.low} * ${y.high}) + ${x.low} * ${y.low})`;
}

/**
 * m × 10^k, correctly rounded, for an integer m below 10^18 and |k| ≤ MAX_POWER: m and 10^k as pairs of doubles
 * (about 106 bits each), their product or quotient with its error term, rounded once at the end. The answer of
 * a correctly rounded parser (DuckDB's), except for a text within ~2^-100 of halfway between two doubles.
 * One lambda over one-item arrays names the pairs: its body repeats short expressions, which ClickHouse computes
 * once each. (Naming every step as a SELECT alias instead makes ClickHouse expand the aliases into a tree that
 * takes it two seconds to analyse.)
 */
function scaled(m: string, k: string): string {
  const index = `toUInt64(least(abs(${k}), ${MAX_POWER}) + 1)`;
  const p = '(_mh * _ph)';
  const q = '(_mh / _ph)';
  const qp = `(${q} * _ph)`;
  const times = `${p} + (${productError('_mh', '_ph', p)} + (_mh * _pl + _ml * _ph))`;
  const over = `${q} + ((((_mh - ${qp}) - ${productError(q, '_ph', qp)}) - ${q} * _pl) + _ml) / _ph`;
  return (
    `arrayElement(arrayMap((_mh, _ml, _ph, _pl, _k) -> if(_k >= 0, ${times}, ${over}), ` +
    `[toFloat64(${m})], [toFloat64(${m} - toInt64(toFloat64(${m})))], ` +
    `[arrayElement(__powers_high, ${index})], [arrayElement(__powers_low, ${index})], [${k}]), 1)`
  );
}

/**
 * A text's value as DuckDB's TRY_CAST to DOUBLE gives it, or null; its per-row steps are pushed on `defs` under
 * names that begin with `name`. ClickHouse 18.16's own text-to-double is not correctly rounded
 * (`toFloat64OrNull('7.0e-10')` is 7.000000000000001e-10, and one 17-digit number in three misses by a bit), so a
 * number whose digits make an integer below 10^18 (leading zeros aside) and whose power of ten is at most 290
 * either way is computed here (scaled); only longer or larger ones fall back to ClickHouse's parser (and
 * subnormals read as 0). The SELECT the definitions are in needs POWER_TABLES.
 */
export function numberFromText(text: string, name?: string, defs?: Definitions): string {
  if (name === undefined || defs === undefined) return inlined((d) => numberFromText(text, '__number', d));
  const n = (v: string) => `${name}_${v}`;
  // Spaces, underscores and plus signs carry no value once the text has passed the gate.
  const cleaned = [' ', '\\t', '\\n', '\\v', '\\f', '\\r', '_', '+'].reduce(
    (expr, c) => `replaceAll(${expr}, '${c}', '')`,
    n('lower'),
  );
  defs.push(
    // Not nullable, so that the steps below compute on plain values; a null text is null again at the end.
    `lower(ifNull(${text}, '')) AS ${n('lower')}`,
    `${cleaned} AS ${n('t')}`,
    `position(${n('t')}, 'e') AS ${n('e')}`,
    `if(${n('e')} = 0, ${n('t')}, substring(${n('t')}, 1, ${n('e')} - 1)) AS ${n('mantissa')}`,
    `if(${n('e')} = 0, '', substring(${n('t')}, ${n('e')} + 1)) AS ${n('exponent')}`,
    `position(${n('mantissa')}, '.') AS ${n('dot')}`,
    `if(${n('dot')} = 0, '', substring(${n('mantissa')}, ${n('dot')} + 1)) AS ${n('fraction')}`,
    `replaceAll(replaceAll(${n('mantissa')}, '-', ''), '.', '') AS ${n('digits')}`,
    // Wraps around past 2^64 without a word: checked below against the digits.
    `toUInt64OrZero(${n('digits')}) AS ${n('m')}`,
    `toString(${n('m')}) AS ${n('mtext')}`,
    `toInt64OrZero(${n('exponent')}) - toInt64(length(${n('fraction')})) AS ${n('power')}`,
  );
  // The digits are zeros, then m: m is the number's digits, below 10^18.
  const readable =
    `${n('m')} < 1000000000000000000 AND endsWith(${n('digits')}, ${n('mtext')}) AND ` +
    `replaceAll(substring(${n('digits')}, 1, length(${n('digits')}) - length(${n('mtext')})), '0', '') = '' AND ` +
    `length(${n('exponent')}) <= 6 AND (${n('m')} = 0 OR abs(${n('power')}) <= ${MAX_POWER})`;
  const exact = `if(startsWith(${n('t')}, '-'), -1., 1.) * if(${n('m')} = 0, 0., ${scaled(`toInt64(${n('m')})`, n('power'))})`;
  return (
    `if(isNotNull(${text}) AND match(${n('lower')}, ${literal(NUMBER_TEXT)}), multiIf(` +
    `${n('t')} IN ('inf', 'infinity'), inf, ${n('t')} IN ('-inf', '-infinity'), -inf, ${n('t')} IN ('nan', '-nan'), nan, ` +
    `${readable}, ${exact}, toFloat64OrNull(${n('t')})), NULL)`
  );
}

/**
 * An expression built with definitions, written out whole for a caller whose SELECT cannot take them: each name
 * replaced by its expression, the last defined first (a definition names only those before it). Longer SQL,
 * the same values.
 */
function inlined(build: (defs: Definitions) => string): string {
  const defs: Definitions = [];
  let sql = build(defs);
  for (const definition of [...defs].reverse()) {
    const at = definition.lastIndexOf(' AS ');
    const name = definition.slice(at + 4);
    const expr = definition.slice(0, at);
    sql = sql.replace(new RegExp(`\\b${name}\\b`, 'g'), () => `(${expr})`);
  }
  return sql;
}

/** A text's value as DuckDB's TRY_CAST to BOOLEAN gives it (1/0), or null: its words, any case, no spaces. */
export function booleanFromText(text: string): string {
  const lower = `lower(${text})`;
  return `multiIf(${lower} IN ('t', 'true', 'y', 'yes', '1'), toUInt8(1), ${lower} IN ('f', 'false', 'n', 'no', '0'), toUInt8(0), NULL)`;
}

/** A customData value of the current row; a missing key reads as null (indexOf answers 0, arrays are 1-based). */
export function customText(key: string): string {
  const at = `indexOf(${ident(CUSTOM_KEYS_COLUMN)}, ${literal(key)})`;
  return `if(${at} = 0, NULL, arrayElement(${ident(CUSTOM_VALUES_COLUMN)}, ${at}))`;
}

/**
 * customData read as numbers or booleans, each reading named once per query. Its per-row values are
 * `expr AS name` definitions for the SELECT that reads the rows (ClickHouse lets WHERE name a SELECT's alias), so
 * each is parsed once per row and named wherever it is read, rather than its ~27 KB of parsing written out at
 * every use; and each field is remembered so that the values which do not parse are counted (typeErrors).
 */
export class TypedReadings {
  /** Typed customData fields read by the query, by name: the names of their text and typed values. */
  readonly typed = new Map<string, { raw: string; typed: string }>();
  /** The readings' per-row values, `expr AS name`, for the SELECT that reads the rows. */
  readonly definitions: Definitions = [];
  /** The names given to each reading (its text expression and type), so that each is defined once. */
  private readonly named = new Map<string, { raw: string; typed: string }>();
  /** Whether a number is read, and the SELECT needs POWER_TABLES. */
  readsNumbers = false;

  /** customData `key`, whose text is `raw`, read as its dimension's type (parsed as DuckDB's TRY_CAST parses). */
  protected reading(key: string, type: 'number' | 'boolean', raw: string): Resolved {
    const reading = `${type} ${raw}`;
    let known = this.named.get(reading);
    if (!known) {
      const i = this.named.size;
      known = { raw: `__raw${i}`, typed: `__typed${i}` };
      this.definitions.push(`${raw} AS ${known.raw}`);
      const typed =
        type === 'number'
          ? numberFromText(known.raw, `__n${i}`, this.definitions)
          : booleanFromText(known.raw);
      this.definitions.push(`${typed} AS ${known.typed}`);
      this.named.set(reading, known);
      if (type === 'number') this.readsNumbers = true;
    }
    // As DuckDB's compiler, the last reading of a field is the one whose type errors are counted.
    this.typed.set(`customData.${key}`, known);
    // A number compares with a numeric literal, which literalOf makes of an 'integer' field's value.
    return { sql: known.typed, type: type === 'number' ? 'integer' : 'boolean' };
  }
}

/**
 * The fields of the events a query reads, as SQL. A customData key declared as a number or a boolean is read
 * through its parse, and remembered so that the values which do not parse are counted (typeErrors).
 */
export class EventFields extends TypedReadings {
  readonly resolve = (field: QueryField): Resolved => {
    if (field.kind === 'fact') throw new Error(`events have no fact ${field.fact}`);
    if (field.kind === 'column') {
      const column = EVENT_COLUMN_OF.get(field.field);
      if (!column) throw new Error(`events have no field ${JSON.stringify(field.field)}`);
      return { sql: ident(column.column), type: column.type };
    }
    // A dimension declared for some event kinds reads nothing from the others.
    const value = customText(field.key);
    const raw = field.kinds
      ? `if(${ident('category')} IN (${field.kinds.map((k) => literal(k)).join(', ')}), ${value}, NULL)`
      : value;
    if (field.type === 'text') return { sql: raw, type: 'text' };
    return this.reading(field.key, field.type, raw);
  };
}

/** How a field's values come back: custom numbers are doubles, booleans 0/1. */
export function decodeOf(field: QueryField, fields: EventFields): Decode {
  if (field.kind === 'fact') return 'number';
  if (field.kind === 'custom') return field.type === 'text' ? 'text' : field.type;
  return decodeColumn(fields.resolve(field).type);
}

function decodeColumn(type: ColumnType): Decode {
  switch (type) {
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return 'timestamp';
    case 'text[]':
      return 'list';
    default:
      return 'text';
  }
}

// ---- measures --------------------------------------------------------------------------------------------

/**
 * DuckDB's quantile_cont: the sorted values' linear interpolation at (n - 1) * q, in doubles, with its arithmetic
 * to the last bit (lo * (1 - d) + hi * d; lo + (hi - lo) * d differs in one case in ten). 18.16 has only
 * nearest-rank exact quantiles, so the values are gathered and sorted (groupArray leaves nulls out) and the
 * interpolation is done here; null when there are none.
 */
export function interpolatedQuantile(values: string, q: number): string {
  const at = `((length(a) - 1) * ${q})`;
  const lo = `toFloat64(arrayElement(a, toUInt64(floor(${at})) + 1))`;
  const hi = `toFloat64(arrayElement(a, toUInt64(ceil(${at})) + 1))`;
  const d = `(${at} - floor(${at}))`;
  const value = `if(floor(${at}) = ceil(${at}), ${lo}, ${lo} * (1 - ${d}) + ${hi} * ${d})`;
  return `arrayElement(arrayMap(a -> if(length(a) = 0, NULL, ${value}), [arraySort(groupArray(${values}))]), 1)`;
}

/**
 * A measure over a per-row expression, with DuckDB's answers: nulls are left out, and a sum, mean, minimum or
 * maximum of no values is null (ClickHouse's would be 0 without a GROUP BY); a mean is a double (an integer
 * sum over a count).
 */
export function measureSql(fn: AggregateFn, value: string | undefined): string {
  if (fn === 'count') return 'count()';
  if (value === undefined) throw new Error(`${fn} needs a field`);
  switch (fn) {
    case 'uniq':
      // Over no rows, 18.16 answers null for a nullable value where DuckDB counts 0.
      return `ifNull(uniqExact(${value}), 0)`;
    case 'sum':
    case 'min':
    case 'max':
      return `if(count(${value}) = 0, NULL, ${fn}(${value}))`;
    case 'avg':
      return `if(count(${value}) = 0, NULL, sum(${value}) / count(${value}))`;
    default:
      return interpolatedQuantile(value, QUANTILES[fn]);
  }
}

// ---- time buckets ----------------------------------------------------------------------------------------

const MICROS = { minute: 60_000_000, hour: 3_600_000_000, day: 86_400_000_000 } as const;
const SLOT_SECONDS = 900;
/** DateTime in 18.16 is 32-bit unsigned seconds: slots are kept inside it (with a margin for a month's start). */
const LAST_SECOND = 4_294_967_295 - 40 * 86_400;

/**
 * Floor of a micros expression to a multiple of `unit` micros, also for times before 1970. The unit is an Int64:
 * 18.16 types `Int64 % UInt32` as Int32, which a remainder of an hour in micros (3.6e9) overflows.
 */
const floorTo = (expr: string, unit: number) => {
  const u = `toInt64(${unit})`;
  return `(${expr} - (((${expr}) % ${u}) + ${u}) % ${u})`;
};

/**
 * A bucket in UTC, in micros: a plain truncation, as DuckDB's date_trunc (weeks start on Monday; 1970-01-01 was
 * a Thursday, three days after one).
 */
function utcBucket(unit: TimeUnit, time: string): string {
  if (unit === 'week') {
    const day = MICROS.day;
    return `(${floorTo(`(${time} + ${3 * day})`, 7 * day)} - ${3 * day})`;
  }
  if (unit === 'month') {
    return `(toInt64(toUnixTimestamp(toDateTime(toStartOfMonth(toDateTime(intDiv(${time}, 1000000), 'UTC')), 'UTC'))) * 1000000)`;
  }
  return floorTo(time, MICROS[unit]);
}

/** The local wall clock `w` ('YYYY-MM-DD hh:mm:ss') truncated to the unit, as text. */
const WALL_TRUNCATE: Record<Exclude<TimeUnit, 'minute'>, string> = {
  hour: `concat(substring(w, 1, 13), ':00:00')`,
  day: `concat(substring(w, 1, 10), ' 00:00:00')`,
  week: `concat(toString(toMonday(toDate(substring(w, 1, 10)))), ' 00:00:00')`,
  month: `concat(substring(w, 1, 7), '-01 00:00:00')`,
};

/**
 * The 15-minute slots of [from, to] and each one's bucket, the bucket's first instant in seconds, as DuckDB's
 * aggregate.ts computes them: the slot's wall clock in the zone, truncated, and read back in the zone. Reading
 * back follows ICU's choices, which ClickHouse's own functions do not make: a wall clock that occurs twice
 * (the hour repeated when clocks go back) is its later occurrence; one that never occurs (a midnight skipped
 * when clocks go forward) is read with the offset in force before the change. Rows join their slot, so the
 * zone's wall clock is computed once per slot, not per row (every zone's offset is a whole number of quarter
 * hours).
 */
function slotTable(unit: Exclude<TimeUnit, 'minute'>, timeZone: string, from: Date, to: Date): string {
  const zone = literal(timeZone);
  const first = Math.max(0, Math.floor(micros(from) / 1e6 / SLOT_SECONDS) * SLOT_SECONDS);
  const last = Math.min(LAST_SECOND, Math.floor(micros(to) / 1e6 / SLOT_SECONDS) * SLOT_SECONDS);
  const count = Math.max(0, (last - first) / SLOT_SECONDS + 1);
  const wallClock = (seconds: string) => `toString(toDateTime(${seconds}, ${zone}))`;
  // Where the truncated wall clock falls: each instant near ClickHouse's reading of it that shows it.
  const showing = `arrayFilter(x -> ${wallClock('x')} = tr, arrayMap(d -> p + d, [-7200, -3600, -1800, 0, 1800, 3600, 7200]))`;
  // Skipped: the wall clock as if in UTC, less the offset three hours before (no zone changes twice in three hours).
  const before = 'p - 10800';
  const skipped = `toInt64(toUnixTimestamp(toDateTime(tr, 'UTC'))) - (toInt64(toUnixTimestamp(toDateTime(${wallClock(before)}, 'UTC'))) - (${before}))`;
  return (
    `SELECT __slot, if(empty(shown), ${skipped}, arrayReduce('max', shown)) * 1000000 AS __first FROM (` +
    `SELECT toInt64(${first} + number * ${SLOT_SECONDS}) AS __slot, ${wallClock('__slot')} AS w, ` +
    `${WALL_TRUNCATE[unit]} AS tr, toInt64(toUnixTimestamp(toDateTime(tr, ${zone}))) AS p, ${showing} AS shown ` +
    `FROM numbers(${count}))`
  );
}

/**
 * A time bucket over a micros column, in three parts: the per-row value for the SELECT that reads the rows, what
 * the grouping SELECT selects (as `__bucket`, in micros), and the join that follows its FROM (empty in UTC).
 */
export function bucketing(
  bucket: NonNullable<AggregateQuery['bucket']>,
  time: string,
  from: Date,
  to: Date,
): { perRow: string; select: string; join: string } {
  const { unit, timeZone } = bucket;
  if (unit === 'minute' || UTC_ZONES.has(timeZone)) {
    return { perRow: `${utcBucket(unit, time)} AS __bucket`, select: '__bucket', join: '' };
  }
  return {
    perRow: `toInt64(intDiv(${time}, ${SLOT_SECONDS * 1_000_000}) * ${SLOT_SECONDS}) AS __slot`,
    select: '__first AS __bucket',
    join: ` ANY INNER JOIN (${slotTable(unit, timeZone, from, to)}) USING __slot`,
  };
}

// ---- the query -------------------------------------------------------------------------------------------

export interface CompiledAggregate {
  sql: string;
  outputs: Output[];
  /** Hidden output columns counting values that did not parse as their declared type, by field name. */
  typeErrorColumns: { alias: string; field: string }[];
}

export function compileAggregate(org: string, query: AggregateQuery): CompiledAggregate {
  const fields = new EventFields();
  /** Per-row expressions of the inner query, by our name. */
  const perRow: string[] = [];
  /** The outer query's columns. */
  const select: string[] = [];
  const groups: string[] = [];
  const outputs: Output[] = [];
  let join = '';

  if (query.bucket) {
    const bucket = bucketing(query.bucket, 'derived_time', query.from, query.to);
    perRow.push(bucket.perRow);
    select.push(bucket.select);
    join = bucket.join;
    groups.push('__bucket');
    outputs.push({ alias: '__bucket', name: query.bucket.name, decode: 'timestamp' });
  }
  query.dimensions.forEach(({ name, field }, i) => {
    const decode = decodeOf(field, fields);
    const alias = `__d${i}`;
    const value = fields.resolve(field).sql;
    // Doubles travel as text: JSON has no inf or nan, and ClickHouse's text of a double round-trips.
    perRow.push(`${value} AS ${alias}`);
    select.push(alias);
    groups.push(alias);
    outputs.push({ alias, name, decode, ...(isDouble(field) && carry(alias)) });
  });
  query.measures.forEach(({ name, fn, field }, i) => {
    const alias = `__m${i}`;
    let value: string | undefined;
    if (field) {
      perRow.push(`${fields.resolve(field).sql} AS __v_m${i}`);
      value = `__v_m${i}`;
    }
    const aggregate = measureSql(fn, value);
    const double =
      fn === 'avg' || fn in QUANTILES || (field !== undefined && isDouble(field) && fn !== 'uniq');
    select.push(`${aggregate} AS ${alias}`);
    const decode: Decode =
      fn === 'min' || fn === 'max' ? (field ? decodeOf(field, fields) : 'number') : 'number';
    outputs.push({ alias, name, decode, ...(double && carry(alias)) });
  });

  const conditions = [
    LIVE,
    `org = ${literal(org)}`,
    `derived_time >= ${literal(query.from)}`,
    `derived_time < ${literal(query.to)}`,
  ];
  if (query.where) conditions.push(`(${compileFilter(query.where, fields.resolve)})`);

  // Read after every field is resolved (the filter's too), as DuckDB's compiler does.
  const typeErrorColumns = [...fields.typed].map(([field, { raw, typed }], i) => {
    perRow.push(`isNotNull(${raw}) AND isNull(${typed}) AS __v_e${i}`);
    select.push(`sum(__v_e${i}) AS __e${i}`);
    return { alias: `__e${i}`, field };
  });

  // Doubles travel as text: JSON has no inf or nan, and ClickHouse's text of a double reads back as the double.
  for (const { carrier, alias } of outputs) if (carrier) select.push(`toString(${alias}) AS ${carrier}`);

  const aliasOf = new Map(outputs.map((o) => [o.name, o.alias]));
  const orderBy = query.orderBy.map((o) => {
    const alias = aliasOf.get(o.name);
    if (!alias) throw new Error(`the query has no output ${JSON.stringify(o.name)} to order by`);
    return `${alias} ${o.descending ? 'DESC' : 'ASC'} NULLS LAST`;
  });

  // A query without per-row values still needs a column to count rows of.
  if (perRow.length === 0) perRow.push('1 AS __one');
  const inner = `${fields.readsNumbers ? `${POWER_TABLES} ` : ''}SELECT ${[...fields.definitions, ...perRow].join(', ')}`;
  const sql =
    `SELECT ${select.join(', ')} FROM (${inner} FROM ${EVENTS} WHERE ${conditions.join(' AND ')})` +
    join +
    (groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '') +
    (orderBy.length > 0 ? ` ORDER BY ${orderBy.join(', ')}` : '') +
    ` LIMIT ${Math.trunc(query.limit)}`;
  return { sql, outputs, typeErrorColumns };
}

const carry = (alias: string) => ({ carrier: `${alias}_text` });

/** Fields read as doubles, whose values travel as text. */
const isDouble = (field: QueryField) => field.kind === 'custom' && field.type === 'number';

/**
 * Doubles come as ClickHouse's text of them (inf, -inf and nan included), 64-bit integers as text, booleans as
 * 0/1, times as micros: each back as DuckDB's rows give them.
 */
function decodeValue(decode: Decode, value: unknown): Scalar | string[] {
  if (value === null || value === undefined) return null;
  switch (decode) {
    case 'number':
      if (value === 'inf') return Number.POSITIVE_INFINITY;
      if (value === '-inf') return Number.NEGATIVE_INFINITY;
      if (value === 'nan' || value === '-nan') return Number.NaN;
      return Number(value);
    case 'boolean':
      return Number(value) !== 0;
    case 'timestamp':
      return new Date(Math.floor(Number(value) / 1000));
    case 'list':
      return value as string[];
    default:
      return value as string;
  }
}

export function decodeRows(
  compiled: Pick<CompiledAggregate, 'outputs' | 'typeErrorColumns'>,
  raw: readonly Record<string, unknown>[],
): AggregateResult {
  const typeErrors: Record<string, number> = {};
  for (const { alias, field } of compiled.typeErrorColumns) {
    typeErrors[field] = raw.reduce((sum, row) => sum + Number(row[alias] ?? 0), 0);
  }
  const rows = raw.map((row) => {
    const out: Record<string, Scalar> = {};
    for (const { alias, carrier, name, decode } of compiled.outputs) {
      out[name] = decodeValue(decode, row[carrier ?? alias]) as Scalar;
    }
    return out;
  });
  return { rows, typeErrors };
}

/** Measures over one organization's events, grouped by dimensions and a time bucket: DuckDB's answers. */
export async function aggregateEvents(
  run: RunSql,
  org: string,
  query: AggregateQuery,
): Promise<AggregateResult> {
  const compiled = compileAggregate(org, query);
  return decodeRows(compiled, await run(compiled.sql));
}
