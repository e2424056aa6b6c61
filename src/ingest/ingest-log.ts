import { constants, mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { type CanonicalEvent, reviveEvent } from '../model/canonical-event.ts';

/** A place in the log: the end of a record, as `segment:offset`. */
export interface LogPosition {
  segment: number;
  offset: number;
}

export const formatPosition = (p: LogPosition) => `${p.segment}:${p.offset}`;

export function parsePosition(value: string | undefined): LogPosition | undefined {
  const match = /^(\d+):(\d+)$/.exec(value ?? '');
  return match ? { segment: Number(match[1]), offset: Number(match[2]) } : undefined;
}

export interface LoggedRecord {
  events: CanonicalEvent[];
  /** Where this record ends: loading it means the log is consumed up to here. */
  position: LogPosition;
}

const APPEND_DSYNC = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;
const SEGMENT = /^(\d{10})\.log$/;
const segmentName = (n: number) => `${String(n).padStart(10, '0')}.log`;

/**
 * The ingest log: an append-only file of JSON lines, one line per group of events, each written
 * synchronously (O_DSYNC) before its events are acknowledged. A database transaction costs milliseconds
 * of fixed overhead here, a synchronous write a fraction of one, so acknowledging from the log and loading
 * the store in large batches behind it keeps both the latency and the guarantee. Each start writes a new
 * segment; segments are deleted once the store holds everything in them.
 */
export class IngestLog {
  private constructor(
    readonly dir: string,
    private file: FileHandle,
    private segment: number,
    private size: number,
    private readonly segmentBytes: number,
  ) {}

  private buffer = Buffer.allocUnsafeSlow(1024 * 1024);

  static async open(dir: string, segmentBytes = 64 * 1024 * 1024): Promise<IngestLog> {
    mkdirSync(dir, { recursive: true });
    const existing = await segments(dir);
    const segment = (existing.at(-1) ?? 0) + 1;
    const file = await open(path.join(dir, segmentName(segment)), APPEND_DSYNC);
    return new IngestLog(dir, file, segment, 0, segmentBytes);
  }

  /**
   * Appends one record and resolves once it is on disk: the file is opened with O_DSYNC, so the write
   * itself waits for the data (one thread-pool hop, where write + fdatasync took two). Calls must not
   * overlap.
   */
  async append(events: readonly CanonicalEvent[]): Promise<LogPosition> {
    const line = this.encode(`${JSON.stringify(events)}\n`);
    // writeFile, unlike write, loops until every byte is written.
    await this.file.writeFile(line);
    this.size += line.length;
    const position = { segment: this.segment, offset: this.size };
    if (this.size >= this.segmentBytes) await this.rotate();
    return position;
  }

  /**
   * The line's bytes, in a buffer kept from one record to the next. A record is megabytes; a new buffer each
   * would be freed only when V8 collects its small wrapper, and under load those waited by the hundred.
   */
  private encode(text: string): Buffer {
    const bytes = Buffer.byteLength(text);
    if (bytes > this.buffer.length)
      this.buffer = Buffer.allocUnsafeSlow(Math.max(bytes, this.buffer.length * 2));
    return this.buffer.subarray(0, this.buffer.write(text));
  }

  /**
   * Every complete record after `after` in the segments older than this process's, in order. A record cut
   * short by a crash was never acknowledged; it is cut off the file. A record that cannot be read is
   * handed to `onCorrupt` and skipped, so one bad line cannot keep the server from starting.
   */
  async *replay(
    after: LogPosition | undefined,
    onCorrupt: (file: string, offset: number, error: unknown) => void,
  ): AsyncGenerator<LoggedRecord> {
    for (const segment of await segments(this.dir)) {
      if (segment >= this.segment || (after && segment < after.segment)) continue;
      const file = path.join(this.dir, segmentName(segment));
      const content = await readFile(file);
      let offset = after && segment === after.segment ? after.offset : 0;
      while (offset < content.length) {
        const end = content.indexOf(10, offset);
        if (end < 0) {
          await truncate(file, offset);
          break;
        }
        const position = { segment, offset: end + 1 };
        try {
          const events = (JSON.parse(content.subarray(offset, end).toString('utf8')) as object[]).map(
            reviveEvent,
          );
          yield { events, position };
        } catch (error) {
          onCorrupt(file, offset, error);
        }
        offset = end + 1;
      }
    }
  }

  /** Deletes every segment the store has consumed entirely: those before `position`'s. */
  async release(position: LogPosition): Promise<void> {
    for (const segment of await segments(this.dir)) {
      if (segment < position.segment && segment !== this.segment) {
        await rm(path.join(this.dir, segmentName(segment)), { force: true });
      }
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  private async rotate(): Promise<void> {
    await this.file.close();
    this.segment += 1;
    this.size = 0;
    this.file = await open(path.join(this.dir, segmentName(this.segment)), APPEND_DSYNC);
  }
}

async function segments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .map((n) => SEGMENT.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}
