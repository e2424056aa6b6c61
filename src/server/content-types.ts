import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from './errors.ts';
import { parseJson } from './json.ts';

/** Methods whose requests carry no body, whatever their Content-Type says. */
const BODILESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/** Parses a JSON body, answering 400 with the parser's own reason (position, or a forbidden prototype key). */
function jsonParser(mediaType: string) {
  return (
    request: FastifyRequest,
    body: string | Buffer,
    done: (error: Error | null, value?: unknown) => void,
  ) => {
    const text = body as string;
    if (text.trim() === '') {
      // The official client's deleteHttpOnlyVisitorId() sends `DELETE /visit` as application/json, empty.
      if (BODILESS.has(request.method)) {
        done(null, undefined);
        return;
      }
      done(invalid([{ field: '', rule: 'json', message: `the ${mediaType} body is empty`, received: '' }]));
      return;
    }
    try {
      done(null, parseJson(text));
    } catch (error) {
      done(
        invalid([
          {
            field: '',
            rule: 'json',
            message: `the ${mediaType} body must be JSON: ${(error as Error).message}`,
            received: text.slice(0, 256),
          },
        ]),
      );
    }
  };
}

/**
 * The bodies the official UA client sends: JSON, `text/plain` holding JSON (which browsers send
 * without a CORS preflight), and form-encoded beacons. Anything else is 415. Both JSON shapes go
 * through one parser, so they refuse the same things with the same words.
 */
export async function installContentTypes(app: FastifyInstance): Promise<void> {
  await app.register(formbody);
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonParser('application/json'));
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, jsonParser('text/plain'));
}
