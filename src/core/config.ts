import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';

/** Everything the server reads from its environment, resolved once at start-up. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  masterKey: string | undefined;
  logLevel: string;
  /** Largest request body accepted, in bytes; larger bodies get 413. */
  bodyLimit: number;
  /** Events accepted but not yet in the store before new ones are shed with 503. */
  queueCapacity: number;
  /** Most events loaded into the store in a single transaction. */
  batchSize: number;
  /** How long the log writer waits to gather more events, in ms. 0 writes as soon as it is free. */
  lingerMs: number;
  /** How long acknowledged events may wait in the ingest log before they are loaded into the store, in ms. */
  loadIntervalMs: number;
  /** Minutes without an event after which a visitor's next event opens a new visit. */
  visitTimeoutMinutes: number;
  /** DuckDB's memory limit (`256MB`, `1GB`); unset: the store's default. */
  storeMemoryLimit: string | undefined;
  /** V8 favours a small heap over speed (`--optimize-for-size`), set by `openua serve` as it starts. */
  optimizeForSize: boolean;
  /** The Domain of the visitor cookie, to share it with the official client's own; unset: this host only. */
  visitorCookieDomain: string | undefined;
  /** Most events in one `POST /api/v1/events/batch`. */
  batchMaxEvents: number;
  /** Largest `POST /api/v1/events/batch` body, in bytes. */
  batchBodyLimit: number;
  /** How much of a rejected event's payload is kept, in bytes. */
  rejectedPayloadBytes: number;
  /** Seconds between two evaluations of every alert rule; 0 evaluates none (another server does). */
  alertIntervalSeconds: number;
  /** Most attempts at one webhook delivery, the first included. */
  webhookMaxAttempts: number;
  /** The wait after a webhook's first failed attempt, in ms; it doubles after each further one. */
  webhookRetryBaseMs: number;
  /** How long one webhook attempt may take, in ms. */
  webhookTimeoutMs: number;
  /** Where `GET /metrics` is served without a credential, instead of on the main port with one; unset: there. */
  metricsAddress: ListenAddress | undefined;
  /** Log lines: JSON, or one human-readable line each; `auto`: readable on a terminal, JSON otherwise. */
  logFormat: LogFormat;
  /**
   * Which proxies' `X-Forwarded-*` headers are believed (Fastify's `trustProxy`): none (false), every one
   * (true), or those at these addresses and CIDRs (`loopback`, `linklocal`, `uniquelocal` too).
   */
  trustProxy: TrustProxy;
}

export type TrustProxy = boolean | string[];

export interface ListenAddress {
  host: string;
  port: number;
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name} must be an integer from ${min} to ${max}; received ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** Loads `.env` from the working directory when there is one; real environment variables win over it. */
export function loadDotEnv(cwd = process.cwd()): void {
  const file = path.join(cwd, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
}

/** A memory size as DuckDB reads one: a number and a unit (`256MB`, `1.5GB`, `512MiB`). */
function memorySize(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(raw.trim())) {
    throw new ConfigError(`${name} must be a size such as 256MB or 1GB; received ${JSON.stringify(raw)}`);
  }
  return raw.trim();
}

/** A host name (`example.com`); a leading dot, as older browsers wrote it, is dropped. */
function domain(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = raw.replace(/^\./, '').toLowerCase();
  if (
    !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(
      value,
    )
  ) {
    throw new ConfigError(
      `${name} must be a domain name such as example.com; received ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** `host:port` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`). */
function listenAddress(env: NodeJS.ProcessEnv, name: string): ListenAddress | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new ConfigError(
      `${name} must be host:port, such as 127.0.0.1:9464; received ${JSON.stringify(raw)}`,
    );
  }
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false; received ${JSON.stringify(env[name])}`);
}

function logFormat(env: NodeJS.ProcessEnv, name: string): LogFormat {
  const raw = env[name];
  if (raw === undefined || raw === '') return 'auto';
  if (!(LOG_FORMATS as readonly string[]).includes(raw)) {
    throw new ConfigError(
      `${name} must be one of ${LOG_FORMATS.join(', ')}; received ${JSON.stringify(raw)}`,
    );
  }
  return raw as LogFormat;
}

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
 * OPENUA_TRUST_PROXY: `true`, or addresses/CIDRs separated by commas; unset or `false`: none. Not a hop count:
 * one cannot tell the proxy from a client that reaches the server directly and writes the headers itself, so
 * Fastify (5.12) fails closed and trusts no hop for one; a setting that silently trusted nothing would mislead.
 */
function trustProxy(env: NodeJS.ProcessEnv, name: string): TrustProxy {
  const raw = env[name];
  const value = raw?.trim() ?? '';
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  const entries = value.split(',').map((entry) => entry.trim());
  if (!/^\d+$/.test(value) && entries.every(proxyAddress)) return entries;
  const why = /^\d+$/.test(value)
    ? ' (not a hop count, which cannot tell a proxy from a client that writes the headers itself)'
    : '';
  throw new ConfigError(
    `${name} must be true, or the proxies' addresses and CIDRs separated by commas ` +
      `(10.0.0.1,192.168.0.0/16,loopback)${why}; received ${JSON.stringify(raw)}`,
  );
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const masterKey = env.OPENUA_MASTER_KEY || undefined;
  if (masterKey !== undefined && masterKey.length < 16) {
    throw new ConfigError('OPENUA_MASTER_KEY must be at least 16 characters long');
  }
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir: path.resolve(env.OPENUA_DATA_DIR || './data'),
    masterKey,
    logLevel: env.OPENUA_LOG_LEVEL || env.LOG_LEVEL || 'info',
    bodyLimit: integer(env, 'OPENUA_BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
    queueCapacity: integer(env, 'OPENUA_QUEUE_CAPACITY', 20_000, 1, 10_000_000),
    batchSize: integer(env, 'OPENUA_BATCH_SIZE', 5_000, 1, 1_000_000),
    lingerMs: integer(env, 'OPENUA_LINGER_MS', 0, 0, 10_000),
    loadIntervalMs: integer(env, 'OPENUA_LOAD_INTERVAL_MS', 100, 0, 60_000),
    visitTimeoutMinutes: integer(env, 'OPENUA_VISIT_TIMEOUT_MINUTES', 30, 1, 24 * 60),
    visitorCookieDomain: domain(env, 'OPENUA_VISITOR_COOKIE_DOMAIN'),
    storeMemoryLimit: memorySize(env, 'OPENUA_STORE_MEMORY_LIMIT'),
    optimizeForSize: flag(env, 'OPENUA_OPTIMIZE_FOR_SIZE', true),
    batchMaxEvents: integer(env, 'OPENUA_BATCH_MAX_EVENTS', 1_000, 1, 100_000),
    batchBodyLimit: integer(env, 'OPENUA_BATCH_BODY_LIMIT', 5 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    rejectedPayloadBytes: integer(env, 'OPENUA_REJECTED_PAYLOAD_BYTES', 16 * 1024, 256, 1024 * 1024),
    alertIntervalSeconds: integer(env, 'OPENUA_ALERT_INTERVAL_SECONDS', 60, 0, 86_400),
    webhookMaxAttempts: integer(env, 'OPENUA_WEBHOOK_MAX_ATTEMPTS', 10, 1, 50),
    webhookRetryBaseMs: integer(env, 'OPENUA_WEBHOOK_RETRY_BASE_MS', 2_000, 1, 3_600_000),
    webhookTimeoutMs: integer(env, 'OPENUA_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    metricsAddress: listenAddress(env, 'OPENUA_METRICS_ADDRESS'),
    logFormat: logFormat(env, 'OPENUA_LOG_FORMAT'),
    trustProxy: trustProxy(env, 'OPENUA_TRUST_PROXY'),
  };
}
