import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { notFound, OpenUAError } from '../core/errors.ts';

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

interface Bundle {
  mtimeMs: number;
  size: number;
  body: Buffer;
  /** Strong: the hash of the bytes, so every server holding the same build answers the same tag. */
  etag: string;
}

const unbuilt = () =>
  new OpenUAError(
    'UNAVAILABLE',
    `The SDK's bundles are not built (${SDK_PREFIX}/… serves packages/sdk/dist/*.js): run \`${BUILD_COMMAND}\` ` +
      '(npm install runs it)',
  );

/** Whether an If-None-Match header names this tag (weak comparison, as RFC 9110 has it for If-None-Match). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * `GET /sdk/<file>.js`: the SDK's browser bundles, public, for `<script src>` on any site. Only a `.js` file the
 * build wrote into packages/sdk/dist is served: the name must be one the directory lists when asked (so no
 * path reaches anything else, and a build after the server started is served without a restart). The bytes
 * are read again only when the file's size or time changes.
 */
export function sdkRoutes(dist = SDK_DIST) {
  const bundles = new Map<string, Bundle>();

  async function bundle(file: string): Promise<Bundle> {
    const listed = await readdir(dist).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const scripts = listed.filter((name) => name.endsWith('.js')).sort();
    if (scripts.length === 0) throw unbuilt();
    if (!scripts.includes(file)) {
      throw notFound(`No SDK bundle ${file}: the bundles are ${scripts.join(', ')}`);
    }
    const where = path.join(dist, file);
    const { mtimeMs, size } = await stat(where);
    const known = bundles.get(file);
    if (known && known.mtimeMs === mtimeMs && known.size === size) return known;
    const body = await readFile(where);
    const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
    const fresh = { mtimeMs, size, body, etag };
    bundles.set(file, fresh);
    return fresh;
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
        if (matches(request.headers['if-none-match'], etag)) return reply.code(304).send();
        return reply.type('application/javascript; charset=utf-8').send(body);
      },
    );
  };
}
