import type { CanonicalEvent } from '../../model/canonical-event.ts';
import {
  type GroupedUnit,
  type IntervalUnit,
  MEANINGS,
  UNIT_DECLARATIONS,
  type UnitAggregate,
  type UnitEventField,
  type UnitExpr,
} from '../../model/kpi-units.ts';
import type { KpiUnit } from '../storage.ts';

/**
 * KPI units kept as tables, so that a KPI query reads one row per conversation (session, notification,
 * presence interval) instead of grouping every KPI event of its range on each query. What a unit is comes
 * from its declaration (src/model/kpi-units.ts): its columns compile into the SQL that builds its table, its
 * facts into UNIT_FACTS_SQL, read at query time. This file adds only DuckDB's bookkeeping:
 *
 * - Appending, changing or deleting a KPI event records its conversation (and, for PresenceChanged, its
 *   agent) in `kpi_dirty`, in the same transaction: a crash cannot lose the mark.
 * - Soon after a write that marked any (and before any KPI query), the units of the marked conversations and
 *   agents are rebuilt from their events and their marks cleared, a chunk per transaction.
 * - A store made before these tables, or before their current shape (KPI_UNITS_VERSION), marks every KPI
 *   event's conversation and agent, and so rebuilds them all at its first KPI query.
 */

/** Raised whenever a unit table's columns or meaning change: older tables are dropped and rebuilt. */
export const KPI_UNITS_VERSION = '3';
export const KPI_UNITS_CHECKPOINT = 'kpi-units';

export const UNIT_TABLE: Record<KpiUnit, string> = {
  conversation: 'kpi_conversations',
  session: 'kpi_sessions',
  notification: 'kpi_notifications',
  presence: 'kpi_presence',
};

export const DIRTY_TABLE = 'kpi_dirty';
export const DIRTY_DDL = `CREATE TABLE IF NOT EXISTS ${DIRTY_TABLE} (org VARCHAR NOT NULL, conversation_id VARCHAR, participant_id VARCHAR, lo TIMESTAMP NOT NULL, hi TIMESTAMP NOT NULL)`;

/** How far around the times marked a rebuild reads a unit's events (the declaration's). */
export { UNIT_SPAN_MS } from '../../model/kpi-units.ts';

/** Where a unit's aggregates read each event field: the columns of MARKED_EVENTS. */
const EVENT_FIELD: Record<UnitEventField, string> = {
  time: 't',
  meaning: 'ty',
  action: 'action',
  reason: 'reason',
  conversationId: 'conversation_id',
  providerSessionId: 'provider_session_id',
  participantId: 'participant_id',
  providerId: 'provider_id',
  channel: 'channel',
  queueId: 'queue_id',
  queueName: 'queue_name',
  newPresence: 'new_presence',
};

/**
 * A declared expression (src/model/kpi-units.ts) as DuckDB SQL: over MARKED_EVENTS' columns when building a
 * unit, over the unit table's columns (and `$from`, `$to`, `$now`) when reading its facts.
 */
export function duckdbExpr(expr: UnitExpr): string {
  const e = duckdbExpr;
  switch (expr.kind) {
    case 'event':
      return EVENT_FIELD[expr.field];
    case 'agg':
      return aggregate(expr.agg);
    case 'column':
      return quote(expr.name);
    case 'param':
      return `$${expr.name}`;
    case 'literal':
      return typeof expr.value === 'string'
        ? literal(expr.value)
        : typeof expr.value === 'boolean'
          ? String(expr.value).toUpperCase()
          : String(expr.value);
    case 'set':
      return `(${e(expr.of)} IS NOT NULL)`;
    case 'and':
    case 'or':
      return `(${expr.of.map(e).join(` ${expr.kind.toUpperCase()} `)})`;
    case 'not':
      return `(NOT ${e(expr.of)})`;
    case 'eq':
    case 'le':
    case 'lt':
      return `(${e(expr.left)} ${{ eq: '=', le: '<=', lt: '<' }[expr.kind]} ${e(expr.right)})`;
    case 'prefix':
      return `(${expr.prefixes.map((p) => `lower(${e(expr.of)}) LIKE ${literal(`${p}%`)}`).join(' OR ')})`;
    case 'coalesce':
    case 'greatest':
    case 'least':
      return `${expr.kind}(${expr.of.map(e).join(', ')})`;
    case 'minus':
      return `(${e(expr.left)} - ${e(expr.right)})`;
    case 'seconds':
      return `((epoch_ms(${e(expr.later)}) - epoch_ms(${e(expr.earlier)})) / 1000.0)`;
    case 'msToSeconds':
      return `(${e(expr.of)} / 1000.0)`;
    case 'case':
      return `CASE ${expr.when.map(([w, t]) => `WHEN ${e(w)} THEN ${e(t)}`).join(' ')}${expr.else ? ` ELSE ${e(expr.else)}` : ''} END`;
  }
}

function aggregate(a: UnitAggregate): string {
  const where = a.where ? ` FILTER (WHERE ${duckdbExpr(a.where)})` : '';
  switch (a.fn) {
    case 'firstTime':
      return `min(t)${where}`;
    case 'count':
      return `count(*)${where}`;
    case 'sumMs':
      return `sum(epoch_ms(t))${where}`;
    case 'any':
      return `coalesce(bool_or(${a.where ? duckdbExpr(a.where) : 'TRUE'}), false)`;
    case 'first':
      return `arg_min(${EVENT_FIELD[a.field]}, t)${where}`;
    case 'max':
      return `max(${EVENT_FIELD[a.field]})${where}`;
  }
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

type GroupedName = Exclude<KpiUnit, 'presence'>;
const grouped = (unit: GroupedName): GroupedUnit => UNIT_DECLARATIONS[unit] as GroupedUnit;
const PRESENCE = UNIT_DECLARATIONS.presence as IntervalUnit;

/**
 * An event's meaning (`ty`): the OpenUA name a framework name counts as. Stored events keep the name they
 * were logged with; only the units read them so.
 */
const MEANING = `CASE ev.event_type ${MEANINGS.map(({ name, meaning }) => `WHEN ${literal(name)} THEN ${literal(meaning)}`).join(' ')} ELSE ev.event_type END`;

/** The notification response an event stands for: its name's (NotificationAccepted…), else its own field. */
const ACTION = `CASE ev.event_type ${MEANINGS.flatMap(({ name, action }) =>
  action ? [`WHEN ${literal(name)} THEN ${literal(action)}`] : [],
).join(' ')} ELSE lower(ev.notification_response_action) END`;

/** The KPI events of the marked conversations, `$lo`…`$hi` bounding their times. */
const MARKED_EVENTS = `SELECT ev.id, ev.org, ev.derived_time AS t, ${MEANING} AS ty, ev.event_value AS reason,
  ev.conversation_id, ev.provider_session_id, ev.participant_id, ev.provider_id, ev.channel, ev.queue_id,
  ev.queue_name, ev.new_presence, ${ACTION} AS action, ev.custom_keys, ev.custom_values
  FROM events ev SEMI JOIN marked_conversations d ON ev.org = d.org AND ev.conversation_id = d.conversation_id
  WHERE ev.category = 'kpi' AND ev.derived_time >= $lo AND ev.derived_time < $hi`;

function unitSelect(unit: GroupedName, events: string): string {
  const { key, reads, columns } = grouped(unit);
  const keys = key.map(({ field, name }) => [EVENT_FIELD[field], name] as const);
  const select = columns.map(([name, expr]) => `${duckdbExpr(expr)} AS ${quote(name)}`).join(',\n      ');
  const groupKeys = ['org', ...keys.map(([column]) => column)];
  const named = [
    'org',
    ...keys.map(([column, name]) => (column === name ? column : `${column} AS ${quote(name)}`)),
  ];
  const joinOn = ['org', ...keys.map(([, name]) => quote(name))];
  const custom = `SELECT ${named.join(', ')}, list(k ORDER BY k) AS custom_keys, list(v ORDER BY k) AS custom_values
    FROM (SELECT ${groupKeys.join(', ')}, k, max(v) AS v
          FROM (SELECT ${groupKeys.join(', ')}, unnest(custom_keys) AS k, unnest(custom_values) AS v FROM u)
          GROUP BY ALL)
    GROUP BY ALL`;
  return `WITH u AS (SELECT * FROM (${events}) WHERE ${duckdbExpr(reads)}),
    g AS (SELECT ${named.join(', ')}, ${select} FROM u GROUP BY ${groupKeys.join(', ')}),
    c AS (${custom})
    SELECT g.*, coalesce(c.custom_keys, []::VARCHAR[]) AS custom_keys,
      coalesce(c.custom_values, []::VARCHAR[]) AS custom_values
    FROM g LEFT JOIN c USING (${joinOn.join(', ')})`;
}

/** Each presence interval of the marked agents: its event's fields, its time and the agent's next change's. */
const PRESENCE_SELECT = (() => {
  const key = EVENT_FIELD[PRESENCE.key.field];
  const fields = PRESENCE.columns.map(([name, field]) => `ev.${EVENT_FIELD[field]} AS ${quote(name)}`);
  // The declaration's condition reads MARKED_EVENTS' names: they are given here, over the raw events.
  const named = `SELECT ev.*, ev.derived_time AS t, ${MEANING} AS ty FROM events ev
    SEMI JOIN marked_agents d ON ev.org = d.org AND ev.${key} = d.participant_id
    WHERE ev.category = 'kpi'`;
  return `SELECT ev.org, ev.${key} AS ${quote(PRESENCE.key.name)}, ${fields.join(', ')},
  ev.derived_time AS start, lead(ev.derived_time) OVER (PARTITION BY ev.org, ev.${key} ORDER BY ev.derived_time, ev.id) AS next
  FROM (${named}) ev WHERE ${duckdbExpr(PRESENCE.reads)}`;
})();

/** Creates each unit table with the shape of its query, empty. */
export const UNIT_TABLES_DDL = [
  'CREATE TEMP TABLE marked_conversations (org VARCHAR, conversation_id VARCHAR)',
  'CREATE TEMP TABLE marked_agents (org VARCHAR, participant_id VARCHAR)',
  ...(['conversation', 'session', 'notification'] as const).map(
    (unit) =>
      `CREATE TABLE ${UNIT_TABLE[unit]} AS ${unitSelect(unit, MARKED_EVENTS.replace('$lo', "'-infinity'::TIMESTAMP").replace('$hi', "'infinity'::TIMESTAMP"))} LIMIT 0`,
  ),
  `CREATE TABLE ${UNIT_TABLE.presence} AS ${PRESENCE_SELECT} LIMIT 0`,
  'DROP TABLE marked_conversations',
  'DROP TABLE marked_agents',
];

/** Every KPI event's conversation and agent, marked: a full rebuild at the next KPI query. */
export const MARK_ALL = `INSERT INTO ${DIRTY_TABLE}
  SELECT org, conversation_id, CASE WHEN event_type = 'PresenceChanged' THEN participant_id END, min(derived_time), max(derived_time)
  FROM events WHERE category = 'kpi' GROUP BY ALL`;

/** The marks for events about to change or go: `$where` selects them (among the organization's events). */
export const markWhere = (where: string) => `INSERT INTO ${DIRTY_TABLE}
  SELECT org, conversation_id, CASE WHEN event_type = 'PresenceChanged' THEN participant_id END, derived_time, derived_time
  FROM events WHERE category = 'kpi' AND ${where}`;

/** Conversations and agents rebuilt per transaction: the writer is never held long, even after a bulk load. */
export interface UnitChunk {
  conversations: number;
  agents: number;
}
export const UNIT_CHUNK: UnitChunk = { conversations: 50_000, agents: 500 };

/** The next chunk of marked conversations and agents, as temporary tables (the refresh's first statements). */
export const markChunk = (chunk: UnitChunk) => [
  // The earliest marked first: a chunk's conversations lie close in time, so its rebuild reads few events.
  `CREATE TEMP TABLE marked_conversations AS SELECT org, conversation_id FROM ${DIRTY_TABLE} WHERE conversation_id IS NOT NULL GROUP BY ALL ORDER BY min(lo) LIMIT ${Math.trunc(chunk.conversations)}`,
  `CREATE TEMP TABLE marked_agents AS SELECT DISTINCT org, participant_id FROM ${DIRTY_TABLE} WHERE participant_id IS NOT NULL LIMIT ${Math.trunc(chunk.agents)}`,
];

/** How many of each the chunk holds, and the span of its conversations' marked times. */
export const CHUNK_EXTENT = `SELECT (SELECT count(*) FROM marked_conversations) AS conversations,
  (SELECT count(*) FROM marked_agents) AS agents,
  (SELECT min(lo) FROM ${DIRTY_TABLE} SEMI JOIN marked_conversations USING (org, conversation_id)) AS lo,
  (SELECT max(hi) FROM ${DIRTY_TABLE} SEMI JOIN marked_conversations USING (org, conversation_id)) AS hi`;

/**
 * Rebuilds the chunk's units, then clears the marks it covers (a mark of a conversation and an agent goes once
 * both are rebuilt). `$lo`/`$hi` bound the events read: the chunk's marked times widened by UNIT_SPAN_MS.
 */
export const REBUILD_CHUNK = [
  ...(['conversation', 'session', 'notification'] as const).flatMap((unit) => [
    `DELETE FROM ${UNIT_TABLE[unit]} t WHERE EXISTS (SELECT 1 FROM marked_conversations d WHERE d.org = t.org AND d.conversation_id = t.conversation_id)`,
    `INSERT INTO ${UNIT_TABLE[unit]} ${unitSelect(unit, MARKED_EVENTS)}`,
  ]),
  `DELETE FROM ${UNIT_TABLE.presence} t WHERE EXISTS (SELECT 1 FROM marked_agents d WHERE d.org = t.org AND d.participant_id = t."participantId")`,
  `INSERT INTO ${UNIT_TABLE.presence} ${PRESENCE_SELECT}`,
  `DELETE FROM ${DIRTY_TABLE} m
    WHERE (m.conversation_id IS NULL OR EXISTS (SELECT 1 FROM marked_conversations d WHERE d.org = m.org AND d.conversation_id = m.conversation_id))
      AND (m.participant_id IS NULL OR EXISTS (SELECT 1 FROM marked_agents d WHERE d.org = m.org AND d.participant_id = m.participant_id))`,
];

export const DROP_CHUNK = ['DROP TABLE marked_conversations', 'DROP TABLE marked_agents'];

/** A row of kpi_dirty: a conversation (or, for presence, an agent) to rebuild, and the times its events were at. */
export interface UnitMark {
  org: string;
  conversationId: string | null;
  participantId: string | null;
  lo: Date;
  hi: Date;
}

/** The marks a batch of events makes: one per conversation (and agent, for presence), with its time span. */
export function marksOf(events: readonly CanonicalEvent[]): UnitMark[] {
  const marks = new Map<string, UnitMark>();
  for (const event of events) {
    if (event.category !== 'kpi') continue;
    const conversationId = event.conversationId ?? null;
    const participantId = event.eventType === 'PresenceChanged' ? (event.participantId ?? null) : null;
    if (conversationId === null && participantId === null) continue;
    const key = `${event.org}\u0000${conversationId}\u0000${participantId}`;
    const t = event.derivedTime;
    const mark = marks.get(key);
    if (!mark) marks.set(key, { org: event.org, conversationId, participantId, lo: t, hi: t });
    else {
      if (t < mark.lo) mark.lo = t;
      if (t > mark.hi) mark.hi = t;
    }
  }
  return [...marks.values()];
}

/**
 * The derived facts of each unit, read at query time from its table's columns; presence's depend on the range
 * and now (`$from`, `$to`, `$now`). A fact that is its own column is the column itself.
 */
export const UNIT_FACTS_SQL: Record<KpiUnit, string> = Object.fromEntries(
  Object.entries(UNIT_DECLARATIONS).map(([unit, declaration]) => [
    unit,
    declaration.facts
      .filter(([name, expr]) => !(expr.kind === 'column' && expr.name === name))
      .map(([name, expr]) => `${duckdbExpr(expr)} AS ${quote(name)}`)
      .join(',\n      '),
  ]),
) as Record<KpiUnit, string>;
