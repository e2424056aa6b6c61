import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ErrorBodySchema } from '../core/errors.ts';
import type { Rejections } from '../ingest/rejections.ts';
import { pageOf, pagination, timeRange, timeRangeOf, whereOf } from './list-parameters.ts';

const RejectionsQuery = Type.Object(
  {
    ...timeRange,
    route: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Only this route, as registered' }),
    ),
    rule: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Only rejections that broke this rule' }),
    ),
    ...pagination(10_000),
    org: Type.Optional(
      Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
    ),
  },
  { additionalProperties: false },
);
type RejectionsQuery = Static<typeof RejectionsQuery>;

/** The parameters that narrow the list (a rejection meets all those given); the counts take all but `rule`. */
const BY_TIME_AND_ROUTE = { ...timeRangeOf('receivedAt'), route: { field: 'route', op: 'eq' } } as const;
const REJECTION_FILTERS = { ...BY_TIME_AND_ROUTE, rule: { field: 'rules', op: 'has' } } as const;

const RejectionSchema = Type.Object({
  id: Type.String(),
  org: Type.String(),
  route: Type.String({ description: 'The route as registered (`/rest/ua/v15/analytics/custom`)' }),
  item: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description: "A batch item's position in its batch; null for a single-event route",
  }),
  receivedAt: Type.String({ format: 'date-time' }),
  credentialId: Type.String({ description: 'The API key id, `master`, or `token:<user>`' }),
  payload: Type.String({ description: 'The payload as JSON text, cut to the size cap' }),
  payloadBytes: Type.Integer({ minimum: 0, description: 'How long the payload was, in bytes' }),
  violations: Type.Array(ErrorBodySchema.properties.violations.items),
  rules: Type.Array(Type.String(), { description: "The violations' rules" }),
});

/**
 * `GET /api/v1/rejections`: what was refused, newest first, filtered by time (`from` inclusive, `to`
 * exclusive), route and rule; `GET /api/v1/rejections/counts`: how many rejections broke each rule.
 */
export function rejectionsRoutes(rejections: Rejections) {
  const read = { config: { privilege: 'analytics:read' as const } };
  const tags = ['Rejections'];
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: RejectionsQuery }>(
      '/api/v1/rejections',
      {
        ...read,
        schema: {
          tags,
          summary: 'Refused events, newest first, with every violation',
          querystring: RejectionsQuery,
          response: {
            200: Type.Object({
              count: Type.Integer({ minimum: 0, description: 'Every match, whatever the page' }),
              rejections: Type.Array(RejectionSchema),
            }),
          },
        },
      },
      async (request) => {
        const page = await rejections.list(request.org, {
          where: whereOf(request.query, REJECTION_FILTERS),
          orderBy: [{ field: 'receivedAt', descending: true }],
          ...pageOf(request.query),
          count: true,
        });
        return { count: page.count, rejections: page.rows };
      },
    );

    app.get<{ Querystring: RejectionsQuery }>(
      '/api/v1/rejections/counts',
      {
        ...read,
        schema: {
          tags,
          summary: 'How many rejections broke each rule, most frequent first',
          description:
            'Takes the filters of `GET /api/v1/rejections`; `rule`, `limit` and `offset` do not apply.',
          querystring: RejectionsQuery,
          response: {
            200: Type.Object({
              counts: Type.Array(Type.Object({ rule: Type.String(), count: Type.Integer({ minimum: 1 }) })),
            }),
          },
        },
      },
      async (request) => {
        // Every rule is counted: narrowing to one would count only the rules broken alongside it.
        const counts = await rejections.countByRule(request.org, whereOf(request.query, BY_TIME_AND_ROUTE));
        return { counts: counts.map(({ value, count }) => ({ rule: value, count })) };
      },
    );
  };
}
