import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { readConfig } from '../../src/core/config.ts';
import { DEFAULT_MEMORY_LIMIT } from '../../src/storage/duckdb/connection.ts';
import { eventually, type Receiver, startReceiver } from '../helpers/alerts.ts';
import { logEvents, startConversation } from '../helpers/channel.ts';
import { duckdbOnly } from '../helpers/engine.ts';
import { errorOf } from '../helpers/errors.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  removeDir,
  startServer,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * `GET /metrics` on the main port: who may scrape it, and that the series an operator watches exist, carry
 * the route pattern (never the URL), and move with the traffic. The separate listener (OPENUA_METRICS_ADDRESS)
 * is tested with `openua serve` in test/cli/operations.test.ts.
 */

let server: TestServer;
let receiver: Receiver;

before(async () => {
  // The receiver refuses the first attempt, so a delivery is retried, then delivered.
  receiver = await startReceiver((n) => (n === 1 ? 500 : 200));
  server = await startServer({
    env: {
      OPENUA_ALERT_INTERVAL_SECONDS: '1',
      OPENUA_WEBHOOK_RETRY_BASE_MS: '50',
    },
  });
});
after(async () => {
  await server.close();
  await receiver.close();
  removeDir(server.dataDir);
});

/** One scrape, as `metric{labels} value` lines (comments left out). */
async function scrape(token = server.masterKey): Promise<string[]> {
  const answer = await call<string>(`${server.url}/metrics`, { token });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.match(answer.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return answer.body.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/** The value of the series named exactly (name and labels as the exposition writes them), or 0. */
function seriesValue(lines: string[], series: string): number {
  const line = lines.find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const hasSeries = (lines: string[], name: string) =>
  lines.some((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));

const CUSTOM = '/rest/ua/v15/analytics/custom';

describe('GET /metrics: who may scrape', () => {
  it('without a credential: 401; a key without the metrics privilege: 403 naming it', async () => {
    errorOf(await call(`${server.url}/metrics`), 401, 'UNAUTHENTICATED');
    const reader = await createKey(server, ['analytics:read', 'admin']);
    const refused = errorOf(await call(`${server.url}/metrics`, { token: reader }), 403, 'FORBIDDEN');
    assert.deepEqual(
      refused.violations?.map((v) => [v.field, v.rule, v.limit]),
      [['credential', 'privilege', 'metrics']],
    );
  });

  it('the master key, and a key the master key made with the metrics privilege, may', async () => {
    await scrape();
    const scraper = await createKey(server, ['metrics']);
    const lines = await scrape(scraper);
    assert.ok(hasSeries(lines, 'openua_http_requests_total'));
  });

  it('an admin key may not grant the metrics privilege (it reads every organization): 403', async () => {
    const admin = await createKey(server, ['admin']);
    const answer = await call(`${server.url}/api/v1/orgs/default/keys`, {
      token: admin,
      body: { name: 'scraper', privileges: ['metrics'] },
    });
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.match(body.message, /master key.*"metrics" privilege/);
  });
});

describe('GET /metrics: the series, after some events and a refusal', () => {
  const eventType = `metrics-${randomUUID().slice(0, 8)}`;
  let baseline: string[];
  let afterwards: string[];

  before(async () => {
    baseline = await scrape();
    for (let i = 0; i < 3; i++) {
      const ok = await call(`${server.url}${CUSTOM_PATH}`, {
        token: server.masterKey,
        body: validCustomEvent({ eventType }),
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    }
    // Refused: no eventType (rule `required`), kept as a rejection.
    const refused = await call(`${server.url}${CUSTOM_PATH}`, {
      token: server.masterKey,
      body: { eventValue: 'x', language: 'en' },
    });
    assert.equal(refused.status, 400);
    // A read brings the store up to date (a load) and queries it.
    const read = await call(`${server.url}/api/v1/events?eventType=${eventType}`, {
      token: server.masterKey,
    });
    assert.equal(read.status, 200);
    // Organization reads by their pattern, and a URL no route matches.
    await call(`${server.url}/api/v1/orgs/default`, { token: server.masterKey });
    await call(`${server.url}/no/such/route-${eventType}`);
    afterwards = await scrape();
  });

  const moved = (series: string, by = 1) =>
    assert.ok(
      seriesValue(afterwards, series) - seriesValue(baseline, series) >= by,
      `${series}: ${seriesValue(baseline, series)} → ${seriesValue(afterwards, series)}`,
    );

  it('HTTP requests and their latency, by method, route pattern and status', () => {
    moved(`openua_http_requests_total{method="POST",route="${CUSTOM}",status="200"}`, 3);
    moved(`openua_http_requests_total{method="POST",route="${CUSTOM}",status="400"}`);
    moved(`openua_http_request_duration_seconds_count{method="POST",route="${CUSTOM}",status="200"}`, 3);
    assert.ok(
      afterwards.some((l) =>
        l.startsWith(
          `openua_http_request_duration_seconds_bucket{le="0.005",method="POST",route="${CUSTOM}",status="200"}`,
        ),
      ),
      'a latency histogram',
    );
    moved('openua_http_requests_total{method="GET",route="/api/v1/orgs/:org",status="200"}');
    moved('openua_http_requests_total{method="GET",route="unmatched",status="404"}');
    const text = afterwards.join('\n');
    assert.ok(!text.includes('/api/v1/orgs/default'), 'the pattern, never the URL');
    assert.ok(!text.includes(`route-${eventType}`), 'an unmatched URL is no label');
  });

  it('events acknowledged (by category) and rejected (by route and rule)', () => {
    moved('openua_events_acknowledged_total{category="custom"}', 3);
    moved(`openua_events_rejected_total{route="${CUSTOM}",rule="required"}`);
  });

  it('the ingest queue, shedding, log writes, loads and their lag', () => {
    for (const name of [
      'openua_ingest_queued_events',
      'openua_ingest_unloaded_events',
      'openua_ingest_queue_capacity_events',
      'openua_ingest_shed_events_total',
      'openua_ingest_loaded_events_total',
      'openua_ingest_dead_lettered_events_total',
    ]) {
      assert.ok(hasSeries(afterwards, name), name);
    }
    assert.equal(
      seriesValue(afterwards, 'openua_ingest_queue_capacity_events'),
      readConfig({}).queueCapacity,
    );
    moved('openua_ingest_log_write_duration_seconds_count{outcome="ok"}');
    moved('openua_ingest_load_duration_seconds_count{outcome="ok"}');
    moved('openua_ingest_load_lag_seconds_count');
    moved('openua_ingest_loaded_events_total', 3);
  });

  it('store reads, by operation', () => {
    moved('openua_store_query_duration_seconds_count{operation="queryEvents",outcome="ok"}');
    assert.ok(hasSeries(afterwards, 'openua_store_query_duration_seconds_bucket'));
  });

  it(
    "the store's memory by use, under its limit",
    duckdbOnly('DuckDB reports its memory; ClickHouse runs in another process'),
    () => {
      const uses = afterwards.filter((l) => l.startsWith('openua_store_memory_bytes{use="'));
      assert.ok(
        uses.some((l) => l.startsWith('openua_store_memory_bytes{use="IN_MEMORY_TABLE"}')),
        'the events just loaded are held somewhere',
      );
      const used = uses.reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
      const limit = seriesValue(afterwards, 'openua_store_memory_limit_bytes');
      assert.ok(used > 0 && used < limit, `${used} of ${limit}`);
      // The default limit (DEFAULT_MEMORY_LIMIT, in MB) as DuckDB keeps it, in its own units: within a part in a thousand.
      assert.ok(
        Math.abs(limit / (Number.parseInt(DEFAULT_MEMORY_LIMIT, 10) * 1e6) - 1) < 1e-3,
        String(limit),
      );
    },
  );

  it("the process's memory and event-loop lag", () => {
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      assert.ok(hasSeries(afterwards, name), name);
    }
  });
});

describe('GET /metrics: background work', () => {
  it(
    'KPI-unit rebuilds, after KPI events and a KPI query',
    duckdbOnly('ClickHouse computes KPI units per query: there are no rebuilds'),
    async () => {
      const rebuilt = seriesValue(await scrape(), 'openua_kpi_unit_rebuilds_total{outcome="rebuilt"}');
      const ids = await startConversation(server);
      const now = new Date();
      const logged = await logEvents(
        server,
        ids,
        [{ kpiEventName: 'ConversationQueued', eventTimestamp: now.toISOString() }],
        { eventName: 'ConversationQueued' },
      );
      assert.equal(logged.status, 200, JSON.stringify(logged.body));
      const query = await call(`${server.url}/api/v1/query`, {
        token: server.masterKey,
        body: {
          from: new Date(now.getTime() - 3_600_000).toISOString(),
          to: new Date(now.getTime() + 3_600_000).toISOString(),
          measures: ['conversations'],
        },
      });
      assert.equal(query.status, 200, JSON.stringify(query.body));
      const lines = await scrape();
      assert.ok(seriesValue(lines, 'openua_kpi_unit_rebuilds_total{outcome="rebuilt"}') > rebuilt);
      assert.ok(seriesValue(lines, 'openua_kpi_unit_rebuild_duration_seconds_count') >= 1);
      assert.ok(
        seriesValue(
          lines,
          'openua_store_query_duration_seconds_count{operation="aggregateUnits",outcome="ok"}',
        ) >= 1,
      );
    },
  );

  it('webhook deliveries by outcome: a refused attempt is retrying, the next one delivered', async () => {
    const eventType = `hook-${randomUUID().slice(0, 8)}`;
    const rule = await call(`${server.url}/api/v1/alert-rules`, {
      token: server.masterKey,
      body: {
        name: `metrics ${eventType}`,
        measure: 'count',
        filters: [{ field: 'eventType', op: 'eq', value: eventType }],
        comparison: 'ge',
        threshold: 1,
        windowMinutes: 10,
        webhookUrl: receiver.url,
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    const posted = await call(`${server.url}${CUSTOM_PATH}`, {
      token: server.masterKey,
      body: validCustomEvent({ eventType }),
    });
    assert.equal(posted.status, 200);
    await eventually(async () => {
      const lines = await scrape();
      return seriesValue(lines, 'openua_webhook_deliveries_total{outcome="delivered"}') >= 1
        ? lines
        : undefined;
    }, 'a delivered webhook').then((lines) =>
      assert.ok(seriesValue(lines, 'openua_webhook_deliveries_total{outcome="retrying"}') >= 1),
    );
  });
});
