import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BATCH_ROUTE } from '../batch/event-batch.ts';
import type { Organizations } from '../orgs/organizations.ts';
import { UA_PREFIXES } from '../ua/routes.ts';
import { SDK_PREFIX } from './sdk.ts';

/**
 * Which pages may read OpenUA's answers (CORS).
 *
 * - **The event routes** (the UA Write API, `/rest/ua/v15/analytics/…` and `/rest/v15/analytics/…`, the
 *   Channel JS API, `/api/v1/channel/…`, and the batch route the SDK posts to, `/api/v1/events/batch`) answer a
 *   page on any origin, with credentials: search pages and agent desktops on any site post there (the official
 *   client with `credentials: 'include'`, for the visitor cookie). That gives a page nothing it has not
 *   already: OpenUA reads no credential from cookies, so a page needs the key or token in hand, and with it
 *   could post from anywhere; and these answers hold only the ids of what was just written.
 * - **The SDK's bundles** (`/sdk/…`) answer `Access-Control-Allow-Origin: *` themselves (http/sdk.ts): the same
 *   public script for every site, cached by browsers and proxies alike, so never an answer naming one origin.
 * - **Every other route** (admin, query, events, OData, dimensions, alerts…) answers only the origins its
 *   organization lists in `allowedOrigins`, without `Access-Control-Allow-Credentials` (OpenUA's credential is
 *   the Authorization header, which CORS allows without it). The organization is the credential's, known once
 *   the request is authenticated. A preflight carries no credential, so it is decided by the origin alone: one
 *   that some organization allows (or, with `?org=`, that organization) may send the request, whose answer is
 *   then readable only if the credential's organization allows the origin. An answer with no organization (a
 *   credential refused, a route that does not exist) follows the preflight's rule, so an allowed page can read
 *   why it was refused.
 * - `Origin: null` (sandboxed frames, `file:` pages, some redirects) is shared by unrelated documents and is
 *   never allowed. A beacon from one is still taken: it does not read the answer.
 */

const EVENT_PREFIXES = [...UA_PREFIXES.map((prefix) => `${prefix}/`), '/api/v1/channel/'];

const pathOf = (url: string) => url.split('?', 1)[0] as string;

const isEventPath = (url: string) =>
  EVENT_PREFIXES.some((prefix) => url.startsWith(prefix)) || pathOf(url) === BATCH_ROUTE;

const isSdkPath = (url: string) => url.startsWith(`${SDK_PREFIX}/`);

const isPreflight = (request: FastifyRequest) =>
  request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;

/** The Origin header when there is one a page could be allowed to read with. */
function originOf(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  return origin && origin !== 'null' ? origin : undefined;
}

const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'Prefer',
  'OData-Version',
  'OData-MaxVersion',
];

/** The answer headers a page may read. */
export const EXPOSED_HEADERS = [
  'OData-EntityId',
  'OData-Version',
  'Preference-Applied',
  'Retry-After',
  'Idempotent-Replayed',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
];

const COMMON: FastifyCorsOptions = {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  allowedHeaders: ALLOWED_HEADERS,
  exposedHeaders: EXPOSED_HEADERS,
  maxAge: 86_400,
};

export async function installCors(app: FastifyInstance, organizations: Organizations): Promise<void> {
  /** The origins an organization allows; with none known, those any organization allows. */
  const allowedFor = async (org: string | undefined): Promise<ReadonlySet<string> | readonly string[]> => {
    if (org === undefined) return organizations.allowedOriginsAnywhere();
    return (await organizations.get(org))?.allowedOrigins ?? [];
  };

  await app.register(cors, {
    hook: 'onRequest',
    // Decided per request: every answer varies by Origin.
    delegator: async (request: FastifyRequest): Promise<FastifyCorsOptions> => {
      const origin = originOf(request);
      // Refused (no Origin, or null), a preflight is still answered (204), without Access-Control-Allow-Origin.
      if (origin === undefined) return isPreflight(request) ? { ...COMMON, origin: [] } : { origin: false };
      if (isEventPath(request.url)) return { ...COMMON, origin, credentials: true };
      // Other routes: preflights here; other requests once their organization is known (below).
      if (!isPreflight(request)) return { origin: false };
      const named = (request.query as { org?: unknown } | undefined)?.org;
      const allowed = await allowedFor(typeof named === 'string' ? named : undefined);
      return { ...COMMON, origin: [...allowed].includes(origin) ? origin : [] };
    },
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const origin = originOf(request);
    if (origin === undefined || isPreflight(request) || isEventPath(request.url) || isSdkPath(request.url))
      return payload;
    try {
      const allowed = await allowedFor(request.org || undefined);
      if ([...allowed].includes(origin)) {
        reply.header('Access-Control-Allow-Origin', origin);
        reply.header('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
      }
    } catch {
      // The organizations could not be read: the answer goes without CORS headers (a page cannot read it).
    }
    return payload;
  });
}
