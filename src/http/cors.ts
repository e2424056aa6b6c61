import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

const ALLOW_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOW_HEADERS = ALLOWED_HEADERS.join(', ');
const EXPOSE_HEADERS = EXPOSED_HEADERS.join(', ');
const MAX_AGE_SECONDS = '86400';

/**
 * Who may read a request's answer: no CORS at all (false), the origin named (with credentials on the event
 * routes), or no origin (a refused preflight, still answered).
 */
type Decision = false | { origin: string | undefined; credentials: boolean };

const REFUSED = { origin: undefined, credentials: false };

/** Every answer varies by Origin: added to whatever Vary the answer already has. */
function addVaryOrigin(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined) reply.header('vary', 'Origin');
  else if (
    !String(vary)
      .split(',')
      .some((part) => ['origin', '*'].includes(part.trim().toLowerCase()))
  )
    reply.header('vary', `${vary}, Origin`);
}

/**
 * Applies a decision: the CORS headers, and a preflight's answer (204, or 400 when it lacks Origin or
 * Access-Control-Request-Method). Returns whether it answered, so the request goes no further.
 */
function apply(request: FastifyRequest, reply: FastifyReply, decision: Decision): boolean {
  if (decision === false) return false;
  if (decision.origin !== undefined) reply.header('access-control-allow-origin', decision.origin);
  if (decision.credentials) reply.header('access-control-allow-credentials', 'true');
  reply.header('access-control-expose-headers', EXPOSE_HEADERS);
  if (request.method !== 'OPTIONS') return false;
  if (!request.headers.origin || !request.headers['access-control-request-method']) {
    reply.status(400).type('text/plain').send('Invalid Preflight Request');
    return true;
  }
  reply.header('access-control-allow-methods', ALLOW_METHODS);
  reply.header('access-control-allow-headers', ALLOW_HEADERS);
  reply.header('access-control-max-age', MAX_AGE_SECONDS);
  reply.code(204).header('content-length', '0').send();
  return true;
}

export async function installCors(app: FastifyInstance, organizations: Organizations): Promise<void> {
  /** The origins an organization allows; with none known, those any organization allows. */
  const allowedFor = async (org: string | undefined): Promise<ReadonlySet<string> | readonly string[]> => {
    if (org === undefined) return organizations.allowedOriginsAnywhere();
    return (await organizations.get(org))?.allowedOrigins ?? [];
  };

  // Written here rather than with @fastify/cors, whose per-request options (a delegator's answer merged into its
  // defaults, twice, behind a promise) cost more than the decision itself on single events; the answers are the
  // ones it gave, header for header. Callback-style, and synchronous but for another route's preflight.
  app.addHook('onRequest', (request, reply, done) => {
    addVaryOrigin(reply);
    const origin = originOf(request);
    let decision: Decision;
    // Refused (no Origin, or null), a preflight is still answered (204), without Access-Control-Allow-Origin.
    if (origin === undefined) decision = isPreflight(request) ? REFUSED : false;
    else if (isEventPath(request.url)) decision = { origin, credentials: true };
    // Other routes: preflights here; other requests once their organization is known (below).
    else if (!isPreflight(request)) decision = false;
    else {
      const named = (request.query as { org?: unknown } | undefined)?.org;
      allowedFor(typeof named === 'string' ? named : undefined).then((allowed) => {
        const readable = [...allowed].includes(origin) ? origin : undefined;
        if (!apply(request, reply, { origin: readable, credentials: false })) done();
      }, done);
      return;
    }
    if (!apply(request, reply, decision)) done();
  });

  // Preflights are answered by the hook above; an OPTIONS request that is not one matches no route.
  app.options('*', { schema: { hide: true } }, (_request, reply) => reply.callNotFound());

  app.addHook('onSend', (request, reply, payload, done) => {
    const origin = originOf(request);
    if (origin === undefined || isPreflight(request) || isEventPath(request.url) || isSdkPath(request.url)) {
      done(null, payload);
      return;
    }
    allowedFor(request.org || undefined).then(
      (allowed) => {
        if ([...allowed].includes(origin)) {
          reply.header('Access-Control-Allow-Origin', origin);
          reply.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
        }
        done(null, payload);
      },
      // The organizations could not be read: the answer goes without CORS headers (a page cannot read it).
      () => done(null, payload),
    );
  });
}
