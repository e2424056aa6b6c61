import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { invalid } from './errors.ts';

/**
 * The bodies the official UA client sends: JSON, `text/plain` holding JSON (which browsers send
 * without a CORS preflight), and form-encoded beacons. Anything else is 415.
 */
export async function installContentTypes(app: FastifyInstance): Promise<void> {
  await app.register(formbody);
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      done(
        invalid([
          {
            field: '',
            rule: 'json',
            message: `a text/plain body must hold JSON: ${(error as Error).message}`,
            received: (body as string).slice(0, 256),
          },
        ]),
        undefined,
      );
    }
  });
}
