import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { conflict, OpenUAError } from '../core/errors.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import type { Storage, TableRows } from '../storage/storage.ts';
import { STORE_FILE, STORE_WAL_SUFFIX } from '../storage/store-file.ts';

/** The file that makes a directory a backup: written last, so a backup without it never finished. */
export const MANIFEST_FILE = 'backup.json';
export const BACKUP_FORMAT = 'openua-backup/1';

/** What a backup directory holds, as backup.json says it. */
export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  /** The OpenUA version that made it. */
  openua: string;
  engine: string;
  createdAt: string;
  /** Every event acknowledged before this instant is in the backup. */
  coveredUntil: string;
  /** The store file, in the backup directory, under the name a data directory gives it. */
  file: string;
  bytes: number;
  sha256: string;
  tables: TableRows[];
  /** How long the copy took. */
  seconds: number;
}

/** What a backup reports while it copies: rows copied of all. */
export type BackupProgress = (done: number, total: number) => void;

/**
 * The answer on an engine without a backup of its own (ClickHouse): its own tools back it up, once every server's
 * ingest log is loaded into it (flush), which OpenUA offers.
 */
export const SERVER_ENGINE_BACKUP =
  "this store is ClickHouse: back it up with ClickHouse's own tools (BACKUP … TO Disk(…) from 22.8, clickhouse-backup, or ALTER TABLE … FREEZE on 18.16), " +
  'after `openua backup --flush-only --server <url>` for each OpenUA server so every event it acknowledged is in ClickHouse (docs/operations/backup.md)';

/** The running code's version, which a backup names. */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * Brings the store up to date with the ingest log, then copies it whole into `dir` (storage/duckdb/backup.ts) and
 * writes the manifest. `coveredUntil` is taken before the log is loaded: an event acknowledged before it is in the
 * log then, so in the store once sync() answers, so in the copy's snapshot, which starts after.
 */
export async function takeBackup(
  storage: Storage,
  writer: Pick<GroupCommit, 'sync'>,
  dir: string,
  onProgress?: BackupProgress,
): Promise<BackupManifest> {
  if (!storage.backup) throw new OpenUAError('CONFLICT', SERVER_ENGINE_BACKUP);
  await prepareBackupDir(dir);
  const started = performance.now();
  const coveredUntil = new Date();
  await writer.sync();
  const file = path.join(dir, STORE_FILE);
  const tables = await storage.backup(file, onProgress).catch(async (error: unknown) => {
    // A copy that failed is not left to look like a backup; the directory is empty again for the next try.
    for (const made of [file, `${file}${STORE_WAL_SUFFIX}`]) await rm(made, { force: true });
    throw error;
  });
  const { bytes, sha256 } = await digest(file);
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    openua: VERSION,
    engine: storage.engine,
    createdAt: new Date().toISOString(),
    coveredUntil: coveredUntil.toISOString(),
    file: STORE_FILE,
    bytes,
    sha256,
    tables,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  await writeAtomically(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Refuses a directory that holds anything (or is not one); makes it when missing. */
export async function prepareBackupDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    if (error.code === 'ENOTDIR') throw conflict(`${dir} is a file, not a directory: name a new directory`);
    throw error;
  });
  if (entries === undefined) {
    await mkdir(dir, { recursive: true });
    return;
  }
  if (entries.length > 0) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
    throw conflict(
      `${dir} is not empty (it holds ${shown}): a backup goes into a new or empty directory, and never over another`,
    );
  }
}

/** A file's size and sha256, read as a stream. */
export async function digest(
  file: string,
  onBytes?: (bytes: number) => void,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes?.(bytes);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Written to a temporary name, synced, then renamed: a reader sees the whole file or none. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const directory = await open(path.dirname(file), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** The manifest of a backup directory, checked; refuses one without it (a backup that did not finish). */
export async function readManifest(dir: string): Promise<BackupManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') throw error;
    throw conflict(
      `${dir} is not an OpenUA backup: it has no ${MANIFEST_FILE} (a backup writes it last, so one that did not finish has none)`,
    );
  });
  let manifest: Partial<BackupManifest>;
  try {
    manifest = JSON.parse(text) as Partial<BackupManifest>;
  } catch {
    throw conflict(`${file} is not valid JSON: the backup is damaged`);
  }
  if (manifest.format !== BACKUP_FORMAT)
    throw conflict(
      `${file} is not an OpenUA backup manifest of this version (format ${JSON.stringify(manifest.format)}, expected ${BACKUP_FORMAT})`,
    );
  if (
    typeof manifest.file !== 'string' ||
    path.basename(manifest.file) !== manifest.file ||
    typeof manifest.sha256 !== 'string' ||
    !Array.isArray(manifest.tables)
  )
    throw conflict(`${file} lacks the store file's name, its sha256 or the tables: the backup is damaged`);
  const size = await stat(path.join(dir, manifest.file)).catch(() => undefined);
  if (!size?.isFile()) throw conflict(`${path.join(dir, manifest.file)} is missing: the backup is not whole`);
  return manifest as BackupManifest;
}
