import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import {
  type DuckDBAppender,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTimestampValue,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import autocannon from 'autocannon';
import type { ClickHouseSettings } from '../src/core/config.ts';
import { GroupCommit, type IngestStats } from '../src/ingest/group-commit.ts';
import { IngestLog } from '../src/ingest/ingest-log.ts';
import type { CanonicalEvent } from '../src/model/canonical-event.ts';
import { newEventId } from '../src/model/event-id.ts';
import { COLUMN_TYPES } from '../src/storage/duckdb/values.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../src/storage/event-columns.ts';
import { openStorage } from '../src/storage/open-storage.ts';
import { canonicalEvent } from '../test/helpers/events.ts';
import {
  type BenchClickHouse,
  benchClickHouse,
  benchEngine,
  clickHouseEnv,
  clickHouseSettings,
  countEvents,
  dropDatabase,
  rawClient,
  runDatabase,
  storageSettings,
} from './clickhouse.ts';
import {
  envInt,
  fixed2,
  int,
  ms,
  percentile,
  ROOT,
  removeDir,
  runBench,
  type Server,
  startServer,
  stopServer,
  tempDir,
} from './processes.ts';

const DB_FILE = 'openua.duckdb';
const ENGINE = benchEngine();
/** The ClickHouse of a run on it, started in main. */
let clickhouseServer: BenchClickHouse | undefined;

const settings = {
  seconds: envInt('BENCH_DURATION', 10, 1),
  warmupSeconds: envInt('BENCH_WARMUP', 2, 0),
  connections: envInt('BENCH_CONNECTIONS', 50, 1),
  events: envInt('BENCH_EVENTS', 200_000, 100),
  profileDir: process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : undefined,
  kind: envKind(),
  batchConnections: envInt('BENCH_BATCH_CONNECTIONS', 8, 1),
};

function envKind(): 'custom' | 'search' | 'click' {
  const kind = process.env.BENCH_KIND || 'custom';
  if (kind === 'custom' || kind === 'search' || kind === 'click') return kind;
  throw new Error(`BENCH_KIND must be custom, search or click; received ${JSON.stringify(kind)}`);
}

// What OpenUA's server would be configured with, so the batch bench measures the writer as deployed.
const TX_ROWS = 5_000;
const EVENTS_PER_SUBMIT = 100;

// ---------------------------------------------------------------------------------------------------
// Output. Tools read the first line mentioning "ratio" as the headline figure, so any earlier line
// that happens to contain it ("duration", "configuration", ...) would be misread: refuse to print one.

const SINGLE_EVENT_RATIO = 'single-event ratio:';
let headlinePrinted = false;

function say(line = ''): void {
  if (line.startsWith(SINGLE_EVENT_RATIO)) headlinePrinted = true;
  else if (!headlinePrinted && /ratio/i.test(line)) {
    throw new Error(`bench bug: this line would be read as the headline figure: ${JSON.stringify(line)}`);
  }
  console.log(line);
}

// ---------------------------------------------------------------------------------------------------
// HTTP load.

const CLIENT_IDS = Array.from(
  { length: 50 },
  (_, i) => `5d2f7a10-8c3b-4e9a-b6d4-${(0x1e0f2a3b4c00 + i).toString(16).padStart(12, '0')}`,
);

/** What each kind of event a search page logs looks like: the fields the official client sends. */
const EVENT_BODIES = {
  custom: (i: number) => ({
    eventType: 'facet',
    eventValue: 'facetSearch',
    customData: { facet_id: '@objecttype', position: (i % 10) + 1, 'Facet Title': 'Type' },
  }),
  search: (i: number) => ({
    actionCause: 'searchboxSubmit',
    queryText: `reset password ${i}`,
    responseTime: 40 + i,
    numberOfResults: 120,
    searchQueryUid: `6a1f7a10-8c3b-4e9a-b6d4-${(0x2e0f2a3b4c00 + i).toString(16).padStart(12, '0')}`,
    queryPipeline: 'support',
    results: Array.from({ length: 10 }, (_, r) => ({
      documentUri: `https://kb.example.com/${r}`,
      documentUriHash: `h${r}`,
    })),
    facetState: [{ field: '@source', id: 'source', value: 'KB', state: 'selected', facetPosition: 1 }],
    customData: { context_role: 'customer' },
  }),
  click: (i: number) => ({
    actionCause: 'documentOpen',
    documentPosition: (i % 10) + 1,
    searchQueryUid: `6a1f7a10-8c3b-4e9a-b6d4-${(0x2e0f2a3b4c00 + i).toString(16).padStart(12, '0')}`,
    sourceName: 'Knowledge Base',
    documentUri: `https://kb.example.com/${i % 10}`,
    documentTitle: 'Resetting a password',
    documentUrl: `https://kb.example.com/${i % 10}`,
    queryPipeline: 'support',
    customData: { contentidkey: 'permanentid', contentidvalue: `kb-${i}` },
  }),
};
const EVENT_PATH = `/rest/ua/v15/analytics/${settings.kind}`;

// Rotating the visitor spreads events over 50 visits, as a real site's traffic would, instead of one.
const BODIES = CLIENT_IDS.map((clientId, i) =>
  JSON.stringify({ ...EVENT_BODIES[settings.kind](i), language: 'en', clientId, originLevel1: 'search' }),
);

interface Load {
  result: autocannon.Result;
  firstError: { status: number; body: string } | undefined;
}

async function load(server: Server, seconds: number, token: string): Promise<Load> {
  let firstError: Load['firstError'];
  const onResponse = (status: number, body: string) => {
    if (firstError === undefined && (status < 200 || status >= 300)) firstError = { status, body };
  };
  const result = await autocannon({
    url: `${server.url}${EVENT_PATH}`,
    method: 'POST',
    connections: settings.connections,
    duration: seconds,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: BODIES.map((body) => ({ body, onResponse })),
  });
  return { result, firstError };
}

/** The warm-up's responses are not measured but are counted: OpenUA stores those events too. */
async function warmUpAndMeasure(server: Server, token: string): Promise<{ warm?: Load; measured: Load }> {
  const warm = settings.warmupSeconds > 0 ? await load(server, settings.warmupSeconds, token) : undefined;
  return { warm, measured: await load(server, settings.seconds, token) };
}

const describeLoad = (r: autocannon.Result) =>
  `p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms; 2xx ${r['2xx']}, non-2xx ${r.non2xx}, ` +
  `socket errors ${r.errors} (timeouts ${r.timeouts})`;

async function countStored(file: string): Promise<number> {
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll('SELECT count(*) FROM events');
      return Number(reader.getRows()[0]?.[0] ?? 0);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** A store of one run of the bench: a directory (the server's ingest log, and DuckDB's file), and a database on ClickHouse. */
interface BenchStore {
  dataDir: string;
  clickhouse?: ClickHouseSettings;
  /** Events stored, as every query counts them. */
  count(): Promise<number>;
  remove(): Promise<void>;
}

function newStore(prefix: string): BenchStore {
  const dataDir = tempDir(prefix);
  if (!clickhouseServer) {
    return {
      dataDir,
      count: () => countStored(path.join(dataDir, DB_FILE)),
      remove: async () => removeDir(dataDir),
    };
  }
  const clickhouse = clickHouseSettings(
    clickhouseServer.url,
    runDatabase(`openua_bench_${prefix.replaceAll('-', '_')}`),
  );
  return {
    dataDir,
    clickhouse,
    count: () => countEvents(clickhouse),
    remove: async () => {
      removeDir(dataDir);
      await dropDatabase(clickhouse);
    },
  };
}

/** What `openua serve` needs to open a store. */
const serverEnv = (store: BenchStore) => ({
  OPENUA_DATA_DIR: store.dataDir,
  ...clickHouseEnv(store.clickhouse),
});

interface HttpFigures {
  bare: autocannon.Result;
  openua: autocannon.Result;
}

async function singleEventBench(): Promise<HttpFigures> {
  const masterKey = `bench_${randomBytes(16).toString('hex')}`;
  say('== single events over HTTP (one event per POST), one server at a time ==');

  const bare = await startServer(
    'bare route',
    ['--import', 'tsx', path.join(ROOT, 'bench/bare-server.ts')],
    {},
  );
  let bareLoad: Load;
  try {
    bareLoad = (await warmUpAndMeasure(bare, masterKey)).measured;
  } finally {
    await stopServer(bare);
  }
  const b = bareLoad.result;
  say(`bare route: ${int(b.requests.average)} req/s (mean), ${describeLoad(b)}`);
  if (b.non2xx > 0 || b.errors > 0) {
    throw new Error(
      `the bare route failed requests, so it is no baseline; first answer: ${JSON.stringify(bareLoad.firstError)}`,
    );
  }

  const store = newStore('server');
  const nodeFlags: string[] = [];
  if (settings.profileDir) {
    mkdirSync(settings.profileDir, { recursive: true });
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`);
  }
  const openua = await startServer('OpenUA', [...nodeFlags, path.join(ROOT, 'bin/openua.js'), 'serve'], {
    ...serverEnv(store),
    OPENUA_MASTER_KEY: masterKey,
    OPENUA_LOG_LEVEL: 'warn',
  });
  let loads: Awaited<ReturnType<typeof warmUpAndMeasure>>;
  let exitCode: number | null;
  try {
    loads = await warmUpAndMeasure(openua, masterKey);
  } finally {
    exitCode = await stopServer(openua);
  }
  const o = loads.measured.result;
  say(`OpenUA:     ${int(o.requests.average)} events/s (mean), ${describeLoad(o)}`);

  const warm = loads.warm?.result;
  const acknowledged = o['2xx'] + (warm?.['2xx'] ?? 0);
  const stored = await store.count();
  say(
    `OpenUA acknowledged 2xx: ${acknowledged} (warm-up ${warm?.['2xx'] ?? 0} + measured ${o['2xx']}), ` +
      `stored: ${stored}` +
      (stored > acknowledged ? ` (+${stored - acknowledged} in flight when autocannon stopped)` : ''),
  );

  const failures: string[] = [];
  const nonOk = o.non2xx + (warm?.non2xx ?? 0);
  const socketErrors = o.errors + (warm?.errors ?? 0);
  if (nonOk > 0) {
    const first = loads.warm?.firstError ?? loads.measured.firstError;
    failures.push(`${nonOk} non-2xx answers; the first: ${first?.status} ${first?.body}`);
  }
  if (socketErrors > 0) failures.push(`${socketErrors} socket errors or timeouts`);
  if (stored < acknowledged) failures.push(`${acknowledged - stored} acknowledged events were not stored`);
  if (exitCode !== 0) failures.push(`the server exited with ${exitCode} on SIGTERM:\n${openua.output()}`);
  await store.remove();
  if (failures.length > 0) throw new Error(`OpenUA failed under load:\n  ${failures.join('\n  ')}`);

  say(`${SINGLE_EVENT_RATIO} ${fixed2(o.requests.average / b.requests.average)}`);
  return { bare: b, openua: o };
}

// ---------------------------------------------------------------------------------------------------
// Batch writer against the raw appender.

const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const VISIT_IDS = CLIENT_IDS.map(() => newEventId());
const FACET_VALUES = ['facetSearch', 'facetSelect', 'facetDeselect', 'facetClearAll'];

/** Events as the UA collector builds them for the bodies above. */
function buildEvents(count: number): CanonicalEvent[] {
  const start = Date.now() - count;
  return Array.from({ length: count }, (_, i) => {
    const at = new Date(start + i);
    const visitor = CLIENT_IDS[i % CLIENT_IDS.length] as string;
    return canonicalEvent({
      org: 'default',
      eventType: 'facet',
      eventValue: FACET_VALUES[i % FACET_VALUES.length] as string,
      receivedTime: at,
      derivedTime: at,
      clientId: visitor,
      visitorId: visitor,
      visitId: VISIT_IDS[i % VISIT_IDS.length] as string,
      originContext: 'Search',
      originLevel1: 'search',
      originLevel2: 'default',
      userAgent: USER_AGENT,
      credentialId: 'master',
      customData: { facet_id: '@objecttype', position: String((i % 10) + 1), facet_title: 'Type' },
    });
  });
}

/** A fresh store whose events table OpenUA created, so both writers fill the same schema. */
async function freshStore(): Promise<BenchStore> {
  const store = newStore('batch');
  const storage = await openStorage(storageSettings(store.dataDir, store.clickhouse));
  await storage.migrate([]);
  await storage.close();
  return store;
}

const TEXT_LIST = LIST(VARCHAR);

const CHUNK_TYPES = [
  // The column types are OpenUA's (the same table); how rows get into them is the baseline's own.
  ...EVENT_COLUMNS.map((c) => COLUMN_TYPES[c.type]),
  TEXT_LIST,
  TEXT_LIST,
];
const RAW_CHUNK_ROWS = 2048;

// Written here rather than borrowed from DuckDBStorage: it is the baseline OpenUA is measured against, and
// the fastest way DuckDB's appender offers (columnar data chunks of its largest size, and a column that is
// null in every row marked so with one copy of its validity mask), not the per-value one.
function appendRaw(
  appender: DuckDBAppender,
  events: readonly CanonicalEvent[],
  from: number,
  to: number,
): void {
  for (let start = from; start < to; start += RAW_CHUNK_ROWS) {
    const end = Math.min(start + RAW_CHUNK_ROWS, to);
    const columns: DuckDBValue[][] = CHUNK_TYPES.map(() => []);
    for (let i = start; i < end; i++) {
      const event = events[i] as CanonicalEvent;
      EVENT_COLUMNS.forEach(({ field, type }, c) => {
        const value = event[field];
        (columns[c] as DuckDBValue[]).push(
          value === null || value === undefined
            ? null
            : type === 'timestamp'
              ? new DuckDBTimestampValue(BigInt((value as Date).getTime()) * 1000n)
              : (value as DuckDBValue),
        );
      });
      const keys = Object.keys(event.customData);
      (columns[EVENT_COLUMNS.length] as DuckDBValue[]).push(listValue(keys));
      (columns[EVENT_COLUMNS.length + 1] as DuckDBValue[]).push(
        listValue(keys.map((k) => event.customData[k] as string)),
      );
    }
    const chunk = DuckDBDataChunk.create(CHUNK_TYPES, end - start);
    columns.forEach((values, c) => {
      if (values.some((v) => v !== null)) {
        chunk.setColumnValues(c, values);
        return;
      }
      const vector = bindings.data_chunk_get_vector(chunk.chunk, c);
      const bytes = Math.ceil((end - start) / 64) * 8;
      bindings.vector_ensure_validity_writable(vector);
      bindings.copy_data_to_vector_validity(vector, 0, new ArrayBuffer(bytes), 0, bytes);
    });
    appender.appendDataChunk(chunk);
  }
}

interface BatchRun {
  seconds: number;
  stored: number;
  stats?: IngestStats;
}

async function rawAppenderRun(events: readonly CanonicalEvent[]): Promise<BatchRun> {
  const store = await freshStore();
  const file = path.join(store.dataDir, DB_FILE);
  const instance = await DuckDBInstance.create(file);
  const connection = await instance.connect();
  let seconds: number;
  try {
    const start = performance.now();
    for (let from = 0; from < events.length; from += TX_ROWS) {
      await connection.run('BEGIN TRANSACTION');
      const appender = await connection.createAppender('events');
      const to = Math.min(from + TX_ROWS, events.length);
      appendRaw(appender, events, from, to);
      appender.closeSync();
      await connection.run('COMMIT');
    }
    seconds = (performance.now() - start) / 1000;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const stored = await store.count();
  await store.remove();
  return { seconds, stored };
}

// Written here rather than borrowed from ClickHouseStorage, for the same reason as appendRaw: the rows of the
// events table OpenUA made (times as microseconds, booleans as 0/1, customData as key and value arrays, version 0
// as OpenUA appends), built once before the clock starts, so the baseline is ClickHouse taking JSONEachRow.
function clickHouseRows(events: readonly CanonicalEvent[]): Record<string, unknown>[] {
  return events.map((event) => {
    const row: Record<string, unknown> = {};
    for (const { column, field, type } of EVENT_COLUMNS) {
      const value = event[field];
      row[column] =
        value === null || value === undefined
          ? type === 'text[]'
            ? []
            : null
          : type === 'timestamp'
            ? (value as Date).getTime() * 1000
            : type === 'boolean'
              ? Number(value)
              : type === 'json'
                ? JSON.stringify(value)
                : value;
    }
    row[CUSTOM_KEYS_COLUMN] = Object.keys(event.customData);
    row[CUSTOM_VALUES_COLUMN] = Object.values(event.customData);
    row._version = 0;
    row._deleted = 0;
    return row;
  });
}

/** @clickhouse/client's insert of the rows in blocks of TX_ROWS, one INSERT after the other, as the writer loads. */
async function rawInsertRun(blocks: readonly Record<string, unknown>[][]): Promise<BatchRun> {
  const store = await freshStore();
  const client = rawClient(store.clickhouse as ClickHouseSettings);
  let seconds: number;
  try {
    const start = performance.now();
    for (const values of blocks) await client.insert({ table: 'events', values, format: 'JSONEachRow' });
    seconds = (performance.now() - start) / 1000;
  } finally {
    await client.close();
  }
  const stored = await store.count();
  await store.remove();
  return { seconds, stored };
}

async function groupCommitRun(events: readonly CanonicalEvent[]): Promise<BatchRun> {
  const store = await freshStore();
  const storage = await openStorage(storageSettings(store.dataDir, store.clickhouse));
  const writer = new GroupCommit(storage, await IngestLog.open(path.join(store.dataDir, 'ingest-log')), {
    capacity: 1_000_000,
    batchSize: TX_ROWS,
    lingerMs: 0,
    loadIntervalMs: 100,
  });
  // Cut before the clock starts: requests arrive already split, the writer never does this.
  const submits: CanonicalEvent[][] = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_SUBMIT)
    submits.push(events.slice(i, i + EVENTS_PER_SUBMIT));
  let seconds: number;
  try {
    const start = performance.now();
    await Promise.all(submits.map((batch) => writer.submit(batch)));
    // The raw appender's clock stops with its rows in the store; so does this one, log included.
    await writer.sync();
    seconds = (performance.now() - start) / 1000;
  } finally {
    await writer.drain();
    await storage.close();
  }
  const stored = await store.count();
  await store.remove();
  return { seconds, stored, stats: writer.stats() };
}

/** The writer's baseline on this run's engine: its name, how it writes, and what a store load is called. */
const BASELINE =
  ENGINE === 'duckdb'
    ? {
        name: 'raw appender',
        how: `raw appender (data chunks of ${RAW_CHUNK_ROWS} rows, ${TX_ROWS} rows per transaction)`,
        loads: 'store transactions',
      }
    : {
        name: 'raw insert',
        how: `raw JSONEachRow insert (@clickhouse/client, one INSERT per ${TX_ROWS} rows, rows built before the clock)`,
        loads: 'store inserts',
      };

interface BatchFigures {
  raw: number;
  openua: number;
}

async function batchWriterBench(): Promise<BatchFigures> {
  say();
  say(
    `== batch writer: ${settings.events} events, ${BASELINE.how} vs ` +
      `GroupCommit through its ingest log into the store (${settings.events / EVENTS_PER_SUBMIT} concurrent submits of ${EVENTS_PER_SUBMIT}, ` +
      `batchSize ${TX_ROWS}); each twice, alternating, best run kept ==`,
  );
  const events = buildEvents(settings.events);
  const blocks: Record<string, unknown>[][] = [];
  if (ENGINE === 'clickhouse') {
    const rows = clickHouseRows(events);
    for (let from = 0; from < rows.length; from += TX_ROWS) blocks.push(rows.slice(from, from + TX_ROWS));
  }
  const rawRun = () => (ENGINE === 'duckdb' ? rawAppenderRun(events) : rawInsertRun(blocks));
  const runs: { raw: BatchRun[]; openua: BatchRun[] } = { raw: [], openua: [] };
  for (let round = 1; round <= 2; round++) {
    for (const kind of ['raw', 'openua'] as const) {
      const run = kind === 'raw' ? await rawRun() : await groupCommitRun(events);
      if (run.stored !== events.length) {
        throw new Error(`${kind} run ${round} stored ${run.stored} of ${events.length} events`);
      }
      runs[kind].push(run);
      const label = (kind === 'raw' ? BASELINE.name : 'OpenUA').padEnd(12);
      const commits = run.stats
        ? `, ${run.stats.logWrites} log writes and ${run.stats.loads} ${BASELINE.loads} of ${int(run.stats.loadedEvents / Math.max(run.stats.loads, 1))} events on average`
        : '';
      say(
        `${label} run ${round}: ${int(events.length / run.seconds)} rows/s (${run.seconds.toFixed(2)} s)${commits}`,
      );
    }
  }
  const best = (list: BatchRun[]) => Math.min(...list.map((r) => r.seconds));
  const raw = events.length / best(runs.raw);
  const openua = events.length / best(runs.openua);
  say(`best of 2: OpenUA ${int(openua)} rows/s, ${BASELINE.name} ${int(raw)} rows/s`);
  say(`batch writer ratio: ${fixed2(openua / raw)}`);
  return { raw, openua };
}

interface BatchLoad {
  size: number;
  /** Events in batches answered 200, per second of measured load. */
  events: number;
  p99: number;
}

/** Batches of `size` events of BENCH_KIND, each as the single-event part sends it, kind-tagged. */
function batchBody(size: number): string {
  return JSON.stringify({
    events: Array.from({ length: size }, (_, i) => ({
      kind: settings.kind,
      ...JSON.parse(BODIES[i % BODIES.length] as string),
    })),
  });
}

interface BatchRunFigures {
  accepted: number;
  /** Batches answered 200 after the run's end (in flight when it ended): stored, not measured. */
  warmAccepted: number;
  shed: number;
  seconds: number;
  latencies: number[];
}

/**
 * A backend sending batches as a well-behaved client does: BENCH_BATCH_CONNECTIONS senders, each posting
 * its next batch when the last is answered, and waiting as long as Retry-After says when one is shed
 * (autocannon would resend at once, measuring how fast the server refuses rather than what it stores).
 */
async function driveBatches(
  url: string,
  token: string,
  body: string,
  seconds: number,
): Promise<BatchRunFigures> {
  const figures: BatchRunFigures = { accepted: 0, warmAccepted: 0, shed: 0, seconds, latencies: [] };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const sender = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      const response = await fetch(url, { method: 'POST', headers, body });
      const text = await response.text();
      const answered = performance.now();
      if (response.status === 503) {
        figures.shed++;
        const wait = Number(response.headers.get('retry-after') ?? 1) * 1000;
        await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, deadline - answered))));
        continue;
      }
      if (response.status !== 200 || text.includes('"rejected"')) {
        throw new Error(`a batch failed: ${response.status} ${text.slice(0, 500)}`);
      }
      if (answered > deadline) figures.warmAccepted++;
      else {
        figures.accepted++;
        figures.latencies.push(answered - sent);
      }
    }
  };
  await Promise.all(Array.from({ length: settings.batchConnections }, sender));
  return figures;
}

async function batchHttpBench(): Promise<BatchLoad[]> {
  const masterKey = `bench_${randomBytes(16).toString('hex')}`;
  say('== batches over HTTP (POST /api/v1/events/batch) ==');
  const store = newStore('batch-http');
  const openua = await startServer('OpenUA', [path.join(ROOT, 'bin/openua.js'), 'serve'], {
    ...serverEnv(store),
    OPENUA_MASTER_KEY: masterKey,
    OPENUA_LOG_LEVEL: 'warn',
  });
  const loads: BatchLoad[] = [];
  let acknowledged = 0;
  let exitCode: number | null;
  try {
    for (const size of [100, 1000]) {
      const body = batchBody(size);
      const url = `${openua.url}/api/v1/events/batch`;
      const warm =
        settings.warmupSeconds > 0
          ? await driveBatches(url, masterKey, body, settings.warmupSeconds)
          : undefined;
      const run = await driveBatches(url, masterKey, body, settings.seconds);
      acknowledged +=
        (run.accepted + run.warmAccepted + (warm ? warm.accepted + warm.warmAccepted : 0)) * size;
      const events = (run.accepted * size) / run.seconds;
      const p99 = percentile(run.latencies, 0.99);
      say(
        `batches of ${size}: ${int(events)} events/s accepted (${run.accepted} batches), ${run.shed} shed with 503 ` +
          `and retried after Retry-After; per request p50 ${ms(percentile(run.latencies, 0.5))} ms, p99 ${ms(p99)} ms`,
      );
      loads.push({ size, events, p99 });
    }
  } finally {
    exitCode = await stopServer(openua);
  }
  const stored = await store.count();
  await store.remove();
  if (exitCode !== 0) throw new Error(`the server exited with ${exitCode} on SIGTERM:\n${openua.output()}`);
  if (stored < acknowledged) throw new Error(`${acknowledged - stored} acknowledged events were not stored`);
  say(`acknowledged ${acknowledged} events in accepted batches, stored ${stored}`);
  return loads;
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU';
  say(`OpenUA ingest bench: node ${process.version}, ${availableParallelism()} CPUs (${cpuModel})`);
  say(
    `settings: ${settings.seconds} s measured load per server after ${settings.warmupSeconds} s of warm-up, ` +
      `${settings.connections} connections, ${settings.events} events per batch-writer run` +
      (settings.profileDir ? `, CPU profile of OpenUA to ${settings.profileDir}` : ''),
  );
  if (ENGINE === 'clickhouse') {
    clickhouseServer = await benchClickHouse();
    say(
      `engine: ClickHouse at ${clickhouseServer.url}` +
        (clickhouseServer.started ? ' (a server started for this run)' : '') +
        ', a database of its own for each store',
    );
  }
  say();
  let http: HttpFigures;
  let batches: BatchLoad[];
  let batch: BatchFigures;
  try {
    http = await singleEventBench();
    say();
    batches = await batchHttpBench();
    say();
    batch = await batchWriterBench();
  } finally {
    await clickhouseServer?.stop();
  }
  const { bare, openua } = http;
  say();
  say('== summary ==');
  say(
    `single-event: openua ${int(openua.requests.average)} ev/s (p50 ${ms(openua.latency.p50)} ms, ` +
      `p99 ${ms(openua.latency.p99)} ms) vs bare ${int(bare.requests.average)} req/s ` +
      `(p50 ${ms(bare.latency.p50)} ms, p99 ${ms(bare.latency.p99)} ms)`,
  );
  say(`${SINGLE_EVENT_RATIO} ${fixed2(openua.requests.average / bare.requests.average)}`);
  say(`batch writer: openua ${int(batch.openua)} ev/s vs ${BASELINE.name} ${int(batch.raw)} rows/s`);
  say(`batch writer ratio: ${fixed2(batch.openua / batch.raw)}`);
  for (const { size, events, p99 } of batches) {
    say(
      `HTTP batches of ${size}: ${int(events)} ev/s, p99 ${ms(p99)} ms per request; ` +
        `ratio to the ${BASELINE.name}: ${fixed2(events / batch.raw)}`,
    );
  }
}

await runBench(main);
