import type { CanonicalEvent } from '../../model/canonical-event.ts';
import { COUNTED_AS } from '../../model/first-party-kpi-events.ts';
import type { KpiUnit } from '../storage.ts';

/**
 * KPI units kept as tables, so that a KPI query reads one row per conversation (session, notification,
 * presence interval) instead of grouping every KPI event of its range on each query.
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

/**
 * A unit's events are read this far around the times marked: a conversation or session whose events span
 * more than this is cut.
 */
export const UNIT_SPAN_MS = 86_400_000;

const ACCEPTED = `((ty = 'NotificationResponse' AND action LIKE 'accept%') OR ty = 'SessionStarted')`;
const TRANSFER = `(ty = 'SessionClosed' AND lower(reason) LIKE 'transfer%')`;
/** Where a unit came in, when its events disagree: the largest value (they rarely differ). */
const PLACE = `max(channel) AS channel, max(queue_name) AS "queueName", max(queue_id) AS "queueId", max(provider_id) AS "providerId"`;

/**
 * How each unit is built from its events (`e`: the KPI events of the conversations rebuilt): its key, the
 * grouping, and the events it reads. Its customData is every key its events carry, with the largest value.
 */
const UNITS: Record<
  Exclude<KpiUnit, 'presence'>,
  { keys: [string, string][]; where: string; select: string }
> = {
  conversation: {
    keys: [['conversation_id', 'conversation_id']],
    where: 'TRUE',
    select: `coalesce(min(t) FILTER (WHERE ty = 'ConversationQueued'), min(t)) AS starts,
      min(t) FILTER (WHERE ${ACCEPTED}) AS answered_at,
      min(t) FILTER (WHERE ty = 'FirstResponseSent') AS first_response_at,
      min(t) FILTER (WHERE ty = 'ConversationEnded') AS ended_at,
      count(*) FILTER (WHERE ty = 'SessionStarted') AS started_n,
      count(*) FILTER (WHERE ty = 'SessionClosed') AS closed_n,
      sum(epoch_ms(t)) FILTER (WHERE ty = 'SessionClosed') - sum(epoch_ms(t)) FILTER (WHERE ty = 'SessionStarted') AS handle_ms,
      count(*) FILTER (WHERE ${TRANSFER}) AS transfers,
      arg_min(participant_id, t) FILTER (WHERE participant_id IS NOT NULL AND ${ACCEPTED}) AS "participantId",
      ${PLACE}`,
  },
  session: {
    keys: [
      ['conversation_id', 'conversation_id'],
      ['provider_session_id', 'provider_session_id'],
    ],
    where: 'provider_session_id IS NOT NULL',
    select: `coalesce(min(t) FILTER (WHERE ty = 'SessionStarted'), min(t)) AS starts,
      min(t) FILTER (WHERE ty = 'SessionClosed') AS closed_at,
      coalesce(bool_or(${TRANSFER}), false) AS transferred,
      count(*) FILTER (WHERE ty = 'HoldStarted') AS holds_started,
      count(*) FILTER (WHERE ty = 'HoldEnded') AS holds_ended,
      coalesce(sum(epoch_ms(t)) FILTER (WHERE ty = 'HoldEnded'), 0) - coalesce(sum(epoch_ms(t)) FILTER (WHERE ty = 'HoldStarted'), 0) AS hold_ms,
      min(t) FILTER (WHERE ty = 'WrapUpStarted') AS wrap_up_started_at,
      min(t) FILTER (WHERE ty = 'WrapUpEnded') AS wrap_up_ended_at,
      count(*) FILTER (WHERE ty = 'SessionSwitched') AS switches,
      coalesce(arg_min(participant_id, t) FILTER (WHERE participant_id IS NOT NULL AND ty = 'SessionStarted'),
               arg_min(participant_id, t) FILTER (WHERE participant_id IS NOT NULL)) AS "participantId",
      ${PLACE}`,
  },
  notification: {
    keys: [
      ['conversation_id', 'conversation_id'],
      ['participant_id', 'participantId'],
    ],
    where: `ty IN ('NotificationDisplayed', 'NotificationResponse') AND participant_id IS NOT NULL`,
    select: `coalesce(min(t) FILTER (WHERE ty = 'NotificationDisplayed'), min(t)) AS starts,
      min(t) FILTER (WHERE ty = 'NotificationDisplayed') AS displayed_at,
      min(t) FILTER (WHERE ty = 'NotificationResponse') AS responded_at,
      arg_min(action, t) FILTER (WHERE ty = 'NotificationResponse') AS raw_action,
      ${PLACE}`,
  },
};

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const counted = [...COUNTED_AS];

/**
 * An event's meaning (`ty`): the OpenUA name a framework name counts as. Stored events keep the name they
 * were logged with; only the units read them so.
 */
const MEANING = `CASE ev.event_type ${counted
  .map(([name, as]) => `WHEN ${literal(name)} THEN ${literal(as.name)}`)
  .join(' ')} ELSE ev.event_type END`;

/** The notification response an event stands for: its name's (NotificationAccepted…), else its own field. */
const ACTION = `CASE ev.event_type ${counted
  .flatMap(([name, as]) => (as.action ? [`WHEN ${literal(name)} THEN ${literal(as.action)}`] : []))
  .join(' ')} ELSE lower(ev.notification_response_action) END`;

/** The KPI events of the marked conversations, `$lo`…`$hi` bounding their times. */
const MARKED_EVENTS = `SELECT ev.id, ev.org, ev.derived_time AS t, ${MEANING} AS ty, ev.event_value AS reason,
  ev.conversation_id, ev.provider_session_id, ev.participant_id, ev.provider_id, ev.channel, ev.queue_id,
  ev.queue_name, ${ACTION} AS action, ev.custom_keys, ev.custom_values
  FROM events ev SEMI JOIN marked_conversations d ON ev.org = d.org AND ev.conversation_id = d.conversation_id
  WHERE ev.category = 'kpi' AND ev.derived_time >= $lo AND ev.derived_time < $hi`;

function unitSelect(unit: Exclude<KpiUnit, 'presence'>, events: string): string {
  const { keys, where, select } = UNITS[unit];
  const groupKeys = ['org', ...keys.map(([column]) => column)];
  const named = [
    'org',
    ...keys.map(([column, name]) => (column === name ? column : `${column} AS "${name}"`)),
  ];
  const joinOn = ['org', ...keys.map(([, name]) => `"${name}"`)];
  const custom = `SELECT ${named.join(', ')}, list(k ORDER BY k) AS custom_keys, list(v ORDER BY k) AS custom_values
    FROM (SELECT ${groupKeys.join(', ')}, k, max(v) AS v
          FROM (SELECT ${groupKeys.join(', ')}, unnest(custom_keys) AS k, unnest(custom_values) AS v FROM u)
          GROUP BY ALL)
    GROUP BY ALL`;
  return `WITH u AS (SELECT * FROM (${events}) WHERE ${where}),
    g AS (SELECT ${named.join(', ')}, ${select} FROM u GROUP BY ${groupKeys.join(', ')}),
    c AS (${custom})
    SELECT g.*, coalesce(c.custom_keys, []::VARCHAR[]) AS custom_keys,
      coalesce(c.custom_values, []::VARCHAR[]) AS custom_values
    FROM g LEFT JOIN c USING (${joinOn.join(', ')})`;
}

const PRESENCE_SELECT = `SELECT org, participant_id AS "participantId", new_presence AS "newPresence",
  derived_time AS start, lead(derived_time) OVER (PARTITION BY org, participant_id ORDER BY derived_time, id) AS next
  FROM events SEMI JOIN marked_agents d USING (org, participant_id)
  WHERE category = 'kpi' AND event_type = 'PresenceChanged'`;

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

/** The derived facts of each unit, read at query time; presence's depend on the range and now. */
export const UNIT_FACTS_SQL: Record<KpiUnit, string> = {
  conversation: `answered_at IS NOT NULL AND (ended_at IS NULL OR answered_at <= ended_at) AS answered,
      CASE WHEN answered THEN ${seconds('answered_at', 'starts')} END AS "answerSeconds",
      ${seconds('first_response_at', 'starts')} AS "firstResponseSeconds",
      ended_at IS NOT NULL AS ended,
      ended AND NOT answered AS abandoned,
      CASE WHEN abandoned THEN ${seconds('ended_at', 'starts')} END AS "waitSeconds",
      -- Each session's close minus its start, summed: known once the conversation ended with every session closed.
      CASE WHEN ended AND started_n > 0 AND started_n = closed_n THEN handle_ms / 1000.0 END AS "handleSeconds",
      started_n AS sessions`,
  // Hold: each end minus its start, summed, once every hold has ended (0 for a session never on hold).
  session: `closed_at IS NOT NULL AS closed, ${seconds('closed_at', 'starts')} AS "handleSeconds",
      CASE WHEN holds_started = holds_ended THEN hold_ms / 1000.0 END AS "holdSeconds",
      ${seconds('wrap_up_ended_at', 'wrap_up_started_at')} AS "wrapUpSeconds"`,
  notification: `CASE WHEN raw_action LIKE 'accept%' THEN 'accept'
        WHEN raw_action LIKE 'reject%' OR raw_action LIKE 'decline%' THEN 'reject'
        WHEN raw_action LIKE 'time%' THEN 'timeout' ELSE raw_action END AS action,
      ${seconds('responded_at', 'displayed_at')} AS "responseSeconds"`,
  // An interval runs until the agent's next change, or now; only its part inside the range counts.
  presence: `greatest(start, $from) AS starts, least(coalesce(next, $now), $to) AS until,
      ${seconds('until', 'starts')} AS seconds`,
};

function seconds(later: string, earlier: string): string {
  return `(epoch_ms(${later}) - epoch_ms(${earlier})) / 1000.0`;
}
