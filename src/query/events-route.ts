import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { invalid } from '../core/errors.ts';
import { compileCheck } from '../core/validation.ts';
import type { EventReader } from '../ingest/event-reader.ts';
import type { Comparison, RecordFilter, Scalar } from '../storage/storage.ts';

const compare = (field: string, op: Comparison, value: Scalar): RecordFilter => ({
  kind: 'compare',
  op,
  field,
  value,
});

export const EVENTS_DEFAULT_LIMIT = 100;
export const EVENTS_MAX_LIMIT = 10_000;

const EventsQuery = Type.Object({
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  eventType: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
  org: Type.Optional(Type.String()),
});
const checkQuery = compileCheck(EventsQuery);

/**
 * `GET /api/v1/events`: raw read-back, newest first, filtered on the derived (skew-corrected) time.
 * The full query API is a later capability; this is for checking what was stored.
 */
export function eventsRoute(reader: EventReader) {
  return async (app: FastifyInstance) => {
    app.get('/api/v1/events', { config: { privilege: 'analytics:read' } }, async (request) => {
      const query = request.query as Record<string, string | undefined>;
      const violations = checkQuery(query);
      const limit = query.limit === undefined ? EVENTS_DEFAULT_LIMIT : Number(query.limit);
      if (Number.isInteger(limit) && (limit < 1 || limit > EVENTS_MAX_LIMIT)) {
        violations.push({
          field: 'limit',
          rule: 'range',
          limit: `1..${EVENTS_MAX_LIMIT}`,
          message: `must be from 1 to ${EVENTS_MAX_LIMIT}`,
          received: query.limit,
        });
      }
      if (violations.length > 0) throw invalid(violations);
      const conditions: RecordFilter[] = [];
      if (query.from) conditions.push(compare('derivedTime', 'ge', new Date(query.from)));
      if (query.to) conditions.push(compare('derivedTime', 'lt', new Date(query.to)));
      if (query.eventType !== undefined) conditions.push(compare('eventType', 'eq', query.eventType));
      const where = conditions.reduce<RecordFilter | undefined>(
        (left, right) => (left ? { kind: 'and', left, right } : right),
        undefined,
      );
      const { rows } = await reader.queryEvents(request.org, { where, limit });
      // Every stored field, dates as ISO strings, customData already normalised; newest first.
      return { events: rows };
    });
  };
}
