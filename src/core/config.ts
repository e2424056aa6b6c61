import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';

export type TrustProxy = boolean | string[];

export interface ListenAddress {
  host: string;
  port: number;
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export class ConfigError extends Error {}

/** Loads `.env` from the working directory when there is one; real environment variables win over it. */
export function loadDotEnv(cwd = process.cwd()): void {
  const file = path.join(cwd, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
}

/**
 * How a variable's text becomes a setting's value. `accepts` says in words what it takes: a refusal is
 * `<VARIABLE> must be <accepts>; received "<text>"`, and docs/operations/configuration.md shows the same words.
 */
interface Kind<T> {
  accepts: string;
  /** The value of a variable's text (never empty); `refuse` throws the refusal, with `why` after `accepts`. */
  parse(text: string, refuse: (why?: string) => never): T;
  /** Text of nothing but spaces says nothing, and is read as unset. */
  blankIsUnset?: true;
  /** A refusal does not repeat the text: it is a secret. */
  secret?: true;
  /** The text as a refusal repeats it, when part of it may be a secret (a password in a URL). */
  shown?(text: string): string;
}

const integer = (min: number, max: number): Kind<number> => ({
  accepts: `an integer from ${min} to ${max}`,
  parse(text, refuse) {
    const value = Number(text);
    return Number.isInteger(value) && value >= min && value <= max ? value : refuse();
  },
});

const text = (accepts: string): Kind<string> => ({ accepts, parse: (value) => value });

/** A relative path is resolved against the working directory when the configuration is read. */
const directory: Kind<string> = { accepts: 'a path', parse: (value) => path.resolve(value) };

const secret = (minLength: number): Kind<string> => ({
  accepts: `at least ${minLength} characters long`,
  secret: true,
  parse: (value, refuse) => (value.length < minLength ? refuse() : value),
});

/** Any text, never repeated in a refusal or a log. */
const password: Kind<string> = { accepts: 'any text', secret: true, parse: (value) => value };

/** A name ClickHouse takes unquoted (a database, a cluster): letters, digits and underscores. */
const sqlName: Kind<string> = {
  accepts: 'a name of letters, digits and underscores, not starting with a digit',
  parse: (value, refuse) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(value.trim()) ? value.trim() : refuse()),
};

/** A URL with its password, if it has one, written `***`. */
function withoutPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

/**
 * The origin of an HTTP(S) URL (`http://127.0.0.1:8123`): the user and password have their own settings, and
 * ClickHouse's client would read a path as a database, which has its own setting too.
 */
function httpOrigin(text: string, refuse: (why?: string) => never): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return refuse();
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse(' (not http or https)');
  if (url.username || url.password)
    return refuse(' (the user and password go in OPENUA_CLICKHOUSE_USER and OPENUA_CLICKHOUSE_PASSWORD)');
  if (url.pathname !== '/' || url.search || url.hash)
    return refuse(' (no path or query: the database goes in OPENUA_CLICKHOUSE_DATABASE)');
  return url.origin;
}

const httpUrl: Kind<string> = {
  accepts: 'an http(s) URL such as http://127.0.0.1:8123',
  shown: withoutPassword,
  parse: httpOrigin,
};

const httpUrls: Kind<string[]> = {
  accepts: 'http(s) URLs separated by commas, such as http://10.0.0.1:8123,http://10.0.0.2:8123',
  shown: (text) => text.split(',').map(withoutPassword).join(','),
  blankIsUnset: true,
  parse(text, refuse) {
    const urls = text.split(',').map((entry) => entry.trim());
    if (urls.some((url) => url === '')) return refuse(' (an empty entry)');
    const origins = urls.map((url) => httpOrigin(url, refuse));
    if (new Set(origins).size < origins.length) return refuse(' (a URL twice)');
    return origins;
  },
};

/** A memory size as DuckDB reads one: a number and a unit (`256MB`, `1.5GB`, `512MiB`). */
const memorySize: Kind<string> = {
  accepts: 'a size such as 256MB or 1GB',
  parse: (value, refuse) =>
    /^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(value.trim()) ? value.trim() : refuse(),
};

/** A host name (`example.com`); a leading dot, as older browsers wrote it, is dropped. */
const domain: Kind<string> = {
  accepts: 'a domain name such as example.com',
  parse(raw, refuse) {
    const value = raw.replace(/^\./, '').toLowerCase();
    return /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(
      value,
    )
      ? value
      : refuse();
  },
};

/** `host:port` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`). */
const listenAddress: Kind<ListenAddress> = {
  accepts: 'host:port, such as 127.0.0.1:9464',
  parse(value, refuse) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
    const port = Number(match?.[2]);
    if (!match || port > 65535) return refuse();
    return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
  },
};

const flag: Kind<boolean> = {
  accepts: 'true or false',
  blankIsUnset: true,
  parse(value, refuse) {
    const word = value.trim().toLowerCase();
    if (word === 'true' || word === '1') return true;
    if (word === 'false' || word === '0') return false;
    return refuse();
  },
};

const logFormat: Kind<LogFormat> = {
  accepts: `one of ${LOG_FORMATS.join(', ')}`,
  parse: (value, refuse) =>
    (LOG_FORMATS as readonly string[]).includes(value) ? (value as LogFormat) : refuse(),
};

/** proxy-addr's names for address ranges, which Fastify's trustProxy takes beside addresses and CIDRs. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

function proxyAddress(entry: string): boolean {
  if (PROXY_RANGES.includes(entry)) return true;
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const prefix = Number(bits);
  return /^\d{1,3}$/.test(bits) && prefix <= (family === 4 ? 32 : 128);
}

/**
 * `true`, or addresses/CIDRs separated by commas; `false`: none. Not a hop count: one cannot tell the proxy from
 * a client that reaches the server directly and writes the headers itself, so Fastify (5.12) fails closed and
 * trusts no hop for one; a setting that silently trusted nothing would mislead.
 */
const trustProxy: Kind<TrustProxy> = {
  accepts: "true, or the proxies' addresses and CIDRs separated by commas (10.0.0.1,192.168.0.0/16,loopback)",
  blankIsUnset: true,
  parse(raw, refuse) {
    const value = raw.trim();
    if (value === 'false') return false;
    if (value === 'true') return true;
    const entries = value.split(',').map((entry) => entry.trim());
    if (/^\d+$/.test(value)) {
      return refuse(
        ' (not a hop count, which cannot tell a proxy from a client that writes the headers itself)',
      );
    }
    return entries.every(proxyAddress) ? entries : refuse();
  },
};

/** One setting: the variable it is read from, and what it means. */
export interface Setting<T> {
  variable: string;
  /** An older name, read when `variable` is unset. */
  alias?: string;
  /** The variable's text when it is unset (or empty); none: the setting is unset. */
  default?: string;
  /** What the variable takes, in words. */
  accepts: string;
  /** What the setting decides, for the configuration page. */
  meaning: string;
  read(env: NodeJS.ProcessEnv): T;
}

interface Declaration {
  alias?: string;
  default?: string;
  meaning: string;
}

function setting<T>(variable: string, kind: Kind<T>, declared: Declaration & { default: string }): Setting<T>;
function setting<T>(variable: string, kind: Kind<T>, declared: Declaration): Setting<T | undefined>;
function setting<T>(variable: string, kind: Kind<T>, declared: Declaration): Setting<T | undefined> {
  return {
    variable,
    ...declared,
    accepts: kind.accepts,
    read(env) {
      // Empty is unset (`PORT=` in a .env file).
      const set = (name: string | undefined) => {
        const value = name === undefined ? undefined : env[name];
        if (value === undefined || value === '' || (kind.blankIsUnset && value.trim() === ''))
          return undefined;
        return { name, value };
      };
      const found = set(variable) ?? set(declared.alias);
      const name = found?.name ?? variable;
      const value = found?.value ?? declared.default;
      if (value === undefined) return undefined;
      return kind.parse(value, (why = '') => {
        const said = kind.secret ? '' : `; received ${JSON.stringify(kind.shown?.(value) ?? value)}`;
        throw new ConfigError(`${name} must be ${kind.accepts}${why}${said}`);
      });
    },
  };
}

/**
 * Everything the server reads from its environment, in the order it is read (the master key first, so that a
 * short one is the refusal a start reports). docs/operations/configuration.md is rendered from this list.
 */
export const SETTINGS = {
  masterKey: setting('OPENUA_MASTER_KEY', secret(16), {
    meaning: 'the bootstrap credential, with every privilege on every organization',
  }),
  port: setting('PORT', integer(0, 65535), { default: '8080', meaning: 'the HTTP port' }),
  host: setting('HOST', text('an address or a host name'), {
    default: '127.0.0.1',
    meaning: 'the address to listen on (`0.0.0.0` for every interface)',
  }),
  dataDir: setting('OPENUA_DATA_DIR', directory, {
    default: './data',
    meaning:
      'where the ingest log `ingest-log/` and, unless the store is ClickHouse, the DuckDB file `openua.duckdb` ' +
      'live (a relative path is from the working directory)',
  }),
  logLevel: setting(
    'OPENUA_LOG_LEVEL',
    text('a pino level: fatal, error, warn, info, debug, trace or silent'),
    {
      alias: 'LOG_LEVEL',
      default: 'info',
      meaning:
        'how much is logged; at `debug` (or `trace`) each request and its answer get a line (method, URL, host, ' +
        'remote address; status, time), the value of any `access_token` in the URL written `[redacted]` ' +
        '(headers and bodies are never logged)',
    },
  ),
  bodyLimit: setting('OPENUA_BODY_LIMIT', integer(1024, 100 * 1024 * 1024), {
    default: String(1024 * 1024),
    meaning: 'the largest request body, in bytes; larger ones get 413',
  }),
  queueCapacity: setting('OPENUA_QUEUE_CAPACITY', integer(1, 10_000_000), {
    default: '20000',
    meaning: 'events accepted but not yet in the store before new ones are shed with 503',
  }),
  batchSize: setting('OPENUA_BATCH_SIZE', integer(1, 1_000_000), {
    default: '5000',
    meaning: 'the most events loaded into the store in one transaction',
  }),
  lingerMs: setting('OPENUA_LINGER_MS', integer(0, 10_000), {
    default: '0',
    meaning:
      'how long the ingest log writer waits to gather a bigger write, in ms (0: it writes as soon as the log ' +
      'is free)',
  }),
  loadIntervalMs: setting('OPENUA_LOAD_INTERVAL_MS', integer(0, 60_000), {
    default: '100',
    meaning:
      'how long acknowledged events may wait in the ingest log before they are loaded into the store, in ms',
  }),
  cacheTtlMs: setting('OPENUA_CACHE_TTL_MS', integer(0, 600_000), {
    default: '10000',
    meaning:
      'how long a server trusts the API keys and organizations it has read before reading them again, in ms: a ' +
      "key revoked, or an organization's settings changed, through another server sharing the store takes " +
      'effect here within this time (0: read at every request)',
  }),
  idempotencyKeys: setting('OPENUA_IDEMPOTENCY_KEYS', integer(1, 100_000_000), {
    default: '100000',
    meaning:
      'the most idempotency keys a server remembers (about 0.5 KB each); beyond it the oldest are forgotten ' +
      "first: a retry of a forgotten key is still stored once (a keyed event's id comes from its key), but " +
      'answered `accepted`, not `duplicate`',
  }),
  openVisits: setting('OPENUA_OPEN_VISITS', integer(1, 100_000_000), {
    default: '100000',
    meaning:
      'the most visitors whose open visit a server keeps in memory (about 0.5 KB each); beyond it the one seen ' +
      "longest ago is forgotten first, and its next event reads the visitor's last visit from the store",
  }),
  recordCacheSize: setting('OPENUA_RECORD_CACHE_SIZE', integer(1, 10_000_000), {
    default: '100000',
    meaning:
      'the most Channel Analytics records (conversations, sessions, providers…) a server keeps read, each for ' +
      'up to 10 s; beyond it the oldest read goes first',
  }),
  visitTimeoutMinutes: setting('OPENUA_VISIT_TIMEOUT_MINUTES', integer(1, 24 * 60), {
    default: '30',
    meaning: "minutes without an event after which a visitor's next event opens a new visit",
  }),
  visitorCookieDomain: setting('OPENUA_VISITOR_COOKIE_DOMAIN', domain, {
    meaning:
      "the `Domain` of the `coveo_visitorId` cookie: set it to the site the official client's pages are on, so " +
      "that its cookie and OpenUA's are one; unset, the cookie is OpenUA's host's alone",
  }),
  clickhouseUrl: setting('OPENUA_CLICKHOUSE_URL', httpUrl, {
    meaning:
      "ClickHouse's HTTP interface: set, the store is that ClickHouse (several OpenUA servers may share it), and " +
      'only the ingest log stays in `OPENUA_DATA_DIR`; unset, the store is the embedded DuckDB file',
  }),
  clickhouseDatabase: setting('OPENUA_CLICKHOUSE_DATABASE', sqlName, {
    default: 'openua',
    meaning: "the ClickHouse database OpenUA's tables are in (made at start when missing)",
  }),
  clickhouseUser: setting('OPENUA_CLICKHOUSE_USER', text('a ClickHouse user name'), {
    default: 'default',
    meaning: 'the ClickHouse user OpenUA signs in as',
  }),
  clickhousePassword: setting('OPENUA_CLICKHOUSE_PASSWORD', password, {
    meaning: "that user's password (never logged nor repeated in an error)",
  }),
  clickhouseCluster: setting('OPENUA_CLICKHOUSE_CLUSTER', sqlName, {
    meaning:
      "a cluster of ClickHouse's `remote_servers`: set (with `OPENUA_CLICKHOUSE_SHARDS`), each shard holds local " +
      'tables and OpenUA reads and writes `Distributed` tables over them',
  }),
  clickhouseShards: setting('OPENUA_CLICKHOUSE_SHARDS', httpUrls, {
    meaning:
      "the HTTP interface of every shard of `OPENUA_CLICKHOUSE_CLUSTER`, where OpenUA makes each shard's tables",
  }),
  storeMemoryLimit: setting('OPENUA_STORE_MEMORY_LIMIT', memorySize, {
    meaning:
      "DuckDB's memory limit: what the store may hold for its buffers and queries (it spills larger sorts, " +
      'joins and unsaved table data to disk). Raise it on a large store whose queries are slow ' +
      'from spilling',
  }),
  optimizeForSize: setting('OPENUA_OPTIMIZE_FOR_SIZE', flag, {
    default: 'true',
    meaning:
      'V8 favours a small heap over speed (`--optimize-for-size`, set by `openua serve` as it starts): ' +
      '`false` buys about 15% more ingest throughput for about 100 MB more memory under load',
  }),
  batchMaxEvents: setting('OPENUA_BATCH_MAX_EVENTS', integer(1, 100_000), {
    default: '1000',
    meaning: 'the most events in one `POST /api/v1/events/batch`',
  }),
  batchBodyLimit: setting('OPENUA_BATCH_BODY_LIMIT', integer(1024, 512 * 1024 * 1024), {
    default: String(5 * 1024 * 1024),
    meaning: 'the largest `POST /api/v1/events/batch` body, in bytes; larger ones get 413',
  }),
  rejectedPayloadBytes: setting('OPENUA_REJECTED_PAYLOAD_BYTES', integer(256, 1024 * 1024), {
    default: String(16 * 1024),
    meaning: "how much of a rejected event's payload is kept, in bytes",
  }),
  alertIntervalSeconds: setting('OPENUA_ALERT_INTERVAL_SECONDS', integer(0, 86_400), {
    default: '60',
    meaning:
      'seconds between two evaluations of every alert rule (0: none on this server; another one evaluates them)',
  }),
  retentionSweepSeconds: setting('OPENUA_RETENTION_SWEEP_SECONDS', integer(0, 7 * 86_400), {
    default: '3600',
    meaning:
      "seconds between two sweeps of the organizations' retention (docs/operations/retention.md); the first " +
      'runs shortly after start (0: none on this server)',
  }),
  webhookMaxAttempts: setting('OPENUA_WEBHOOK_MAX_ATTEMPTS', integer(1, 50), {
    default: '10',
    meaning: 'the most attempts at one alert webhook delivery, the first included',
  }),
  webhookRetryBaseMs: setting('OPENUA_WEBHOOK_RETRY_BASE_MS', integer(1, 3_600_000), {
    default: '2000',
    meaning: "the wait after a webhook's first failed attempt, in ms; it doubles after each further one",
  }),
  webhookTimeoutMs: setting('OPENUA_WEBHOOK_TIMEOUT_MS', integer(100, 120_000), {
    default: '10000',
    meaning: 'how long one webhook attempt may take, in ms',
  }),
  metricsAddress: setting('OPENUA_METRICS_ADDRESS', listenAddress, {
    meaning:
      'a separate listener serving `GET /metrics` **without a credential**, and then not on the main port; ' +
      'unset, `/metrics` is on the main port and needs the master key or the `metrics` privilege',
  }),
  logFormat: setting('OPENUA_LOG_FORMAT', logFormat, {
    default: 'auto',
    meaning:
      '`json` (one pino JSON object a line), `pretty` (a readable line: time, level, message, `key=value` ' +
      'fields), or `auto`: `pretty` when stdout is a terminal, `json` otherwise',
  }),
  trustProxy: setting('OPENUA_TRUST_PROXY', trustProxy, {
    default: 'false',
    meaning:
      "which proxies' `X-Forwarded-For`/`-Host`/`-Proto` to believe (they decide the host in OData links and " +
      "the visitor cookie's `Secure` flag): `false`, none (a client could write them); `true`, any (only when " +
      "nothing reaches the server but through the proxy); or the proxies' addresses and CIDRs " +
      '(`loopback`, `linklocal`, `uniquelocal` name those ranges). A hop count is refused: it cannot tell the ' +
      'proxy from a client that reaches the server directly, and Fastify trusts nothing for one',
  }),
} satisfies Record<string, Setting<unknown>>;

/** A ClickHouse store: a node, or a cluster whose shards are each named by their HTTP URL. */
export interface ClickHouseSettings {
  url: string;
  database: string;
  user: string;
  password: string;
  cluster?: string;
  shards?: string[];
}

/** Which store to open (src/storage/open-storage.ts): DuckDB in `dataDir`, or ClickHouse when `clickhouse` is set. */
export interface StorageSettings {
  dataDir: string;
  /** DuckDB's memory limit; unset, the engine's default. */
  memoryLimit?: string;
  clickhouse?: ClickHouseSettings;
}

type Settings = { [K in keyof typeof SETTINGS]: ReturnType<(typeof SETTINGS)[K]['read']> };

/** Everything the server reads from its environment, resolved once at start-up. */
export type Config = Settings & { storage: StorageSettings };

/** The store the settings name, refusing settings that only mean something together. */
function storageSettings(settings: Settings): StorageSettings {
  const { clickhouseUrl: url, clickhouseCluster: cluster, clickhouseShards: shards } = settings;
  const needs = (variable: string, other: string) =>
    new ConfigError(`${variable} needs ${other}: set both, or neither`);
  if (shards && !cluster) throw needs('OPENUA_CLICKHOUSE_SHARDS', 'OPENUA_CLICKHOUSE_CLUSTER');
  if (cluster && !shards) throw needs('OPENUA_CLICKHOUSE_CLUSTER', 'OPENUA_CLICKHOUSE_SHARDS');
  if (cluster && !url) {
    throw new ConfigError(
      'OPENUA_CLICKHOUSE_CLUSTER needs OPENUA_CLICKHOUSE_URL (one of the shards, or a balancer in front of them)',
    );
  }
  const base = {
    dataDir: settings.dataDir,
    ...(settings.storeMemoryLimit !== undefined && { memoryLimit: settings.storeMemoryLimit }),
  };
  if (!url) return base;
  return {
    ...base,
    clickhouse: {
      url,
      database: settings.clickhouseDatabase,
      user: settings.clickhouseUser,
      password: settings.clickhousePassword ?? '',
      ...(cluster && shards && { cluster, shards }),
    },
  };
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const settings: Record<string, unknown> = {};
  for (const [key, { read }] of Object.entries(SETTINGS)) settings[key] = read(env);
  return { ...(settings as Settings), storage: storageSettings(settings as Settings) };
}
