import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { installErrorHandler } from '../../src/core/error-handler.ts';
import { ErrorBodySchema } from '../../src/core/errors.ts';
import { routeValidatorCompiler } from '../../src/core/validation.ts';
import { installSecurityHeaders } from '../../src/http/security-headers.ts';
import type { Answer } from './server.ts';

/**
 * Some routes alone, answered in-process, set up as buildApp sets up every route: OpenUA's error answers, the Error
 * schema their declared answers refer to, OpenUA's validator and plain serializer, and (optionally) the server's
 * security headers.
 */
export async function routeApp(
  routes: FastifyPluginAsync,
  options: { securityHeaders?: boolean } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  installErrorHandler(app, 1024);
  app.addSchema(ErrorBodySchema);
  app.setValidatorCompiler(routeValidatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  if (options.securityHeaders) await installSecurityHeaders(app);
  await app.register(routes);
  return app;
}

/** An injected answer as `call` answers over HTTP: status, headers, and the body parsed when it is JSON. */
export function asAnswer(injected: Awaited<ReturnType<FastifyInstance['inject']>>): Answer<unknown> {
  let body: unknown = injected.body;
  try {
    body = JSON.parse(injected.body);
  } catch {}
  return {
    status: injected.statusCode,
    headers: new Headers(injected.headers as Record<string, string>),
    body,
  };
}
