import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { conflict } from '../core/errors.ts';
import { openStorage } from '../storage/open-storage.ts';
import { StoreBusyError, type TableRows } from '../storage/storage.ts';
import { STORE_WAL_SUFFIX, storeFile, storeFileRows } from '../storage/store-file.ts';
import { type BackupManifest, readManifest } from './backups.ts';

/** The ingest log's directory in a data directory (startup/services.ts opens it there). */
const INGEST_LOG_DIR = 'ingest-log';

export interface RestoreOptions {
  /** Set an existing store aside and restore over it. */
  force: boolean;
  /** Bytes copied of the store file's. */
  onBytes?: (done: number, total: number) => void;
}

export interface Restored {
  manifest: BackupManifest;
  /** Each table's rows in the restored store: the manifest's. */
  tables: TableRows[];
  /** Where the store that was there (its file, write-ahead log and ingest log) now is, when there was one. */
  setAside?: string;
  seconds: number;
}

/**
 * Restores the backup in `dir` as the store of `dataDir`: copies its file beside the store's place while hashing it,
 * checks the hash and every table's rows against the manifest, and only then sets the old store aside (moved,
 * never deleted) and renames the copy into place. A failure before that leaves the data directory as it was.
 */
export async function restoreBackup(
  dir: string,
  dataDir: string,
  options: RestoreOptions,
): Promise<Restored> {
  const started = performance.now();
  const manifest = await readManifest(dir);
  const target = storeFile(dataDir);
  const held = [target, `${target}${STORE_WAL_SUFFIX}`, path.join(dataDir, INGEST_LOG_DIR)].filter((file) =>
    existsSync(file),
  );
  if (existsSync(target)) await refuseIfHeld(dataDir);
  if (held.length > 0 && !options.force)
    throw conflict(
      `${dataDir} already holds a store (${held.map((f) => path.basename(f)).join(', ')}): pass --force to restore over it (the old one is moved aside, never deleted)`,
    );
  await mkdir(dataDir, { recursive: true });
  const copy = `${target}.restoring`;
  try {
    const sha256 = await copyHashing(path.join(dir, manifest.file), copy, manifest.bytes, options.onBytes);
    if (sha256 !== manifest.sha256)
      throw conflict(
        `${path.join(dir, manifest.file)} is damaged: its sha256 is ${sha256}, the manifest says ${manifest.sha256}`,
      );
    const tables = await storeFileRows(copy);
    const differ = manifest.tables.filter((t) => tables.find((r) => r.table === t.table)?.rows !== t.rows);
    if (differ.length > 0)
      throw conflict(
        `the restored copy does not hold the backup's rows: ${differ
          .map((t) => `${t.table} ${tables.find((r) => r.table === t.table)?.rows ?? 'missing'} ≠ ${t.rows}`)
          .join('; ')}`,
      );
    const setAside = held.length > 0 ? await setAsideStore(dataDir, held) : undefined;
    await rename(copy, target);
    await syncDir(dataDir);
    return {
      manifest,
      tables,
      ...(setAside && { setAside }),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    await rm(copy, { force: true });
  }
}

/** A running server holds the store file (DuckDB lets one process open it): refused in one line. */
async function refuseIfHeld(dataDir: string): Promise<void> {
  const storage = await openStorage({ dataDir }).catch((error: unknown) => {
    if (!(error instanceof StoreBusyError)) throw error;
    throw conflict(
      `the store in ${dataDir} is in use by a running server${error.holderPid ? ` (pid ${error.holderPid})` : ''}: stop it, then run openua restore again`,
    );
  });
  await storage.close();
}

/** The old store's files, moved into `replaced-<time>/` in the data directory. */
async function setAsideStore(dataDir: string, files: readonly string[]): Promise<string> {
  const aside = path.join(dataDir, `replaced-${new Date().toISOString().replaceAll(':', '-')}`);
  await mkdir(aside);
  for (const file of files) await rename(file, path.join(aside, path.basename(file)));
  return aside;
}

/** Copies a file, reporting bytes, and answers the sha256 of what it read; the copy is synced before it answers. */
async function copyHashing(
  from: string,
  to: string,
  total: number,
  onBytes?: (done: number, total: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      done += chunk.length;
      onBytes?.(done, total);
      callback(null, chunk);
    },
  });
  await pipeline(createReadStream(from), tap, createWriteStream(to));
  const handle = await open(to, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
