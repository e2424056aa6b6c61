import type { Static, TSchema } from '@sinclair/typebox';
import type { Credential } from '../auth/credential.ts';
import { type Check, compileCheck } from '../core/validation.ts';
import type { CanonicalEvent, EventCategory } from '../model/canonical-event.ts';
import {
  CollectEventSchema,
  collectFields,
  fromMeasurementProtocol,
  wireName,
} from './measurement-protocol.ts';
import type { Payload } from './schemas.ts';
import { ClickEventSchema, CustomEventSchema, SearchEventSchema, ViewEventSchema } from './schemas.ts';

/** The UA Write API's event routes: `POST /analytics/<kind>`. */
export type UaEventKind = 'custom' | 'search' | 'click' | 'view' | 'collect';
export const UA_EVENT_KINDS = ['custom', 'search', 'click', 'view', 'collect'] as const;

/**
 * Coveo cuts a query uid to 36 characters (a UUID). The same cut applies wherever one is named (a search,
 * its clicks, and custom events' lastSearchQueryUid), so a long uid still joins its search.
 */
export const QUERY_UID_LENGTH = 36;
export const queryUid = (value: unknown) =>
  typeof value === 'string' ? value.slice(0, QUERY_UID_LENGTH) : null;

/** What one kind of event adds to the shared path: its rules, and its own fields of the canonical event. */
export interface UaEventModel {
  category: EventCategory;
  /** The body's schema, which its route declares. */
  schema: TSchema;
  check: Check;
  /** The payload in v15 field names, for the shared path (identity, visitor, common fields, customData). */
  toV15?: (payload: Payload) => Payload;
  /** How the body spells a v15 field, when it differs (for errors found after `toV15`). */
  wireName?: (field: string) => string;
  /** The kind's own fields, from a payload that passed `check` (after `toV15`). */
  fields: (payload: Payload, credential: Credential) => Partial<CanonicalEvent> & { eventType: string };
}

type Fields<S extends TSchema> = (
  payload: Static<S>,
  credential: Credential,
) => Partial<CanonicalEvent> & { eventType: string };

/**
 * A kind whose body is read as it arrives: its fields are read as its schema types them, since the collector
 * reads only a payload that passed `check`. (A kind's optional fields stay undefined when absent, rather than
 * null: the store reads both as null, and an absent key costs nothing in the ingest log's JSON line.)
 */
const modelOf = <S extends TSchema>(category: EventCategory, schema: S, fields: Fields<S>): UaEventModel => ({
  category,
  schema,
  check: compileCheck(schema),
  fields: fields as UaEventModel['fields'],
});

/** The body's groups, then the search token's: a search token adds its userGroups (reference §4). */
function userGroups(fromBody: string[] | undefined, credential: Credential): string[] | undefined {
  const fromToken = credential.kind === 'searchToken' ? credential.identity.userGroups : [];
  const groups = [...new Set([...(fromBody ?? []), ...fromToken])];
  return groups.length > 0 ? groups : undefined;
}

export const UA_EVENT_MODELS: Readonly<Record<UaEventKind, UaEventModel>> = {
  custom: modelOf('custom', CustomEventSchema, (p) => ({ eventType: p.eventType, eventValue: p.eventValue })),
  search: modelOf('search', SearchEventSchema, (p, credential) => ({
    eventType: 'search',
    eventValue: p.actionCause,
    searchQueryUid: queryUid(p.searchQueryUid),
    actionCause: p.actionCause,
    queryText: p.queryText,
    advancedQuery: p.advancedQuery,
    numberOfResults: p.numberOfResults,
    responseTime: p.responseTime,
    contextual: p.contextual,
    queryPipeline: p.queryPipeline,
    indexId: p.indexId,
    userGroups: userGroups(p.userGroups, credential),
    facetState: p.facetState,
    results: p.results,
  })),
  click: modelOf('click', ClickEventSchema, (p) => ({
    eventType: 'click',
    eventValue: p.actionCause,
    searchQueryUid: queryUid(p.searchQueryUid),
    actionCause: p.actionCause,
    documentPosition: p.documentPosition,
    sourceName: p.sourceName,
    documentUri: p.documentUri,
    documentUriHash: p.documentUriHash,
    collectionName: p.collectionName,
    documentTitle: p.documentTitle,
    documentUrl: p.documentUrl,
    documentAuthor: p.documentAuthor,
    queryPipeline: p.queryPipeline,
    rankingModifier: p.rankingModifier,
    documentCategory: p.documentCategory,
  })),
  view: modelOf('view', ViewEventSchema, (p) => ({
    eventType: 'view',
    eventValue: p.contentType,
    ...viewFields(p),
  })),
  // Read after its translation to v15 names (toV15), not as its schema types it.
  collect: {
    category: 'collect',
    schema: CollectEventSchema,
    check: compileCheck(CollectEventSchema),
    toV15: fromMeasurementProtocol,
    wireName,
    // The translation of a checked hit: its page fields passed the rules of the view's.
    fields: (p) => ({ ...collectFields(p), ...viewFields(p as PageFields) }),
  },
};

type PageFields = Partial<
  Pick<
    Static<typeof ViewEventSchema>,
    'location' | 'referrer' | 'title' | 'contentIdKey' | 'contentIdValue' | 'contentType'
  >
>;

/** What a view, or a measurement-protocol pageview, says about the page. */
function viewFields(p: PageFields): Partial<CanonicalEvent> {
  return {
    location: p.location,
    referrer: p.referrer,
    title: p.title,
    contentIdKey: p.contentIdKey,
    contentIdValue: p.contentIdValue,
    contentType: p.contentType,
  };
}
