/**
 * The one event shape every API ends in. The UA Write API and Channel Analytics both build these,
 * and the writer and every storage engine take nothing else.
 */

export type EventCategory = 'custom' | 'search' | 'click' | 'view' | 'collect' | 'kpi';

export interface CanonicalEvent {
  /** UUIDv7 assigned by the server (or the client's idempotency key, once that exists). */
  id: string;
  org: string;
  category: EventCategory;
  eventType: string;
  eventValue: string | null;
  /** When the event happened, by the client's clock, if the client said. */
  eventTime: Date | null;
  /** When the client sent it, by the client's clock, if the client said. */
  sentTime: Date | null;
  /** When this server received it. */
  receivedTime: Date;
  /** The event time corrected for client clock skew; equals receivedTime when the client gave no times. */
  derivedTime: Date;
  /** The ISO 639-1 code of the UA event's language (`en`), which reports split by. */
  language: string | null;
  /** The language tag as the client sent it (`en-US`, `pt-BR`); left out of events of other APIs. */
  languageTag?: string | null;
  username: string | null;
  userDisplayName: string | null;
  anonymous: boolean;
  /** The UA visitor and visit; null on channel events, which belong to a conversation instead. */
  clientId: string | null;
  visitorId: string | null;
  visitId: string | null;
  originContext: string | null;
  originLevel1: string | null;
  originLevel2: string | null;
  originLevel3: string | null;
  outcome: number | null;
  splitTestRunName: string | null;
  splitTestRunVersion: string | null;
  trackingId: string | null;
  lastSearchQueryUid: string | null;
  userAgent: string | null;
  correlationId: string | null;
  /** Which credential pushed it: an API key id, `master`, or `token:<user>`. */
  credentialId: string;
  // Channel Analytics (category `kpi`). A UA event leaves them out (the store reads them back as null), so
  // its ingest-log line stays as short as before. For a KPI event, eventType is the KPI event name and
  // eventValue its reason. The names follow the reference (cif-channel-analytics.md §4-5).
  /** msdyn_name of the KPI event record. */
  name?: string | null;
  conversationId?: string | null;
  providerSessionId?: string | null;
  clientSessionId?: string | null;
  participantId?: string | null;
  providerId?: string | null;
  /** The Session Data record (msdyn_sessionid) the event belongs to. */
  sessionDataId?: string | null;
  cifSessionId?: string | null;
  /** The KPI event definition the name resolved to (msdyn_kpieventid); null when flagged unknown. */
  kpiEventDefinitionId?: string | null;
  entityName?: string | null;
  entityRecordId?: string | null;
  knowledgeArticleId?: string | null;
  knowledgeArticleName?: string | null;
  oldPresence?: string | null;
  newPresence?: string | null;
  tabId?: string | null;
  tabName?: string | null;
  notificationResponseAction?: string | null;
  externalCorrelationId?: string | null;
  additionalData?: string | null;
  /** Why an accepted event is marked (`unknownKpiEvent`), or null. */
  flag?: string | null;
  /**
   * Where the conversation came in, copied from its Session Data (else Conversation Data) when the event is
   * logged, so KPIs group by channel and queue without joining records: a later change to the record does
   * not rewrite events already stored.
   */
  channel?: string | null;
  queueId?: string | null;
  queueName?: string | null;
  // Search, click and view (reference coveo-ua.md §5), left out of events of other categories like the
  // channel fields. searchQueryUid joins a search to its clicks, and to custom events by lastSearchQueryUid.
  searchQueryUid?: string | null;
  actionCause?: string | null;
  queryText?: string | null;
  advancedQuery?: string | null;
  numberOfResults?: number | null;
  responseTime?: number | null;
  contextual?: boolean | null;
  queryPipeline?: string | null;
  indexId?: string | null;
  /** The body's userGroups and, for a search token, the token's, without repeats. */
  userGroups?: string[] | null;
  /** facetState and results as sent, kept whole: they are lists of objects, not dimensions. */
  facetState?: object[] | null;
  results?: object[] | null;
  documentPosition?: number | null;
  sourceName?: string | null;
  documentUri?: string | null;
  documentUriHash?: string | null;
  collectionName?: string | null;
  documentTitle?: string | null;
  documentUrl?: string | null;
  documentAuthor?: string | null;
  rankingModifier?: string | null;
  documentCategory?: string | null;
  location?: string | null;
  referrer?: string | null;
  title?: string | null;
  contentIdKey?: string | null;
  contentIdValue?: string | null;
  contentType?: string | null;
  /** The client's idempotency key (`eventId`, or the `Idempotency-Key` header), when it gave one. */
  idempotencyKey?: string | null;
  /** Normalised customData: keys already lower-case `[a-z0-9_]`, values already strings. */
  customData: Record<string, string>;
}

/** The fields only the UA Write API fills: what an event from another API carries as null. */
export const NO_UA_FIELDS = {
  language: null,
  clientId: null,
  visitorId: null,
  visitId: null,
  originContext: null,
  originLevel1: null,
  originLevel2: null,
  originLevel3: null,
  outcome: null,
  splitTestRunName: null,
  splitTestRunVersion: null,
  trackingId: null,
  lastSearchQueryUid: null,
  userAgent: null,
} satisfies Partial<CanonicalEvent>;

const TIME_FIELDS = ['eventTime', 'sentTime', 'receivedTime', 'derivedTime'] as const;

/** A canonical event back from its JSON text (the ingest log): times become Dates again. */
export function reviveEvent(json: object): CanonicalEvent {
  const event = json as Record<string, unknown>;
  for (const field of TIME_FIELDS) {
    const value = event[field];
    event[field] = typeof value === 'string' ? new Date(value) : null;
  }
  return event as unknown as CanonicalEvent;
}
