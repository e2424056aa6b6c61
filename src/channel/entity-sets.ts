import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { ColumnType, EntityTable } from '../storage/storage.ts';

/**
 * The Channel Analytics entity model (shared/reference/cif-channel-analytics.md §5), described once.
 * Each attribute names what server-side loggers send (`msdyn_conversationid`) and the field that holds it
 * (`conversationId`): the OData API speaks attribute names, the admin API and the stores speak fields, and
 * validation, storage columns, `$filter` and `$select` are all derived from this one description.
 */

export type AttributeKind = 'text' | 'boolean' | 'integer' | 'datetime' | 'customData';

export interface Attribute {
  /** The OData (Web API) name. */
  name: string;
  /** The field that stores it. */
  field: string;
  kind: AttributeKind;
  maxLength?: number;
  /**
   * Text that may hold control characters (a description, additional data, a custom attribute). Other text
   * attributes are ids and names, which refuse them (format `printable`); no text may hold NUL.
   */
  freeText?: boolean;
  /** Allowed values, for option sets (Dataverse's choices): the integers OData speaks, each with its label. */
  options?: readonly OptionValue[];
  /**
   * For an option set the admin API speaks in labels: its name there. `msdyn_eventtype` is stored as
   * `eventTypeCode` and is `eventType` (`"System"`, `"Custom"`) in the admin API, the name its text had.
   */
  labelled?: string;
  /** Needed on create. */
  required?: boolean;
  /** Set by the server: refused in a request body. */
  readOnly?: boolean;
  /** Part of the record's natural key: given on create, never changed afterwards. */
  key?: boolean;
  /** For `msdyn_customattribute1…5`: the customData key the slot reads and writes. */
  slot?: string;
}

/** One value of an option set: the integer stored and sent over OData, and the label people use. */
export interface OptionValue {
  value: number;
  label: string;
}

/** Id- and name-like text (documented by the reference). */
export const ID_LENGTH = 100;
/** `msdyn_additionaldata` (documented by the reference). */
const DATA_LENGTH = 2000;
/** OpenUA's bound for descriptions, URLs, parameters and custom attribute slots (undocumented upstream). */
const LONG_TEXT_LENGTH = 2000;

const text = (name: string, field: string, extra: Partial<Attribute> = {}): Attribute => ({
  name,
  field,
  kind: 'text',
  maxLength: ID_LENGTH,
  ...extra,
});
const time = (name: string, field: string): Attribute => ({ name, field, kind: 'datetime' });
const readOnly = (attribute: Attribute): Attribute => ({ ...attribute, readOnly: true });

/** Read-only bookkeeping on every record (createdon, modifiedon, versionnumber). */
const RECORD_BOOKKEEPING: readonly Attribute[] = [
  readOnly(time('createdon', 'createdOn')),
  readOnly(time('modifiedon', 'modifiedOn')),
  readOnly({ name: 'versionnumber', field: 'version', kind: 'integer' }),
];

/** The five fixed slots of the CRM model, kept as customData keys `customattribute1`…`5`. */
const CUSTOM_SLOTS: readonly Attribute[] = [1, 2, 3, 4, 5].map((n) => ({
  name: `msdyn_customattribute${n}`,
  field: 'customData',
  kind: 'text',
  maxLength: LONG_TEXT_LENGTH,
  // A customData value, as free as every other.
  freeText: true,
  slot: `customattribute${n}`,
}));

/** OpenUA's own additions to the analytics records: the correlation id and customData without a slot limit. */
const CORRELATION: readonly Attribute[] = [
  text('openua_correlationid', 'correlationId'),
  { name: 'openua_customdata', field: 'customData', kind: 'customData' },
  ...CUSTOM_SLOTS,
];

const STATE: readonly Attribute[] = [
  {
    name: 'statecode',
    field: 'stateCode',
    kind: 'integer',
    options: [
      { value: 0, label: 'Active' },
      { value: 1, label: 'Inactive' },
    ],
  },
  {
    name: 'statuscode',
    field: 'statusCode',
    kind: 'integer',
    options: [
      { value: 1, label: 'Active' },
      { value: 2, label: 'Inactive' },
    ],
  },
];

/**
 * `msdyn_eventtype`, Dataverse's option set (reference §5). OpenUA's rule: the first-party definitions it
 * seeds are System, and every definition made by an admin is Custom.
 */
export const KPI_EVENT_TYPE = { system: 100_000_000, custom: 100_000_001 } as const;
const KPI_EVENT_TYPES: readonly OptionValue[] = [
  { value: KPI_EVENT_TYPE.system, label: 'System' },
  { value: KPI_EVENT_TYPE.custom, label: 'Custom' },
];

/** The event type of a KPI event definition: System when OpenUA seeded it (`firstParty`), Custom otherwise. */
export const kpiEventTypeOf = (firstParty: unknown) =>
  firstParty === true ? KPI_EVENT_TYPE.system : KPI_EVENT_TYPE.custom;

/** `100000001 (Custom)`: an option value as messages show it. */
export const optionText = (attribute: Attribute, value: number) =>
  `${value} (${attribute.options?.find((o) => o.value === value)?.label ?? '?'})`;

/**
 * The option value an admin API input names: a label in any case, or the integer itself; undefined for
 * anything else.
 */
export function optionValueOf(attribute: Attribute, input: unknown): number | undefined {
  const options = attribute.options ?? [];
  const found =
    typeof input === 'string'
      ? options.find((o) => o.label.toLowerCase() === input.trim().toLowerCase())
      : options.find((o) => o.value === input);
  return found?.value;
}

/** The label of a stored option value (the value itself when it is not one of the set's). */
export const optionLabelOf = (attribute: Attribute, value: unknown) =>
  attribute.options?.find((o) => o.value === value)?.label ?? value ?? null;

export type EntitySetName =
  | 'msdyn_ciproviders'
  | 'msdyn_kpieventdefinitions'
  | 'msdyn_conversationsdata'
  | 'msdyn_sessionsdata'
  | 'msdyn_sessionparticipantsdata'
  | 'msdyn_kpieventsdata';

export interface EntitySet extends RecordRules {
  set: EntitySetName;
  /** The entity's logical name, for `@odata.context`. */
  entity: string;
  /** What a person calls it, in errors. */
  label: string;
  /** What a message calls one of its records, in a sentence. */
  noun: string;
  primaryId: string;
  attributes: readonly Attribute[];
  /** Where its records live; KPI event data is not a table but the events of category `kpi`. */
  table?: EntityTable<ChannelRecord>;
}

/**
 * The rules a set's records are held to beyond each attribute's own, declared here and applied by ChannelRecords
 * (records.ts) to the OData API, the admin API and initLogAnalytics alike.
 */
export interface RecordRules {
  /** Values a new record starts with, before its body's. */
  defaults?: Readonly<Record<string, unknown>>;
  /**
   * What its records name in other sets, in the order they are checked: a write naming a record that does not
   * exist is refused (and the references after it are not checked: they belong to it), and a record still named
   * by another is not deleted.
   */
  references?: readonly Reference[];
  /** No two records of an organization share a name: the admin API and the CLI name a record by it. */
  uniqueName?: boolean;
  /** Its records are first-party (OpenUA seeds them) or made by an admin, and the origin fixes a field. */
  origin?: Origin;
}

/**
 * Fields of a record that name a record of another set (reference §5's order of creation: the provider, then the
 * conversation, its sessions, their participants).
 */
export interface Reference {
  /** The fields that name the target: its natural key's, in their order; or one field holding its id or name. */
  fields: readonly string[];
  target: EntitySet;
  /** `fields` is one field holding the target's id or, failing that, its name (a provider). */
  byIdOrName?: boolean;
  /** What a refusal tells the caller to create first. */
  createFirst: string;
  /**
   * The record is analytics data: the provider this reference leads to (the target, or the provider the target's
   * own such reference leads to) must take analytics, or nothing is stored.
   */
  analytics?: boolean;
}

/**
 * Records OpenUA seeds (`flag` true: first-party) beside those an admin makes. The origin fixes the value of one
 * option-set field, which a body may repeat but not change; a first-party record is deactivated, never deleted.
 */
export interface Origin {
  /** The read-only boolean field that marks a first-party record. */
  flag: string;
  /** The option-set field the origin fixes. */
  field: string;
  /** Its value for a record of each origin (the flag's value). */
  value: (firstParty: unknown) => number;
}

/** A stored record of any entity table: the common fields, and the entity's own by field name. */
export interface ChannelRecord {
  org: string;
  id: string;
  createdOn: Date;
  modifiedOn: Date;
  version: number;
  [field: string]: unknown;
}

const COLUMN_OF_KIND: Record<AttributeKind, ColumnType> = {
  text: 'text',
  boolean: 'boolean',
  integer: 'integer',
  datetime: 'timestamp',
  customData: 'json',
};

/** The table of an entity set: org and id first, then each attribute's field once. */
function tableOf(name: string, attributes: readonly Attribute[]): EntityTable<ChannelRecord> {
  const columns: Record<string, ColumnType> = { org: 'text', id: 'text' };
  for (const a of attributes) columns[a.field] ??= COLUMN_OF_KIND[a.kind];
  return { name, key: ['org', 'id'], columns };
}

function entitySet(
  set: EntitySetName,
  entity: string,
  label: string,
  attributes: readonly Attribute[],
  { table, ...more }: { noun: string; table?: string } & RecordRules,
): EntitySet {
  const primaryId = `${entity}id`;
  const all = [readOnly(text(primaryId, 'id', { maxLength: 36 })), ...attributes];
  return {
    set,
    entity,
    label,
    primaryId,
    attributes: all,
    table: table ? tableOf(table, all) : undefined,
    ...more,
  };
}

/** Configuration records start active. */
const ACTIVE = { stateCode: 0, statusCode: 1 } as const;

export const PROVIDERS = entitySet(
  'msdyn_ciproviders',
  'msdyn_ciprovider',
  'CIF Provider',
  [
    text('msdyn_name', 'name', { required: true }),
    text('msdyn_label', 'label'),
    text('msdyn_landingurl', 'landingUrl', { maxLength: LONG_TEXT_LENGTH }),
    { name: 'msdyn_enableanalytics', field: 'enableAnalytics', kind: 'boolean' },
    { name: 'msdyn_sortorder', field: 'sortOrder', kind: 'integer' },
    text('msdyn_trusteddomain', 'trustedDomain', { maxLength: LONG_TEXT_LENGTH }),
    text('msdyn_customparams', 'customParams', { maxLength: LONG_TEXT_LENGTH, freeText: true }),
    text('msdyn_ciproviderapiversion', 'apiVersion'),
    ...STATE,
    ...RECORD_BOOKKEEPING,
  ],
  {
    table: 'channel_providers',
    noun: 'provider',
    defaults: { enableAnalytics: false, ...ACTIVE },
    uniqueName: true,
  },
);

export const KPI_DEFINITIONS = entitySet(
  'msdyn_kpieventdefinitions',
  'msdyn_kpieventdefinition',
  'KPI Event Definition',
  [
    text('msdyn_name', 'name', { required: true, key: true }),
    text('msdyn_eventdisplayname', 'displayName'),
    text('msdyn_eventdescription', 'description', { maxLength: LONG_TEXT_LENGTH, freeText: true }),
    // Stored as eventTypeCode: stores from before it was an option set keep their old text column, eventType.
    {
      name: 'msdyn_eventtype',
      field: 'eventTypeCode',
      kind: 'integer',
      options: KPI_EVENT_TYPES,
      labelled: 'eventType',
    },
    ...STATE,
    readOnly({ name: 'openua_firstparty', field: 'firstParty', kind: 'boolean' }),
    ...RECORD_BOOKKEEPING,
  ],
  {
    table: 'channel_kpi_definitions',
    noun: 'definition',
    defaults: { ...ACTIVE, firstParty: false, eventTypeCode: kpiEventTypeOf(false) },
    origin: { flag: 'firstParty', field: 'eventTypeCode', value: kpiEventTypeOf },
  },
);

export const CONVERSATIONS = entitySet(
  'msdyn_conversationsdata',
  'msdyn_conversationdata',
  'Conversation Data',
  [
    text('msdyn_name', 'name'),
    text('msdyn_conversationid', 'conversationId', { required: true, key: true }),
    text('msdyn_channel', 'channel'),
    text('msdyn_providerid', 'providerId', { required: true }),
    text('msdyn_providername', 'providerName'),
    text('msdyn_accountid', 'accountId'),
    text('msdyn_contactid', 'contactId'),
    text('msdyn_additionaldata', 'additionalData', { maxLength: DATA_LENGTH, freeText: true }),
    text('msdyn_externalcorrelationid', 'externalCorrelationId'),
    time('msdyn_conversationtimestamp', 'conversationTimestamp'),
    text('msdyn_region', 'region'),
    text('openua_customeraddressline1', 'customerAddressLine1', { maxLength: 250 }),
    text('msdyn_customercity', 'customerCity'),
    text('msdyn_customerstate', 'customerState'),
    text('msdyn_customercountry', 'customerCountry'),
    text('msdyn_customerzip', 'customerZip'),
    text('msdyn_primaryrelatedentityname', 'primaryRelatedEntityName'),
    text('msdyn_primaryrelatedentityrecordid', 'primaryRelatedEntityRecordId'),
    ...CORRELATION,
    ...RECORD_BOOKKEEPING,
  ],
  {
    table: 'channel_conversations',
    noun: 'conversation',
    references: [
      {
        fields: ['providerId'],
        target: PROVIDERS,
        byIdOrName: true,
        createFirst: 'create the provider first (openua provider create)',
        analytics: true,
      },
    ],
  },
);

const IN_CONVERSATION: Reference = {
  fields: ['conversationId'],
  target: CONVERSATIONS,
  createFirst: 'create Conversation Data first',
  analytics: true,
};

export const SESSIONS = entitySet(
  'msdyn_sessionsdata',
  'msdyn_sessiondata',
  'Session Data',
  [
    text('msdyn_name', 'name'),
    text('msdyn_conversationid', 'conversationId', { required: true, key: true }),
    text('msdyn_providersessionid', 'providerSessionId', { required: true, key: true }),
    text('msdyn_ucisessionid', 'clientSessionId'),
    text('msdyn_ucisessionname', 'clientSessionName'),
    text('msdyn_sessionchannel', 'channel'),
    text('msdyn_sessioncreationreason', 'creationReason'),
    text('msdyn_sessionadditionaldata', 'additionalData', { maxLength: DATA_LENGTH, freeText: true }),
    text('msdyn_externalcorrelationid', 'externalCorrelationId'),
    time('msdyn_sessioncreatedtimestamp', 'createdTimestamp'),
    time('msdyn_sessionagentassignedtimestamp', 'agentAssignedTimestamp'),
    time('msdyn_sessionqueueassignedtimestamp', 'queueAssignedTimestamp'),
    text('msdyn_queueid', 'queueId'),
    text('msdyn_queuename', 'queueName'),
    ...CORRELATION,
    ...RECORD_BOOKKEEPING,
  ],
  { table: 'channel_sessions', noun: 'session', references: [IN_CONVERSATION] },
);

export const PARTICIPANTS = entitySet(
  'msdyn_sessionparticipantsdata',
  'msdyn_sessionparticipantdata',
  'Session Participant Data',
  [
    text('msdyn_name', 'name'),
    text('msdyn_conversationid', 'conversationId', { required: true, key: true }),
    text('msdyn_providersessionid', 'providerSessionId', { required: true, key: true }),
    text('msdyn_participantid', 'participantId', { required: true, key: true }),
    text('msdyn_participantname', 'participantName'),
    text('openua_externalparticipantid', 'externalId'),
    text('openua_externalparticipantname', 'externalName'),
    text('msdyn_participantmode', 'mode'),
    text('msdyn_participanttype', 'type'),
    time('msdyn_participantaddedtimestamp', 'addedTimestamp'),
    text('msdyn_participantassignreason', 'assignReason'),
    ...CORRELATION,
    ...RECORD_BOOKKEEPING,
  ],
  {
    table: 'channel_participants',
    noun: 'participant',
    references: [
      IN_CONVERSATION,
      {
        fields: ['conversationId', 'providerSessionId'],
        target: SESSIONS,
        createFirst: 'create Session Data for the conversation first',
      },
    ],
  },
);

/** Fields of a KPI event as the events table holds them (category `kpi`). */
type EventField = keyof CanonicalEvent & string;
const eventText = (name: string, field: EventField, extra: Partial<Attribute> = {}) =>
  text(name, field, extra);

export const KPI_EVENTS = entitySet(
  'msdyn_kpieventsdata',
  'msdyn_kpieventdata',
  'KPI Event Data',
  [
    eventText('msdyn_name', 'name'),
    eventText('msdyn_kpieventname', 'eventType', { required: true, key: true }),
    readOnly(eventText('msdyn_kpieventid', 'kpiEventDefinitionId')),
    eventText('msdyn_kpieventreason', 'eventValue', { maxLength: LONG_TEXT_LENGTH }),
    time('msdyn_eventtimestamp', 'eventTime'),
    eventText('msdyn_conversationid', 'conversationId', { required: true, key: true }),
    eventText('msdyn_providersessionid', 'providerSessionId', { required: true, key: true }),
    readOnly(eventText('msdyn_sessionid', 'sessionDataId')),
    eventText('msdyn_cifsessionid', 'cifSessionId'),
    eventText('msdyn_clientsessionid', 'clientSessionId'),
    eventText('msdyn_participantid', 'participantId', { required: true, key: true }),
    readOnly(eventText('msdyn_providerid', 'providerId')),
    eventText('msdyn_additionaldata', 'additionalData', { maxLength: DATA_LENGTH, freeText: true }),
    eventText('msdyn_externalcorrelationid', 'externalCorrelationId'),
    eventText('openua_entityname', 'entityName'),
    eventText('openua_entityrecordid', 'entityRecordId'),
    eventText('openua_knowledgearticleid', 'knowledgeArticleId'),
    eventText('openua_knowledgearticlename', 'knowledgeArticleName', { maxLength: 250 }),
    eventText('openua_oldpresence', 'oldPresence'),
    eventText('openua_newpresence', 'newPresence'),
    eventText('openua_tabid', 'tabId'),
    eventText('openua_tabname', 'tabName', { maxLength: 250 }),
    eventText('openua_notificationresponseaction', 'notificationResponseAction'),
    readOnly(eventText('openua_flag', 'flag')),
    ...CORRELATION,
    readOnly(time('createdon', 'receivedTime')),
  ],
  { noun: 'KPI event' },
);

export const ENTITY_SETS: readonly EntitySet[] = [
  PROVIDERS,
  KPI_DEFINITIONS,
  CONVERSATIONS,
  SESSIONS,
  PARTICIPANTS,
  KPI_EVENTS,
];

export const CHANNEL_TABLES = ENTITY_SETS.flatMap((s) => (s.table ? [s.table] : []));

export const entitySetNamed = (name: string) => ENTITY_SETS.find((s) => s.set === name);

export const attributeNamed = (set: EntitySet, name: string) => set.attributes.find((a) => a.name === name);

/** The attributes that make up a set's natural key, by field. */
export const keyFields = (set: EntitySet) => set.attributes.filter((a) => a.key).map((a) => a.field);

/** The references other sets hold to this one, and the set holding each: what keeps its records from deletion. */
export const referencesTo = (target: EntitySet) =>
  ENTITY_SETS.flatMap((set) =>
    (set.references ?? []).filter((r) => r.target === target).map((reference) => ({ set, reference })),
  );
