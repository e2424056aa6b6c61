import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GroupCommit } from '../ingest/group-commit.ts';
import type { UaCollector, UaRequestContext } from './collector.ts';
import { eventPayload } from './event-body.ts';
import { VISITOR_COOKIE } from './visits.ts';

/** Both prefixes the official client can build (reference §5b). */
export const UA_PREFIXES = ['/rest/ua/v15/analytics', '/rest/v15/analytics'] as const;

const ONE_YEAR_SECONDS = 365 * 24 * 3600;

interface UaQuery {
  org?: string;
  visitor?: string;
  visitorId?: string;
  prioritizeVisitorParameter?: string;
  access_token?: string;
}

function context(request: FastifyRequest): UaRequestContext {
  const query = request.query as UaQuery;
  return {
    credential: request.credential,
    org: request.org,
    visitorParam: query.visitor ?? query.visitorId,
    cookie: request.cookies[VISITOR_COOKIE],
    prioritizeVisitorParameter: query.prioritizeVisitorParameter === 'true',
    receivedAt: new Date(),
  };
}

function setVisitorCookie(request: FastifyRequest, reply: FastifyReply, visitorId: string): void {
  if (request.cookies[VISITOR_COOKIE] === visitorId) return;
  // Cross-site pages need SameSite=None, which browsers accept only on Secure cookies.
  const secure = request.protocol === 'https';
  reply.setCookie(VISITOR_COOKIE, visitorId, {
    path: '/',
    maxAge: ONE_YEAR_SECONDS,
    httpOnly: true,
    secure,
    sameSite: secure ? 'none' : 'lax',
  });
}

const isForm = (request: FastifyRequest) =>
  (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');

export function uaRoutes(collector: UaCollector, writer: GroupCommit, queueCapacity: number) {
  return async (app: FastifyInstance) => {
    for (const prefix of UA_PREFIXES) {
      app.post(`${prefix}/custom`, { config: { privilege: 'analytics:write' } }, async (request, reply) => {
        const payload = eventPayload(request.body, 'custom', isForm(request));
        const answer = await collector.custom(payload, context(request));
        // A client that names itself with clientId keeps its own identity; the cookie is for those that do not.
        if (payload.clientId === undefined) setVisitorCookie(request, reply, answer.visitorId);
        return answer;
      });

      app.get(`${prefix}/monitoring/health`, async () => {
        const { queued, unloaded } = writer.stats();
        // Past 80% of the queue the server is about to shed load: say so before it does.
        return { status: queued + unloaded > queueCapacity * 0.8 ? 'DEGRADED' : 'UP' };
      });

      app.get(`${prefix}/status`, async () => ({ status: 'online' }));
    }
  };
}
