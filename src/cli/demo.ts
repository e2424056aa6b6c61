import path from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Config } from '../core/config.ts';
import { DemoHttpError, type DemoTarget, sendDemo } from '../demo/demo-sender.ts';
import { writeDemo } from '../demo/demo-writer.ts';
import { DEMO_AGENTS, type GeneratorOptions, newTally } from '../demo/generator.ts';
import { openStorage } from '../storage/open-storage.ts';
import { StoreBusyError } from '../storage/storage.ts';
import { commandServices } from './command-services.ts';
import { StartError, storeProblem } from './start-errors.ts';

export interface DemoCommand {
  seed: number;
  events: number;
  days: number;
  /** The range's end (default: now). */
  end?: Date;
  org: string;
  dataDir?: string;
  url?: string;
  key?: string;
}

/** The command that fills an empty data directory with the demo, as `openua serve` says on an empty store. */
export const DEMO_COMMAND = 'npm run openua -- demo';

/**
 * The events a batch item may carry are at most this old (the organization's maxEventAgeDays, 30 by default):
 * over HTTP the month starts an hour short of it, so its first events are not refused while the rest are sent.
 */
const HTTP_MAX_DAYS = 30 - 1 / 24;

/**
 * `openua demo`: a month of a contact center and a search page, made by the seeded generator, written into a data
 * directory no server holds, or sent to a running server over HTTP (`--url`, `--key`), with a progress bar on
 * stderr and a summary on stdout.
 */
export async function runDemo(config: Config, command: DemoCommand): Promise<void> {
  const started = performance.now();
  const tally = newTally();
  const options: GeneratorOptions = {
    seed: command.seed,
    org: command.org,
    events: command.events,
    days: command.url ? Math.min(command.days, HTTP_MAX_DAYS) : command.days,
    end: command.end ?? new Date(),
  };
  if (command.url && !command.key)
    throw new StartError('--url needs --key: a key with analytics:write and admin (or the master key)');
  const bar = progressBar(command.events);
  let summary: string[];
  try {
    if (command.url) {
      const target: DemoTarget = {
        url: command.url,
        key: command.key as string,
        onRetry: (seconds) => bar.update({ note: ` (server busy: retrying in ${seconds} s)` }),
      };
      const sent = await sendDemo(target, options, tally, (n) => bar.update(n, { note: '' })).catch(
        (error: unknown) => {
          throw unreachable(error, command.url as string) ?? error;
        },
      );
      summary = [
        `Sent ${sent.sent} events to ${command.url}: ${sent.accepted} accepted, ${sent.duplicates} duplicates, ${sent.rejected} rejected`,
        ...sent.rejections.map((r) => `  rejected: ${r}`),
        sent.skippedPresence > 0
          ? `${sent.skippedPresence} presence changes were not sent: the JS API takes KPI events of a conversation only`
          : undefined,
      ].filter((line) => line !== undefined);
    } else {
      const dataDir = path.resolve(command.dataDir ?? config.dataDir);
      const local = { ...config, dataDir, storage: { ...config.storage, dataDir } };
      const { written, location } = await writeLocal(local, options, tally, (n) => bar.update(n));
      summary = [`Wrote ${written} events into ${location} (organization "${command.org}")`];
    }
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const first = new Date(options.end.getTime() - options.days * 86_400_000);
  console.log(
    [
      ...summary,
      `${tally.conversations} conversations (${tally.transfers} transfers, ${tally.consults} consults, ` +
        `${tally.abandonedShort + tally.abandonedLong} abandoned), ${DEMO_AGENTS} agents, ${tally.searches} searches`,
      `From ${first.toISOString()} to ${options.end.toISOString()}, seed ${command.seed}`,
      `Took ${seconds.toFixed(1)} s`,
    ].join('\n'),
  );
}

/**
 * The demo into the store the settings name (a data directory, or a ClickHouse), through the same records and
 * storage calls as a server's (demo-writer.ts). Answers how many events, and where.
 */
async function writeLocal(
  config: Config,
  options: GeneratorOptions,
  tally: ReturnType<typeof newTally>,
  onBatch: (written: number) => void,
): Promise<{ written: number; location: string }> {
  const storage = await openStorage(config.storage).catch((error: unknown) => {
    throw busyStore(error, config) ?? storeProblem(error, config) ?? error;
  });
  const services = await commandServices(config, storage).catch(async (error: unknown) => {
    await storage.close().catch(() => undefined);
    throw storeProblem(error, config) ?? error;
  });
  try {
    await services.organizations.require(options.org);
    const { count } = await storage.queryEvents(options.org, { limit: 1, count: true });
    if (count) {
      const elsewhere = config.storage.clickhouse
        ? 'load the demo into another organization (--org)'
        : 'load the demo into an empty data directory (--data-dir), or another organization (--org)';
      throw new StartError(
        `the organization "${options.org}" in ${storage.location} already holds ${count} events: ${elsewhere}`,
      );
    }
    const written = await writeDemo(storage, services.channelRecords, options, tally, onBatch);
    return { written, location: storage.location };
  } finally {
    await services.close();
  }
}

/** A store a running server holds: the demo can go to that server instead. */
function busyStore(error: unknown, config: Pick<Config, 'dataDir' | 'port'>): StartError | undefined {
  if (!(error instanceof StoreBusyError)) return;
  return new StartError(
    `the store in ${config.dataDir} is in use by a running server, and only one process may open it. ` +
      `Stop the server and run the command again, or send the demo to the server over HTTP: ` +
      `${DEMO_COMMAND} --url http://127.0.0.1:${config.port} --key <a key with analytics:write and admin>`,
  );
}

/** A server that refused the demo or could not be reached, in one line. */
function unreachable(error: unknown, url: string): StartError | undefined {
  if (error instanceof DemoHttpError) return new StartError(error.message);
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  if (error instanceof TypeError && cause)
    return new StartError(
      `cannot reach ${url} (${cause.code ?? String(cause)}): is the server running there?`,
    );
  return undefined;
}

/** Events made so far, with their rate and the time left; on stderr, so stdout keeps only the summary. */
function progressBar(total: number): SingleBar {
  const bar = new SingleBar({
    stream: process.stderr,
    format:
      'demo [{bar}] {percentage}% | {value}/{total} events | {speed} events/s | ETA {eta_formatted}{note}',
    // Without a terminal (a log, a pipe) it prints a line every few seconds instead of redrawing.
    noTTYOutput: true,
    notTTYSchedule: 2000,
    etaBuffer: 50,
    hideCursor: true,
  });
  const startedAt = performance.now();
  bar.start(total, 0, { speed: 0, note: '' });
  const update = bar.update.bind(bar);
  // The rate since the start: cli-progress shows an ETA but not a rate.
  bar.update = ((value: number | object, payload?: object) => {
    if (typeof value !== 'number') return update(value);
    const seconds = (performance.now() - startedAt) / 1000;
    update(Math.min(value, total), { speed: seconds > 0 ? Math.round(value / seconds) : 0, ...payload });
  }) as SingleBar['update'];
  return bar;
}
