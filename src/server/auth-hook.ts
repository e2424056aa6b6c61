import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Authenticator, type Credential, requirePrivilege, resolveOrg } from '../auth/credential.ts';
import type { Organization, Organizations } from '../auth/organizations.ts';
import type { Privilege } from '../auth/privileges.ts';
import { OpenUAError, unauthenticated } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The privilege the route needs, or how to tell it from the request (one route serving several entity
     * sets). Routes without one are public (health, CORS preflights).
     */
    privilege?: Privilege | ((request: FastifyRequest) => Privilege);
    /** Where the route names its organization: `?org=` (default) or the `:org` path parameter. */
    orgFrom?: 'query' | 'params';
    /**
     * Answer an untrusted search token as Coveo's Write API does, 400 with `type: "InvalidToken"`, which its
     * clients tell apart from a missing credential. Every other route answers 401, as for any bad credential.
     */
    coveoInvalidToken?: boolean;
  }
  interface FastifyRequest {
    credential: Credential;
    /** The organization the request acts on, decided by the credential. */
    org: string;
    /** That organization's record (its settings), read by the auth hook. */
    organization: Organization;
  }
}

/** The token from `Authorization: Bearer`, or from `access_token` (query or form body) for beacons. */
function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return match ? (match[1] as string).trim() : header.trim();
  }
  const fromQuery = (request.query as Record<string, unknown> | undefined)?.access_token;
  if (typeof fromQuery === 'string') return fromQuery;
  const body = request.body as Record<string, unknown> | undefined;
  const fromBody = body && typeof body === 'object' ? body.access_token : undefined;
  return typeof fromBody === 'string' ? fromBody : undefined;
}

/**
 * Every route that names a privilege goes through here before its handler: authenticate, decide the
 * organization from the credential, check the privilege, and check the organization exists.
 */
export function installAuth(
  app: FastifyInstance,
  authenticator: Authenticator,
  organizations: Organizations,
): void {
  app.decorateRequest('credential', null as unknown as { getter: () => Credential });
  app.decorateRequest('org', '');
  app.decorateRequest('organization', null as unknown as { getter: () => Organization });
  app.addHook('preHandler', async (request) => {
    const { privilege: needed, orgFrom, coveoInvalidToken } = request.routeOptions.config;
    if (!needed) return;
    const privilege = typeof needed === 'function' ? needed(request) : needed;
    const credential = await authenticator.authenticate(bearer(request)).catch((error: unknown) => {
      if (error instanceof OpenUAError && error.code === 'INVALID_TOKEN' && !coveoInvalidToken) {
        throw unauthenticated(error.message, error.violations);
      }
      throw error;
    });
    const source = (orgFrom === 'params' ? request.params : request.query) as
      | Record<string, unknown>
      | undefined;
    const requested = typeof source?.org === 'string' ? source.org : undefined;
    request.credential = credential;
    request.org = resolveOrg(credential, requested);
    requirePrivilege(credential, privilege);
    request.organization = await organizations.require(request.org);
  });
}
