import { buildApp } from '../server/app.ts';
import type { Config } from '../server/config.ts';
import { createServices } from '../server/services.ts';
import { DuckDBStorage } from '../storage/duckdb/duckdb-storage.ts';

/** `openua serve`: opens the store, listens, and on SIGTERM/SIGINT drains every accepted event before exit. */
export async function serve(config: Config): Promise<void> {
  const storage = await DuckDBStorage.open(config.dataDir);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  const services = await createServices(config, storage, (message, cause) =>
    app?.log.error({ err: cause }, message),
  );
  app = await buildApp(services);
  const address = await app.listen({ port: config.port, host: config.host });

  const lines = [
    `OpenUA listening on ${address}`,
    `Data: ${storage.location} (${storage.engine})`,
    services.firstStart ? 'First start: created the organization "default".' : undefined,
    services.recovered > 0
      ? `Recovered ${services.recovered} acknowledged events from the ingest log into the store.`
      : undefined,
    config.masterKey
      ? 'Master key: set (OPENUA_MASTER_KEY). Make scoped keys with: npm run openua -- key create --name web --privileges analytics:write'
      : 'No OPENUA_MASTER_KEY. To get a key, stop the server and run: npm run openua -- key create --name web --privileges analytics:write,analytics:read (or set OPENUA_MASTER_KEY to administer while it runs)',
    `Send events to ${address}/rest/ua/v15/analytics/custom`,
  ];
  for (const line of lines) if (line) app.log.info(line);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal}: no new requests; committing every accepted event, then exiting`);
    const { queued, unloaded } = services.writer.stats();
    await app.close();
    app.log.info(`stopped cleanly (${queued + unloaded} events were waiting for the store at ${signal})`);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
