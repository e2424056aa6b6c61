import { type Static, type TOptional, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import { echo, invalid, type Violation } from '../core/errors.ts';
import { MAX_JSON_DEPTH } from '../core/json.ts';
import { compileCheck, oneOf, printable } from '../core/validation.ts';
import { normaliseCustomData } from '../model/custom-data.ts';
import {
  CONVERSATIONS,
  type EntitySet,
  ID_LENGTH,
  KPI_EVENTS,
  PARTICIPANTS,
  SESSIONS,
} from './entity-sets.ts';
import { attributeSchema } from './record-body.ts';

/**
 * The JS API's payloads (reference §3-4), and its answers: initLogAnalytics in its latest and its earlier
 * shape, and logAnalyticsEvent in v1 and v2. Each payload field names the entity field it fills; where the
 * shapes use different names for one thing, a field lists every name, the latest first. The limits are those
 * of the entity model, so a payload and an OData body refuse the same values.
 */
export interface PayloadField<Name extends string = string> {
  names: readonly Name[];
  field: string;
}

/** A payload field under its names, latest first; without names, under the field's own. */
function f<Field extends string, Name extends string = Field>(
  field: Field,
  ...names: Name[]
): PayloadField<Name> {
  return { field, names: names.length > 0 ? names : [field as string as Name] };
}

export const CONVERSATION_FIELDS = [
  f('conversationId', 'conversationId', 'backendConversationId'),
  f('channel', 'channel', 'channelContext'),
  f('providerId', 'providerId', 'externalProviderId'),
  f('providerName', 'providerName', 'externalProviderName'),
  f('accountId', 'accountId', 'externalAccountId'),
  f('contactId', 'contactId', 'externalContactId'),
  f('additionalData'),
  f('externalCorrelationId'),
  f('conversationTimestamp', 'createdTimestamp', 'conversationTimestamp'),
] as const;

/** regionData names the conversation's customer fields without their prefix: `city` is customerCity. */
export const REGION_FIELDS = (['addressLine1', 'city', 'state', 'country', 'zip'] as const).map((name) =>
  f(`customer${name.charAt(0).toUpperCase()}${name.slice(1)}`, name),
);

export const SESSION_FIELDS = [
  f('providerSessionId', 'providerSessionId', 'sessionId'),
  f('clientSessionId'),
  f('clientSessionName'),
  // The earlier shape names the provider's session (sessionId, sessionName) beside the client's
  // (clientSessionId, clientSessionName): its name is the session record's own.
  f('name', 'sessionName'),
  f('channel', 'channel', 'sessionChannel'),
  f('creationReason', 'creationReason', 'sessionCreationReason'),
  f('additionalData', 'additionalData', 'sessionAdditionalData'),
  f('externalCorrelationId'),
  f('createdTimestamp', 'createdTimestamp', 'sessionCreatedTimestamp'),
  f('agentAssignedTimestamp', 'agentAssignedTimestamp', 'sessionAgentAssignedTimestamp'),
  f('queueAssignedTimestamp', 'queueAssignedTimestamp', 'sessionQueueAssignedTimestamp'),
  f('queueId'),
  f('queueName'),
] as const;

export const PARTICIPANT_FIELDS = [
  f('participantId'),
  f('externalId', 'externalId', 'externalParticipantId'),
  f('participantName', 'name', 'participantName'),
  // The earlier shape's external name stands beside its participantName, as externalParticipantId does.
  f('externalName', 'externalParticipantName'),
  f('mode', 'mode', 'participantMode'),
  f('type', 'type', 'participantType'),
  f('addedTimestamp', 'addedTimestamp', 'participantAddedTimestamp'),
  f('assignReason', 'assignReason', 'participantAssignReason'),
] as const;

/** Where a logAnalyticsEvent payload's events happened: v2's names first, then v1's. */
export const EVENT_PLACE_FIELDS = [
  f('conversationId'),
  f('providerSessionId', 'providerSessionId', 'sessionId'),
  f('clientSessionId'),
  f('participantId', 'participantId', 'eventParticipantId'),
] as const;

export const EVENT_ITEM_FIELDS = [
  f('eventType', 'kpiEventName'),
  f('eventValue', 'kpiEventReason'),
  f('eventTime', 'eventTimestamp'),
  f('entityName'),
  f('entityRecordId'),
  f('additionalData'),
  f('knowledgeArticleId'),
  f('knowledgeArticleName'),
  f('oldPresence'),
  f('newPresence'),
  f('tabId'),
  f('tabName'),
  f('notificationResponseAction'),
  f('externalCorrelationId'),
] as const;

/** `[{attribute, value}]`, the JS API's customData. */
type CustomDataList = Static<typeof CustomDataList>;
const CustomDataList = Type.Array(
  Type.Object({ attribute: Type.String({ minLength: 1, maxLength: ID_LENGTH }), value: Type.Unknown() }),
  { maxItems: 100 },
);

type NameOf<Field> = Field extends PayloadField<infer Name> ? Name : never;

/** Each name of each field, optional, with the limits of the entity attribute it fills. */
function properties<Field extends PayloadField>(
  set: EntitySet,
  fields: readonly Field[],
): Record<NameOf<Field>, TOptional<TSchema>> {
  const schemas: Record<string, TOptional<TSchema>> = {};
  for (const { field, names } of fields) {
    const attribute = set.attributes.find((a) => a.field === field && !a.slot);
    if (!attribute) throw new Error(`${set.label} has no field ${field}`);
    const schema = attributeSchema({ ...attribute, required: false });
    for (const name of names) schemas[name] = Type.Optional(schema);
  }
  return schemas;
}

/** Unknown fields are accepted and not stored, as the JS API's later versions may add some. */
const tolerant = <Properties extends TProperties>(props: Properties) =>
  Type.Object(props, { additionalProperties: true });

const Participant = tolerant({
  ...properties(PARTICIPANTS, PARTICIPANT_FIELDS),
  sessionId: Type.Optional(printable()),
  conversationId: Type.Optional(printable()),
  customData: Type.Optional(CustomDataList),
});

const Session = tolerant({
  ...properties(SESSIONS, SESSION_FIELDS),
  conversationId: Type.Optional(printable()),
  customData: Type.Optional(CustomDataList),
  participants: Type.Optional(Type.Array(Participant, { maxItems: 100 })),
});

const Conversation = tolerant({
  ...properties(CONVERSATIONS, CONVERSATION_FIELDS),
  regionData: Type.Optional(tolerant(properties(CONVERSATIONS, REGION_FIELDS))),
  customData: Type.Optional(CustomDataList),
  session: Type.Optional(Session),
});

const CorrelationId = Type.Optional(Type.String({ format: 'uuid' }));

/** `POST /api/v1/channel/initLogAnalytics`. */
export const InitLogAnalyticsBody = Type.Object(
  { data: Type.Object({ conversation: Conversation }), correlationId: CorrelationId },
  { additionalProperties: false },
);

const EventItem = tolerant({
  ...properties(KPI_EVENTS, EVENT_ITEM_FIELDS),
  customData: Type.Optional(CustomDataList),
  // OpenUA's own: the event's idempotency key, as on every other event route.
  eventId: Type.Optional(printable({ minLength: 1, maxLength: 128 })),
});

/** `POST /api/v1/channel/logAnalyticsEvent`, v1 or v2 data. */
export const LogAnalyticsEventBody = Type.Object(
  {
    data: tolerant({
      ...properties(KPI_EVENTS, EVENT_PLACE_FIELDS),
      events: Type.Array(EventItem, { minItems: 1, maxItems: 500 }),
    }),
    eventName: printable({ minLength: 1, maxLength: ID_LENGTH }),
    correlationId: CorrelationId,
  },
  { additionalProperties: false },
);

const CorrelationIdAnswer = Type.String({
  description: 'The correlation id of the call: the one sent, or one the server made',
});

/** What `initLogAnalytics` answers. */
export const InitAnswerSchema = Type.Object(
  {
    result: Type.String({ description: "What the JS API's promise resolves with" }),
    correlationId: CorrelationIdAnswer,
    conversationDataId: Type.String({ format: 'uuid', description: 'The Conversation Data record' }),
    sessionDataId: Type.String({ format: 'uuid', description: 'The Session Data record' }),
    participantDataIds: Type.Array(Type.String({ format: 'uuid' }), {
      description: 'The Session Participant Data records, in the order of `participants`',
    }),
  },
  { description: 'The records stand as the call says (those it changed are written)' },
);
export type InitAnswer = Static<typeof InitAnswerSchema>;

/** What `logAnalyticsEvent` answers. */
export const LogAnswerSchema = Type.Object(
  {
    result: Type.String({ description: "What the JS API's promise resolves with" }),
    correlationId: CorrelationIdAnswer,
    eventIds: Type.Array(Type.String(), {
      description:
        'The stored events, in the order of `events`: for a duplicate, the event first stored with its key',
    }),
    duplicates: Type.Integer({
      minimum: 0,
      description:
        'How many events were duplicates of events already stored (by `eventId`), and not stored again',
    }),
    flagged: Type.Array(Type.String(), {
      description: 'KPI event names accepted without an active definition (organization setting `flag`)',
    }),
  },
  { description: 'Every event is stored (or was already, by its `eventId`)' },
);
export type LogAnswer = Static<typeof LogAnswerSchema>;

/** One record or event of a correlation, at the time it stands at in the conversation's story. */
export const CorrelatedItemSchema = Type.Object({
  kind: oneOf(['conversation', 'session', 'participant', 'kpiEvent', 'event'] as const),
  time: Type.String({ format: 'date-time' }),
  record: Type.Record(Type.String(), Type.Unknown(), {
    description: 'The record as the admin API shows it (field names), or the stored event',
  }),
});
export type CorrelatedItem = Static<typeof CorrelatedItemSchema>;

export type InitLogAnalytics = Static<typeof InitLogAnalyticsBody>;
export type LogAnalyticsEvent = Static<typeof LogAnalyticsEventBody>;

/** Reads a payload loosened (see loosen) and checked against its schema, or refuses it with every violation. */
function payloadReader<Schema extends TSchema>(schema: Schema) {
  const check = compileCheck(schema);
  return (body: unknown): Static<Schema> => {
    const payload = loosen(body);
    const violations = check(payload);
    if (violations.length > 0) throw invalid(violations);
    return payload as Static<Schema>;
  };
}

export const readInitLogAnalytics = payloadReader(InitLogAnalyticsBody);
export const readLogAnalyticsEvent = payloadReader(LogAnalyticsEventBody);

/**
 * The JS API is looser than the entity model in two ways that lose nothing: additionalData may be an
 * object (kept as its JSON text), and participant mode and type may be numbers (kept as their digits).
 * Answers a copy with those folded, so the schema can then hold every payload to the model's limits.
 * The fields it folds are a few levels down; below MAX_JSON_DEPTH a value is left as it is (a body cannot
 * be deeper, and a value built otherwise cannot make this overflow the stack).
 */
export function loosen(value: unknown, key = '', depth = 1): unknown {
  if (depth > MAX_JSON_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => loosen(item, '', depth + 1));
  if (value === null || typeof value !== 'object') {
    return typeof value === 'number' && /^(participant)?(mode|type)$/i.test(key) ? String(value) : value;
  }
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    copy[k] =
      /additionalData$/i.test(k) && v !== null && typeof v === 'object' && !Array.isArray(v)
        ? jsonText(v)
        : k === 'customData'
          ? v
          : loosen(v, k, depth + 1);
  }
  return copy;
}

/** additionalData's JSON text; a value too deep for JSON.stringify is left as it is, for the schema to refuse. */
function jsonText(value: object): unknown {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof RangeError) return value;
    throw error;
  }
}

/**
 * The entity fields a payload object fills. A field given under two of its names with two different
 * values is refused; `required` fields must be given under one of their names.
 */
export function readFields(
  set: EntitySet,
  payload: Record<string, unknown> | undefined,
  fields: readonly PayloadField[],
  path: string,
  required: readonly string[] = [],
): { values: Record<string, unknown>; violations: Violation[] } {
  const values: Record<string, unknown> = {};
  const violations: Violation[] = [];
  for (const { field, names } of fields) {
    const given = names.filter((n) => payload?.[n] !== undefined && payload[n] !== null);
    const [first, ...others] = given;
    if (first === undefined) {
      if (required.includes(field)) {
        violations.push({
          field: `${path}.${names[0]}`,
          rule: 'required',
          message: names.length > 1 ? `is required (or ${names.slice(1).join(', ')})` : 'is required',
        });
      }
      continue;
    }
    const value = payload?.[first];
    const other = others.find((n) => payload?.[n] !== value);
    if (other !== undefined) {
      violations.push({
        field: `${path}.${other}`,
        rule: 'sameAs',
        limit: `${path}.${first}`,
        message: `names the same thing as ${first} and must hold the same value`,
        received: echo(payload?.[other]),
      });
      continue;
    }
    const kind = set.attributes.find((a) => a.field === field)?.kind;
    values[field] = kind === 'datetime' && typeof value === 'string' ? new Date(value) : value;
  }
  return { values, violations };
}

/** `[{attribute, value}]` as normalised customData (the UA key rules), refusing repeated attributes. */
export function customDataOf(
  list: CustomDataList | undefined,
  path: string,
): { data: Record<string, string>; violations: Violation[] } {
  if (!list) return { data: {}, violations: [] };
  // No prototype: an attribute named "__proto__" is data like any other.
  const raw: Record<string, unknown> = Object.create(null);
  const violations: Violation[] = [];
  list.forEach((item, i) => {
    if (Object.hasOwn(raw, item.attribute)) {
      violations.push({
        field: `${path}[${i}].attribute`,
        rule: 'uniqueKey',
        message: `repeats the attribute ${JSON.stringify(item.attribute)}`,
        received: item.attribute,
      });
      return;
    }
    raw[item.attribute] = item.value;
  });
  const normalised = normaliseCustomData(raw, path);
  return { data: normalised.data, violations: [...violations, ...normalised.violations] };
}
