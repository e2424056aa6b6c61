import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { invalid } from '../core/errors.ts';
import { compileCheck } from '../core/validation.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { RecordFilter } from '../storage/storage.ts';

const RejectionsQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    route: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    rule: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,3}|10000)$' })),
    offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
    org: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const checkQuery = compileCheck(RejectionsQuery);

type Query = { from?: string; to?: string; route?: string; rule?: string; limit?: string; offset?: string };

/** The conditions a query names, all of which a rejection must meet. */
function filterOf(query: Query, withRule: boolean): RecordFilter | undefined {
  const conditions: RecordFilter[] = [];
  if (query.from)
    conditions.push({ kind: 'compare', op: 'ge', field: 'receivedAt', value: new Date(query.from) });
  if (query.to)
    conditions.push({ kind: 'compare', op: 'lt', field: 'receivedAt', value: new Date(query.to) });
  if (query.route) conditions.push({ kind: 'compare', op: 'eq', field: 'route', value: query.route });
  if (withRule && query.rule) conditions.push({ kind: 'has', field: 'rules', value: query.rule });
  return conditions.reduce<RecordFilter | undefined>(
    (left, right) => (left ? { kind: 'and', left, right } : right),
    undefined,
  );
}

function readQuery(raw: unknown): Query {
  const violations = checkQuery(raw);
  if (violations.length > 0) throw invalid(violations);
  return raw as Query;
}

/**
 * `GET /api/v1/rejections`: what was refused, newest first, filtered by time (`from` inclusive, `to`
 * exclusive), route and rule; `GET /api/v1/rejections/counts`: how many rejections broke each rule.
 */
export function rejectionsRoutes(rejections: Rejections) {
  const read = { config: { privilege: 'analytics:read' as const } };
  return async (app: FastifyInstance) => {
    app.get('/api/v1/rejections', read, async (request) => {
      const query = readQuery(request.query);
      const page = await rejections.list(request.org, {
        where: filterOf(query, true),
        orderBy: [{ field: 'receivedAt', descending: true }],
        limit: query.limit === undefined ? 100 : Number(query.limit),
        offset: query.offset === undefined ? 0 : Number(query.offset),
        count: true,
      });
      return { count: page.count, rejections: page.rows };
    });

    app.get('/api/v1/rejections/counts', read, async (request) => {
      const query = readQuery(request.query);
      const counts = await rejections.countByRule(request.org, filterOf(query, false));
      return { counts: counts.map(({ value, count }) => ({ rule: value, count })) };
    });
  };
}
