import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { type CanonicalEvent, reviveEvent } from './canonical-event.ts';

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

const SEGMENT = /^(\d{10})\.log$/;
const segmentName = (n: number) => `${String(n).padStart(10, '0')}.log`;

/**
 * The ingest log: an append-only file of JSON lines, one line per group of events, made durable with
 * fdatasync before the events are acknowledged. A database transaction costs milliseconds of fixed
 * overhead here, an fdatasync a fraction of one, so acknowledging from the log and loading the store in
 * large batches behind it keeps both the latency and the guarantee. Each start writes a new segment;
 * segments are deleted once the store holds everything in them.
 */
export class IngestLog {
  private lastDurable: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private file: FileHandle,
    private segment: number,
    private size: number,
    private readonly segmentBytes: number,
  ) {}

  static async open(dir: string, segmentBytes = 64 * 1024 * 1024): Promise<IngestLog> {
    mkdirSync(dir, { recursive: true });
    const existing = await segments(dir);
    const segment = (existing.at(-1) ?? 0) + 1;
    const file = await open(path.join(dir, segmentName(segment)), 'a');
    return new IngestLog(dir, file, segment, 0, segmentBytes);
  }

  /**
   * Appends one record. Resolves once it is written (so the next append may start) with its position and a
   * promise that settles when it is on disk. Its fdatasync overlaps with the next records' writes, and the
   * `durable` promises settle in log order, so a record is never reported durable before an earlier one.
   * Calls must not overlap.
   */
  async append(
    events: readonly CanonicalEvent[],
  ): Promise<{ position: LogPosition; durable: Promise<void> }> {
    const line = Buffer.from(`${JSON.stringify(events)}\n`);
    await this.file.write(line);
    this.size += line.length;
    const position = { segment: this.segment, offset: this.size };
    const durable = Promise.all([this.lastDurable, this.file.datasync()]).then(() => undefined);
    this.lastDurable = durable.catch(() => undefined);
    // FileHandle.close waits for the pending fdatasync, so rotating cannot cut one short.
    if (this.size >= this.segmentBytes) await this.rotate();
    return { position, durable };
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
    await this.lastDurable;
    await this.file.close();
  }

  private async rotate(): Promise<void> {
    await this.file.close();
    this.segment += 1;
    this.size = 0;
    this.file = await open(path.join(this.dir, segmentName(this.segment)), 'a');
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
