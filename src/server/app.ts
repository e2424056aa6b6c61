import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { alertRoutes } from '../alerts/routes.ts';
import { adminRoutes } from '../auth/admin-routes.ts';
import { batchRoutes } from '../batch/routes.ts';
import { ODATA_BASE, odataRoutes } from '../channel/odata-routes.ts';
import { channelRoutes } from '../channel/routes.ts';
import { eventsRoute } from '../query/events-route.ts';
import { queryRoutes } from '../query/query-route.ts';
import { rejectionsRoutes } from '../query/rejections-route.ts';
import { dimensionRoutes } from '../ua/dimension-routes.ts';
import { uaRoutes } from '../ua/routes.ts';
import { installAuth } from './auth-hook.ts';
import { installContentTypes } from './content-types.ts';
import { installErrorHandler } from './error-handler.ts';
import { installRejections } from './rejections-hook.ts';
import type { Services } from './services.ts';

/** Assembles the HTTP server over built services. Closing the app drains the writer and closes storage. */
export async function buildApp(
  services: Services,
  options: { logger?: boolean } = {},
): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    logger: options.logger === false ? false : { level: config.logLevel },
    // Per-request log lines would cost more than the event itself; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // Behind a proxy the protocol decides the visitor cookie's Secure flag.
    trustProxy: true,
  });
  installErrorHandler(app, config.bodyLimit);
  await installContentTypes(app);
  await app.register(cookie);
  // Pages on any origin post events with credentials (the official client uses credentials: 'include'),
  // so the origin is reflected rather than `*`, which browsers refuse with credentials.
  await app.register(cors, {
    origin: true,
    credentials: true,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'Idempotency-Key',
      'Prefer',
      'OData-Version',
      'OData-MaxVersion',
    ],
    exposedHeaders: [
      'OData-EntityId',
      'OData-Version',
      'Preference-Applied',
      'Retry-After',
      'Idempotent-Replayed',
    ],
    maxAge: 86_400,
  });
  installAuth(app, services.authenticator, services.organizations);
  installRejections(app, services.rejections);
  await app.register(
    uaRoutes(services.collector, services.visits, services.writer, {
      queueCapacity: config.queueCapacity,
      cookieDomain: config.visitorCookieDomain,
    }),
  );
  await app.register(adminRoutes(services.organizations, services.apiKeys, services.searchTokens));
  await app.register(eventsRoute(services.storage, services.writer));
  await app.register(batchRoutes(services.batch, config.batchBodyLimit));
  await app.register(rejectionsRoutes(services.rejections));
  await app.register(queryRoutes(services.insights, services.dimensions));
  await app.register(dimensionRoutes(services.dimensions));
  await app.register(channelRoutes(services.channel, services.channelRecords));
  await app.register(odataRoutes(services.channelRecords, services.kpiEvents, config.bodyLimit), {
    prefix: ODATA_BASE,
  });
  await app.register(
    alertRoutes(services.alertRules, services.alerts, services.webhooks, services.alertEvaluator),
  );
  // Alert rules are evaluated by a serving server only (never by a CLI command that opens the store).
  app.addHook('onReady', () => services.alertEvaluator.start(app.log));
  app.addHook('onClose', () => services.close());
  return app;
}
