import type { FastifyError, FastifyInstance } from 'fastify';
import { OpenUAError } from './errors.ts';

/** Maps Fastify's own errors (parsing, limits, media types) onto OpenUA's codes and body shape. */
function fromFastify(error: FastifyError): OpenUAError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OpenUAError(
        'BODY_TOO_LARGE',
        `The body is larger than the limit of ${error.message.match(/\d+/)?.[0] ?? 'the server'} bytes`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OpenUAError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${error.message}. Send application/json, text/plain holding JSON, or application/x-www-form-urlencoded`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new OpenUAError('INVALID_REQUEST', 'The body is empty', [
        { field: '', rule: 'json', message: 'the body must be a JSON object', received: '' },
      ]);
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new OpenUAError('INVALID_REQUEST', `The body is not valid JSON: ${error.message}`, [
      { field: '', rule: 'json', message: error.message },
    ]);
  }
  if (error.statusCode === 413) return new OpenUAError('BODY_TOO_LARGE', error.message);
  if (error.statusCode === 415) return new OpenUAError('UNSUPPORTED_MEDIA_TYPE', error.message);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new OpenUAError('INVALID_REQUEST', error.message, [
      { field: '', rule: error.code ?? 'request', message: error.message },
    ]);
  }
  return undefined;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((raw: FastifyError, request, reply) => {
    const error = raw instanceof OpenUAError ? raw : fromFastify(raw);
    if (!error) {
      request.log.error({ err: raw }, 'unexpected error');
      return reply.code(500).send(new OpenUAError('INTERNAL', 'Internal error; it has been logged').toJSON());
    }
    if (error.statusCode >= 500) request.log.warn({ err: error.cause ?? error }, error.message);
    if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter));
    return reply.code(error.statusCode).send(error.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new OpenUAError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).send(error.toJSON());
  });
}
