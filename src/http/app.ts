import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { adminRoutes } from '../admin/routes.ts';
import { alertRoutes } from '../alerts/routes.ts';
import { backupRoutes } from '../backup/routes.ts';
import { batchRoutes } from '../batch/routes.ts';
import { ODATA_BASE, odataRoutes } from '../channel/odata-routes.ts';
import { channelRoutes } from '../channel/routes.ts';
import { installErrorHandler } from '../core/error-handler.ts';
import { logDestination } from '../core/log.ts';
import { routeValidatorCompiler } from '../core/validation.ts';
import { RawExports } from '../export/raw-export.ts';
import { exportRoutes } from '../export/routes.ts';
import { forecastRoutes } from '../forecast/routes.ts';
import { auditRoutes } from '../privacy/audit-routes.ts';
import { privacyRoutes } from '../privacy/routes.ts';
import { eventsRoute } from '../query/events-route.ts';
import { queryRoutes } from '../query/query-route.ts';
import { rejectionsRoutes } from '../query/rejections-route.ts';
import { dimensionRoutes } from '../ua/dimension-routes.ts';
import { uaRoutes } from '../ua/routes.ts';
import { installAuth } from './auth-hook.ts';
import { installContentTypes } from './content-types.ts';
import { installCors } from './cors.ts';
import { dashboardRoutes } from './dashboard.ts';
import { installOpenApi } from './openapi.ts';
import { installOperations } from './operations.ts';
import { installRejections } from './rejections-hook.ts';
import { RequestLog, requestSerializer } from './request-log.ts';
import { sdkRoutes } from './sdk.ts';
import { installSecurityHeaders } from './security-headers.ts';
import type { Services } from './services.ts';

/** Assembles the HTTP server over built services. Closing the app drains the writer and closes storage. */
export async function buildApp(
  services: Services,
  options: { logger?: boolean } = {},
): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: config.logLevel,
            serializers: { req: requestSerializer },
            // JSON, or one readable line each on a terminal (OPENUA_LOG_FORMAT).
            stream: logDestination(config.logFormat),
          },
    // A line per request at debug only (it would cost more than the event itself), its URL's access_token redacted.
    logController: new RequestLog(),
    bodyLimit: config.bodyLimit,
    // X-Forwarded-* only from the proxies OPENUA_TRUST_PROXY names (none by default): believed, they decide the
    // host of OData links and the visitor cookie's Secure flag, so anyone else could forge them.
    trustProxy: config.trustProxy,
  });
  installErrorHandler(app, config.bodyLimit);
  // A route's declared schemas are checked by OpenUA's Ajv and refused as OpenUA's 400; its declared answers document
  // it and are written as they are (no schema-driven serializer that would drop a field it does not list).
  app.setValidatorCompiler(routeValidatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await installContentTypes(app);
  await app.register(cookie);
  await installSecurityHeaders(app);
  // The event routes answer pages on any origin (not null); every other route, its organization's allowedOrigins.
  await installCors(app, services.organizations);
  installAuth(app, services.authenticator, services.organizations);
  installRejections(app, services.rejections);
  // Before every route: the document is made from the routes as they register.
  await installOpenApi(app);
  // Request metrics, rate limits (after the auth hook, before each handler), /ready and /metrics.
  await installOperations(app, services);
  await app.register(
    uaRoutes(services.collector, services.visits, services.writer, {
      queueCapacity: config.queueCapacity,
      cookieDomain: config.visitorCookieDomain,
    }),
  );
  await app.register(
    adminRoutes(services.organizations, services.apiKeys, services.searchTokens, services.audit),
  );
  await app.register(eventsRoute(services.reader));
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
  await app.register(forecastRoutes(services.forecasts));
  await app.register(auditRoutes(services.audit));
  await app.register(privacyRoutes(services.erasures, services, services.audit));
  await app.register(
    exportRoutes(new RawExports(services.storage, services.writer, services.dimensions, services.audit)),
  );
  await app.register(backupRoutes(services.storage, services.writer, services.audit));
  // The SDK's browser bundles, for the pages that log here to load from here.
  await app.register(sdkRoutes());
  // The dashboard's page and files: it reads everything it shows from the routes above, on this origin.
  await app.register(dashboardRoutes());
  // Alert rules are evaluated by a serving server only (never by a CLI command that opens the store).
  app.addHook('onReady', () => services.alertEvaluator.start(app.log));
  // Likewise the retention sweep (docs/operations/retention.md).
  app.addHook('onReady', async () => services.retention.start(app.log));
  // And a person's erasures (queued ones, and those a stop left unfinished, resume here).
  app.addHook('onReady', async () => services.erasures.start(app.log));
  app.addHook('onClose', () => services.close());
  return app;
}
