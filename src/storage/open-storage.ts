import type { ClickHouseSettings, StorageSettings } from '../core/config.ts';
import { type Storage, StoreCredentialsError, StoreUnreachableError } from './storage.ts';

export type { ClickHouseSettings, StorageSettings } from '../core/config.ts';

/**
 * The store the settings name: ClickHouse when `clickhouse` is set, else the embedded DuckDB file in `dataDir`.
 * Everything outside src/storage opens a store here, never an engine by name. Each engine is imported only when
 * chosen, so a server on ClickHouse never loads DuckDB's native library, and one on DuckDB never loads the HTTP client.
 *
 * Rejects with StoreBusyError when another process holds the DuckDB file, with StoreUnreachableError when
 * ClickHouse does not answer, and with StoreCredentialsError when it refuses the user or password.
 */
export async function openStorage(settings: StorageSettings): Promise<Storage> {
  if (settings.clickhouse) return openClickHouse(settings.clickhouse);
  const { DuckDBStorage } = await import('./duckdb/duckdb-storage.ts');
  return DuckDBStorage.open(settings.dataDir, { memoryLimit: settings.memoryLimit });
}

async function openClickHouse(settings: ClickHouseSettings): Promise<Storage> {
  const { ClickHouseStorage } = await import('./clickhouse/clickhouse-storage.ts');
  try {
    return await ClickHouseStorage.open(settings);
  } catch (error) {
    throw storeUnreachable(settings, error) ?? credentialsRefused(settings, error) ?? error;
  }
}

/**
 * ClickHouse's codes for credentials it refuses: UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD (18.x and later),
 * AUTHENTICATION_FAILED (which replaced them in 21.x).
 */
const CREDENTIAL_CODES = new Set(['192', '193', '194', '516']);

/**
 * `error` as a StoreCredentialsError when ClickHouse refused the user or password. The client parses the code of
 * current servers' errors; an 18.x server's error text is `Code: 193, e.displayText() = …`, whose code is read here.
 */
function credentialsRefused(settings: ClickHouseSettings, error: unknown): StoreCredentialsError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const parsed = (e as Error & { code?: unknown }).code;
    const code = typeof parsed === 'string' ? parsed : /^Code: (\d+)[.,]/.exec(e.message)?.[1];
    if (code && CREDENTIAL_CODES.has(code)) {
      return new StoreCredentialsError(settings.url, settings.user, code, { cause: error });
    }
  }
  return undefined;
}

/**
 * `error` as a StoreUnreachableError when it is (or was caused by) a socket that could not reach the ClickHouse of
 * `settings`: for errors of the first calls after openStorage, when an engine connects lazily.
 */
export function storeUnreachable(
  settings: ClickHouseSettings | undefined,
  error: unknown,
): StoreUnreachableError | undefined {
  if (error instanceof StoreUnreachableError) return error;
  const socket = settings && networkError(error);
  if (!settings || !socket) return undefined;
  return new StoreUnreachableError(unreachedUrl(settings, socket), socket.code, { cause: error });
}

/** The system's codes for a server that cannot be reached (refused, no such host, no route, timed out). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);

type SocketError = Error & { code: string; address?: string; hostname?: string; port?: number };

/** The socket's error in an error or one of its causes (the HTTP client may wrap it). */
function networkError(error: unknown): SocketError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return e as SocketError;
  }
  return undefined;
}

/** Which of the configured URLs (the node's, or a shard's) the socket could not reach; the node's when unclear. */
function unreachedUrl(settings: ClickHouseSettings, socket: SocketError): string {
  const host = socket.address ?? socket.hostname;
  const matches = (url: string) => {
    const { hostname, port, protocol } = new URL(url);
    const samePort =
      socket.port === undefined || String(socket.port) === (port || (protocol === 'https:' ? '443' : '80'));
    return hostname.replace(/^\[(.*)\]$/, '$1') === host && samePort;
  };
  return [settings.url, ...(settings.shards ?? [])].find(matches) ?? settings.url;
}
