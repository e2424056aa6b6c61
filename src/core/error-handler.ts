import type { FastifyError, FastifyInstance } from 'fastify';
import type { Rule } from './errors.ts';
import { OpenUAError } from './errors.ts';

/** Maps Fastify's own errors (body limits, media types, malformed requests) onto OpenUA's codes and body shape. */
function fromFastify(error: FastifyError, bodyLimit: number): OpenUAError | undefined {
  if (error.statusCode === 413) {
    return new OpenUAError('BODY_TOO_LARGE', `The body is larger than the limit of ${bodyLimit} bytes`);
  }
  if (error.statusCode === 415) {
    return new OpenUAError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${error.message}. Send application/json, text/plain holding JSON, or application/x-www-form-urlencoded`,
    );
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new OpenUAError('INVALID_REQUEST', error.message, [
      {
        field: '',
        rule: error.code?.startsWith('FST_') ? (error.code as Rule) : 'INVALID_REQUEST',
        message: error.message,
      },
    ]);
  }
  return undefined;
}

/** How a surface writes an error body: OpenUA's own shape by default, OData's under /api/data. */
export type ErrorBodyShape = (error: OpenUAError) => unknown;

export function installErrorHandler(
  app: FastifyInstance,
  bodyLimit: number,
  shape: ErrorBodyShape = (error) => error.toJSON(),
): void {
  app.setErrorHandler((raw: FastifyError, request, reply) => {
    const error = raw instanceof OpenUAError ? raw : fromFastify(raw, bodyLimit);
    if (!error) {
      request.log.error({ err: raw }, 'unexpected error');
      return reply.code(500).send(shape(new OpenUAError('INTERNAL', 'Internal error; it has been logged')));
    }
    // Shedding is the server working as meant, counted in /metrics: a warning with a stack per shed request
    // would make a flood cost the log as much as the requests.
    if (error.code === 'OVERLOADED') request.log.debug(error.message);
    else if (error.statusCode >= 500) request.log.warn({ err: error.cause ?? error }, error.message);
    if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter));
    return reply.code(error.statusCode).send(shape(error));
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new OpenUAError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).send(shape(error));
  });
}
