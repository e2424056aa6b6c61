import { existsSync } from 'node:fs';
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
}

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
    queueCapacity: integer(env, 'OPENUA_QUEUE_CAPACITY', 50_000, 1, 10_000_000),
    batchSize: integer(env, 'OPENUA_BATCH_SIZE', 5_000, 1, 1_000_000),
    lingerMs: integer(env, 'OPENUA_LINGER_MS', 0, 0, 10_000),
    loadIntervalMs: integer(env, 'OPENUA_LOAD_INTERVAL_MS', 100, 0, 60_000),
    visitTimeoutMinutes: integer(env, 'OPENUA_VISIT_TIMEOUT_MINUTES', 30, 1, 24 * 60),
    visitorCookieDomain: domain(env, 'OPENUA_VISITOR_COOKIE_DOMAIN'),
    batchMaxEvents: integer(env, 'OPENUA_BATCH_MAX_EVENTS', 1_000, 1, 100_000),
    batchBodyLimit: integer(env, 'OPENUA_BATCH_BODY_LIMIT', 5 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    rejectedPayloadBytes: integer(env, 'OPENUA_REJECTED_PAYLOAD_BYTES', 16 * 1024, 256, 1024 * 1024),
    alertIntervalSeconds: integer(env, 'OPENUA_ALERT_INTERVAL_SECONDS', 60, 0, 86_400),
    webhookMaxAttempts: integer(env, 'OPENUA_WEBHOOK_MAX_ATTEMPTS', 10, 1, 50),
    webhookRetryBaseMs: integer(env, 'OPENUA_WEBHOOK_RETRY_BASE_MS', 2_000, 1, 3_600_000),
    webhookTimeoutMs: integer(env, 'OPENUA_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
  };
}
