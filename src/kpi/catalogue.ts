import type { Violation } from '../core/errors.ts';
import type { KpiUnit, QueryField, QueryFilter, UnitFact, UnitMeasure } from '../storage/storage.ts';

/**
 * The contact-center KPIs: each one's written definition, its parameters and its formula over KPI units
 * (storage.ts KpiUnit), in one place. `GET /api/v1/kpis` lists this catalogue, and the query API accepts
 * each KPI as a measure. Where the vendors disagree (shared/reference/kpis.md), the choice is a parameter
 * and the answer's meta shows the value used.
 */

export interface KpiParameter {
  name: string;
  description: string;
  /** A number in [min, max], a boolean, or one of `values`. */
  type: 'number' | 'boolean' | 'enum';
  default: number | boolean | string;
  min?: number;
  max?: number;
  values?: readonly string[];
}

export type KpiParams = Record<string, number | boolean | string>;

export interface Kpi {
  name: string;
  displayName: string;
  unit: KpiUnit;
  /** What the value is in. */
  valueUnit: 'seconds' | 'percent' | 'count';
  /** OpenUA's definition, event by event. */
  definition: string;
  /** How it compares with what Dynamics 365, Amazon Connect and Genesys call the same thing. */
  vendors?: string;
  parameters: readonly KpiParameter[];
  formula(params: KpiParams): UnitMeasure;
}

const fact = (name: UnitFact): QueryField => ({ kind: 'fact', fact: name });
const is = (name: UnitFact, value: boolean | string): QueryFilter => ({
  kind: 'compare',
  op: 'eq',
  field: fact(name),
  value,
});
const compare = (name: UnitFact, op: 'lt' | 'le' | 'ge' | 'gt', value: number): QueryFilter => ({
  kind: 'compare',
  op,
  field: fact(name),
  value,
});
const all = (...filters: QueryFilter[]): QueryFilter => ({ kind: 'and', filters });
const either = (...filters: QueryFilter[]): QueryFilter => ({ kind: 'or', filters });

const SHORT_ABANDON: KpiParameter = {
  name: 'shortAbandonSeconds',
  description:
    'An abandon after less than this many seconds in queue is a short abandon (D365 msdyn_shortabandonedthreshold)',
  type: 'number',
  default: 20,
  min: 0,
  max: 86_400,
};

const STATISTICS = ['avg', 'p50', 'p90', 'p99', 'min', 'max'] as const;
/** Durations are averaged by default; a percentile, the shortest or the longest can be asked instead. */
const STATISTIC: KpiParameter = {
  name: 'statistic',
  description: 'of the durations: avg (the mean), p50, p90, p99 (continuous percentiles), min or max',
  type: 'enum',
  default: 'avg',
  values: STATISTICS,
};
const statistic = (p: KpiParams) => p.statistic as (typeof STATISTICS)[number];

/** Abandoned, and not a short abandon when those are left out. */
const countedAbandon = (p: KpiParams): QueryFilter =>
  p.excludeShortAbandons
    ? all(is('abandoned', true), compare('waitSeconds', 'ge', p.shortAbandonSeconds as number))
    : is('abandoned', true);

/**
 * Each unit's terms name OpenUA's events; the framework's first-party names count as the events they stand
 * for (NotificationReceived is a NotificationDisplayed, NotificationAccepted a NotificationResponse that
 * accepted, SessionFocusIn a SessionSwitched…: src/model/first-party-kpi-events.ts, listed in the README).
 * These words say in prose what src/model/kpi-units.ts declares as data (UNIT_DECLARATIONS, which every
 * engine compiles): a change to one is a change to the other.
 */
const UNIT_TERMS = {
  conversation:
    'A conversation is counted in the range it was queued in (ConversationQueued, else its first event). ' +
    'It is answered once an agent accepts it (a NotificationResponse whose notificationResponseAction is ' +
    'Accept, a NotificationAccepted, or a SessionStarted), and abandoned when a ConversationEnded comes before ' +
    'any answer.',
  session:
    'A session (conversationId + providerSessionId) is counted in the range it started in (SessionStarted, ' +
    'else its first event). It is handled once SessionClosed is logged, and transferred when that ' +
    'SessionClosed has a kpiEventReason starting with "Transfer".',
  notification:
    'A notification is one agent (participantId) offered one conversation: from its NotificationDisplayed (or ' +
    'NotificationReceived) to its first response: a NotificationResponse whose notificationResponseAction is ' +
    'Accept, Reject or Timeout, or a NotificationAccepted, NotificationRejected or NotificationTimedOut.',
  presence:
    "An agent's presence (newPresence of a PresenceChanged) lasts until their next PresenceChanged, or now; " +
    'the part inside the range counts.',
} satisfies Record<KpiUnit, string>;

export const KPIS: readonly Kpi[] = [
  {
    name: 'averageHandleTime',
    displayName: 'Average handle time (per session)',
    unit: 'session',
    valueUnit: 'seconds',
    definition:
      'Mean of SessionClosed − SessionStarted over handled sessions: talk, hold and wrap-up (logged before ' +
      'SessionClosed) while the session is open. Sessions still open are left out.',
    vendors:
      'Connect AHT includes hold and after-contact work, as this does. D365 counts time only while the ' +
      "session's tab is open; summing across transferred reps gives averageConversationHandleTime.",
    parameters: [STATISTIC],
    formula: (p) => ({ fn: statistic(p), fact: 'handleSeconds', where: is('closed', true) }),
  },
  {
    name: 'averageHoldTime',
    displayName: 'Average hold time (per session)',
    unit: 'session',
    valueUnit: 'seconds',
    definition:
      'Mean over handled sessions of the time on hold: each HoldEnded − its HoldStarted, summed (0 for a session ' +
      'never on hold). A session with a hold still going is left out.',
    vendors:
      'Connect average customer hold time; D365 averages hold over conversations handled, summed across reps.',
    parameters: [STATISTIC],
    formula: (p) => ({ fn: statistic(p), fact: 'holdSeconds', where: is('closed', true) }),
  },
  {
    name: 'averageWrapUpTime',
    displayName: 'Average wrap-up time (after-contact work)',
    unit: 'session',
    valueUnit: 'seconds',
    definition: 'Mean of WrapUpEnded − WrapUpStarted over the sessions that had both.',
    vendors: "Connect ACW; D365 counts only the last rep's wrap-up in a transferred conversation.",
    parameters: [STATISTIC],
    formula: (p) => ({ fn: statistic(p), fact: 'wrapUpSeconds' }),
  },
  {
    name: 'averageConversationHandleTime',
    displayName: 'Average handle time (per conversation, across transfers)',
    unit: 'conversation',
    valueUnit: 'seconds',
    definition:
      "Mean over ended conversations of the sum of their sessions' handle times (each SessionClosed − " +
      'SessionStarted), so a transferred conversation counts every agent. A conversation with a session ' +
      'still open, or not ended, is left out.',
    vendors: 'D365 conversation handle time: time summed across transferred reps.',
    parameters: [STATISTIC],
    formula: (p) => ({ fn: statistic(p), fact: 'handleSeconds' }),
  },
  {
    name: 'averageSpeedToAnswer',
    displayName: 'Average speed to answer',
    unit: 'conversation',
    valueUnit: 'seconds',
    definition: 'Mean of first accept − queueing, over answered conversations.',
    vendors: 'D365 average speed to answer; Connect average queue answer time.',
    parameters: [STATISTIC],
    formula: (p) => ({ fn: statistic(p), fact: 'answerSeconds', where: is('answered', true) }),
  },
  {
    name: 'averageFirstResponseTime',
    displayName: 'Average first response time',
    unit: 'conversation',
    valueUnit: 'seconds',
    definition:
      "Mean of the first FirstResponseSent (the agent's first message) − queueing, over conversations that " +
      'had one. Not adjusted for operating hours.',
    vendors: 'D365 adjusts first response time for operating hours; OpenUA does not (no calendars yet).',
    parameters: [STATISTIC],
    formula: (p) => ({ fn: statistic(p), fact: 'firstResponseSeconds' }),
  },
  {
    name: 'abandonmentRate',
    displayName: 'Abandonment rate',
    unit: 'conversation',
    valueUnit: 'percent',
    definition:
      '100 × abandoned conversations ÷ the denominator. With excludeShortAbandons, abandons after less than ' +
      'shortAbandonSeconds in queue count in neither the numerator nor (for answeredAndAbandoned) the denominator.',
    vendors:
      'denominator "queued" is Connect (abandoned ÷ queued), Genesys (÷ offered) and D365 (÷ incoming, ' +
      'excluding short abandons from the numerator); "answeredAndAbandoned" is Google CCAI (÷ handled + abandoned).',
    parameters: [
      {
        name: 'denominator',
        description: 'queued: every conversation queued; answeredAndAbandoned: those answered or abandoned',
        type: 'enum',
        default: 'queued',
        values: ['queued', 'answeredAndAbandoned'],
      },
      SHORT_ABANDON,
      {
        name: 'excludeShortAbandons',
        description: 'leave short abandons out',
        type: 'boolean',
        default: true,
      },
    ],
    formula: (p) => ({
      fn: 'percent',
      numerator: countedAbandon(p),
      denominator: p.denominator === 'queued' ? all() : either(is('answered', true), countedAbandon(p)),
    }),
  },
  {
    name: 'abandonedConversations',
    displayName: 'Abandoned conversations',
    unit: 'conversation',
    valueUnit: 'count',
    definition: 'Conversations abandoned (ended before any answer), short abandons included unless excluded.',
    parameters: [
      SHORT_ABANDON,
      {
        name: 'excludeShortAbandons',
        description: 'leave short abandons out',
        type: 'boolean',
        default: false,
      },
    ],
    formula: (p) => ({ fn: 'count', where: countedAbandon(p) }),
  },
  {
    name: 'shortAbandonedConversations',
    displayName: 'Short abandons',
    unit: 'conversation',
    valueUnit: 'count',
    definition: 'Conversations abandoned after less than shortAbandonSeconds in queue.',
    parameters: [SHORT_ABANDON],
    formula: (p) => ({
      fn: 'count',
      where: all(is('abandoned', true), compare('waitSeconds', 'lt', p.shortAbandonSeconds as number)),
    }),
  },
  {
    name: 'serviceLevel',
    displayName: 'Service level',
    unit: 'conversation',
    valueUnit: 'percent',
    definition:
      '100 × conversations answered within `seconds` of queueing ÷ conversations answered or abandoned; which ' +
      'abandons count in the denominator is `abandons`.',
    vendors:
      'D365: % of accepted conversations answered within X (abandons "exclude"). Genesys: answered in target ÷ ' +
      '(answered + abandoned), optionally without short abandons ("excludeShort", the default). Connect ' +
      'counts early abandons as within SL, which none of these options does.',
    parameters: [
      {
        name: 'seconds',
        description: 'the target answer time X',
        type: 'number',
        default: 20,
        min: 1,
        max: 86_400,
      },
      {
        name: 'abandons',
        description:
          'abandons in the denominator: include all, excludeShort (those under shortAbandonSeconds), or exclude',
        type: 'enum',
        default: 'excludeShort',
        values: ['include', 'excludeShort', 'exclude'],
      },
      SHORT_ABANDON,
    ],
    formula: (p) => ({
      fn: 'percent',
      numerator: all(is('answered', true), compare('answerSeconds', 'le', p.seconds as number)),
      denominator:
        p.abandons === 'exclude'
          ? is('answered', true)
          : either(
              is('answered', true),
              countedAbandon({ ...p, excludeShortAbandons: p.abandons === 'excludeShort' }),
            ),
    }),
  },
  {
    name: 'sessionTransferRate',
    displayName: 'Transfer rate (per session)',
    unit: 'session',
    valueUnit: 'percent',
    definition: '100 × transferred sessions ÷ handled (closed) sessions.',
    vendors: 'D365 session transfer rate.',
    parameters: [],
    formula: () => ({ fn: 'percent', numerator: is('transferred', true), denominator: is('closed', true) }),
  },
  {
    name: 'conversationTransferRate',
    displayName: 'Transfer rate (per conversation)',
    unit: 'conversation',
    valueUnit: 'percent',
    definition:
      '100 × answered conversations with at least one transferred session ÷ answered conversations.',
    vendors: 'Genesys calls transferred ratio; D365 also describes a per-conversation form.',
    parameters: [],
    formula: () => ({
      fn: 'percent',
      numerator: all(is('answered', true), compare('transfers', 'gt', 0)),
      denominator: is('answered', true),
    }),
  },
  {
    name: 'notificationAcceptanceRate',
    displayName: 'Notification acceptance rate',
    unit: 'notification',
    valueUnit: 'percent',
    definition: '100 × notifications accepted ÷ notifications answered (accepted, rejected or timed out).',
    parameters: [],
    formula: () => ({
      fn: 'percent',
      numerator: is('action', 'accept'),
      denominator: { kind: 'in', field: fact('action'), values: ['accept', 'reject', 'timeout'] },
    }),
  },
  {
    name: 'averageNotificationResponseTime',
    displayName: 'Average notification response time',
    unit: 'notification',
    valueUnit: 'seconds',
    definition:
      'Mean of NotificationResponse − NotificationDisplayed over notifications accepted or rejected; a timeout ' +
      'measures the timer, not the agent, so it is left out.',
    parameters: [STATISTIC],
    formula: (p) => ({
      fn: statistic(p),
      fact: 'responseSeconds',
      where: { kind: 'in', field: fact('action'), values: ['accept', 'reject'] },
    }),
  },
  {
    name: 'conversations',
    displayName: 'Conversations',
    unit: 'conversation',
    valueUnit: 'count',
    definition: 'Conversations queued. By participantId: the agent who first accepted each.',
    parameters: [],
    formula: () => ({ fn: 'count' }),
  },
  {
    name: 'sessions',
    displayName: 'Sessions',
    unit: 'session',
    valueUnit: 'count',
    definition: 'Sessions started. By participantId: the agent of each session.',
    parameters: [],
    formula: () => ({ fn: 'count' }),
  },
  {
    name: 'sessionSwitches',
    displayName: 'Session switches',
    unit: 'session',
    valueUnit: 'count',
    definition:
      'Times an agent switched to a session: its SessionSwitched events, or SessionFocusIn (the framework fires ' +
      'SessionFocusOut on the session left, then SessionFocusIn on this one: one switch, counted here). By ' +
      'participantId: the agent of each session; counted in the range each session started in.',
    vendors: 'No vendor publishes this; it is the "session switched" of the Channel Analytics overview.',
    parameters: [],
    formula: () => ({ fn: 'sum', fact: 'switches' }),
  },
  {
    name: 'openSessions',
    displayName: 'Open sessions',
    unit: 'session',
    valueUnit: 'count',
    definition: 'Sessions started with no SessionClosed yet.',
    parameters: [],
    formula: () => ({ fn: 'count', where: is('closed', false) }),
  },
  {
    name: 'presenceTime',
    displayName: 'Time in presence status',
    unit: 'presence',
    valueUnit: 'seconds',
    definition: 'Seconds spent in each status, by newPresence (and participantId for each agent).',
    parameters: [],
    formula: () => ({ fn: 'sum', fact: 'seconds' }),
  },
];

export const KPI_BY_NAME: ReadonlyMap<string, Kpi> = new Map(KPIS.map((k) => [k.name, k]));

/** The fields a KPI of each unit can be broken down and filtered by, besides customData keys where allowed. */
export const UNIT_DIMENSIONS: Readonly<Record<KpiUnit, { fields: readonly string[]; customData: boolean }>> =
  {
    conversation: {
      fields: ['participantId', 'channel', 'queueName', 'queueId', 'providerId'],
      customData: true,
    },
    session: { fields: ['participantId', 'channel', 'queueName', 'queueId', 'providerId'], customData: true },
    notification: {
      fields: ['participantId', 'channel', 'queueName', 'queueId', 'providerId'],
      customData: true,
    },
    presence: { fields: ['participantId', 'newPresence'], customData: false },
  };

/** Every parameter name of the catalogue, once (several KPIs share one: shortAbandonSeconds, statistic). */
const PARAMETERS: ReadonlyMap<string, KpiParameter> = new Map(
  KPIS.flatMap((k) => k.parameters.map((p) => [p.name, p] as const)),
);

/**
 * A KPI's parameters from a measure object: each checked; one not given takes the organization's default
 * (its `kpiDefaults`), else the catalogue's.
 */
export function kpiParams(
  kpi: Kpi,
  given: Record<string, unknown>,
  at: string,
  violations: Violation[],
  orgDefaults: KpiParams = {},
): KpiParams {
  const params: KpiParams = {};
  for (const p of kpi.parameters) {
    const value = given[p.name];
    if (value === undefined) {
      params[p.name] = orgDefaults[p.name] ?? p.default;
      continue;
    }
    const violation = checkParameter(p, value, `${at}.${p.name}`);
    if (violation) violations.push(violation);
    else params[p.name] = value as number | boolean | string;
  }
  return params;
}

/**
 * An organization's `kpiDefaults`: parameters of the catalogue by name, each applying to every KPI that has
 * it. Answers the violations, named `<field>.<parameter>`.
 */
export function checkKpiDefaults(value: unknown, field: string): Violation[] {
  if (value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value)) {
    return [
      { field, rule: 'type', message: 'must be an object of KPI parameters, or null', received: value },
    ];
  }
  return Object.entries(value).flatMap(([name, v]): Violation[] => {
    const parameter = PARAMETERS.get(name);
    const violation = parameter
      ? checkParameter(parameter, v, `${field}.${name}`)
      : {
          field: `${field}.${name}`,
          rule: 'unknownField' as const,
          limit: [...PARAMETERS.keys()],
          message: `is not a KPI parameter: use ${[...PARAMETERS.keys()].join(', ')}`,
          received: name,
        };
    return violation ? [violation] : [];
  });
}

function checkParameter(p: KpiParameter, value: unknown, field: string): Violation | undefined {
  const ok =
    p.type === 'number'
      ? typeof value === 'number' &&
        Number.isFinite(value) &&
        value >= (p.min ?? -Infinity) &&
        value <= (p.max ?? Infinity)
      : p.type === 'boolean'
        ? typeof value === 'boolean'
        : typeof value === 'string' && (p.values ?? []).includes(value);
  if (ok) return undefined;
  return {
    field,
    rule: p.type === 'enum' ? 'enum' : p.type === 'boolean' ? 'type' : 'range',
    ...(p.type === 'enum' ? { limit: p.values } : p.type === 'number' ? { limit: [p.min, p.max] } : {}),
    message:
      p.type === 'enum'
        ? `must be one of: ${(p.values ?? []).join(', ')}`
        : p.type === 'boolean'
          ? 'must be true or false'
          : `must be a number from ${p.min} to ${p.max}`,
    received: value,
  };
}

/** The catalogue as `GET /api/v1/kpis` answers it. */
export function publicKpi(kpi: Kpi) {
  const { formula: _, unit, ...shown } = kpi;
  const dims = UNIT_DIMENSIONS[unit];
  return {
    ...shown,
    unit,
    unitDefinition: UNIT_TERMS[unit],
    dimensions: [...dims.fields, ...(dims.customData ? ['customData.<key>'] : [])],
  };
}
