import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * The usual security headers on every answer (helmet's, from the onRequest hook, so errors and 404s get them):
 * `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, and a CSP that
 * lets an answer run, load or frame nothing (`default-src 'none'; frame-ancestors 'none'`): OpenUA answers
 * JSON, which a browser opened directly must not treat as a page. A route that serves HTML sets its own
 * policy through its `helmet` route option.
 *
 * Two of helmet's defaults are changed: `Cross-Origin-Resource-Policy` is `cross-origin`, since pages on other
 * sites load OpenUA's answers (and, no-cors, its beacons' and scripts'); and `Strict-Transport-Security` is left
 * to the TLS terminator in front, which knows the hosts it serves (an HSTS header from a server reached over
 * plain HTTP would be ignored, and one with `includeSubDomains` could pin sites it does not serve).
 */
export async function installSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    frameguard: { action: 'deny' },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    strictTransportSecurity: false,
  });
}
