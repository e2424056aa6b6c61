import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { createServices, type Services } from '../startup/services.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * The services a command that does not serve (the admin commands, the demo) needs over an open store. A DuckDB store
 * is this process's alone, and so is the ingest log beside it: the command loads what a stopped server left there.
 * A ClickHouse store is shared, and servers may run beside the command with this very data directory: the command
 * takes no events, so it gets an ingest log of its own in a temporary directory, and never reads, loads or cuts the
 * log of a running server.
 */
export async function commandServices(config: Config, storage: Storage): Promise<Services> {
  if (!config.storage.clickhouse) return createServices(config, storage);
  const own = mkdtempSync(path.join(tmpdir(), 'openua-command-'));
  const remove = () => rmSync(own, { recursive: true, force: true });
  const services = await createServices({ ...config, dataDir: own }, storage).catch((error: unknown) => {
    remove();
    throw error;
  });
  const close = services.close.bind(services);
  return Object.assign(services, {
    close: () => close().finally(remove),
  });
}
