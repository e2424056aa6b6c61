import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AttemptOutcome } from '../alerts/webhook.ts';
import type { GroupCommit, IngestObserver } from '../ingest/group-commit.ts';
import type { EventCategory } from '../model/canonical-event.ts';
import type { Storage, StorageObserver } from '../storage/storage.ts';
import type { ReadObserver } from '../storage/timed-reads.ts';

/** Latencies of a request or a store read: 1 ms to 10 s. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A synchronous log write: 0.1 ms to 1 s. */
const LOG_WRITE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** A load transaction, and how long events wait for it: 5 ms to a minute. */
const LOAD_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The label of a request that matched no route (404s), so that raw URLs never become labels. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The server's Prometheus metrics: one registry, the metrics in it, and the observers handed to the parts
 * that report to it (the writer, the store, rejections, webhooks), which know nothing of Prometheus.
 * Served by `GET /metrics` (or on OPENUA_METRICS_ADDRESS); each metric is described in the README.
 */
export class Metrics {
  readonly registry = new Registry();
  private processMetrics = false;

  private readonly httpRequests = new Counter({
    name: 'openua_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'openua_http_request_duration_seconds',
    help: 'Time from receiving a request to answering it, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [this.registry],
  });
  private readonly acknowledged = new Counter({
    name: 'openua_events_acknowledged_total',
    help: 'Events written to the ingest log and acknowledged, by category (duplicates of stored events are not)',
    labelNames: ['category'] as const,
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'openua_events_rejected_total',
    help: 'Events refused and kept as rejections, by route pattern and violated rule (once per distinct rule)',
    labelNames: ['route', 'rule'] as const,
    registers: [this.registry],
  });
  private readonly rateLimited = new Counter({
    name: 'openua_rate_limited_requests_total',
    help: 'Requests refused with 429 because their credential was over its rate limit, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly logWrites = new Histogram({
    name: 'openua_ingest_log_write_duration_seconds',
    help: 'One synchronous write to the ingest log (a group of events), by outcome',
    labelNames: ['outcome'] as const,
    buckets: LOG_WRITE_BUCKETS,
    registers: [this.registry],
  });
  private readonly loads = new Histogram({
    name: 'openua_ingest_load_duration_seconds',
    help: 'One transaction loading acknowledged events into the store, by outcome',
    labelNames: ['outcome'] as const,
    buckets: LOAD_BUCKETS,
    registers: [this.registry],
  });
  private readonly loadLag = new Histogram({
    name: 'openua_ingest_load_lag_seconds',
    help: 'At each load, how long the oldest event loaded had waited in the ingest log since its acknowledgement',
    buckets: LOAD_BUCKETS,
    registers: [this.registry],
  });
  private readonly storeReads = new Histogram({
    name: 'openua_store_query_duration_seconds',
    help: 'One read from the store (a query, an aggregate, an entity read), by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [this.registry],
  });
  private readonly unitRebuilds = new Counter({
    name: 'openua_kpi_unit_rebuilds_total',
    help: 'KPI-unit rebuild transactions (a chunk of marked conversations and agents), by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly unitRebuildDuration = new Histogram({
    name: 'openua_kpi_unit_rebuild_duration_seconds',
    help: 'One KPI-unit rebuild transaction',
    buckets: LOAD_BUCKETS,
    registers: [this.registry],
  });
  private readonly webhookAttempts = new Counter({
    name: 'openua_webhook_deliveries_total',
    help: 'Alert webhook attempts by outcome: delivered, retrying (failed, another attempt is due), failed (for good), cancelled',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly retentionRemoved = new Counter({
    name: 'openua_retention_removed_total',
    help: 'Rows the retention sweep removed, by kind: events, kpiEvents, records (docs/operations/retention.md)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** The writer's log writes, loads and acknowledgements. */
  readonly ingest: IngestObserver = {
    acknowledged: (events) => {
      const counts = new Map<EventCategory, number>();
      for (const event of events) counts.set(event.category, (counts.get(event.category) ?? 0) + 1);
      for (const [category, count] of counts) this.acknowledged.inc({ category }, count);
    },
    logWrite: (seconds, ok) => this.logWrites.observe({ outcome: ok ? 'ok' : 'error' }, seconds),
    load: (seconds, ok, lagSeconds) => {
      this.loads.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
      if (ok) this.loadLag.observe(lagSeconds);
    },
  };

  /** The store's reads (see timedReads). */
  readonly storeRead: ReadObserver = (operation, seconds, ok) =>
    this.storeReads.observe({ operation, outcome: ok ? 'ok' : 'error' }, seconds);

  /** The store's background work. */
  readonly store: StorageObserver = {
    unitsRebuilt: (outcome, seconds) => {
      this.unitRebuilds.inc({ outcome });
      if (outcome === 'rebuilt') this.unitRebuildDuration.observe(seconds);
    },
  };

  /** A rejection kept (or dropped) by Rejections. */
  readonly rejection = (route: string, rules: readonly string[]) => {
    for (const rule of rules) this.rejected.inc({ route, rule });
  };

  readonly webhookAttempt = (outcome: AttemptOutcome) => this.webhookAttempts.inc({ outcome });

  readonly rateLimit = (kind: string) => this.rateLimited.inc({ kind });

  readonly retentionRemove = (kind: string, rows: number) => this.retentionRemoved.inc({ kind }, rows);

  /** The writer's queue and counters, read at each scrape. */
  watchWriter(writer: GroupCommit, capacity: number): void {
    const stats = () => writer.stats();
    new Gauge({
      name: 'openua_ingest_queued_events',
      help: 'Events submitted and not yet written to the ingest log',
      registers: [this.registry],
      collect() {
        this.set(stats().queued);
      },
    });
    new Gauge({
      name: 'openua_ingest_unloaded_events',
      help: 'Events acknowledged (in the ingest log) and not yet loaded into the store',
      registers: [this.registry],
      collect() {
        this.set(stats().unloaded);
      },
    });
    new Gauge({
      name: 'openua_ingest_queue_capacity_events',
      help: 'OPENUA_QUEUE_CAPACITY: queued plus unloaded events beyond which new events are shed with 503',
      registers: [this.registry],
      collect() {
        this.set(capacity);
      },
    });
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    total(
      'openua_ingest_shed_events_total',
      'Events refused with 503 because the ingest queue was full',
      () => stats().shed,
    );
    total('openua_ingest_loaded_events_total', 'Events loaded into the store', () => stats().loadedEvents);
    total(
      'openua_ingest_failed_loads_total',
      'Load transactions the store refused (they are retried)',
      () => stats().failedLoads,
    );
    total(
      'openua_ingest_dead_lettered_events_total',
      'Acknowledged events the store refused even alone, set aside in ingest-log/dead-letter.jsonl',
      () => stats().deadLettered,
    );
  }

  /** The store's own memory, read at each scrape, when the engine reports it. */
  watchStore(storage: Storage): void {
    const memory = storage.memory?.bind(storage);
    if (!memory) return;
    new Gauge({
      name: 'openua_store_memory_bytes',
      help: 'Memory the store engine holds now, by what holds it (DuckDB: BASE_TABLE cached, IN_MEMORY_TABLE not yet saved, HASH_TABLE…)',
      labelNames: ['use'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [use, bytes] of Object.entries((await memory()).byUse)) this.set({ use }, bytes);
      },
    });
    new Gauge({
      name: 'openua_store_memory_limit_bytes',
      help: 'The most the store engine may hold before it spills to disk (OPENUA_STORE_MEMORY_LIMIT)',
      registers: [this.registry],
      async collect() {
        this.set((await memory()).limitBytes);
      },
    });
  }

  /** Process memory, CPU, handles, garbage collection and event-loop lag (prom-client's defaults). Once. */
  enableProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Counts and times every request by the route that answered it: the pattern it was declared with
   * (`/api/v1/orgs/:org`), never the URL, so that labels stay few whatever clients send.
   */
  installHttp(app: FastifyInstance): void {
    // Callback-style: an async hook costs every request a promise.
    app.addHook('onResponse', (request, reply, done) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        status: String(reply.statusCode),
      };
      this.httpRequests.inc(labels);
      this.httpDuration.observe(labels, reply.elapsedTime / 1000);
      done();
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
