import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The Content-Security-Policy of a route that serves a page (`cspOf`), instead of the API's "nothing to run". */
    contentSecurityPolicy?: string;
  }
}

/** A policy's header value from its directives, in camelCase as helmet names them (`defaultSrc: ["'self'"]`). */
export function cspOf(directives: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(directives)
    .map(([name, sources]) => [name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), ...sources].join(' '))
    .join(';');
}

/** The API's policy: an answer runs, loads and frames nothing. */
const API_CSP = cspOf({ defaultSrc: ["'none'"], frameAncestors: ["'none'"] });

/**
 * helmet's default headers, with two of them changed (below), written out once rather than computed by helmet's
 * middleware on every request: building that middleware per request (as @fastify/helmet does) cost about 5% of
 * the server's time on single events.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': API_CSP,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'cross-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};
const HEADER_NAMES = Object.keys(SECURITY_HEADERS);

/**
 * The usual security headers on every answer (from an onRequest hook, so errors and 404s get them):
 * `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, and a CSP that
 * lets an answer run, load or frame nothing (`default-src 'none'; frame-ancestors 'none'`): OpenUA answers
 * JSON, which a browser opened directly must not treat as a page. A route that serves HTML sets its own
 * policy through its `contentSecurityPolicy` route config.
 *
 * Two of helmet's defaults are changed: `Cross-Origin-Resource-Policy` is `cross-origin`, since pages on other
 * sites load OpenUA's answers (and, no-cors, its beacons' and scripts'); and `Strict-Transport-Security` is left
 * to the TLS terminator in front, which knows the hosts it serves (an HSTS header from a server reached over
 * plain HTTP would be ignored, and one with `includeSubDomains` could pin sites it does not serve).
 */
export async function installSecurityHeaders(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', (request, reply, done) => {
    for (const name of HEADER_NAMES) reply.header(name, SECURITY_HEADERS[name]);
    const csp = request.routeOptions.config.contentSecurityPolicy;
    if (csp !== undefined) reply.header('content-security-policy', csp);
    done();
  });
}
