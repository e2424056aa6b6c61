import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { GroupCommit } from '../ingest/group-commit.ts';
import type { AuditActor, AuditLog } from '../privacy/audit-log.ts';
import type { Dimensions } from '../query/dimensions.ts';
import type { EventScan, Storage } from '../storage/storage.ts';
import { type ExportQuery, type ExportRequest, resolveExport } from './export-request.ts';
import { encode, header } from './formats.ts';

/** An export ready to send: how many events it holds, its bytes when known up front (Parquet), and its stream. */
export interface OpenExport {
  request: ExportRequest;
  rows: number;
  bytes?: number;
  /** The export's bytes. Destroying it stops the store's read and frees what the export holds. */
  stream: Readable;
}

/**
 * Raw exports of one organization's events, for the route and the CLI alike: resolved, audited, then streamed
 * from the store a chunk at a time, each chunk read only once the one before has been taken (backpressure), so an
 * export of millions of events holds a few chunks at a time.
 */
export class RawExports {
  constructor(
    private readonly storage: Storage,
    private readonly writer: Pick<GroupCommit, 'sync'>,
    private readonly dimensions: Dimensions,
    private readonly audit: Pick<AuditLog, 'record' | 'subjectHash'>,
  ) {}

  /** Opens the export a query asks for; refused (400) with every violation of the query. */
  async open(org: string, query: ExportQuery, actor: AuditActor): Promise<OpenExport> {
    const request = resolveExport(query, await this.dimensions.byName(org));
    // Events acknowledged before the export was asked are in it, the ones still in the ingest log too.
    await this.writer.sync();
    const opened =
      request.format === 'parquet'
        ? await this.parquet(org, request)
        : await this.text(org, request, request.format);
    try {
      // A filter may name a person (visitorId = …), and the log is never erased: only its keyed hash is kept, which
      // an admin who knows the filter can match.
      const { filter, ...asked } = request.asked;
      const filterHash =
        filter === undefined
          ? undefined
          : await this.audit.subjectHash(org, { kind: 'filter', value: JSON.stringify(filter) });
      await this.audit.record({
        org,
        actor,
        action: 'export',
        rows: opened.rows,
        details: { ...asked, ...(filterHash && { filterHash }) },
      });
    } catch (error) {
      // An export that cannot be recorded is not sent.
      opened.stream.destroy();
      throw error;
    }
    return opened;
  }

  private async text(org: string, request: ExportRequest, format: 'csv' | 'ndjson'): Promise<OpenExport> {
    const scan = await this.storage.scanEvents(org, request.scan);
    return {
      request,
      rows: scan.rows,
      stream: scanStream(scan, header(format), (events) => encode(format, events)),
    };
  }

  /** The store writes the Parquet file (it cannot be written a row at a time); the file is then sent and removed. */
  private async parquet(org: string, request: ExportRequest): Promise<OpenExport> {
    const dir = await mkdtemp(path.join(tmpdir(), 'openua-export-'));
    const remove = () => rm(dir, { recursive: true, force: true });
    try {
      const file = path.join(dir, 'events.parquet');
      const rows = await this.storage.exportParquet(org, request.scan, file);
      const { size } = await stat(file);
      const stream = createReadStream(file);
      stream.once('close', () => void remove());
      return { request, rows, bytes: size, stream };
    } catch (error) {
      await remove();
      throw error;
    }
  }
}

/**
 * A scan's events as a byte stream: `read` asks the store for the next chunk only when the consumer wants more,
 * and destroying the stream (a client that went away) stops the store's read at once.
 */
function scanStream(
  scan: EventScan,
  opening: string,
  encodeChunk: (events: Parameters<typeof encode>[1]) => string,
): Readable {
  const chunks = scan.chunks[Symbol.asyncIterator]();
  let opened = false;
  return new Readable({
    highWaterMark: 1 << 20,
    async read() {
      try {
        if (!opened) {
          opened = true;
          if (opening) {
            this.push(opening);
            return;
          }
        }
        // Chunks are a few thousand events; an empty one (none left after a filter) is skipped.
        for (;;) {
          const next = await chunks.next();
          if (next.done) {
            this.push(null);
            return;
          }
          if (next.value.length > 0) {
            this.push(encodeChunk(next.value));
            return;
          }
        }
      } catch (error) {
        this.destroy(error as Error);
      }
    },
    destroy(error, callback) {
      scan
        .close()
        .then(() => chunks.return?.())
        .then(
          () => callback(error),
          (closing: unknown) => callback(error ?? (closing as Error)),
        );
    },
  });
}
