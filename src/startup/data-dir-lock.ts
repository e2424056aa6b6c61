import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StoreBusyError } from '../storage/storage.ts';

/** The file that says which process holds a data directory's ingest log. */
export const LOCK_FILE = 'openua.pid';

/**
 * Takes the data directory for this process, or throws StoreBusyError naming the process that holds it. On DuckDB
 * the store's own file lock keeps a second process out of the directory; a ClickHouse store is shared, so nothing
 * else would stop a second server started with the same OPENUA_DATA_DIR from replaying, loading and cutting the
 * first one's ingest log while it writes there. A lock left by a process that is gone (a crash, SIGKILL) is taken
 * over. Answers the release.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // `wx`: made only if absent, so of two processes taking over a stale lock only one succeeds.
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => release(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readText(file));
    // This process already holds it (a store reopened in one process, as the tests do).
    if (holder === process.pid) return () => undefined;
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) throw new StoreBusyError(dataDir, holder);
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new StoreBusyError(dataDir);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Whether `pid` is a live OpenUA process. A PID is reused once its process is gone: where /proc says what runs
 * under it, another program under the old PID is not a holder.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true;
  }
  return /openua|node/i.test(command);
}

function release(file: string): void {
  if (readText(file) !== String(process.pid)) return;
  try {
    unlinkSync(file);
  } catch {}
}
