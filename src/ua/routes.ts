import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { echo, invalid } from '../core/errors.ts';
import { checkedByHandler, oneOf } from '../core/validation.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import { ingestSettings } from '../orgs/organizations.ts';
import type { Logged, UaCollector, UaRequestContext } from './collector.ts';
import { beaconFormSchema, eventPayload, searchesPayload } from './event-body.ts';
import { UA_EVENT_KINDS, UA_EVENT_MODELS, type UaEventKind } from './event-kinds.ts';
import { EventAnswerSchema, SearchAnswerSchema, SearchesBodySchema } from './schemas.ts';
import { isUuid, resolveVisitor, VISITOR_COOKIE, type VisitTracker } from './visits.ts';

/** Both prefixes the official client can build (reference §5b). */
export const UA_PREFIXES = ['/rest/ua/v15/analytics', '/rest/v15/analytics'] as const;

const ONE_YEAR_SECONDS = 365 * 24 * 3600;

/**
 * The query string of every UA route. Nothing in it is refused: a visitor that is not a UUID is ignored, and
 * an unknown parameter passes (the official client adds its own).
 */
const uaQueryFields = {
  org: Type.Optional(
    Type.String({
      description: "The organization: the credential's own, by default (the master key's: `default`)",
    }),
  ),
  visitor: Type.Optional(
    Type.String({
      description: 'The visitor (a UUID; anything else is ignored), after clientId and the visitor cookie',
    }),
  ),
  visitorId: Type.Optional(Type.String({ description: '`visitor`, as beacons name it' })),
  prioritizeVisitorParameter: Type.Optional(
    Type.String({ description: '`true`: `visitor` wins over the visitor cookie' }),
  ),
  access_token: Type.Optional(
    Type.String({ description: 'The credential, for beacons, which cannot send an Authorization header' }),
  ),
};
const UaQuerySchema = Type.Object(uaQueryFields, { additionalProperties: true });
type UaQuery = Static<typeof UaQuerySchema>;

/** The visit routes also take the visitor as the events' bodies name it. */
const VisitQuerySchema = Type.Object(
  {
    ...uaQueryFields,
    clientId: Type.Optional(
      Type.String({ format: 'uuid', description: 'The visitor, as an event body names it: it wins' }),
    ),
  },
  { additionalProperties: true },
);
type VisitQuery = Static<typeof VisitQuerySchema>;

function context(request: FastifyRequest<{ Querystring: UaQuery }>): UaRequestContext {
  const { query } = request;
  return {
    credential: request.credential,
    org: request.org,
    settings: ingestSettings(request.organization),
    visitorParam: query.visitor ?? query.visitorId,
    cookie: request.cookies[VISITOR_COOKIE],
    prioritizeVisitorParameter: query.prioritizeVisitorParameter === 'true',
    receivedAt: new Date(),
  };
}

/**
 * Cross-site pages need SameSite=None, which browsers accept only on Secure cookies.
 *
 * Not HttpOnly, on purpose: the official browser client keeps its visitor in a cookie of this very name (and in
 * localStorage), and cookies ignore ports. On a page of this host, the client then reads the visitor the server
 * chose, so one visit goes on; on a host without a dot, where the client's cookie and this one are the same
 * cookie, its `clear()` erases this one too. An HttpOnly cookie is hidden from the client, and the browser
 * refuses the client's writes over it: page and server would keep two visitors. The visitor id is no secret to
 * keep from scripts: the client sends it with every event (`clientId`, `?visitor=`) and every answer holds it.
 */
function cookieOptions(request: FastifyRequest, domain: string | undefined) {
  const secure = request.protocol === 'https';
  return {
    path: '/',
    httpOnly: false,
    secure,
    sameSite: secure ? ('none' as const) : ('lax' as const),
    // The official client writes its cookie for the site's last two labels; set to the same domain, the two
    // are one cookie on every host of the site.
    ...(domain !== undefined && { domain }),
  };
}

const isForm = (request: FastifyRequest) =>
  (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');

// Beacons (navigator.sendBeacon, the official client's unload path) cannot set a header: their credential comes as
// `access_token`, which these routes alone accept.
const WRITE = {
  config: {
    privilege: 'analytics:write' as const,
    keepsRejections: true,
    coveoInvalidToken: true,
    acceptsAccessToken: true,
  },
};
const VISIT = {
  config: { privilege: 'analytics:write' as const, coveoInvalidToken: true, acceptsAccessToken: true },
};

const TAGS = ['UA Write API'];

const EVENT_SUMMARIES: Readonly<Record<UaEventKind, string>> = {
  custom: 'Log a custom event',
  search: 'Log a search',
  click: 'Log a click on a search result',
  view: 'Log a page or item view',
  collect: 'Log a measurement-protocol hit (pageview, event, …)',
};

const EVENT_DESCRIPTION =
  "Coveo's Usage Analytics Write API v15. The body is JSON (`application/json`, or `text/plain` holding JSON, " +
  "which browsers send without a CORS preflight), or a beacon's form. A refused event is kept with its " +
  'violations (`GET /api/v1/rejections`). An `Idempotency-Key` header (1 to 128 characters), or the ' +
  "body's `eventId`, names the event: a retry is answered as the first request was, with " +
  '`Idempotent-Replayed: true`, and stores nothing.';

/**
 * An event route's body, in each media type it arrives in. The collector checks it (after a beacon's form is
 * unwrapped), so that a refusal lists the schema's and the kind's own violations together, and is kept.
 */
const eventBody = (kind: UaEventKind) => ({
  content: {
    'application/json': { schema: checkedByHandler(UA_EVENT_MODELS[kind].schema) },
    'text/plain': { schema: checkedByHandler(UA_EVENT_MODELS[kind].schema) },
    'application/x-www-form-urlencoded': { schema: checkedByHandler(beaconFormSchema(kind)) },
  },
});

const VisitAnswerSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'The visit' }),
    visitorId: Type.String({ format: 'uuid' }),
    clientId: Type.String({ format: 'uuid', description: 'The same as visitorId' }),
  },
  { description: 'The visit, which the next event of the visitor joins' },
);

const EndedVisitAnswerSchema = Type.Object(
  {
    visitorId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
      description: 'null when the request named no visitor',
    }),
    endedVisitId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
      description: 'null when the visitor had no open visit',
    }),
  },
  { description: 'The visit ended, and the visitor cookie cleared' },
);

const statusAnswer = (statuses: string[]) =>
  Type.Object({ status: oneOf(statuses) }, { description: statuses.join(' or ') });

export function uaRoutes(
  collector: UaCollector,
  visits: VisitTracker,
  writer: GroupCommit,
  { queueCapacity, cookieDomain }: { queueCapacity: number; cookieDomain: string | undefined },
) {
  /** A client that names itself with clientId keeps its own identity; the cookie is for those that do not. */
  const keepVisitor = (request: FastifyRequest, reply: FastifyReply, visitorId: string | undefined) => {
    if (visitorId === undefined || request.cookies[VISITOR_COOKIE] === visitorId) return;
    reply.setCookie(VISITOR_COOKIE, visitorId, {
      ...cookieOptions(request, cookieDomain),
      maxAge: ONE_YEAR_SECONDS,
    });
  };
  const answer = (request: FastifyRequest, reply: FastifyReply, logged: Logged) => {
    keepVisitor(request, reply, logged.cookieVisitor);
    // As Stripe and the IETF draft do: the answer is the first request's, and says so.
    if (logged.replayed) reply.header('Idempotent-Replayed', 'true');
    return logged.answers;
  };

  return async (app: FastifyInstance) => {
    for (const prefix of UA_PREFIXES) {
      for (const kind of UA_EVENT_KINDS) {
        const schema = {
          tags: TAGS,
          summary: EVENT_SUMMARIES[kind],
          description: EVENT_DESCRIPTION,
          querystring: checkedByHandler(UaQuerySchema),
          body: eventBody(kind),
          response: { 200: kind === 'search' ? SearchAnswerSchema : EventAnswerSchema },
        };
        app.post<{ Querystring: UaQuery }>(
          `${prefix}/${kind}`,
          { ...WRITE, schema },
          async (request, reply) => {
            const payload = eventPayload(request.body, kind, isForm(request));
            const idempotencyKey = idempotencyHeader(request);
            const logged = await collector.log(kind, [payload], { ...context(request), idempotencyKey });
            return answer(request, reply, logged)[0];
          },
        );
      }

      // Every search of the array is stored, or none is; the answers come in the order of the searches,
      // wrapped as Coveo wraps them.
      const searches = {
        tags: TAGS,
        summary: 'Log several searches at once',
        description:
          'All the searches are stored, or none is (a refusal names each violation by its search: `[2].queryText`).',
        querystring: checkedByHandler(UaQuerySchema),
        body: checkedByHandler(SearchesBodySchema),
        response: {
          200: Type.Object({
            searchEventResponses: Type.Array(SearchAnswerSchema, {
              description: 'In the order of the searches',
            }),
          }),
        },
      };
      app.post<{ Querystring: UaQuery }>(
        `${prefix}/searches`,
        { ...WRITE, schema: searches },
        async (request, reply) => {
          const logged = await collector.log('search', searchesPayload(request.body), context(request), true);
          return { searchEventResponses: answer(request, reply, logged) };
        },
      );

      const visit = (summary: string, answerSchema: TSchema) => ({
        ...VISIT,
        schema: {
          tags: TAGS,
          summary,
          // The handler refuses a clientId that is not a UUID; the rest is never refused.
          querystring: checkedByHandler(VisitQuerySchema),
          response: { 200: answerSchema },
        },
      });

      // The visitor's current visit, opened now if none is: the next event within the timeout joins it.
      app.get<{ Querystring: VisitQuery }>(
        `${prefix}/visit`,
        visit("The visitor's current visit, opened now if none is", VisitAnswerSchema),
        async (request, reply) => {
          const found = visitorOf(request);
          const id = await visits.visit(request.org, found.visitorId, new Date(), found.isNew);
          if (!found.fromClientId) keepVisitor(request, reply, found.visitorId);
          return { id, visitorId: found.visitorId, clientId: found.clientId };
        },
      );

      // Forgets the visitor cookie and ends the visit, so the next event starts a new one.
      app.delete<{ Querystring: VisitQuery }>(
        `${prefix}/visit`,
        visit('End the visit and forget the visitor cookie', EndedVisitAnswerSchema),
        async (request, reply) => {
          const found = visitorOf(request);
          reply.clearCookie(VISITOR_COOKIE, cookieOptions(request, cookieDomain));
          if (found.isNew) return { visitorId: null, endedVisitId: null };
          const ended = await visits.end(request.org, found.visitorId, new Date());
          return { visitorId: found.visitorId, endedVisitId: ended ?? null };
        },
      );

      const health = {
        tags: TAGS,
        summary: 'Whether events are taken now',
        description:
          'For a load balancer: `DEGRADED` past 80% of the ingest queue; 503 while the ingest log fails or the server stops.',
        response: { 200: statusAnswer(['UP', 'DEGRADED']), 503: statusAnswer(['UNAVAILABLE']) },
      };
      app.get(`${prefix}/monitoring/health`, { schema: health }, async (_request, reply) => {
        const { queued, unloaded, logFailing, closing } = writer.stats();
        // Events are answered 503 now: a load balancer should send them elsewhere.
        if (logFailing || closing) return reply.code(503).send({ status: 'UNAVAILABLE' });
        // Past 80% of the queue the server is about to shed load: say so before it does.
        return { status: queued + unloaded > queueCapacity * 0.8 ? 'DEGRADED' : 'UP' };
      });

      const status = {
        tags: TAGS,
        summary: 'Whether the server is up',
        response: { 200: statusAnswer(['online']) },
      };
      app.get(`${prefix}/status`, { schema: status }, async () => ({ status: 'online' }));
    }
  };
}

/** The visitor a visit route is about: `?clientId=`, then the same sources an event has. */
function visitorOf(request: FastifyRequest<{ Querystring: VisitQuery }>) {
  const { clientId } = request.query;
  if (clientId !== undefined && !isUuid(clientId)) {
    throw invalid([
      {
        field: 'clientId',
        rule: 'format',
        limit: 'uuid',
        message: 'must be a UUID',
        received: echo(clientId),
      },
    ]);
  }
  const { visitorParam, cookie, prioritizeVisitorParameter } = context(request);
  const visitor = resolveVisitor({ clientId, visitorParam, cookie, prioritizeVisitorParameter });
  return { ...visitor, fromClientId: clientId !== undefined };
}

/** The `Idempotency-Key` header, when given: 1 to 128 characters. */
function idempotencyHeader(request: FastifyRequest): string | undefined {
  const value = request.headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw invalid([
      {
        field: 'Idempotency-Key',
        rule: 'maxLength',
        limit: 128,
        message: 'the Idempotency-Key header must hold 1 to 128 characters',
        received: echo(value),
      },
    ]);
  }
  return value;
}
