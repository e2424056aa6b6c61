import { setFlagsFromString } from 'node:v8';
import type { Config } from '../core/config.ts';
import { buildApp } from '../http/app.ts';
import { DOCS_PREFIX, OPENAPI_PATH } from '../http/openapi.ts';
import { listenMetrics } from '../http/operations.ts';
import { createServices } from '../startup/services.ts';
import { openStorage } from '../storage/open-storage.ts';
import { DEMO_COMMAND } from './demo.ts';
import { listenProblem, storeProblem } from './start-errors.ts';

/**
 * `openua serve`: opens the store, listens, then loads into the store what the last run left in the ingest log
 * (meanwhile `GET /ready` and events answer 503), and on SIGTERM/SIGINT drains every accepted event before exit.
 * What stops a start (a busy port, a data directory or store it cannot use) is thrown as a StartError.
 */
export async function serve(config: Config): Promise<void> {
  // Measured by `npm run bench:memory`: under a flood, V8 let a heap full of garbage grow to 250 MB and the process
  // to ~750 MB; favouring size keeps the whole process under 400 MB for about 15% of ingest throughput. V8 reads
  // this flag at each collection, so setting it now, before the server allocates, takes effect.
  if (config.optimizeForSize) setFlagsFromString('--optimize-for-size');
  const storage = await openStorage(config.storage).catch((error: unknown) => {
    throw storeProblem(error, config) ?? error;
  });
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  const services = await createServices(
    config,
    storage,
    (message, cause) => app?.log.error({ err: cause }, message),
    // Listening first lets a load balancer see a live server that is not ready yet, however long that takes.
    { recoverInBackground: true },
  ).catch(async (error: unknown) => {
    await storage.close().catch(() => undefined);
    throw storeProblem(error, config) ?? error;
  });
  const server = await buildApp(services);
  app = server;
  const address = await server
    .listen({ port: config.port, host: config.host })
    .catch(async (error: unknown) => {
      await server.close().catch(() => undefined);
      throw (
        listenProblem(error, { host: config.host, port: config.port, setting: 'PORT (or HOST)' }) ?? error
      );
    });
  const metricsAddress = config.metricsAddress;
  const metrics = metricsAddress
    ? await listenMetrics(services.metrics, metricsAddress).catch(async (error: unknown) => {
        await server.close().catch(() => undefined);
        throw listenProblem(error, { ...metricsAddress, setting: 'OPENUA_METRICS_ADDRESS' }) ?? error;
      })
    : undefined;

  // DuckDB lets one process open its file: the CLI writes to it only once the server is stopped. A ClickHouse
  // store is shared, so the CLI writes to it beside running servers.
  const shared = config.storage.clickhouse !== undefined;
  const stopFirst = shared ? '' : 'stop the server and ';
  const lines = [
    `OpenUA listening on ${address}`,
    `Data: ${storage.location} (${storage.engine})`,
    services.firstStart ? 'First start: created the organization "default".' : undefined,
    services.firstStart
      ? `To try it with a month of demo data (about 1M events): ${stopFirst}run ${DEMO_COMMAND}, or, while it runs: ${DEMO_COMMAND} --url ${address} --key <the master key>`
      : undefined,
    metrics
      ? `Metrics: ${metrics.url}/metrics (OPENUA_METRICS_ADDRESS, no credential)`
      : `Metrics: ${address}/metrics (the master key, or a key with the "metrics" privilege)`,
    config.masterKey
      ? 'Master key: set (OPENUA_MASTER_KEY). Make scoped keys with: npm run openua -- key create --name web --privileges analytics:write'
      : `No OPENUA_MASTER_KEY. To get a key, ${stopFirst}run: npm run openua -- key create --name web --privileges analytics:write,analytics:read${shared ? '' : ' (or set OPENUA_MASTER_KEY to administer while it runs)'}`,
    `Send events to ${address}/rest/ua/v15/analytics/custom`,
    `API reference: ${address}${DOCS_PREFIX}/ (OpenAPI 3.1: ${address}${OPENAPI_PATH})`,
  ];
  for (const line of lines) if (line) app.log.info(line);
  void services.started.then(
    () => {
      if (services.recovered > 0) {
        server.log.info(
          `Recovered ${services.recovered} acknowledged events from the ingest log into the store.`,
        );
      }
      server.log.info('Ready: taking events');
    },
    async (error: unknown) => {
      server.log.fatal(
        { err: error },
        'the events the last run left in the ingest log could not be loaded into the store; stopping (they stay in the log)',
      );
      await metrics?.close();
      await server.close().catch(() => undefined);
      process.exit(1);
    },
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal}: no new requests; committing every accepted event, then exiting`);
    const { queued, unloaded } = services.writer.stats();
    await metrics?.close();
    await server.close();
    app.log.info(`stopped cleanly (${queued + unloaded} events were waiting for the store at ${signal})`);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
