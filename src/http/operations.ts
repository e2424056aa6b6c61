import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ListenAddress } from '../core/config.ts';
import { oneOf } from '../core/validation.ts';
import { LOG_CHECKPOINT } from '../ingest/group-commit.ts';
import type { Metrics } from './metrics.ts';
import { installRateLimits } from './rate-limits.ts';
import type { Services } from './services.ts';

/** How long the store may take to answer the readiness ping before the server says it is unreachable. */
export const STORE_PING_TIMEOUT_MS = 5_000;

/** What `GET /ready` answers: 200 `{status: "ready"}`, or 503 with the reason. */
const ReadinessSchema = Type.Union([
  Type.Object({ status: Type.Literal('ready') }),
  Type.Object({
    status: oneOf(['recovering', 'stopping', 'storeUnreachable'] as const),
    message: Type.String(),
  }),
]);
export type Readiness = Static<typeof ReadinessSchema>;

const OPERATIONS = { tags: ['Operations'] };

/**
 * Whether the server should be sent traffic: not while it loads the ingest log its last run left (events are
 * refused meanwhile), not while it drains to stop, and not while its store does not answer a cheap read.
 */
export async function readiness(services: Services): Promise<Readiness> {
  const { starting, closing } = services.writer.stats();
  if (starting) {
    return {
      status: 'recovering',
      message: 'loading the events the last run acknowledged into the store; events are refused until then',
    };
  }
  if (closing) return { status: 'stopping', message: 'draining accepted events before the server stops' };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      services.storage.readCheckpoint(LOG_CHECKPOINT),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${STORE_PING_TIMEOUT_MS} ms`)),
          STORE_PING_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    return {
      status: 'storeUnreachable',
      message: `the store (${services.storage.engine}) does not answer: ${(error as Error)?.message ?? error}`,
    };
  } finally {
    clearTimeout(timer);
  }
  return { status: 'ready' };
}

/**
 * What an operator needs of a running server, installed before the routes: request metrics and rate limits
 * hook every route declared after them. Routes: `GET /ready` (no credential), and `GET /metrics` (the `metrics`
 * privilege) unless OPENUA_METRICS_ADDRESS serves it elsewhere.
 */
export async function installOperations(app: FastifyInstance, services: Services): Promise<void> {
  const { metrics, config } = services;
  metrics.enableProcessMetrics();
  metrics.installHttp(app);
  await installRateLimits(app, metrics);

  const readyAnswers = {
    200: { ...ReadinessSchema.anyOf[0], description: 'Send it traffic' },
    503: {
      ...ReadinessSchema.anyOf[1],
      description: 'Not now: recovering, stopping, or its store does not answer',
    },
  };
  const readySchema = {
    ...OPERATIONS,
    summary: 'Whether to send this server traffic',
    response: readyAnswers,
  };
  app.get('/ready', { schema: readySchema }, async (_request, reply) => {
    const state = await readiness(services);
    return reply.code(state.status === 'ready' ? 200 : 503).send(state);
  });

  if (!config.metricsAddress) {
    const metricsSchema = {
      ...OPERATIONS,
      summary: 'Prometheus metrics (the `metrics` privilege)',
      response: {
        200: {
          description: 'The Prometheus text format',
          content: { 'text/plain': { schema: Type.String() } },
        },
      },
    };
    app.get(
      '/metrics',
      { schema: metricsSchema, config: { privilege: 'metrics' } },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
    );
  }
}

/**
 * `GET /metrics` on its own listener (OPENUA_METRICS_ADDRESS), without a credential: bind it where only the
 * scraper reaches it. Anything else there is 404.
 */
export async function listenMetrics(
  metrics: Metrics,
  address: ListenAddress,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here\n');
      return;
    }
    metrics.text().then(
      (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address: host, port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
