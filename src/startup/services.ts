import path from 'node:path';
import { ALERT_RULES, AlertRules } from '../alerts/alert-rules.ts';
import { ALERTS, Alerts } from '../alerts/alerts.ts';
import { AlertEvaluator } from '../alerts/evaluator.ts';
import { WEBHOOK_DELIVERIES, Webhooks } from '../alerts/webhook.ts';
import { API_KEYS, ApiKeys } from '../auth/api-keys.ts';
import { Authenticator } from '../auth/credential.ts';
import { SearchTokens } from '../auth/search-tokens.ts';
import { EventBatch } from '../batch/event-batch.ts';
import { ChannelAnalytics } from '../channel/channel-analytics.ts';
import { CHANNEL_TABLES } from '../channel/entity-sets.ts';
import { KpiDefinitions } from '../channel/kpi-definitions.ts';
import { KpiEvents } from '../channel/kpi-events.ts';
import { ChannelRecords } from '../channel/records.ts';
import type { Config } from '../core/config.ts';
import { Forecasts } from '../forecast/forecasts.ts';
import { Metrics } from '../http/metrics.ts';
import type { Services } from '../http/services.ts';
import { EventReader } from '../ingest/event-reader.ts';
import { GroupCommit } from '../ingest/group-commit.ts';
import { IdempotencyIndex } from '../ingest/idempotency.ts';
import { IngestLog } from '../ingest/ingest-log.ts';
import { Intake } from '../ingest/intake.ts';
import { REJECTIONS, Rejections } from '../ingest/rejections.ts';
import { dedupWindowMs, ingestSettings, ORGANIZATIONS, Organizations } from '../orgs/organizations.ts';
import { AUDIT_LOG, AuditLog } from '../privacy/audit-log.ts';
import { Erasures, PRIVACY_ERASURES } from '../privacy/erasures.ts';
import { Retention } from '../privacy/retention.ts';
import { DIMENSIONS, Dimensions } from '../query/dimensions.ts';
import { Insights } from '../query/insights.ts';
import type { Storage } from '../storage/storage.ts';
import { timedReads } from '../storage/timed-reads.ts';
import { UaCollector } from '../ua/collector.ts';
import { VisitTracker } from '../ua/visits.ts';
import { lockDataDir } from './data-dir-lock.ts';

export type { Services } from '../http/services.ts';

export const ENTITY_TABLES = [
  ORGANIZATIONS,
  API_KEYS,
  REJECTIONS,
  DIMENSIONS,
  ...CHANNEL_TABLES,
  ALERT_RULES,
  ALERTS,
  WEBHOOK_DELIVERIES,
  PRIVACY_ERASURES,
  AUDIT_LOG,
] as const;

export interface ServiceOptions {
  /**
   * Answer before the ingest log an earlier run left is loaded into the store (`started` says when it is), so a
   * server can listen meanwhile and say it is not ready; by default createServices waits for it.
   */
  recoverInBackground?: boolean;
}

export async function createServices(
  config: Config,
  engine: Storage,
  onIngestError?: (message: string, cause: unknown) => void,
  options: ServiceOptions = {},
): Promise<Services> {
  const metrics = new Metrics();
  // Every part reads through this one, so every read is timed; the engine reports its own background work.
  const storage = timedReads(engine, metrics.storeRead);
  engine.observe?.(metrics.store);
  metrics.watchStore(engine);
  await storage.migrate(ENTITY_TABLES as never);
  const organizations = new Organizations(storage, { refreshMs: config.cacheTtlMs });
  const channelRecords = new ChannelRecords(storage, config.recordCacheSize);
  const kpiDefinitions = new KpiDefinitions(channelRecords, organizations);
  organizations.onCreate(async (org) => {
    await kpiDefinitions.seed(org.id);
  });
  const firstStart = await organizations.ensureDefault();
  // Organizations made before Channel Analytics existed (or before a definition was added) get the
  // first-party KPI event definitions they lack.
  for (const org of await organizations.list()) await kpiDefinitions.seed(org.id);
  const apiKeys = new ApiKeys(storage, { cacheTtlMs: config.cacheTtlMs });
  const searchTokens = new SearchTokens(organizations);
  // DuckDB's file lock already keeps a second process out of the data directory; a shared store does not.
  const unlock = config.storage.clickhouse ? lockDataDir(config.dataDir) : () => undefined;
  const writer = new GroupCommit(
    storage,
    await IngestLog.open(path.join(config.dataDir, 'ingest-log')),
    {
      capacity: config.queueCapacity,
      batchSize: config.batchSize,
      lingerMs: config.lingerMs,
      loadIntervalMs: config.loadIntervalMs,
      observer: metrics.ingest,
    },
    onIngestError,
  );
  metrics.watchWriter(writer, config.queueCapacity);
  const keys = new IdempotencyIndex(config.idempotencyKeys);
  let recovered = 0;
  const start = async () => {
    // Events acknowledged by an earlier run but not yet loaded (a crash) go into the store before any new one.
    recovered = await writer.recover();
    // Only now is every acknowledged event in the store, so the keys read back are all of them.
    const windows = new Map(
      (await organizations.list()).map((o) => [o.id, dedupWindowMs(ingestSettings(o))]),
    );
    const longest = Math.max(...windows.values(), 0);
    keys.load(await storage.keyedEvents(new Date(Date.now() - longest)), (org) => windows.get(org) ?? 0);
  };
  const started = start();
  if (options.recoverInBackground) {
    // No event is taken, and no read answered, before the recovered ones are in the store.
    writer.hold(started);
    started.catch(() => undefined);
  } else {
    await started;
  }
  const keySweeper = setInterval(() => keys.sweep(), 3_600_000);
  keySweeper.unref();
  const reader = new EventReader(storage, writer);
  const intake = new Intake(writer, keys, reader);
  const rejections = new Rejections(storage, organizations, config.rejectedPayloadBytes, onIngestError);
  rejections.onRecord(metrics.rejection);
  const visits = new VisitTracker(storage, config.visitTimeoutMinutes * 60_000, config.openVisits);
  const kpiEvents = new KpiEvents(channelRecords, kpiDefinitions, intake, reader, storage);
  const collector = new UaCollector(visits, intake);
  const channel = new ChannelAnalytics(channelRecords, kpiEvents, reader, intake);
  const batch = new EventBatch(collector, channel, intake, rejections, config.batchMaxEvents);
  const dimensions = new Dimensions(storage);
  const insights = new Insights(storage, reader, dimensions, organizations);
  const alertRules = new AlertRules(storage, dimensions);
  const alerts = new Alerts(storage);
  const webhooks = new Webhooks(storage, alertRules, {
    maxAttempts: config.webhookMaxAttempts,
    retryBaseMs: config.webhookRetryBaseMs,
    timeoutMs: config.webhookTimeoutMs,
  });
  webhooks.setObserver(metrics.webhookAttempt);
  const alertEvaluator = new AlertEvaluator(
    organizations,
    alertRules,
    alerts,
    webhooks,
    insights,
    config.alertIntervalSeconds,
  );
  const audit = new AuditLog(storage);
  const retention = new Retention(organizations, reader, storage, channelRecords, audit, {
    intervalSeconds: config.retentionSweepSeconds,
    onRemoved: metrics.retentionRemove,
  });
  const erasures = new Erasures({
    storage,
    writer,
    rejections,
    keys,
    channelRecords,
    audit,
  });
  let closing: Promise<void> | undefined;
  return {
    config,
    storage,
    organizations,
    apiKeys,
    searchTokens,
    authenticator: new Authenticator(config.masterKey, apiKeys, searchTokens),
    writer,
    intake,
    reader,
    rejections,
    visits,
    collector,
    batch,
    dimensions,
    insights,
    channelRecords,
    kpiDefinitions,
    kpiEvents,
    channel,
    alertRules,
    alerts,
    webhooks,
    alertEvaluator,
    forecasts: new Forecasts(insights),
    erasures,
    retention,
    audit,
    metrics,
    firstStart,
    started,
    get recovered() {
      return recovered;
    },
    close() {
      closing ??= (async () => {
        // Evaluations read the store and webhooks write it: both stop before it closes.
        await alertEvaluator.stop();
        await erasures.stop();
        await retention.stop();
        await writer.drain();
        clearInterval(keySweeper);
        await rejections.close();
        visits.close();
        await storage.close();
        unlock();
      })();
      return closing;
    },
  };
}
