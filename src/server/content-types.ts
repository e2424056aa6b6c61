import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { invalid } from './errors.ts';
import { parseJson } from './json.ts';

/** Parses a JSON body, answering 400 with the parser's own reason (position, or a forbidden prototype key). */
function jsonParser(mediaType: string) {
  return (_request: unknown, body: string | Buffer, done: (error: Error | null, value?: unknown) => void) => {
    const text = body as string;
    if (text.trim() === '') {
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
