import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { notFound, OpenUAError } from '../core/errors.ts';
import { cspOf } from './security-headers.ts';
import { builtFiles, listed, matchesEtag } from './static-files.ts';

/** Where the root's `prepare` script (run by `npm install` and `npm ci`) builds the dashboard (`vite build`). */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../dashboard/dist/', import.meta.url));

const BUILD_COMMAND = 'npm run build --workspace dashboard';
const ASSETS = 'assets';

/**
 * The page runs, styles, loads and connects to this server only: no CDN, no inline script or style (the build
 * inlines none; uPlot and Preact set styles through the CSSOM, which a policy does not govern), no frames.
 */
const DASHBOARD_CSP = cspOf({
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
});

/** The page itself names the hashed files of its build: it is revalidated on every load (a 304 while unchanged). */
const INDEX_CACHE_CONTROL = 'no-cache';
/** A hashed file's bytes never change under its name: a new build writes new names. */
const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

const TYPES: Record<string, string> = {
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
};

const unbuilt = () =>
  new OpenUAError(
    'UNAVAILABLE',
    `The dashboard is not built (/ serves dashboard/dist/index.html): run \`${BUILD_COMMAND}\` (npm install runs it)`,
  );

const errorAnswer = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: 'Error#' } } },
});

/**
 * `GET /`: the dashboard's page; `GET /assets/<file>`: the files its build wrote, by the names the build gave
 * them (only a name dashboard/dist/assets lists is served, so no path reaches anything else). Public: the page
 * holds no data; everything it shows it asks the API for with the credential the reader signs in with, on this
 * origin. The pages are routed in the URL's hash, so the server needs no route per page.
 */
export function dashboardRoutes(dist = DASHBOARD_DIST) {
  const read = builtFiles();
  const assetsDir = path.join(dist, ASSETS);

  return async (app: FastifyInstance) => {
    app.get(
      '/',
      {
        config: { contentSecurityPolicy: DASHBOARD_CSP },
        schema: {
          tags: ['Dashboard'],
          summary: 'The dashboard: Agent, Supervisor, Manager, Search, Explorer and Settings pages',
          description:
            'An HTML page that signs in with an API key (`analytics:read`; Settings needs `admin`) and reads ' +
            'everything it shows from this API. Revalidated on every load (`Cache-Control: no-cache`, ETag).',
          response: {
            200: { description: 'The page', content: { 'text/html': { schema: Type.String() } } },
            304: { description: 'Not modified: the If-None-Match tag is the page’s' },
            503: errorAnswer(`The dashboard is not built: run \`${BUILD_COMMAND}\``),
          },
        },
      },
      async (request, reply) => {
        if (!(await listed(dist)).includes('index.html')) throw unbuilt();
        const { body, etag } = await read(dist, 'index.html');
        reply.header('ETag', etag).header('Cache-Control', INDEX_CACHE_CONTROL);
        if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
        return reply.type('text/html; charset=utf-8').send(body);
      },
    );

    app.get(
      `/${ASSETS}/:file`,
      {
        config: { contentSecurityPolicy: DASHBOARD_CSP },
        schema: {
          tags: ['Dashboard'],
          summary: 'A file of the dashboard’s build (script, style sheet), by its content-hashed name',
          description: 'Cached for a year as immutable: a new build names its files anew.',
          params: Type.Object({
            file: Type.String({
              pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]*$',
              maxLength: 255,
              description: 'A file the build wrote: `index-<hash>.js`',
            }),
          }),
          response: {
            200: { description: 'The file, with its ETag', content: { '*/*': { schema: Type.String() } } },
            304: { description: 'Not modified: the If-None-Match tag is the file’s' },
            404: errorAnswer('No file of that name in the build'),
            503: errorAnswer(`The dashboard is not built: run \`${BUILD_COMMAND}\``),
          },
        },
      },
      async (request, reply) => {
        const { file } = request.params as { file: string };
        if (!(await listed(dist)).includes('index.html')) throw unbuilt();
        if (!(await listed(assetsDir)).includes(file)) {
          throw notFound(
            `No dashboard file ${file}: it is not in this build (reload the page for the current one)`,
          );
        }
        const { body, etag } = await read(assetsDir, file);
        reply.header('ETag', etag).header('Cache-Control', ASSET_CACHE_CONTROL);
        if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
        return reply.type(TYPES[path.extname(file)] ?? 'application/octet-stream').send(body);
      },
    );
  };
}
