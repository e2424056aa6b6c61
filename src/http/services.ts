import type { AlertRules } from '../alerts/alert-rules.ts';
import type { Alerts } from '../alerts/alerts.ts';
import type { AlertEvaluator } from '../alerts/evaluator.ts';
import type { Webhooks } from '../alerts/webhook.ts';
import type { ApiKeys } from '../auth/api-keys.ts';
import type { Authenticator } from '../auth/credential.ts';
import type { SearchTokens } from '../auth/search-tokens.ts';
import type { EventBatch } from '../batch/event-batch.ts';
import type { ChannelAnalytics } from '../channel/channel-analytics.ts';
import type { KpiDefinitions } from '../channel/kpi-definitions.ts';
import type { KpiEvents } from '../channel/kpi-events.ts';
import type { ChannelRecords } from '../channel/records.ts';
import type { Config } from '../core/config.ts';
import type { Forecasts } from '../forecast/forecasts.ts';
import type { EventReader } from '../ingest/event-reader.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import type { Intake } from '../ingest/intake.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { Organizations } from '../orgs/organizations.ts';
import type { AuditLog } from '../privacy/audit-log.ts';
import type { Erasures } from '../privacy/erasures.ts';
import type { Retention } from '../privacy/retention.ts';
import type { Dimensions } from '../query/dimensions.ts';
import type { Insights } from '../query/insights.ts';
import type { Storage } from '../storage/storage.ts';
import type { UaCollector } from '../ua/collector.ts';
import type { VisitTracker } from '../ua/visits.ts';
import type { Metrics } from './metrics.ts';

/** Every long-lived part of a server, built once over one storage. Built by startup (createServices); the app is assembled from it, and the CLI's admin commands reuse it. */
export interface Services {
  config: Config;
  storage: Storage;
  organizations: Organizations;
  apiKeys: ApiKeys;
  searchTokens: SearchTokens;
  authenticator: Authenticator;
  writer: GroupCommit;
  /** Idempotency keys, then the writer: how every event route commits. */
  intake: Intake;
  /** Reads stored events, each read first loading what waits in the ingest log. */
  reader: EventReader;
  rejections: Rejections;
  visits: VisitTracker;
  collector: UaCollector;
  batch: EventBatch;
  dimensions: Dimensions;
  /** Runs query specs: the query API's and the breach rules'. */
  insights: Insights;
  channelRecords: ChannelRecords;
  kpiDefinitions: KpiDefinitions;
  kpiEvents: KpiEvents;
  channel: ChannelAnalytics;
  /** Breach alerts: rules, their alerts, webhooks, and the evaluation loop (started by the server, not the CLI). */
  alertRules: AlertRules;
  alerts: Alerts;
  webhooks: Webhooks;
  alertEvaluator: AlertEvaluator;
  /** Arrivals forecasts and staffing, over the query API. */
  forecasts: Forecasts;
  /** Each organization's retention, swept in the background (started by the server, not the CLI). */
  retention: Retention;
  /** A person's erasures, run in the background one at a time (started by the server, not the CLI). */
  erasures: Erasures;
  /** Privacy and admin actions, append-only: who, what, when, how many rows. */
  audit: AuditLog;
  /** The Prometheus registry and the observers every part above reports to. */
  metrics: Metrics;
  /** Whether this start created the `default` organization (an empty data dir). */
  firstStart: boolean;
  /**
   * Settles once the ingest log an earlier run left is in the store and the idempotency keys are read back;
   * until then the writer refuses events (503) and readers wait. Already settled unless `recoverInBackground`.
   */
  started: Promise<void>;
  /** Acknowledged events an earlier run left in the ingest log, loaded at this start (once `started`). */
  readonly recovered: number;
  /** Drains the writer, then closes storage. */
  close(): Promise<void>;
}
