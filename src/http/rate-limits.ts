import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { rateLimited } from '../core/errors.ts';
import { rateLimitSettings } from '../orgs/organizations.ts';
import type { Metrics } from './metrics.ts';

/** Which allowance a request spends: the event routes write; the query, events and OData reads read. */
export type LimitKind = 'write' | 'read';

/** Credentials counted at once per server before the least recently seen are forgotten. */
const TRACKED_CREDENTIALS = 100_000;

const kinds = new WeakMap<FastifyRequest, LimitKind | null>();

/**
 * The allowance a request spends, or null when it is not limited: a route without a privilege (health,
 * readiness, CORS preflights), `/metrics`, and administration (`admin`): lowering a limit or revoking the key
 * that abuses it must work precisely while a credential is over its limit, and admin calls are few and need the
 * `admin` privilege already. Only authenticated requests get here (the limiter runs after the auth hook), so
 * the credential and organization are known.
 */
function kindOf(request: FastifyRequest): LimitKind | null {
  let kind = kinds.get(request);
  if (kind !== undefined) return kind;
  const needed = request.routeOptions.config.privilege;
  const privilege =
    !needed || !request.credential ? undefined : typeof needed === 'function' ? needed(request) : needed;
  kind = privilege === 'analytics:write' ? 'write' : privilege === 'analytics:read' ? 'read' : null;
  kinds.set(request, kind);
  return kind;
}

function allowance(request: FastifyRequest, kind: LimitKind) {
  const limits = rateLimitSettings(request.organization);
  const perSecond = kind === 'write' ? limits.writePerSecond : limits.readPerSecond;
  return { perSecond, burst: limits.burst, max: perSecond * limits.burst, windowMs: limits.burst * 1000 };
}

/**
 * Rate limits per credential within its organization (@fastify/rate-limit, counted in this process's memory):
 * each credential spends, in fixed windows of the organization's `burst` seconds, at most `writePerSecond ×
 * burst` requests on the event routes and `readPerSecond × burst` on the read routes; administration is not
 * limited (see kindOf). Over it: 429 RATE_LIMITED with
 * `Retry-After` and `RateLimit-Limit`/`-Remaining`/`-Reset`, which every limited answer carries.
 *
 * The limiter is a route-level preValidation hook, so it runs after the auth hook (it needs the credential) and
 * before the route's schema and its handler: an accepted event is never held by it, and a refused one costs no
 * parsing beyond the body's.
 * Register it before the routes: it hooks every route declared after it.
 */
export async function installRateLimits(app: FastifyInstance, metrics: Metrics): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preValidation',
    enableDraftSpec: true,
    cache: TRACKED_CREDENTIALS,
    keyGenerator: (request) => {
      const kind = kindOf(request);
      // One count per credential and allowance, within the organization it acts on (the master key acts on many).
      return kind ? `${request.org}\n${request.credential.id}\n${kind}` : '';
    },
    allowList: (request) => kindOf(request) === null,
    max: (request) => allowance(request, kindOf(request) ?? 'read').max,
    timeWindow: (request) => allowance(request, kindOf(request) ?? 'read').windowMs,
    onExceeded: (request) => metrics.rateLimit(kindOf(request) ?? 'read'),
    errorResponseBuilder: (request, context) => {
      const kind = kindOf(request) ?? 'read';
      const { perSecond, burst } = allowance(request, kind);
      const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000));
      const what = kind === 'write' ? 'event' : 'read';
      return rateLimited(
        `Too many ${what} requests from this credential: organization ${JSON.stringify(request.org)} allows each ` +
          `credential ${context.max} per ${burst} s on this server (rateLimits: ${kind}PerSecond ${perSecond} × ` +
          `burst ${burst}). Retry after ${retryAfter} s.`,
        retryAfter,
      );
    },
  });
}
