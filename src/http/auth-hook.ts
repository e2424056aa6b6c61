import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  type Authenticator,
  type Credential,
  DigestMemo,
  requirePrivilege,
  resolveOrg,
} from '../auth/credential.ts';
import type { Privilege } from '../auth/privileges.ts';
import { accessTokenRefused, OpenUAError, unauthenticated } from '../core/errors.ts';
import type { Organization, Organizations } from '../orgs/organizations.ts';

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
    /**
     * Take the credential from `access_token` (query string or form body) when there is no Authorization
     * header: beacons cannot set one. Only the routes beacons post to do (the UA Write API's, and the batch
     * route the SDK's beacon flushes its queue to); elsewhere `access_token` is refused.
     */
    acceptsAccessToken?: boolean;
  }
  interface FastifyRequest {
    credential: Credential;
    /** The organization the request acts on, decided by the credential. */
    org: string;
    /** That organization's record (its settings), read by the auth hook. */
    organization: Organization;
  }
}

/**
 * The token from `Authorization: Bearer`, or, on routes that accept it, from `access_token` (query or form body)
 * for beacons. Elsewhere an `access_token` is refused even beside a header: the secret is in the URL already,
 * and the client should stop putting it there.
 */
function bearer(request: FastifyRequest, acceptsAccessToken: boolean): string | undefined {
  const fromQuery = (request.query as Record<string, unknown> | undefined)?.access_token;
  const body = request.body as Record<string, unknown> | undefined;
  const fromBody = body && typeof body === 'object' && !Array.isArray(body) ? body.access_token : undefined;
  if (!acceptsAccessToken && (fromQuery !== undefined || fromBody !== undefined)) throw accessTokenRefused();
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return match ? (match[1] as string).trim() : header.trim();
  }
  if (typeof fromQuery === 'string') return fromQuery;
  return typeof fromBody === 'string' ? fromBody : undefined;
}

/**
 * Every route that names a privilege goes through here before its schemas are checked (a caller without a
 * credential learns nothing of a body's rules) and its handler: authenticate, decide the
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
  // Per connection: what a keep-alive client sent before (its credential's digest) is not hashed again.
  const memos = new WeakMap<Socket, DigestMemo>();
  const memoOf = (socket: Socket | undefined) => {
    if (!socket) return undefined;
    const known = memos.get(socket);
    if (known) return known;
    const memo = new DigestMemo();
    memos.set(socket, memo);
    return memo;
  };
  app.addHook('preValidation', async (request) => {
    const { privilege: needed, orgFrom, coveoInvalidToken, acceptsAccessToken } = request.routeOptions.config;
    if (!needed) return;
    const privilege = typeof needed === 'function' ? needed(request) : needed;
    const credential = await authenticator
      .authenticate(bearer(request, acceptsAccessToken === true), memoOf(request.raw.socket))
      .catch((error: unknown) => {
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
