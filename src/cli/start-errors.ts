import path from 'node:path';
import type { Config, ListenAddress } from '../core/config.ts';
import { storeUnreachable } from '../storage/open-storage.ts';
import { StoreBusyError, StoreCredentialsError } from '../storage/storage.ts';

/**
 * Why `openua serve` could not start, in one line that says what to do. The CLI prints its message alone
 * (no stack) and exits 1, as it does for a bad setting.
 */
export class StartError extends Error {}

type SystemError = Error & { code?: string; path?: string; syscall?: string };

const codeOf = (error: unknown) => (error as SystemError | undefined)?.code;

/** Where a listener was told to listen, and the setting that says so. */
export interface Listener extends ListenAddress {
  setting: string;
}

/** A listener that could not listen: a busy port, a port this user may not open, an address not of this host. */
export function listenProblem(error: unknown, { host, port, setting }: Listener): StartError | undefined {
  const where = `${host}:${port}`;
  switch (codeOf(error)) {
    case 'EADDRINUSE':
      return new StartError(
        `${where} is already in use by another process (EADDRINUSE): stop that process, or set ${setting} to a free port`,
      );
    case 'EACCES':
      return new StartError(
        `this user may not listen on ${where} (EACCES; ports below 1024 need privileges): set ${setting} to a port from 1024 up`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartError(
        `${host} is not an address of this machine (${codeOf(error)}): set ${setting} to one of its addresses, such as 127.0.0.1, or 0.0.0.0 for every interface`,
      );
    default:
      return undefined;
  }
}

/**
 * A store that cannot be opened, in one line: one another process holds, a ClickHouse that does not answer or
 * refuses the credentials, or a data directory it cannot use (dataDirProblem).
 */
export function storeProblem(
  error: unknown,
  config: Pick<Config, 'dataDir' | 'storage'>,
): StartError | undefined {
  if (error instanceof StoreBusyError) {
    const pid = error.holderPid ? ` (PID ${error.holderPid})` : '';
    // On ClickHouse the store is shared; what one process holds is the data directory, for its ingest log.
    if (config.storage.clickhouse) {
      return new StartError(
        `the data directory ${config.dataDir} is in use by another process${pid}, another OpenUA server most likely: ` +
          'servers may share a ClickHouse, not a data directory: set OPENUA_DATA_DIR to another directory',
      );
    }
    return new StartError(
      `the store in ${config.dataDir} is in use by another process${pid}, another OpenUA server most likely: ` +
        'stop it, or set OPENUA_DATA_DIR to another directory (to administer the running one, use the CLI with OPENUA_MASTER_KEY)',
    );
  }
  const unreachable = storeUnreachable(config.storage.clickhouse, error);
  if (unreachable) {
    return new StartError(
      `ClickHouse at ${unreachable.location} does not answer (${unreachable.reason}): start it, or unset OPENUA_CLICKHOUSE_URL to use the embedded store`,
    );
  }
  if (error instanceof StoreCredentialsError) {
    return new StartError(
      `ClickHouse at ${error.location} refuses the user ${JSON.stringify(error.user)} (code ${error.code}): check OPENUA_CLICKHOUSE_USER and OPENUA_CLICKHOUSE_PASSWORD`,
    );
  }
  return dataDirProblem(error, config);
}

/**
 * A data directory or store file that cannot be used: a file in the way, no permission, a read-only or full disk.
 */
export function dataDirProblem(error: unknown, config: Pick<Config, 'dataDir'>): StartError | undefined {
  const dir = config.dataDir;
  const message = String((error as Error | undefined)?.message ?? error);
  const where = (error as SystemError | undefined)?.path ?? dir;
  const inside = path.resolve(where).startsWith(dir) || where === dir;
  const fix = 'or set OPENUA_DATA_DIR to another directory';
  switch (codeOf(error)) {
    case 'EEXIST':
    case 'ENOTDIR':
      if (!inside) return undefined;
      return new StartError(
        `the data directory ${dir} cannot be made: ${where} is a file (${codeOf(error)}). Move the file, ${fix}`,
      );
    case 'EACCES':
    case 'EPERM':
      if (!inside) return undefined;
      return new StartError(
        `this user may not read and write ${where} (${codeOf(error)}): give it the data directory ${dir} (chown/chmod), ${fix}`,
      );
    case 'EROFS':
      return inside
        ? new StartError(
            `the data directory ${dir} is on a read-only file system (EROFS): set OPENUA_DATA_DIR to a writable directory`,
          )
        : undefined;
    case 'ENOSPC':
      return inside
        ? new StartError(`the disk holding ${dir} is full (ENOSPC): free some space, ${fix}`)
        : undefined;
    default:
      break;
  }
  // DuckDB's own words for a file it cannot open (its permission errors carry no code).
  if (/Permission denied/i.test(message)) {
    return new StartError(
      `this user may not read and write the store in ${dir} (permission denied): give it the data directory (chown/chmod), ${fix}`,
    );
  }
  if (/not a valid DuckDB database file|Cannot open file/i.test(message)) {
    return new StartError(
      `the store in ${dir} cannot be opened (${message.split('\n')[0]}): move openua.duckdb aside, ${fix}`,
    );
  }
  return undefined;
}
