import path from 'node:path';
import { API_KEYS, ApiKeys } from '../auth/api-keys.ts';
import { Authenticator } from '../auth/credential.ts';
import { ORGANIZATIONS, Organizations } from '../auth/organizations.ts';
import { SearchTokens } from '../auth/search-tokens.ts';
import { ChannelAnalytics } from '../channel/channel-analytics.ts';
import { CHANNEL_TABLES } from '../channel/entity-sets.ts';
import { KpiDefinitions } from '../channel/kpi-definitions.ts';
import { KpiEvents } from '../channel/kpi-events.ts';
import { ChannelRecords } from '../channel/records.ts';
import { GroupCommit } from '../ingest/group-commit.ts';
import { IngestLog } from '../ingest/ingest-log.ts';
import type { Storage } from '../storage/storage.ts';
import { UaCollector } from '../ua/collector.ts';
import { VisitTracker } from '../ua/visits.ts';
import type { Config } from './config.ts';

/** Every long-lived part of a server, built once over one storage. The CLI's admin commands reuse it. */
export interface Services {
  config: Config;
  storage: Storage;
  organizations: Organizations;
  apiKeys: ApiKeys;
  searchTokens: SearchTokens;
  authenticator: Authenticator;
  writer: GroupCommit;
  visits: VisitTracker;
  collector: UaCollector;
  channelRecords: ChannelRecords;
  kpiDefinitions: KpiDefinitions;
  kpiEvents: KpiEvents;
  channel: ChannelAnalytics;
  /** Whether this start created the `default` organization (an empty data dir). */
  firstStart: boolean;
  /** Acknowledged events an earlier run left in the ingest log, loaded at this start. */
  recovered: number;
  /** Drains the writer, then closes storage. */
  close(): Promise<void>;
}

export const ENTITY_TABLES = [ORGANIZATIONS, API_KEYS, ...CHANNEL_TABLES] as const;

export async function createServices(
  config: Config,
  storage: Storage,
  onIngestError?: (message: string, cause: unknown) => void,
): Promise<Services> {
  await storage.migrate(ENTITY_TABLES as never);
  const organizations = new Organizations(storage);
  const channelRecords = new ChannelRecords(storage);
  const kpiDefinitions = new KpiDefinitions(channelRecords, organizations);
  organizations.onCreate(async (org) => {
    await kpiDefinitions.seed(org.id);
  });
  const firstStart = await organizations.ensureDefault();
  // Organizations made before Channel Analytics existed (or before a definition was added) get the
  // first-party KPI event definitions they lack.
  for (const org of await organizations.list()) await kpiDefinitions.seed(org.id);
  const apiKeys = new ApiKeys(storage);
  const searchTokens = new SearchTokens(organizations);
  const writer = new GroupCommit(
    storage,
    await IngestLog.open(path.join(config.dataDir, 'ingest-log')),
    {
      capacity: config.queueCapacity,
      batchSize: config.batchSize,
      lingerMs: config.lingerMs,
      loadIntervalMs: config.loadIntervalMs,
    },
    onIngestError,
  );
  // Events acknowledged by an earlier run but not yet loaded (a crash) go into the store before any new one.
  const recovered = await writer.recover();
  const visits = new VisitTracker(storage, config.visitTimeoutMinutes * 60_000);
  const kpiEvents = new KpiEvents(channelRecords, kpiDefinitions, writer, storage);
  let closing: Promise<void> | undefined;
  return {
    config,
    storage,
    organizations,
    apiKeys,
    searchTokens,
    authenticator: new Authenticator(config.masterKey, apiKeys, searchTokens),
    writer,
    visits,
    collector: new UaCollector(visits, writer),
    channelRecords,
    kpiDefinitions,
    kpiEvents,
    channel: new ChannelAnalytics(channelRecords, kpiEvents, storage, writer),
    firstStart,
    recovered,
    close() {
      closing ??= (async () => {
        await writer.drain();
        visits.close();
        await storage.close();
      })();
      return closing;
    },
  };
}
