import { COUNTED_AS } from './first-party-kpi-events.ts';

/**
 * The KPI units (storage.ts's KpiUnit: conversation, session, notification, presence), declared once as data
 * so that each engine compiles the same definition: DuckDB into the SQL of its unit tables, ClickHouse into a
 * query that groups the KPI events when a KPI is asked for. Nothing here is SQL.
 *
 * A unit is built from an organization's KPI events in two steps:
 * - **columns**: per unit (grouped by its key), expressions whose leaves are aggregates of its events (the
 *   first time of those matching a condition, how many match…). DuckDB stores these in its unit tables.
 * - **facts**: per unit, expressions whose leaves are its columns (and, for presence, the query's range and
 *   now), read when a query asks: a fact's meaning can change without a unit table being rebuilt.
 * The facts are storage.ts's UNIT_FACTS, and the KPI catalogue (src/kpi/catalogue.ts) defines KPIs over them.
 */

/**
 * The fields of a KPI event a unit reads. `meaning` is the OpenUA event it counts as (COUNTED_AS: the
 * framework's first-party names count as OpenUA's events), `action` its notification response, lower-cased
 * (that of its name, for the framework's NotificationAccepted…), `reason` its event_value (kpiEventReason).
 */
export type UnitEventField =
  | 'time'
  | 'meaning'
  | 'action'
  | 'reason'
  | 'conversationId'
  | 'providerSessionId'
  | 'participantId'
  | 'providerId'
  | 'channel'
  | 'queueId'
  | 'queueName'
  | 'newPresence';

/** The values of a query an expression may read: its range and its now (presence is cut to the range). */
export type UnitParam = 'from' | 'to' | 'now';

/**
 * An aggregate of a unit's events; `where` selects the events it reads (all of the unit's when absent).
 * - `firstTime`: the earliest time; null when none.
 * - `count`: how many.
 * - `sumMs`: the sum of their times in epoch milliseconds; null when none.
 * - `first`: `field`'s value on the earliest (ties: any of them); null when none.
 * - `any`: whether there is one (false when none).
 * - `max`: `field`'s largest value.
 */
export type UnitAggregate =
  | { fn: 'firstTime' | 'count' | 'sumMs' | 'any'; where?: UnitExpr }
  | { fn: 'first' | 'max'; field: UnitEventField; where?: UnitExpr };

/**
 * A small expression language; SQL's null semantics apply (a comparison with null is null, `and`/`or`/`not`
 * are three-valued, `case` without a match is null).
 * - `event`: a field of the event, inside an aggregate's condition or field; `agg`: an aggregate, in columns;
 *   `column`: a unit column (or an earlier fact), in facts; `param`: a query value, in facts.
 * - `seconds`: `later` − `earlier` (times) in seconds, from their milliseconds; `msToSeconds`: milliseconds
 *   as seconds; `minus`: a difference of numbers.
 * - `prefix`: the text, lower-cased, starts with one of `prefixes` (lower-case).
 */
export type UnitExpr =
  | { kind: 'event'; field: UnitEventField }
  | { kind: 'agg'; agg: UnitAggregate }
  | { kind: 'column'; name: string }
  | { kind: 'param'; name: UnitParam }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'set'; of: UnitExpr }
  | { kind: 'and' | 'or'; of: UnitExpr[] }
  | { kind: 'not'; of: UnitExpr }
  | { kind: 'eq' | 'le' | 'lt'; left: UnitExpr; right: UnitExpr }
  | { kind: 'prefix'; of: UnitExpr; prefixes: string[] }
  | { kind: 'coalesce' | 'greatest' | 'least'; of: UnitExpr[] }
  | { kind: 'minus'; left: UnitExpr; right: UnitExpr }
  | { kind: 'seconds'; later: UnitExpr; earlier: UnitExpr }
  | { kind: 'msToSeconds'; of: UnitExpr }
  /** The `then` of the first `when` that holds, else `else` (null when absent). */
  | { kind: 'case'; when: [UnitExpr, UnitExpr][]; else?: UnitExpr };

/**
 * A unit's events are read this far around the times of interest (DuckDB: the times marked for a rebuild;
 * ClickHouse: the query's range): a conversation or session whose events span more than this is cut.
 */
export const UNIT_SPAN_MS = 86_400_000;

/** The columns every unit has besides its own: where its events came in (their largest value). */
export const PLACE_COLUMNS = ['channel', 'queueName', 'queueId', 'providerId'] as const;

/**
 * A unit grouped from events: its key (event fields, named as its columns), the events it reads, its
 * columns in order (`starts`, when it is counted, and `participantId` are required), and its facts in order
 * (a fact may read an earlier one). Its customData is every key its events carry, with the largest value.
 */
export interface GroupedUnit {
  kind: 'grouped';
  key: { field: UnitEventField; name: string }[];
  reads: UnitExpr;
  columns: [string, UnitExpr][];
  facts: [string, UnitExpr][];
}

/**
 * A unit per event that lasts until the next event of the same key (presence: an agent's PresenceChanged
 * until their next one). Its columns are `start` (the event's time), `next` (the next one's, null for the
 * last) and `columns`' event fields; its facts may read them and the query's range.
 */
export interface IntervalUnit {
  kind: 'interval';
  key: { field: UnitEventField; name: string };
  reads: UnitExpr;
  columns: [string, UnitEventField][];
  facts: [string, UnitExpr][];
}

export type UnitDeclaration = GroupedUnit | IntervalUnit;

/** The units declared: storage.ts's KpiUnit (the model cannot import the storage layer). */
export type DeclaredUnit = 'conversation' | 'session' | 'notification' | 'presence';

// ---- the words of the declarations --------------------------------------------------------------------

const event = (field: UnitEventField): UnitExpr => ({ kind: 'event', field });
const column = (name: string): UnitExpr => ({ kind: 'column', name });
const param = (name: UnitParam): UnitExpr => ({ kind: 'param', name });
const lit = (value: string | number | boolean): UnitExpr => ({ kind: 'literal', value });
const agg = (a: UnitAggregate): UnitExpr => ({ kind: 'agg', agg: a });
const and = (...of: UnitExpr[]): UnitExpr => ({ kind: 'and', of });
const or = (...of: UnitExpr[]): UnitExpr => ({ kind: 'or', of });
const not = (of: UnitExpr): UnitExpr => ({ kind: 'not', of });
const set = (of: UnitExpr): UnitExpr => ({ kind: 'set', of });
const eq = (left: UnitExpr, right: UnitExpr): UnitExpr => ({ kind: 'eq', left, right });
const le = (left: UnitExpr, right: UnitExpr): UnitExpr => ({ kind: 'le', left, right });
const lt = (left: UnitExpr, right: UnitExpr): UnitExpr => ({ kind: 'lt', left, right });
const coalesce = (...of: UnitExpr[]): UnitExpr => ({ kind: 'coalesce', of });
const minus = (left: UnitExpr, right: UnitExpr): UnitExpr => ({ kind: 'minus', left, right });
const seconds = (later: UnitExpr, earlier: UnitExpr): UnitExpr => ({ kind: 'seconds', later, earlier });
const msToSeconds = (of: UnitExpr): UnitExpr => ({ kind: 'msToSeconds', of });
/** `then` where `cond` holds, else null. */
const when = (cond: UnitExpr, then: UnitExpr): UnitExpr => ({ kind: 'case', when: [[cond, then]] });

/** An event that means `name` (COUNTED_AS applied). */
const is = (name: string): UnitExpr => eq(event('meaning'), lit(name));
const firstTime = (where?: UnitExpr) => agg({ fn: 'firstTime', ...(where ? { where } : {}) });
const count = (where: UnitExpr) => agg({ fn: 'count', where });
const sumMs = (where: UnitExpr) => agg({ fn: 'sumMs', where });

/** An agent took the conversation: a notification accepted, or a session started. */
const ACCEPTED = or(
  and(is('NotificationResponse'), { kind: 'prefix', of: event('action'), prefixes: ['accept'] }),
  is('SessionStarted'),
);
/** A session closed because its conversation was transferred (kpiEventReason Transfer…, in any case). */
const TRANSFER = and(is('SessionClosed'), { kind: 'prefix', of: event('reason'), prefixes: ['transfer'] });

const PLACE: [string, UnitExpr][] = PLACE_COLUMNS.map((name) => [name, agg({ fn: 'max', field: name })]);

export const UNIT_DECLARATIONS: Record<DeclaredUnit, UnitDeclaration> = {
  conversation: {
    kind: 'grouped',
    key: [{ field: 'conversationId', name: 'conversation_id' }],
    reads: lit(true),
    columns: [
      ['starts', coalesce(firstTime(is('ConversationQueued')), firstTime())],
      ['answered_at', firstTime(ACCEPTED)],
      ['first_response_at', firstTime(is('FirstResponseSent'))],
      ['ended_at', firstTime(is('ConversationEnded'))],
      ['started_n', count(is('SessionStarted'))],
      ['closed_n', count(is('SessionClosed'))],
      ['handle_ms', minus(sumMs(is('SessionClosed')), sumMs(is('SessionStarted')))],
      ['transfers', count(TRANSFER)],
      [
        'participantId',
        agg({ fn: 'first', field: 'participantId', where: and(set(event('participantId')), ACCEPTED) }),
      ],
      ...PLACE,
    ],
    facts: [
      [
        'answered',
        and(
          set(column('answered_at')),
          or(not(set(column('ended_at'))), le(column('answered_at'), column('ended_at'))),
        ),
      ],
      ['answerSeconds', when(column('answered'), seconds(column('answered_at'), column('starts')))],
      ['firstResponseSeconds', seconds(column('first_response_at'), column('starts'))],
      ['ended', set(column('ended_at'))],
      ['abandoned', and(column('ended'), not(column('answered')))],
      ['waitSeconds', when(column('abandoned'), seconds(column('ended_at'), column('starts')))],
      // Each session's close minus its start, summed: known once the conversation ended with every session closed.
      [
        'handleSeconds',
        when(
          and(column('ended'), lt(lit(0), column('started_n')), eq(column('started_n'), column('closed_n'))),
          msToSeconds(column('handle_ms')),
        ),
      ],
      ['sessions', column('started_n')],
      ['transfers', column('transfers')],
    ],
  },
  session: {
    kind: 'grouped',
    key: [
      { field: 'conversationId', name: 'conversation_id' },
      { field: 'providerSessionId', name: 'provider_session_id' },
    ],
    reads: set(event('providerSessionId')),
    columns: [
      ['starts', coalesce(firstTime(is('SessionStarted')), firstTime())],
      ['closed_at', firstTime(is('SessionClosed'))],
      ['transferred', agg({ fn: 'any', where: TRANSFER })],
      ['holds_started', count(is('HoldStarted'))],
      ['holds_ended', count(is('HoldEnded'))],
      [
        'hold_ms',
        minus(coalesce(sumMs(is('HoldEnded')), lit(0)), coalesce(sumMs(is('HoldStarted')), lit(0))),
      ],
      ['wrap_up_started_at', firstTime(is('WrapUpStarted'))],
      ['wrap_up_ended_at', firstTime(is('WrapUpEnded'))],
      ['switches', count(is('SessionSwitched'))],
      [
        'participantId',
        coalesce(
          agg({
            fn: 'first',
            field: 'participantId',
            where: and(set(event('participantId')), is('SessionStarted')),
          }),
          agg({ fn: 'first', field: 'participantId', where: set(event('participantId')) }),
        ),
      ],
      ...PLACE,
    ],
    facts: [
      ['closed', set(column('closed_at'))],
      ['handleSeconds', seconds(column('closed_at'), column('starts'))],
      ['transferred', column('transferred')],
      // Each hold's end minus its start, summed, once every hold has ended (0 for a session never on hold).
      [
        'holdSeconds',
        when(eq(column('holds_started'), column('holds_ended')), msToSeconds(column('hold_ms'))),
      ],
      ['wrapUpSeconds', seconds(column('wrap_up_ended_at'), column('wrap_up_started_at'))],
      ['switches', column('switches')],
    ],
  },
  notification: {
    kind: 'grouped',
    key: [
      { field: 'conversationId', name: 'conversation_id' },
      { field: 'participantId', name: 'participantId' },
    ],
    reads: and(or(is('NotificationDisplayed'), is('NotificationResponse')), set(event('participantId'))),
    columns: [
      ['starts', coalesce(firstTime(is('NotificationDisplayed')), firstTime())],
      ['displayed_at', firstTime(is('NotificationDisplayed'))],
      ['responded_at', firstTime(is('NotificationResponse'))],
      ['raw_action', agg({ fn: 'first', field: 'action', where: is('NotificationResponse') })],
      ...PLACE,
    ],
    facts: [
      [
        'action',
        {
          kind: 'case',
          when: [
            [{ kind: 'prefix', of: column('raw_action'), prefixes: ['accept'] }, lit('accept')],
            [{ kind: 'prefix', of: column('raw_action'), prefixes: ['reject', 'decline'] }, lit('reject')],
            [{ kind: 'prefix', of: column('raw_action'), prefixes: ['time'] }, lit('timeout')],
          ],
          else: column('raw_action'),
        },
      ],
      ['responseSeconds', seconds(column('responded_at'), column('displayed_at'))],
    ],
  },
  presence: {
    kind: 'interval',
    key: { field: 'participantId', name: 'participantId' },
    reads: is('PresenceChanged'),
    columns: [['newPresence', 'newPresence']],
    // An interval runs until the agent's next change, or now; only its part inside the range counts.
    facts: [
      ['starts', { kind: 'greatest', of: [column('start'), param('from')] }],
      ['until', { kind: 'least', of: [coalesce(column('next'), param('now')), param('to')] }],
      ['seconds', seconds(column('until'), column('starts'))],
    ],
  },
};

/** The framework names that count as another event, and what each counts as: for the engines' `meaning`. */
export const MEANINGS: readonly { name: string; meaning: string; action?: string }[] = [...COUNTED_AS].map(
  ([name, as]) => ({ name, meaning: as.name, ...(as.action ? { action: as.action } : {}) }),
);
