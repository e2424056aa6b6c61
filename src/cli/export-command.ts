import { createWriteStream } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { type Config, readConfig } from '../core/config.ts';
import { type ErrorCode, ErrorCodes, OpenUAError, type Violation } from '../core/errors.ts';
import { EXPORT_FORMATS, type ExportFormat, type ExportQuery } from '../export/export-request.ts';
import { RawExports } from '../export/raw-export.ts';
import { TOTAL_COUNT_HEADER } from '../export/routes.ts';
import { cliActor } from '../privacy/audit-log.ts';
import { openStorage } from '../storage/open-storage.ts';
import { StoreBusyError } from '../storage/storage.ts';
import { commandServices } from './command-services.ts';
import { storeProblem } from './start-errors.ts';

interface ExportOptions {
  format: ExportFormat;
  from?: string;
  to?: string;
  eventType?: string;
  filter?: string;
  org: string;
  out: string;
  server?: string;
  key?: string;
}

/** `openua export`, as the command list registers it (main.ts). */
export function exportCommand(): Command {
  return new Command('export')
    .description(
      "write an organization's events in a time range as CSV, NDJSON or Parquet (GET /api/v1/export's answer), " +
        'with progress on stderr; opens the data directory when no server holds it, else asks the server',
    )
    .addOption(
      new Option('--format <format>', 'the file format').choices(EXPORT_FORMATS).makeOptionMandatory(),
    )
    .option('--from <time>', 'events from this derived time, inclusive (ISO 8601; default: the first)')
    .option('--to <time>', 'events until this derived time, exclusive (ISO 8601; default: now)')
    .option('--event-type <type>', 'only this event type')
    .option(
      '--filter <json>',
      'a filter as POST /api/v1/query takes one, such as {"field":"language","op":"eq","value":"fr"}',
    )
    .option('--org <org>', 'organization', 'default')
    .requiredOption('--out <file>', 'the file to write, or - for stdout')
    .option(
      '--server <url>',
      'export from the server running there (default: the store, else the configured server)',
    )
    .option('--key <key>', 'with a server: a key with analytics:read (default: OPENUA_MASTER_KEY)')
    .action(async (o: ExportOptions) => {
      await runExport(readConfig(), o);
    });
}

/** An export as it arrives: its events and, for Parquet, its bytes, when known up front. */
interface Incoming {
  rows: number;
  bytes?: number;
  stream: Readable;
  close(): Promise<void>;
}

export async function runExport(config: Config, o: ExportOptions): Promise<void> {
  const query: ExportQuery = {
    format: o.format,
    ...(o.from !== undefined && { from: o.from }),
    ...(o.to !== undefined && { to: o.to }),
    ...(o.eventType !== undefined && { eventType: o.eventType }),
    ...(o.filter !== undefined && { filter: o.filter }),
  };
  const incoming = o.server
    ? await fromServer(o.server, o.key ?? config.masterKey, o.org, query)
    : await fromStore(config, o, query);
  const out: Writable = o.out === '-' ? process.stdout : createWriteStream(o.out);
  const bar = progressBar(o.format, incoming);
  try {
    await pipeline(incoming.stream, progress(o.format, bar), out);
  } finally {
    bar.stop();
    await incoming.close();
  }
}

/** The store itself, when no server holds it; the configured server's API otherwise. */
async function fromStore(config: Config, o: ExportOptions, query: ExportQuery): Promise<Incoming> {
  const storage = await openStorage(config.storage).catch((error: unknown) => {
    if (error instanceof StoreBusyError) return undefined;
    throw storeProblem(error, config) ?? error;
  });
  if (!storage) {
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
    return fromServer(url, o.key ?? config.masterKey, o.org, query);
  }
  const services = await commandServices(config, storage).catch(async (error: unknown) => {
    await storage.close().catch(() => undefined);
    throw storeProblem(error, config) ?? error;
  });
  try {
    await services.organizations.require(o.org);
    const exports = new RawExports(services.storage, services.writer, services.dimensions, services.audit);
    const opened = await exports.open(o.org, query, cliActor());
    return { ...opened, close: () => services.close() };
  } catch (error) {
    await services.close();
    throw error;
  }
}

async function fromServer(
  url: string,
  key: string | undefined,
  org: string,
  query: ExportQuery,
): Promise<Incoming> {
  if (!key) {
    throw new OpenUAError(
      'UNAUTHENTICATED',
      `exporting from ${url} needs a key with analytics:read: --key, or OPENUA_MASTER_KEY`,
    );
  }
  const params = new URLSearchParams({ ...(query as Record<string, string>), org });
  const response = await get(`${url.replace(/\/$/, '')}/api/v1/export?${params}`, key).catch(
    (error: unknown) => {
      throw new OpenUAError('UNAVAILABLE', `the server at ${url} does not answer (${String(error)})`);
    },
  );
  const status = response.statusCode ?? 0;
  if (status !== 200) {
    let text = '';
    for await (const chunk of response) text += chunk;
    let answer: { code?: string; message?: string; violations?: Violation[] } = {};
    try {
      answer = JSON.parse(text);
    } catch {}
    const code = (answer.code && answer.code in ErrorCodes ? answer.code : 'INTERNAL') as ErrorCode;
    throw new OpenUAError(code, `${status}: ${answer.message ?? text}`, answer.violations);
  }
  const length = response.headers['content-length'];
  return {
    rows: Number(response.headers[TOTAL_COUNT_HEADER] ?? 0),
    ...(length !== undefined && { bytes: Number(length) }),
    stream: response,
    close: async () => {
      response.destroy();
    },
  };
}

/**
 * A GET by node:http rather than fetch: fetch gives up on a server that has not sent its headers within 300 s,
 * and a Parquet export of millions of events sends them once its file is written.
 */
function get(url: string, key: string): Promise<IncomingMessage> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    request(target, { headers: { authorization: `Bearer ${key}` } }, resolve)
      .on('error', reject)
      .end();
  });
}

/** Events for CSV and NDJSON (counted as they pass), bytes for Parquet (a binary format has no rows to count). */
function progressBar(format: ExportFormat, incoming: Incoming): SingleBar {
  const bytes = format === 'parquet';
  const bar = new SingleBar({
    stream: process.stderr,
    format: `export [{bar}] {percentage}% | {value}/{total} ${bytes ? 'bytes' : 'events'} | ETA {eta_formatted}`,
    // Without a terminal (a log, a pipe) it prints a line every second instead of redrawing.
    noTTYOutput: true,
    notTTYSchedule: 1000,
    etaBuffer: 50,
    hideCursor: true,
  });
  bar.start(bytes ? (incoming.bytes ?? 0) : incoming.rows, 0);
  return bar;
}

/**
 * Passes the bytes through, moving the bar: by bytes for Parquet; by records for the others, each ended by a line
 * break outside quotes (a CSV value may hold line breaks, quoted; NDJSON has none in its values). The CSV header
 * is not an event.
 */
function progress(format: ExportFormat, bar: SingleBar): Transform {
  let value = format === 'csv' ? -1 : 0;
  let quoted = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (format === 'parquet') value += chunk.length;
      else if (format === 'ndjson') {
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) value++;
      } else {
        for (const byte of chunk) {
          if (byte === 34) quoted = !quoted;
          else if (byte === 10 && !quoted) value++;
        }
      }
      bar.update(Math.max(0, value));
      callback(null, chunk);
    },
  });
}
