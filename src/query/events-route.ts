import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { EventReader } from '../ingest/event-reader.ts';
import { EVENT_FIELDS } from '../storage/event-fields.ts';
import type { ColumnType } from '../storage/storage.ts';
import { pageOf, pagination, timeRange, timeRangeOf, whereOf } from './list-parameters.ts';

const EVENTS_MAX_LIMIT = 10_000;

const EventsQuery = Type.Object({
  ...timeRange,
  eventType: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'Only this event type' }),
  ),
  // No offset: the read-back checks what was stored; reading everything is the query API's work.
  limit: pagination(EVENTS_MAX_LIMIT).limit,
  org: Type.Optional(
    Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
  ),
});
type EventsQuery = Static<typeof EventsQuery>;

/** Times are the derived (skew-corrected) time. */
const EVENT_FILTERS = {
  ...timeRangeOf('derivedTime'),
  eventType: { field: 'eventType', op: 'eq' },
} as const;

const COLUMN_SCHEMAS: Readonly<Record<ColumnType, () => TSchema>> = {
  text: () => Type.String(),
  integer: () => Type.Integer(),
  boolean: () => Type.Boolean(),
  timestamp: () => Type.String({ format: 'date-time' }),
  'text[]': () => Type.Array(Type.String()),
  json: () => Type.Unknown(),
};

/** A stored event as the read-back answers it: every stored field, and the normalised customData. */
const StoredEventSchema = Type.Object({
  ...Object.fromEntries(
    [...EVENT_FIELDS.values()].map(({ field, type, nullable }) => {
      const schema = COLUMN_SCHEMAS[type]();
      return [field, nullable ? Type.Union([schema, Type.Null()]) : schema];
    }),
  ),
  customData: Type.Record(Type.String(), Type.String(), {
    description: 'Keys lower-case `[a-z0-9_]`, values text',
  }),
});

/**
 * `GET /api/v1/events`: raw read-back, newest first, filtered on the derived (skew-corrected) time.
 * The full query API is a later capability; this is for checking what was stored.
 */
export function eventsRoute(reader: EventReader) {
  const schema = {
    tags: ['Events'],
    summary: 'Read back stored events, newest first',
    description:
      'Every stored field of each event, times as ISO 8601 text, customData normalised. `from` and `to` are ' +
      'on the derived (skew-corrected) time. For aggregations, use `POST /api/v1/query`.',
    querystring: EventsQuery,
    response: { 200: Type.Object({ events: Type.Array(StoredEventSchema) }) },
  };
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: EventsQuery }>(
      '/api/v1/events',
      { config: { privilege: 'analytics:read' }, schema },
      async (request) => {
        const { limit } = pageOf(request.query);
        const where = whereOf(request.query, EVENT_FILTERS);
        const { rows } = await reader.queryEvents(request.org, { where, limit });
        return { events: rows };
      },
    );
  };
}
