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
  check: Check;
  /** The payload in v15 field names, for the shared path (identity, visitor, common fields, customData). */
  toV15?: (payload: Payload) => Payload;
  /** How the body spells a v15 field, when it differs (for errors found after `toV15`). */
  wireName?: (field: string) => string;
  /** The kind's own fields, from a payload that passed `check` (after `toV15`). */
  fields: (payload: Payload, credential: Credential) => Partial<CanonicalEvent> & { eventType: string };
}

// A kind's optional fields stay undefined when absent, rather than null: the store reads both as null,
// and an absent key costs nothing in the ingest log's JSON line.
const string = (payload: Payload, field: string) => payload[field] as string | undefined;
const number = (payload: Payload, field: string) => payload[field] as number | undefined;
const list = (payload: Payload, field: string) => payload[field] as object[] | undefined;

/** The body's groups, then the search token's: a search token adds its userGroups (reference §4). */
function userGroups(payload: Payload, credential: Credential): string[] | undefined {
  const fromToken = credential.kind === 'searchToken' ? credential.identity.userGroups : [];
  const groups = [...new Set([...((payload.userGroups as string[] | undefined) ?? []), ...fromToken])];
  return groups.length > 0 ? groups : undefined;
}

export const UA_EVENT_MODELS: Readonly<Record<UaEventKind, UaEventModel>> = {
  custom: {
    category: 'custom',
    check: compileCheck(CustomEventSchema),
    fields: (p) => ({ eventType: p.eventType as string, eventValue: p.eventValue as string }),
  },
  search: {
    category: 'search',
    check: compileCheck(SearchEventSchema),
    fields: (p, credential) => ({
      eventType: 'search',
      eventValue: p.actionCause as string,
      searchQueryUid: queryUid(p.searchQueryUid),
      actionCause: p.actionCause as string,
      queryText: p.queryText as string,
      advancedQuery: string(p, 'advancedQuery'),
      numberOfResults: number(p, 'numberOfResults'),
      responseTime: p.responseTime as number,
      contextual: p.contextual as boolean | undefined,
      queryPipeline: string(p, 'queryPipeline'),
      indexId: string(p, 'indexId'),
      userGroups: userGroups(p, credential),
      facetState: list(p, 'facetState'),
      results: list(p, 'results'),
    }),
  },
  click: {
    category: 'click',
    check: compileCheck(ClickEventSchema),
    fields: (p) => ({
      eventType: 'click',
      eventValue: p.actionCause as string,
      searchQueryUid: queryUid(p.searchQueryUid),
      actionCause: p.actionCause as string,
      documentPosition: p.documentPosition as number,
      sourceName: p.sourceName as string,
      documentUri: string(p, 'documentUri'),
      documentUriHash: string(p, 'documentUriHash'),
      collectionName: string(p, 'collectionName'),
      documentTitle: string(p, 'documentTitle'),
      documentUrl: string(p, 'documentUrl'),
      documentAuthor: string(p, 'documentAuthor'),
      queryPipeline: string(p, 'queryPipeline'),
      rankingModifier: string(p, 'rankingModifier'),
      documentCategory: string(p, 'documentCategory'),
    }),
  },
  view: {
    category: 'view',
    check: compileCheck(ViewEventSchema),
    fields: (p) => ({
      eventType: 'view',
      eventValue: string(p, 'contentType'),
      ...viewFields(p),
    }),
  },
  collect: {
    category: 'collect',
    check: compileCheck(CollectEventSchema),
    toV15: fromMeasurementProtocol,
    wireName,
    fields: (p) => ({ ...collectFields(p), ...viewFields(p) }),
  },
};

/** What a view, or a measurement-protocol pageview, says about the page. */
function viewFields(p: Payload): Partial<CanonicalEvent> {
  return {
    location: string(p, 'location'),
    referrer: string(p, 'referrer'),
    title: string(p, 'title'),
    contentIdKey: string(p, 'contentIdKey'),
    contentIdValue: string(p, 'contentIdValue'),
    contentType: string(p, 'contentType'),
  };
}
