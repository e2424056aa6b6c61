import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { echo, invalid } from '../core/errors.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import { ingestSettings } from '../orgs/organizations.ts';
import type { Logged, UaCollector, UaRequestContext } from './collector.ts';
import { eventPayload, searchesPayload } from './event-body.ts';
import { UA_EVENT_KINDS } from './event-kinds.ts';
import { isUuid, resolveVisitor, VISITOR_COOKIE, type VisitTracker } from './visits.ts';

/** Both prefixes the official client can build (reference §5b). */
export const UA_PREFIXES = ['/rest/ua/v15/analytics', '/rest/v15/analytics'] as const;

const ONE_YEAR_SECONDS = 365 * 24 * 3600;

interface UaQuery {
  org?: string;
  visitor?: string;
  visitorId?: string;
  clientId?: string;
  prioritizeVisitorParameter?: string;
  access_token?: string;
}

function context(request: FastifyRequest): UaRequestContext {
  const query = request.query as UaQuery;
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
        app.post(`${prefix}/${kind}`, WRITE, async (request, reply) => {
          const payload = eventPayload(request.body, kind, isForm(request));
          const idempotencyKey = idempotencyHeader(request);
          const logged = await collector.log(kind, [payload], { ...context(request), idempotencyKey });
          return answer(request, reply, logged)[0];
        });
      }

      // Every search of the array is stored, or none is; the answers come in the order of the searches,
      // wrapped as Coveo wraps them.
      app.post(`${prefix}/searches`, WRITE, async (request, reply) => {
        const logged = await collector.log('search', searchesPayload(request.body), context(request), true);
        return { searchEventResponses: answer(request, reply, logged) };
      });

      // The visitor's current visit, opened now if none is: the next event within the timeout joins it.
      app.get(`${prefix}/visit`, VISIT, async (request, reply) => {
        const found = visitorOf(request);
        const id = await visits.visit(request.org, found.visitorId, new Date(), found.isNew);
        if (!found.fromClientId) keepVisitor(request, reply, found.visitorId);
        return { id, visitorId: found.visitorId, clientId: found.clientId };
      });

      // Forgets the visitor cookie and ends the visit, so the next event starts a new one.
      app.delete(`${prefix}/visit`, VISIT, async (request, reply) => {
        const found = visitorOf(request);
        reply.clearCookie(VISITOR_COOKIE, cookieOptions(request, cookieDomain));
        if (found.isNew) return { visitorId: null, endedVisitId: null };
        const ended = await visits.end(request.org, found.visitorId, new Date());
        return { visitorId: found.visitorId, endedVisitId: ended ?? null };
      });

      app.get(`${prefix}/monitoring/health`, async (_request, reply) => {
        const { queued, unloaded, logFailing, closing } = writer.stats();
        // Events are answered 503 now: a load balancer should send them elsewhere.
        if (logFailing || closing) return reply.code(503).send({ status: 'UNAVAILABLE' });
        // Past 80% of the queue the server is about to shed load: say so before it does.
        return { status: queued + unloaded > queueCapacity * 0.8 ? 'DEGRADED' : 'UP' };
      });

      app.get(`${prefix}/status`, async () => ({ status: 'online' }));
    }
  };
}

/** The visitor a visit route is about: `?clientId=`, then the same sources an event has. */
function visitorOf(request: FastifyRequest) {
  const { clientId } = request.query as UaQuery;
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
