import type { DuckDBValue } from '@duckdb/node-api';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMN_OF } from '../event-columns.ts';
import type {
  AggregateQuery,
  KpiUnit,
  QueryField,
  QueryFilter,
  Scalar,
  UnitMeasure,
  UnitQuery,
} from '../storage.ts';

/**
 * The query API's aggregations in DuckDB SQL, over events or over KPI units built from them. Every value is
 * a parameter; names in the SQL come from the resolved spec (checked against the event columns, the unit
 * facts and closed lists), never from request text.
 */

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const COMPARISONS = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;
const QUANTILES = { p50: 0.5, p90: 0.9, p99: 0.99 } as const;

export interface CompiledAggregate {
  sql: string;
  params: Record<string, DuckDBValue>;
  /** Hidden output columns counting values that did not parse as their declared type, by field name. */
  typeErrorColumns: { column: string; field: string }[];
}

/** A customData value of the current row. DuckDB lists are 1-based; a missing key reads as null. */
const customValue = (key: string) => `${CUSTOM_VALUES_COLUMN}[list_position(${CUSTOM_KEYS_COLUMN}, ${key})]`;

class Compiler {
  readonly params: Record<string, DuckDBValue> = {};
  /** Typed customData fields read by the query, by name: their raw and typed expressions. */
  readonly typed = new Map<string, { raw: string; typed: string }>();
  /** Over units, fields are the unit relation's columns, named as the spec names them. */
  constructor(readonly overUnits = false) {}

  bind(value: DuckDBValue): string {
    const name = `p${Object.keys(this.params).length}`;
    this.params[name] = value;
    return `$${name}`;
  }

  field(field: QueryField): string {
    if (field.kind === 'fact') {
      if (!this.overUnits) throw new Error(`events have no fact ${field.fact}`);
      return quote(field.fact);
    }
    if (field.kind === 'column') {
      if (this.overUnits) return quote(field.field);
      const column = EVENT_COLUMN_OF.get(field.field);
      if (!column) throw new Error(`events have no field ${JSON.stringify(field.field)}`);
      return quote(column.column);
    }
    const raw = this.overUnits ? quote(`customData.${field.key}`) : customValue(this.bind(field.key));
    if (field.type === 'text') return raw;
    const typed = `TRY_CAST(${raw} AS ${field.type === 'number' ? 'DOUBLE' : 'BOOLEAN'})`;
    this.typed.set(`customData.${field.key}`, { raw, typed });
    return typed;
  }

  value(field: QueryField, value: Scalar): string {
    if (value instanceof Date) return `${this.bind(value.toISOString())}::TIMESTAMP`;
    if (typeof value === 'number' && (field.kind === 'fact' || field.kind === 'custom')) {
      return `${this.bind(value)}::DOUBLE`;
    }
    if (field.kind === 'custom' && field.type === 'number') return `${this.bind(Number(value))}::DOUBLE`;
    return this.bind(value as DuckDBValue);
  }

  filter(filter: QueryFilter): string {
    switch (filter.kind) {
      case 'and':
      case 'or':
        if (filter.filters.length === 0) return filter.kind === 'and' ? 'TRUE' : 'FALSE';
        return `(${filter.filters.map((f) => this.filter(f)).join(` ${filter.kind.toUpperCase()} `)})`;
      case 'in': {
        const expr = this.field(filter.field);
        return `${expr} IN (${filter.values.map((v) => this.value(filter.field, v)).join(', ')})`;
      }
      case 'contains':
        return `contains(${this.field(filter.field)}, ${this.bind(filter.value)})`;
      case 'compare': {
        const expr = this.field(filter.field);
        if (filter.value === null) return filter.op === 'ne' ? `${expr} IS NOT NULL` : `${expr} IS NULL`;
        const value = this.value(filter.field, filter.value);
        if (filter.op === 'ne') return `(${expr} <> ${value} OR ${expr} IS NULL)`;
        return `${expr} ${COMPARISONS[filter.op]} ${value}`;
      }
    }
  }

  time(date: Date): string {
    return `${this.bind(date.toISOString())}::TIMESTAMP`;
  }

  /**
   * `SELECT bucket, dimensions, measures FROM source WHERE … GROUP BY … ORDER BY … LIMIT`, with the hidden
   * type-error counts; `time` is the column the range and the bucket apply to.
   */
  grouped(
    query: Pick<AggregateQuery, 'bucket' | 'dimensions' | 'limit'> & Partial<Pick<AggregateQuery, 'orderBy'>>,
    measures: { name: string; expr: string }[],
    source: string,
    time: string,
    conditions: string[],
  ): CompiledAggregate {
    const select: string[] = [];
    const groups: string[] = [];
    if (query.bucket) {
      const zone = this.bind(query.bucket.timeZone);
      // Stored times are UTC: truncate in the asked zone's wall clock, then answer that wall time's instant.
      const local = `timezone(${zone}, timezone('UTC', ${time}))`;
      select.push(
        `timezone(${zone}, date_trunc('${query.bucket.unit}', ${local})) AS ${quote(query.bucket.name)}`,
      );
      groups.push(quote(query.bucket.name));
    }
    for (const { name, field } of query.dimensions) {
      select.push(`${this.field(field)} AS ${quote(name)}`);
      groups.push(quote(name));
    }
    for (const { name, expr } of measures) select.push(`${expr} AS ${quote(name)}`);
    const typeErrorColumns = [...this.typed].map(([field, { raw, typed }], i) => {
      const column = `__type_errors_${i}`;
      select.push(`count(*) FILTER (WHERE ${raw} IS NOT NULL AND ${typed} IS NULL) AS ${quote(column)}`);
      return { column, field };
    });
    const orderBy = (query.orderBy ?? []).map(
      (o) => `${quote(o.name)} ${o.descending ? 'DESC' : 'ASC'} NULLS LAST`,
    );
    const sql =
      `${source} SELECT ${select.join(', ')} FROM ${this.overUnits ? 'units' : 'events'} ` +
      `WHERE ${conditions.join(' AND ')}` +
      (groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '') +
      (orderBy.length > 0 ? ` ORDER BY ${orderBy.join(', ')}` : '') +
      ` LIMIT ${Math.trunc(query.limit)}`;
    return { sql, params: this.params, typeErrorColumns };
  }
}

export function compileAggregate(org: string, query: AggregateQuery): CompiledAggregate {
  const c = new Compiler();
  const measures = query.measures.map(({ name, fn, field }) => {
    const expr = field ? c.field(field) : '*';
    const aggregate =
      fn === 'count'
        ? 'count(*)'
        : fn === 'uniq'
          ? `count(DISTINCT ${expr})`
          : fn in QUANTILES
            ? `quantile_cont(${expr}, ${QUANTILES[fn as keyof typeof QUANTILES]})`
            : `${fn}(${expr})`;
    return { name, expr: aggregate };
  });
  const conditions = [
    `org = ${c.bind(org)}`,
    `derived_time >= ${c.time(query.from)}`,
    `derived_time < ${c.time(query.to)}`,
  ];
  if (query.where) conditions.push(c.filter(query.where));
  return c.grouped(query, measures, '', 'derived_time', conditions);
}

// ---- KPI units -----------------------------------------------------------------------------------------

const seconds = (later: string, earlier: string) => `(epoch_ms(${later}) - epoch_ms(${earlier})) / 1000.0`;
const ACCEPTED = `((ty = 'NotificationResponse' AND action LIKE 'accept%') OR ty = 'SessionStarted')`;
const TRANSFER = `(ty = 'SessionClosed' AND lower(reason) LIKE 'transfer%')`;
/** What a unit is broken down by when several events disagree: the largest value (they rarely differ). */
const PLACE = `max(channel) AS channel, max(queue_name) AS "queueName", max(queue_id) AS "queueId", max(provider_id) AS "providerId"`;

/**
 * Each unit's relation: the grouping of its KPI events (`g`) and the facts derived from it (`units`).
 * `$custom` stands for the customData columns the query reads.
 */
const UNITS: Record<KpiUnit, { where: string; group: string; facts: string }> = {
  conversation: {
    where: 'conversation_id IS NOT NULL',
    group: `SELECT conversation_id,
      coalesce(min(t) FILTER (WHERE ty = 'ConversationQueued'), min(t)) AS starts,
      min(t) FILTER (WHERE ${ACCEPTED}) AS answered_at,
      min(t) FILTER (WHERE ty = 'FirstResponseSent') AS first_response_at,
      min(t) FILTER (WHERE ty = 'ConversationEnded') AS ended_at,
      count(*) FILTER (WHERE ty = 'SessionStarted') AS started_n,
      count(*) FILTER (WHERE ty = 'SessionClosed') AS closed_n,
      sum(epoch_ms(t)) FILTER (WHERE ty = 'SessionClosed') - sum(epoch_ms(t)) FILTER (WHERE ty = 'SessionStarted') AS handle_ms,
      count(*) FILTER (WHERE ${TRANSFER}) AS transfers,
      arg_min(participant_id, t) FILTER (WHERE participant_id IS NOT NULL AND ${ACCEPTED}) AS "participantId",
      ${PLACE} $custom
      FROM e GROUP BY conversation_id`,
    facts: `answered_at IS NOT NULL AND (ended_at IS NULL OR answered_at <= ended_at) AS answered,
      CASE WHEN answered THEN ${seconds('answered_at', 'starts')} END AS "answerSeconds",
      ${seconds('first_response_at', 'starts')} AS "firstResponseSeconds",
      ended_at IS NOT NULL AS ended,
      ended AND NOT answered AS abandoned,
      CASE WHEN abandoned THEN ${seconds('ended_at', 'starts')} END AS "waitSeconds",
      -- Each session's close minus its start, summed: known once the conversation ended with every session closed.
      CASE WHEN ended AND started_n > 0 AND started_n = closed_n THEN handle_ms / 1000.0 END AS "handleSeconds",
      started_n AS sessions`,
  },
  session: {
    where: 'provider_session_id IS NOT NULL AND conversation_id IS NOT NULL',
    group: `SELECT conversation_id, provider_session_id,
      coalesce(min(t) FILTER (WHERE ty = 'SessionStarted'), min(t)) AS starts,
      min(t) FILTER (WHERE ty = 'SessionClosed') AS closed_at,
      coalesce(bool_or(${TRANSFER}), false) AS transferred,
      coalesce(arg_min(participant_id, t) FILTER (WHERE participant_id IS NOT NULL AND ty = 'SessionStarted'),
               arg_min(participant_id, t) FILTER (WHERE participant_id IS NOT NULL)) AS "participantId",
      ${PLACE} $custom
      FROM e GROUP BY conversation_id, provider_session_id`,
    facts: `closed_at IS NOT NULL AS closed, ${seconds('closed_at', 'starts')} AS "handleSeconds"`,
  },
  notification: {
    where: `ty IN ('NotificationDisplayed', 'NotificationResponse') AND participant_id IS NOT NULL AND conversation_id IS NOT NULL`,
    group: `SELECT conversation_id, participant_id AS "participantId",
      coalesce(min(t) FILTER (WHERE ty = 'NotificationDisplayed'), min(t)) AS starts,
      min(t) FILTER (WHERE ty = 'NotificationDisplayed') AS displayed_at,
      min(t) FILTER (WHERE ty = 'NotificationResponse') AS responded_at,
      arg_min(action, t) FILTER (WHERE ty = 'NotificationResponse') AS raw_action,
      ${PLACE} $custom
      FROM e GROUP BY conversation_id, participant_id`,
    facts: `CASE WHEN raw_action LIKE 'accept%' THEN 'accept'
        WHEN raw_action LIKE 'reject%' OR raw_action LIKE 'decline%' THEN 'reject'
        WHEN raw_action LIKE 'time%' THEN 'timeout' ELSE raw_action END AS action,
      ${seconds('responded_at', 'displayed_at')} AS "responseSeconds"`,
  },
  presence: {
    where: `ty = 'PresenceChanged' AND participant_id IS NOT NULL`,
    // An interval lasts until the agent's next change; the last one is still open.
    group: `SELECT participant_id AS "participantId", new_presence AS "newPresence", t AS start,
      lead(t) OVER (PARTITION BY participant_id ORDER BY t, id) AS next
      FROM e`,
    facts: `greatest(start, $from) AS starts, least(coalesce(next, $now), $to) AS until,
      ${seconds('until', 'starts')} AS seconds`,
  },
};

function unitMeasure(c: Compiler, measure: UnitMeasure): string {
  const where = (filter: QueryFilter | undefined) => (filter ? ` FILTER (WHERE ${c.filter(filter)})` : '');
  switch (measure.fn) {
    case 'count':
      return `count(*)${where(measure.where)}`;
    case 'sum':
    case 'avg':
      return `${measure.fn}(${quote(measure.fact)})${where(measure.where)}`;
    case 'percent': {
      const denominator = c.filter(measure.denominator);
      return (
        `100.0 * count(*) FILTER (WHERE ${denominator} AND ${c.filter(measure.numerator)}) / ` +
        `nullif(count(*) FILTER (WHERE ${denominator}), 0)`
      );
    }
  }
}

/** The customData keys a query reads, in a stable order. */
function customKeys(query: UnitQuery): string[] {
  const keys = new Set<string>();
  const visit = (filter: QueryFilter | undefined) => {
    if (!filter) return;
    if ('filters' in filter) {
      filter.filters.forEach(visit);
    } else if (filter.field.kind === 'custom') keys.add(filter.field.key);
  };
  for (const { field } of query.dimensions) if (field.kind === 'custom') keys.add(field.key);
  visit(query.where);
  return [...keys];
}

export function compileUnits(org: string, query: UnitQuery): CompiledAggregate {
  const c = new Compiler(true);
  const unit = UNITS[query.unit];
  const from = c.time(query.from);
  const to = c.time(query.to);
  const custom = customKeys(query)
    .map((key) => `, max(${customValue(c.bind(key))}) AS ${quote(`customData.${key}`)}`)
    .join('');
  const scan =
    `SELECT id, derived_time AS t, event_type AS ty, event_value AS reason, conversation_id, provider_session_id, ` +
    `participant_id, provider_id, channel, queue_id, queue_name, new_presence, ` +
    `lower(notification_response_action) AS action, ${CUSTOM_KEYS_COLUMN}, ${CUSTOM_VALUES_COLUMN} ` +
    `FROM events WHERE org = ${c.bind(org)} AND category = 'kpi' ` +
    `AND derived_time >= ${c.time(new Date(query.from.getTime() - query.marginMs))} ` +
    `AND derived_time < ${c.time(new Date(query.to.getTime() + query.marginMs))}`;
  const source =
    `WITH e AS (SELECT * FROM (${scan}) WHERE ${unit.where}), ` +
    `g AS (${unit.group.replace('$custom', custom)}), ` +
    `units AS (SELECT *, ${unit.facts
      .replaceAll('$from', from)
      .replaceAll('$to', to)
      .replace('$now', () => c.time(query.now))} FROM g)`;
  const measures = query.measures.map(({ name, measure }) => ({ name, expr: unitMeasure(c, measure) }));
  const conditions = [`starts >= ${from}`, `starts < ${to}`];
  if (query.unit === 'presence') conditions.push('until > starts');
  if (query.where) conditions.push(c.filter(query.where));
  return c.grouped(query, measures, source, 'starts', conditions);
}
