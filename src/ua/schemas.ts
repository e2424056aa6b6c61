import { Type } from '@sinclair/typebox';
import { addFormat, oneOf, printable } from '../core/validation.ts';
import { isLanguage } from '../model/language.ts';

/** A UA event body as received: its fields, before any is read. */
export type Payload = Record<string, unknown>;

addFormat(
  'language',
  isLanguage,
  'must be an ISO 639-1 language code, optionally followed by a region or script (en, en-US, zh-Hant)',
);

/**
 * A string of 1 to n characters: an identifier or a name, so without control characters (format
 * `printable`), unless `pattern` says more exactly what it holds.
 */
const text = (maxLength: number, extra: { pattern?: string } = {}) =>
  extra.pattern === undefined
    ? printable({ minLength: 1, maxLength })
    : Type.String({ minLength: 1, maxLength, pattern: extra.pattern });

/**
 * Fields every UA v15 event may carry, with the limits of the reference (shared/reference/coveo-ua.md §2).
 * Where the reference gives no limit (userAgent, trackingId, lastSearchQueryUid), OpenUA sets one and
 * documents it, so no field is unbounded.
 */
export const commonEventFields = {
  // The format already refuses an empty string; minLength would only repeat it.
  language: Type.String({ maxLength: 256, format: 'language' }),
  anonymous: Type.Optional(Type.Boolean()),
  lastSearchQueryUid: Type.Optional(text(128)),
  originContext: Type.Optional(text(128)),
  originLevel1: Type.Optional(text(128)),
  originLevel2: Type.Optional(text(128)),
  // The referrer URL: Coveo's limit is 1024, where the official client cuts it.
  originLevel3: Type.Optional(text(1024)),
  outcome: Type.Optional(Type.Integer({ minimum: -5, maximum: 5 })),
  splitTestRunName: Type.Optional(text(128)),
  splitTestRunVersion: Type.Optional(text(128)),
  trackingId: Type.Optional(text(128, { pattern: '^[a-z0-9_]+$' })),
  userDisplayName: Type.Optional(text(128)),
  username: Type.Optional(text(128)),
  clientId: Type.Optional(Type.String({ format: 'uuid' })),
  userAgent: Type.Optional(text(1024)),
  customData: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  // OpenUA's own, beyond v15: an idempotency key, and when the event happened by the client's clock.
  eventId: Type.Optional(text(128)),
  eventTime: Type.Optional(Type.String({ format: 'date-time' })),
};

/** The largest value an integer column holds (32-bit): larger numbers are refused rather than wrapped. */
const INT32_MAX = 2 ** 31 - 1;
const integer = (minimum: number) => Type.Integer({ minimum, maximum: INT32_MAX });

/** A URL or URI: browsers and the official client cut them at 1,024 to 2,048 characters; OpenUA allows 4,096. */
const url = () => text(4096);

/**
 * The bound on a search's query uid before it is cut to QUERY_UID_LENGTH: Coveo truncates longer ones
 * (reference §5) rather than refusing them, and so does OpenUA, but a megabyte is still refused.
 */
const QUERY_UID_INPUT = 256;

/** One facet's state at the time of a search (reference §5). */
const FacetState = Type.Object(
  {
    field: text(256),
    id: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9@\\-_]{1,60}$' })),
    value: Type.Optional(Type.String({ maxLength: 1024 })),
    valuePosition: Type.Optional(integer(0)),
    displayValue: Type.Optional(Type.String({ maxLength: 1024 })),
    facetType: Type.Optional(text(128)),
    // The reference's three states, and `idle`, which the official client's own type allows.
    state: Type.Optional(oneOf(['auto_selected', 'selected', 'excluded', 'idle'])),
    facetPosition: Type.Optional(integer(0)),
    title: Type.Optional(Type.String({ maxLength: 1024 })),
    start: Type.Optional(Type.String({ maxLength: 256 })),
    end: Type.Optional(Type.String({ maxLength: 256 })),
    endInclusive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

/** `POST /analytics/search`, and each item of `/searches` (reference §5). */
export const SearchEventSchema = Type.Object(
  {
    actionCause: text(128),
    // Empty is a search without terms, such as the one a page runs when it loads.
    queryText: Type.String({ maxLength: 8192 }),
    responseTime: integer(1),
    searchQueryUid: text(QUERY_UID_INPUT),
    advancedQuery: Type.Optional(Type.String({ maxLength: 8192 })),
    numberOfResults: Type.Optional(integer(0)),
    contextual: Type.Optional(Type.Boolean()),
    results: Type.Optional(
      Type.Array(
        Type.Object(
          { documentUri: Type.Optional(url()), documentUriHash: Type.Optional(text(256)) },
          { additionalProperties: true },
        ),
        { maxItems: 1000 },
      ),
    ),
    queryPipeline: Type.Optional(text(128)),
    userGroups: Type.Optional(Type.Array(text(256), { maxItems: 100 })),
    indexId: Type.Optional(text(128)),
    facetState: Type.Optional(Type.Array(FacetState, { maxItems: 500 })),
    ...commonEventFields,
  },
  { additionalProperties: true },
);

/** `POST /analytics/click`: a result opened or previewed (reference §5). */
export const ClickEventSchema = Type.Object(
  {
    actionCause: text(128),
    // 1-based across pages: the 3rd result of page 2, at 10 per page, is 13.
    documentPosition: integer(1),
    searchQueryUid: text(QUERY_UID_INPUT),
    sourceName: text(256),
    documentUri: Type.Optional(url()),
    documentUriHash: Type.Optional(text(256)),
    collectionName: Type.Optional(text(256)),
    documentTitle: Type.Optional(text(1024)),
    documentUrl: Type.Optional(url()),
    documentAuthor: Type.Optional(text(1024)),
    queryPipeline: Type.Optional(text(128)),
    rankingModifier: Type.Optional(text(128)),
    documentCategory: Type.Optional(text(256)),
    ...commonEventFields,
  },
  { additionalProperties: true },
);

/** `POST /analytics/view`: a page or item seen (reference §5). */
export const ViewEventSchema = Type.Object(
  {
    location: url(),
    referrer: Type.Optional(url()),
    title: Type.Optional(text(1024)),
    contentIdKey: Type.Optional(text(128)),
    contentIdValue: Type.Optional(text(1024)),
    contentType: Type.Optional(text(128)),
    ...commonEventFields,
  },
  { additionalProperties: true },
);

/** `POST /analytics/searches`: a few searches in one request. Coveo advises about 3; OpenUA takes up to 100. */
export const SEARCHES_MAX_ITEMS = 100;
export const SearchesBodySchema = Type.Array(SearchEventSchema, {
  minItems: 1,
  maxItems: SEARCHES_MAX_ITEMS,
});

/** `POST /analytics/custom`. Unknown fields are allowed (the official clients add some) and not stored. */
export const CustomEventSchema = Type.Object(
  {
    eventType: text(128),
    eventValue: text(128),
    ...commonEventFields,
  },
  { additionalProperties: true },
);

/** The v15 answer to an event: the visit it joined, and its visitor (the body's clientId, if it named one). */
export const EventAnswerSchema = Type.Object(
  {
    visitId: Type.String({ format: 'uuid' }),
    visitorId: Type.String({ format: 'uuid' }),
    clientId: Type.String({ format: 'uuid', description: 'The same as visitorId' }),
  },
  { description: 'Logged (or, for a retry, logged before): its visit and visitor' },
);

/** A search's answer also names the stored search event. */
export const SearchAnswerSchema = Type.Object(
  {
    searchEventUid: Type.String({ format: 'uuid', description: 'The id of the search event stored' }),
    ...EventAnswerSchema.properties,
  },
  { description: EventAnswerSchema.description },
);
