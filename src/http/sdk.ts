import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { notFound, OpenUAError } from '../core/errors.ts';
import { builtFiles, listed, matchesEtag } from './static-files.ts';

/** Where the root's `prepare` script (run by `npm install` and `npm ci`) builds the SDK's browser bundles. */
export const SDK_DIST = fileURLToPath(new URL('../../packages/sdk/dist/', import.meta.url));

/** The bundles' path: `GET /sdk/openua.js`, `/sdk/custom.js`, `/sdk/cif.js`. */
export const SDK_PREFIX = '/sdk';

const BUILD_COMMAND = 'npm run build --workspace packages/sdk';

/**
 * The bundles' names are not content-hashed (a page writes `/sdk/openua.js` once and keeps it through upgrades),
 * so they cannot be cached for a year as immutable: an hour, then revalidated with the ETag, costs a 304 an hour
 * and gets a page the new bundle within the hour of an upgrade.
 */
const CACHE_CONTROL = 'public, max-age=3600, must-revalidate';

const unbuilt = () =>
  new OpenUAError(
    'UNAVAILABLE',
    `The SDK's bundles are not built (${SDK_PREFIX}/… serves packages/sdk/dist/*.js): run \`${BUILD_COMMAND}\` ` +
      '(npm install runs it)',
  );

/**
 * `GET /sdk/<file>.js`: the SDK's browser bundles, public, for `<script src>` on any site. Only a `.js` file the
 * build wrote into packages/sdk/dist is served: the name must be one the directory lists when asked (so no
 * path reaches anything else, and a build after the server started is served without a restart). The bytes
 * are read again only when the file's size or time changes.
 */
export function sdkRoutes(dist = SDK_DIST) {
  const read = builtFiles();

  async function bundle(file: string) {
    const scripts = (await listed(dist)).filter((name) => name.endsWith('.js'));
    if (scripts.length === 0) throw unbuilt();
    if (!scripts.includes(file)) {
      throw notFound(`No SDK bundle ${file}: the bundles are ${scripts.join(', ')}`);
    }
    return read(dist, file);
  }

  return async (app: FastifyInstance) => {
    app.get(
      `${SDK_PREFIX}/:file`,
      {
        schema: {
          tags: ['SDK'],
          summary: 'A browser bundle of the SDK, for a script tag',
          description:
            '`openua.js` (everything: `window.OpenUA`), `custom.js` (createClient alone) and `cif.js` ' +
            '(`OpenUA.installCIFramework`, the drop-in `Microsoft.CIFramework`). No credential; any site may ' +
            'load it (`Access-Control-Allow-Origin: *`). Cached an hour, then revalidated: send the ETag back ' +
            'as If-None-Match and get 304.',
          params: Type.Object({
            file: Type.String({ pattern: '^[a-z0-9-]+\\.js$', description: 'A bundle: `openua.js`' }),
          }),
          response: {
            200: {
              description: 'The script, with its ETag',
              content: { 'application/javascript': { schema: Type.String() } },
            },
            304: { description: 'Not modified: the If-None-Match tag is the bundle’s' },
            404: {
              description: 'No bundle of that name (the message lists them)',
              content: { 'application/json': { schema: { $ref: 'Error#' } } },
            },
            503: {
              description: `The bundles are not built: run \`${BUILD_COMMAND}\``,
              content: { 'application/json': { schema: { $ref: 'Error#' } } },
            },
          },
        },
      },
      async (request, reply) => {
        const { file } = request.params as { file: string };
        const { body, etag } = await bundle(file);
        reply
          .header('ETag', etag)
          .header('Cache-Control', CACHE_CONTROL)
          // Script tags on every site load these; the bytes are the same for everyone, credential or not.
          .header('Access-Control-Allow-Origin', '*');
        if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
        return reply.type('application/javascript; charset=utf-8').send(body);
      },
    );
  };
}
