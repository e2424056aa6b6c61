import { userInfo } from 'node:os';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { type BackupManifest, SERVER_ENGINE_BACKUP, takeBackup } from '../backup/backups.ts';
import { restoreBackup } from '../backup/restore.ts';
import type { BackupLine } from '../backup/routes.ts';
import { type Config, readConfig } from '../core/config.ts';
import type { AuditActor } from '../privacy/audit-log.ts';
import { openStorage } from '../storage/open-storage.ts';
import { StoreBusyError } from '../storage/storage.ts';
import { commandServices } from './command-services.ts';
import { StartError, storeProblem } from './start-errors.ts';

interface BackupOptions {
  server?: string[];
  flushOnly?: boolean;
  dataDir?: string;
}

interface RestoreOptions {
  dataDir?: string;
  force?: boolean;
}

/** Who the audit log names for what this command does on a store it opened itself. */
const cliActor = (): AuditActor => ({ kind: 'cli', id: userInfo().username });

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `openua backup`, as the command list registers it (main.ts). */
export function backupCommand(): Command {
  return new Command('backup')
    .description(
      'copy the DuckDB store, while it serves, into a new or empty directory with a manifest (docs/operations/backup.md); on ClickHouse, --flush-only',
    )
    .argument('[dir]', "the backup's directory (a running server writes it: a path on its machine)")
    .option(
      '--server <url>',
      'ask this running server (needs OPENUA_MASTER_KEY); with --flush-only, repeat it for every server',
      collect,
    )
    .option(
      '--flush-only',
      "only load each server's ingest log into the store and print up to when it is covered: run before ClickHouse's own backup",
    )
    .option(
      '--data-dir <dir>',
      'the data directory to back up when no server holds it (default: OPENUA_DATA_DIR)',
    )
    .action(async (dir: string | undefined, o: BackupOptions) => {
      await runBackup(readConfig(), dir, o);
    });
}

/** `openua restore`, as the command list registers it (main.ts). */
export function restoreCommand(): Command {
  return new Command('restore')
    .description(
      'restore a backup as the store of a data directory no server holds, checking its sha256 and rows; the directory then starts as is',
    )
    .argument('<dir>', 'the backup directory (it holds backup.json)')
    .option('--data-dir <dir>', 'the data directory to restore into (default: OPENUA_DATA_DIR)')
    .option(
      '--force',
      'replace the store already there: it is moved into replaced-<time>/ in the data directory, never deleted',
    )
    .action(async (dir: string, o: RestoreOptions) => {
      await runRestore(readConfig(), dir, o);
    });
}

const serverUrl = (config: Config) =>
  `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;

async function runBackup(config: Config, dir: string | undefined, o: BackupOptions): Promise<void> {
  if (o.flushOnly) {
    if (dir !== undefined) throw new StartError('--flush-only writes no backup: leave out the directory');
    await flushServers(config, o.server?.length ? o.server : [serverUrl(config)]);
    return;
  }
  if (dir === undefined) throw new StartError('name the directory to back up into: openua backup <dir>');
  if (config.storage.clickhouse) throw new StartError(SERVER_ENGINE_BACKUP);
  if ((o.server?.length ?? 0) > 1) throw new StartError('a backup asks one server: give --server once');
  const target = path.resolve(dir);
  const [server] = o.server ?? [];
  if (server) return print(await remoteBackup(config, server, target));
  const settings = { ...config.storage, dataDir: path.resolve(o.dataDir ?? config.dataDir) };
  const storage = await openStorage(settings).catch((error: unknown) => {
    if (error instanceof StoreBusyError) return undefined;
    throw storeProblem(error, config) ?? error;
  });
  // A running server holds the store: it makes the backup, which is what a backup of a live store needs.
  if (!storage) return print(await remoteBackup(config, serverUrl(config), target));
  const services = await commandServices(
    { ...config, dataDir: settings.dataDir, storage: settings },
    storage,
  );
  try {
    const bar = progressBar('rows');
    let manifest: BackupManifest;
    try {
      manifest = await takeBackup(services.storage, services.writer, target, (done, total) =>
        bar.show(done, total),
      );
    } finally {
      bar.stop();
    }
    await services.audit.record({
      org: 'default',
      actor: cliActor(),
      action: 'backup',
      rows: manifest.tables.reduce((sum, t) => sum + t.rows, 0),
      details: { dir: target, coveredUntil: manifest.coveredUntil, bytes: manifest.bytes },
    });
    print(manifest);
  } finally {
    await services.close();
  }
}

function masterKey(config: Config, url: string): string {
  if (!config.masterKey)
    throw new StartError(
      `asking the server at ${url} needs OPENUA_MASTER_KEY: set it (for this command and the server), or stop the server and run the command again`,
    );
  return config.masterKey;
}

/** POST /api/v1/backups, drawing its progress lines; answers the manifest. */
async function remoteBackup(config: Config, url: string, dir: string): Promise<BackupManifest> {
  const response = await fetch(new URL('/api/v1/backups', url), {
    method: 'POST',
    headers: { authorization: `Bearer ${masterKey(config, url)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ dir }),
  }).catch((error: unknown) => {
    throw new StartError(`cannot reach the server at ${url} (${(error as Error).cause ?? error})`);
  });
  if (!response.ok || !response.body) throw await refusal(url, response);
  const bar = progressBar('rows');
  let manifest: BackupManifest | undefined;
  try {
    for await (const line of lines(response.body)) {
      const answer = JSON.parse(line) as BackupLine;
      if ('done' in answer) bar.show(answer.done, answer.total);
      else if ('manifest' in answer) manifest = answer.manifest as unknown as BackupManifest;
      else throw new StartError(`the server's backup failed: ${answer.error.message}`);
    }
  } finally {
    bar.stop();
  }
  if (!manifest) throw new StartError(`the server at ${url} ended the backup's answer before its manifest`);
  return manifest;
}

/** POST /api/v1/backups/flush on each server; prints each one's coveredUntil and the earliest. */
async function flushServers(config: Config, urls: string[]): Promise<void> {
  const servers: { server: string; coveredUntil: string }[] = [];
  for (const url of urls) {
    const response = await fetch(new URL('/api/v1/backups/flush', url), {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey(config, url)}`, 'content-type': 'application/json' },
      body: '{}',
    }).catch((error: unknown) => {
      throw new StartError(`cannot reach the server at ${url} (${(error as Error).cause ?? error})`);
    });
    if (!response.ok) throw await refusal(url, response);
    const { coveredUntil } = (await response.json()) as { coveredUntil: string };
    servers.push({ server: url, coveredUntil });
  }
  const earliest = servers.map((s) => s.coveredUntil).sort()[0];
  print({ coveredUntil: earliest, servers });
}

async function refusal(url: string, response: Response): Promise<StartError> {
  const text = await response.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {}
  return new StartError(`the server at ${url} answered ${response.status}: ${message}`);
}

/** The lines of a streamed body, as they arrive. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) yield part;
  }
  if (pending.trim()) yield pending;
}

async function runRestore(config: Config, dir: string, o: RestoreOptions): Promise<void> {
  if (config.storage.clickhouse)
    throw new StartError(
      "this store is ClickHouse: restore it with ClickHouse's own tools (RESTORE … FROM Disk(…), clickhouse-backup, or ATTACH PARTITION of frozen parts on 18.16); docs/operations/backup.md",
    );
  const from = path.resolve(dir);
  const dataDir = path.resolve(o.dataDir ?? config.dataDir);
  const bar = progressBar('bytes');
  let restored: Awaited<ReturnType<typeof restoreBackup>>;
  try {
    restored = await restoreBackup(from, dataDir, {
      force: o.force === true,
      onBytes: (done, total) => bar.show(done, total),
    });
  } finally {
    bar.stop();
  }
  const { manifest, tables, setAside, seconds } = restored;
  const rows = tables.reduce((sum, t) => sum + t.rows, 0);
  // The restored store, opened as a server would open it: brought to this version, and told of its restore.
  const settings = { ...config.storage, dataDir };
  const storage = await openStorage(settings);
  const services = await commandServices({ ...config, dataDir, storage: settings }, storage);
  try {
    await services.audit.record({
      org: 'default',
      actor: cliActor(),
      action: 'restore',
      rows,
      details: {
        dir: from,
        coveredUntil: manifest.coveredUntil,
        backupCreatedAt: manifest.createdAt,
        ...(setAside && { setAside }),
      },
    });
  } finally {
    await services.close();
  }
  const width = Math.max(...tables.map((t) => t.table.length));
  console.log(
    [
      `Restored ${from} into ${dataDir} in ${seconds} s: ${rows} rows in ${tables.length} tables, checked against the manifest (sha256 and rows)`,
      `It holds every event acknowledged before ${manifest.coveredUntil} (backup made ${manifest.createdAt} by OpenUA ${manifest.openua})`,
      ...(setAside ? [`The store that was there is in ${setAside}`] : []),
      '',
      ...tables.map((t) => `  ${t.table.padEnd(width)}  ${String(t.rows).padStart(10)}`),
      '',
      `Start it with OPENUA_DATA_DIR=${dataDir} npm start`,
    ].join('\n'),
  );
}

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

/** A bar on stderr, with the rate and the time left, so stdout keeps only the answer. */
function progressBar(unit: 'rows' | 'bytes') {
  const bar = new SingleBar({
    stream: process.stderr,
    format: `{bar} {percentage}% | {value}/{total} ${unit} | ETA {eta_formatted}`,
    // Without a terminal (a log, a pipe) it prints a line every second instead of redrawing.
    noTTYOutput: true,
    notTTYSchedule: 1000,
    etaBuffer: 20,
    hideCursor: true,
  });
  let started = false;
  return {
    show(done: number, total: number) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
