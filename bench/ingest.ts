/**
 * `npm run bench:ingest`: what a user needs to know about getting events in, each figure against a baseline
 * measured in the same run (the machine's speed cancels out of the ratios; the absolute numbers are this
 * machine's), and the peak resident memory (VmHWM) of the process that did the work beside each figure.
 *
 * 1. single: one event per POST, OpenUA's UA route against a bare Fastify route (bench/bare-server.ts) at full
 *    load, then both at half the bare route's rate (autocannon's overallRate, the same connections), where the
 *    latency a site sees is the figure. The first line mentioning "ratio" is the single-event ratio.
 * 2. batches: `POST /api/v1/events/batch` of 100 and of 1000 events, from well-behaved senders.
 * 3. writer: the same events (in memory, built before the clock) into a fresh store, each run in a child
 *    process of its own (so its peak memory is its own): OpenUA's GroupCommit through its ingest log into the
 *    store, against DuckDB's native loader (the events written as newline-delimited JSON, then
 *    `INSERT INTO events BY NAME SELECT * FROM read_json(…)` into the table OpenUA made; the file write is
 *    timed, as OpenUA's writer writes its log) and, for history, the raw appender fed from JavaScript. On
 *    ClickHouse the baseline is a raw JSONEachRow insert of the same rows.
 *
 * Environment: BENCH_INGEST_ONLY (a part or parts separated by commas: single, batches, writer; all by
 * default), BENCH_DURATION (10 s of measured load per server and rate), BENCH_WARMUP (2 s), BENCH_CONNECTIONS
 * (50), BENCH_BATCH_CONNECTIONS (8 batch senders), BENCH_EVENTS (200000 per writer run), BENCH_KIND (custom,
 * search or click), BENCH_STORE_MEMORY_LIMIT (DuckDB's memory_limit in every writer run; 256MB, above the
 * server's default: see STORE_MEMORY_LIMIT), BENCH_PROFILE_DIR (a CPU profile of the single-event server there), `--engine clickhouse`
 * (or BENCH_ENGINE; BENCH_CLICKHOUSE_URL for a server of one's own).
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
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
  memoryParts,
  ms,
  peakRssMb,
  percentile,
  ROOT,
  removeDir,
  resetPeakRss,
  rssMb,
  runBench,
  runNode,
  type Server,
  startServer,
  stopServer,
  tempDir,
} from './processes.ts';

const DB_FILE = 'openua.duckdb';
const ENGINE = benchEngine();
/** The ClickHouse of a run on it, started in main (or, in a writer run's child, the parent's). */
let clickhouseServer: BenchClickHouse | undefined;

const PARTS = ['single', 'batches', 'writer'] as const;
type Part = (typeof PARTS)[number];

function envParts(): Set<Part> {
  const raw = process.env.BENCH_INGEST_ONLY;
  if (!raw) return new Set(PARTS);
  const parts = raw.split(',').map((p) => p.trim());
  const unknown = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length > 0 || parts.length === 0) {
    throw new Error(
      `BENCH_INGEST_ONLY must be one or more of ${PARTS.join(', ')} separated by commas; received ${JSON.stringify(raw)}`,
    );
  }
  return new Set(parts as Part[]);
}

const settings = {
  seconds: envInt('BENCH_DURATION', 10, 1),
  warmupSeconds: envInt('BENCH_WARMUP', 2, 0),
  connections: envInt('BENCH_CONNECTIONS', 50, 1),
  events: envInt('BENCH_EVENTS', 200_000, 100),
  profileDir: process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : undefined,
  kind: envKind(),
  batchConnections: envInt('BENCH_BATCH_CONNECTIONS', 8, 1),
  parts: envParts(),
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

/** `seconds` of load on the event route; at most `rate` requests a second over all connections, if given. */
async function load(server: Server, seconds: number, token: string, rate?: number): Promise<Load> {
  let firstError: Load['firstError'];
  const onResponse = (status: number, body: string) => {
    if (firstError === undefined && (status < 200 || status >= 300)) firstError = { status, body };
  };
  const result = await autocannon({
    url: `${server.url}${EVENT_PATH}`,
    method: 'POST',
    connections: settings.connections,
    duration: seconds,
    ...(rate !== undefined && { overallRate: rate }),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: BODIES.map((body) => ({ body, onResponse })),
  });
  return { result, firstError };
}

/** One server's figures: at full load (after a warm-up), then at a set rate, and its peak memory after each. */
interface ServerLoads {
  warm?: Load;
  full: Load;
  fullPeakMb: number;
  /** Where the server's memory is just after the full load (OpenUA's /metrics; the bare route has none). */
  fullParts: string;
  half?: Load;
  halfPeakMb?: number;
}

/**
 * The warm-up's responses are not measured but are counted: OpenUA stores those events too. `halfRate` is
 * the rate of the second load; a function, because the bare route's is half its own full load.
 */
async function measureServer(
  server: Server,
  token: string,
  halfRate: (full: autocannon.Result) => number,
): Promise<ServerLoads> {
  const pid = server.child.pid as number;
  const warm = settings.warmupSeconds > 0 ? await load(server, settings.warmupSeconds, token) : undefined;
  const full = await load(server, settings.seconds, token);
  const fullPeakMb = peakRssMb(pid);
  const fullParts = (await memoryParts(server.url, token)).text;
  const half = await load(server, settings.seconds, token, Math.max(1, Math.round(halfRate(full.result))));
  return { warm, full, fullPeakMb, fullParts, half, halfPeakMb: peakRssMb(pid) };
}

const describeLoad = (r: autocannon.Result) =>
  `p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms; 2xx ${r['2xx']}, non-2xx ${r.non2xx}, ` +
  `socket errors ${r.errors} (timeouts ${r.timeouts})`;

const peak = (mb: number | undefined) => `peak RSS ${int(mb ?? 0)} MB`;

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
  bare: ServerLoads;
  openua: ServerLoads;
  /** The rate of the second load on both: half the bare route's at full load. */
  halfRate: number;
}

async function singleEventBench(): Promise<HttpFigures> {
  const masterKey = `bench_${randomBytes(16).toString('hex')}`;
  say(
    '== single events over HTTP (one event per POST), one server at a time: full load, then half the bare ' +
      "route's rate ==",
  );

  const bare = await startServer(
    'bare route',
    ['--import', 'tsx', path.join(ROOT, 'bench/bare-server.ts')],
    {},
  );
  let bareLoads: ServerLoads;
  try {
    bareLoads = await measureServer(bare, masterKey, (full) => full.requests.average / 2);
  } finally {
    await stopServer(bare);
  }
  const b = bareLoads.full.result;
  const halfRate = Math.max(1, Math.round(b.requests.average / 2));
  say(
    `bare route: ${int(b.requests.average)} req/s (mean), ${describeLoad(b)}; ${peak(bareLoads.fullPeakMb)}`,
  );
  for (const { result, firstError } of [bareLoads.full, bareLoads.half as Load]) {
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(
        `the bare route failed requests, so it is no baseline; first answer: ${JSON.stringify(firstError)}`,
      );
    }
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
  let loads: ServerLoads;
  let exitCode: number | null;
  try {
    loads = await measureServer(openua, masterKey, () => halfRate);
  } finally {
    exitCode = await stopServer(openua);
  }
  const o = loads.full.result;
  say(
    `OpenUA:     ${int(o.requests.average)} events/s (mean), ${describeLoad(o)}; ${peak(loads.fullPeakMb)}`,
  );
  say(`  the server's memory just after: ${loads.fullParts}`);

  const runs = [loads.warm, loads.full, loads.half].filter((l): l is Load => l !== undefined);
  const acknowledged = runs.reduce((sum, l) => sum + l.result['2xx'], 0);
  const stored = await store.count();
  say(
    `OpenUA acknowledged 2xx: ${acknowledged} (warm-up, full load and half rate), stored: ${stored}` +
      (stored > acknowledged ? ` (+${stored - acknowledged} in flight when autocannon stopped)` : ''),
  );

  const failures: string[] = [];
  const nonOk = runs.reduce((sum, l) => sum + l.result.non2xx, 0);
  const socketErrors = runs.reduce((sum, l) => sum + l.result.errors, 0);
  if (nonOk > 0) {
    const first = runs.find((l) => l.firstError)?.firstError;
    failures.push(`${nonOk} non-2xx answers; the first: ${first?.status} ${first?.body}`);
  }
  if (socketErrors > 0) failures.push(`${socketErrors} socket errors or timeouts`);
  if (stored < acknowledged) failures.push(`${acknowledged - stored} acknowledged events were not stored`);
  if (exitCode !== 0) failures.push(`the server exited with ${exitCode} on SIGTERM:\n${openua.output()}`);
  await store.remove();
  if (failures.length > 0) throw new Error(`OpenUA failed under load:\n  ${failures.join('\n  ')}`);

  say(`${SINGLE_EVENT_RATIO} ${fixed2(o.requests.average / b.requests.average)}`);
  for (const [name, l] of [
    ['bare route', bareLoads],
    ['OpenUA', loads],
  ] as const) {
    const r = (l.half as Load).result;
    say(
      `at half the bare rate (${halfRate} req/s offered), ${name}: ${int(r.requests.average)} req/s, ` +
        `${describeLoad(r)}; ${peak(l.halfPeakMb)}`,
    );
  }
  return { bare: bareLoads, openua: loads, halfRate };
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

/** What one writer run measured, in the child that ran it. */
interface BatchRun {
  seconds: number;
  stored: number;
  /** The peak resident memory of the run's process from the clock's start to its end, in MB. */
  peakMb: number;
  /** What the process held when the clock started (the events, built before it), in MB. */
  heldMb: number;
  stats?: IngestStats;
  /** The native loader's two steps: writing the file, and loading it. */
  writeSeconds?: number;
  loadSeconds?: number;
}

type Timed = Omit<BatchRun, 'stored' | 'peakMb' | 'heldMb'>;

const WRITER_MEMORY_LIMIT = '256MB';

/**
 * DuckDB's memory limit in every writer run, OpenUA's and the baselines' alike: 256MB unless
 * BENCH_STORE_MEMORY_LIMIT says otherwise. Not the server's default (DEFAULT_MEMORY_LIMIT, 192MB): the native
 * loader's one statement of 200,000 events runs out of memory under it, where OpenUA's loads of a segment each
 * do not. It weighs on the native loader most (at 200,000 events its load took about twice as long under 256MB
 * as under DuckDB's default of 80% of the machine).
 */
const STORE_MEMORY_LIMIT = process.env.BENCH_STORE_MEMORY_LIMIT || WRITER_MEMORY_LIMIT;
const STORE_OPTIONS = { memory_limit: STORE_MEMORY_LIMIT };

async function rawAppenderRun(events: readonly CanonicalEvent[], store: BenchStore): Promise<Timed> {
  const file = path.join(store.dataDir, DB_FILE);
  const instance = await DuckDBInstance.create(file, STORE_OPTIONS);
  const connection = await instance.connect();
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
    return { seconds: (performance.now() - start) / 1000 };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** One event as a line of the store's row shape: a field per column, under the column's name. */
function nativeLine(event: CanonicalEvent): string {
  const row: Record<string, unknown> = {};
  for (const { column, field, type } of EVENT_COLUMNS) {
    const value = event[field];
    if (value === null || value === undefined) continue;
    // Dates go as JSON writes them (ISO 8601 in UTC, which DuckDB reads into a TIMESTAMP exactly, to the ms).
    row[column] = type === 'json' ? JSON.stringify(value) : value;
  }
  row[CUSTOM_KEYS_COLUMN] = Object.keys(event.customData);
  row[CUSTOM_VALUES_COLUMN] = Object.values(event.customData);
  return `${JSON.stringify(row)}\n`;
}

const sqlText = (text: string) => `'${text.replaceAll("'", "''")}'`;

// DuckDB's own bulk loader, the ceiling of any loader driven from JavaScript: the events written once to a
// newline-delimited JSON file (and made durable, as OpenUA's log is), then read and inserted by DuckDB in its
// native threads, in one statement, into the table OpenUA made. The columns are the table's own, read from it.
async function nativeLoaderRun(events: readonly CanonicalEvent[], store: BenchStore): Promise<Timed> {
  const instance = await DuckDBInstance.create(path.join(store.dataDir, DB_FILE), STORE_OPTIONS);
  const connection = await instance.connect();
  const file = path.join(store.dataDir, 'events.ndjson');
  try {
    const columns = (
      await connection.runAndReadAll(
        `SELECT column_name, data_type FROM information_schema.columns
          WHERE table_name = 'events' ORDER BY ordinal_position`,
      )
    ).getRowObjectsJS();
    const load =
      `INSERT INTO events BY NAME SELECT * FROM read_json(${sqlText(file)}, format = 'newline_delimited', ` +
      `columns = {${columns.map((c) => `${sqlText(String(c.column_name))}: ${sqlText(String(c.data_type))}`).join(', ')}})`;
    const start = performance.now();
    const fd = openSync(file, 'w');
    try {
      // In pieces of TX_ROWS lines, as the log is written: one string of every line would be a copy of them all.
      for (let from = 0; from < events.length; from += TX_ROWS) {
        let text = '';
        for (let i = from; i < Math.min(from + TX_ROWS, events.length); i++)
          text += nativeLine(events[i] as CanonicalEvent);
        writeSync(fd, text);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const written = performance.now();
    await connection.run(load);
    const loaded = performance.now();
    return {
      seconds: (loaded - start) / 1000,
      writeSeconds: (written - start) / 1000,
      loadSeconds: (loaded - written) / 1000,
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
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
async function rawInsertRun(
  events: readonly CanonicalEvent[],
  store: BenchStore,
): Promise<() => Promise<Timed>> {
  const rows = clickHouseRows(events);
  const blocks: Record<string, unknown>[][] = [];
  for (let from = 0; from < rows.length; from += TX_ROWS) blocks.push(rows.slice(from, from + TX_ROWS));
  return async () => {
    const client = rawClient(store.clickhouse as ClickHouseSettings);
    try {
      const start = performance.now();
      for (const values of blocks) await client.insert({ table: 'events', values, format: 'JSONEachRow' });
      return { seconds: (performance.now() - start) / 1000 };
    } finally {
      await client.close();
    }
  };
}

// Through the public GroupCommit and Storage API only, as the server uses them: whatever way the writer loads
// the store is what is measured.
async function groupCommitRun(
  events: readonly CanonicalEvent[],
  store: BenchStore,
): Promise<() => Promise<Timed>> {
  const storage = await openStorage({
    ...storageSettings(store.dataDir, store.clickhouse),
    memoryLimit: STORE_MEMORY_LIMIT,
  });
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
  return async () => {
    try {
      const start = performance.now();
      await Promise.all(submits.map((batch) => writer.submit(batch)));
      // The baselines' clocks stop with their rows in the store; so does this one, log included.
      await writer.sync();
      return { seconds: (performance.now() - start) / 1000, stats: writer.stats() };
    } finally {
      await writer.drain();
      await storage.close();
    }
  };
}

const WRITER_KINDS = ['native', 'appender', 'insert', 'openua'] as const;
type WriterKind = (typeof WRITER_KINDS)[number];

/** The writer's baselines on this run's engine: the one its ratio is to first, and a kind's name and method. */
const WRITERS: Record<WriterKind, { name: string; how: string }> = {
  native: {
    name: 'native loader',
    how:
      "DuckDB's native loader (the events written to a newline-delimited JSON file and fsynced, then one " +
      "INSERT … SELECT * FROM read_json(file, columns = the table's own); the file write is timed)",
  },
  appender: {
    name: 'raw appender',
    how: `the raw appender, for history (data chunks of ${RAW_CHUNK_ROWS} rows from JavaScript, ${TX_ROWS} rows per transaction)`,
  },
  insert: {
    name: 'raw insert',
    how: `a raw JSONEachRow insert (@clickhouse/client, one INSERT per ${TX_ROWS} rows, rows built before the clock)`,
  },
  openua: {
    name: 'OpenUA',
    how:
      `GroupCommit through its ingest log into the store (${settings.events / EVENTS_PER_SUBMIT} concurrent ` +
      `submits of ${EVENTS_PER_SUBMIT}, batchSize ${TX_ROWS})`,
  },
};
const BASELINES: WriterKind[] = ENGINE === 'duckdb' ? ['native', 'appender'] : ['insert'];
const BASELINE = WRITERS[BASELINES[0] as WriterKind];

/** Where a writer run's child prints its figures, on a line of their own. */
const RUN_RESULT = 'writer run result: ';

/** One writer run, in the child process the parent started for it (BENCH_INGEST_WRITER_RUN names the kind). */
async function writerChild(kind: WriterKind): Promise<void> {
  if (ENGINE === 'clickhouse') clickhouseServer = await benchClickHouse();
  const events = buildEvents(settings.events);
  const store = await freshStore();
  try {
    const run =
      kind === 'openua'
        ? await groupCommitRun(events, store)
        : kind === 'insert'
          ? await rawInsertRun(events, store)
          : () => (kind === 'native' ? nativeLoaderRun : rawAppenderRun)(events, store);
    (globalThis as { gc?: () => void }).gc?.();
    const heldMb = rssMb();
    resetPeakRss();
    const timed = await run();
    const peakMb = peakRssMb('self');
    const stored = await store.count();
    console.log(`${RUN_RESULT}${JSON.stringify({ ...timed, stored, peakMb, heldMb } satisfies BatchRun)}`);
  } finally {
    await store.remove();
  }
}

async function writerRun(kind: WriterKind): Promise<BatchRun> {
  const { code, stdout, stderr } = await runNode(
    ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench/ingest.ts')],
    {
      BENCH_INGEST_WRITER_RUN: kind,
      BENCH_ENGINE: ENGINE,
      BENCH_EVENTS: String(settings.events),
      // As `openua serve` runs DuckDB (bin/openua.js), so that every run's memory is counted alike.
      DUCKDB_JE_MALLOC_CONF: process.env.DUCKDB_JE_MALLOC_CONF ?? 'dirty_decay_ms:0,muzzy_decay_ms:0',
      ...(clickhouseServer && { BENCH_CLICKHOUSE_URL: clickhouseServer.url }),
    },
  );
  const line = stdout.split('\n').find((l) => l.startsWith(RUN_RESULT));
  if (code !== 0 || !line)
    throw new Error(`the ${WRITERS[kind].name} run failed (exit ${code}):\n${stdout}${stderr}`);
  return JSON.parse(line.slice(RUN_RESULT.length)) as BatchRun;
}

interface BatchFigures {
  /** Rows a second of the best run of each kind. */
  rates: Partial<Record<WriterKind, number>>;
  peaks: Partial<Record<WriterKind, number>>;
}

async function batchWriterBench(): Promise<BatchFigures> {
  say();
  const kinds: WriterKind[] = [...BASELINES, 'openua'];
  say(
    `== batch writer: ${settings.events} events into a fresh store, each run in a child process of its own, ` +
      'every kind twice in turn, best run kept' +
      (ENGINE === 'duckdb' ? `; DuckDB's memory limit ${STORE_MEMORY_LIMIT} in each ==` : ' =='),
  );
  for (const kind of kinds) say(`  ${WRITERS[kind].name}: ${WRITERS[kind].how}`);
  const runs = new Map<WriterKind, BatchRun[]>(kinds.map((k) => [k, []]));
  for (let round = 1; round <= 2; round++) {
    for (const kind of kinds) {
      const run = await writerRun(kind);
      if (run.stored !== settings.events) {
        throw new Error(
          `${WRITERS[kind].name} run ${round} stored ${run.stored} of ${settings.events} events`,
        );
      }
      runs.get(kind)?.push(run);
      const detail = run.stats
        ? `; ${run.stats.logWrites} log writes, ${run.stats.loads} loads of ${int(run.stats.loadedEvents / Math.max(run.stats.loads, 1))} events on average`
        : run.writeSeconds !== undefined
          ? `; file written in ${run.writeSeconds.toFixed(2)} s, loaded in ${(run.loadSeconds ?? 0).toFixed(2)} s ` +
            `(the load alone: ${int(settings.events / (run.loadSeconds ?? Number.NaN))} rows/s)`
          : '';
      say(
        `${WRITERS[kind].name.padEnd(13)} run ${round}: ${int(settings.events / run.seconds)} rows/s ` +
          `(${run.seconds.toFixed(2)} s)${detail}; ${peak(run.peakMb)} (${int(run.heldMb)} MB held before ` +
          'the clock, the events included)',
      );
    }
  }
  const figures: BatchFigures = { rates: {}, peaks: {} };
  for (const kind of kinds) {
    const list = runs.get(kind) as BatchRun[];
    figures.rates[kind] = settings.events / Math.min(...list.map((r) => r.seconds));
    figures.peaks[kind] = Math.max(...list.map((r) => r.peakMb));
  }
  say(`best of 2: ${kinds.map((k) => `${WRITERS[k].name} ${int(figures.rates[k] ?? 0)} rows/s`).join(', ')}`);
  return figures;
}

interface BatchLoad {
  size: number;
  /** Events in batches answered 200, per second of measured load. */
  events: number;
  p50: number;
  p99: number;
  /** The server's peak resident memory at the end of this size's load, in MB. */
  peakMb: number;
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
      const p50 = percentile(run.latencies, 0.5);
      const p99 = percentile(run.latencies, 0.99);
      // The server's peak so far: the 1000s' includes the 100s' phase.
      const peakMb = peakRssMb(openua.child.pid as number);
      say(
        `batches of ${size}: ${int(events)} events/s accepted (${run.accepted} batches), ${run.shed} shed with 503 ` +
          `and retried after Retry-After; per request p50 ${ms(p50)} ms, p99 ${ms(p99)} ms; ${peak(peakMb)}`,
      );
      say(`  the server's memory just after: ${(await memoryParts(openua.url, masterKey)).text}`);
      loads.push({ size, events, p50, p99, peakMb });
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

const latencies = (r: autocannon.Result) => `p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms`;

async function main(): Promise<void> {
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU';
  say(`OpenUA ingest bench: node ${process.version}, ${availableParallelism()} CPUs (${cpuModel})`);
  say(
    `settings: ${[...settings.parts].join(', ')}; ${settings.seconds} s measured load per server and rate after ` +
      `${settings.warmupSeconds} s of warm-up, ${settings.connections} connections, ${settings.events} events per ` +
      'writer run; peak RSS is VmHWM of the process doing the work (a server, or a writer run)' +
      (settings.profileDir ? `; CPU profile of OpenUA to ${settings.profileDir}` : ''),
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
  let http: HttpFigures | undefined;
  let batches: BatchLoad[] = [];
  let writer: BatchFigures | undefined;
  try {
    if (settings.parts.has('single')) http = await singleEventBench();
    else say(`${SINGLE_EVENT_RATIO} n/a (not run: BENCH_INGEST_ONLY=${process.env.BENCH_INGEST_ONLY})`);
    if (settings.parts.has('batches')) {
      say();
      batches = await batchHttpBench();
    }
    if (settings.parts.has('writer')) writer = await batchWriterBench();
  } finally {
    await clickhouseServer?.stop();
  }
  say();
  say('== summary (peak RSS: VmHWM of the process doing the work) ==');
  if (http) {
    const { bare, openua, halfRate } = http;
    const [o, b] = [openua.full.result, bare.full.result];
    say(
      `single-event: OpenUA ${int(o.requests.average)} ev/s (${latencies(o)}; ${peak(openua.fullPeakMb)}) vs bare ` +
        `${int(b.requests.average)} req/s (${latencies(b)}; ${peak(bare.fullPeakMb)})`,
    );
    say(`${SINGLE_EVENT_RATIO} ${fixed2(o.requests.average / b.requests.average)}`);
    const [oh, bh] = [(openua.half as Load).result, (bare.half as Load).result];
    say(
      `at half the bare rate (${halfRate} req/s offered): OpenUA ${int(oh.requests.average)} ev/s, ${latencies(oh)} ` +
        `(the goal: p99 < 25 ms); bare ${int(bh.requests.average)} req/s, ${latencies(bh)}; ` +
        `OpenUA ${peak(openua.halfPeakMb)}`,
    );
  }
  const base = BASELINES[0] as WriterKind;
  const baseRate = writer?.rates[base];
  if (writer) {
    const openua = writer.rates.openua ?? Number.NaN;
    say(
      `batch writer: OpenUA ${int(openua)} rows/s (${peak(writer.peaks.openua)}) vs ${BASELINE.name} ` +
        `${int(baseRate ?? 0)} rows/s (${peak(writer.peaks[base])})`,
    );
    say(`batch writer / ${BASELINE.name} ratio: ${fixed2(openua / (baseRate ?? Number.NaN))}`);
    for (const kind of BASELINES.slice(1)) {
      const rate = writer.rates[kind] ?? Number.NaN;
      say(
        `${WRITERS[kind].name} (for history): ${int(rate)} rows/s (${peak(writer.peaks[kind])}); ` +
          `batch writer / ${WRITERS[kind].name} ratio: ${fixed2(openua / rate)}`,
      );
    }
  }
  for (const { size, events, p50, p99, peakMb } of batches) {
    say(
      `HTTP batches of ${size}: ${int(events)} ev/s, per request p50 ${ms(p50)} ms, p99 ${ms(p99)} ms; ${peak(peakMb)}` +
        (baseRate === undefined
          ? ` (no ${BASELINE.name} ratio: the writer part was not run)`
          : `; HTTP batches of ${size} / ${BASELINE.name} ratio: ${fixed2(events / baseRate)}`),
    );
  }
}

const childKind = process.env.BENCH_INGEST_WRITER_RUN;
if (childKind !== undefined && !(WRITER_KINDS as readonly string[]).includes(childKind)) {
  throw new Error(
    `BENCH_INGEST_WRITER_RUN must be one of ${WRITER_KINDS.join(', ')}; received ${JSON.stringify(childKind)}`,
  );
}
await runBench(childKind ? () => writerChild(childKind as WriterKind) : main);
