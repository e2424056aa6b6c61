import { constants, mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { type CanonicalEvent, reviveEvent } from '../model/canonical-event.ts';
import { COMMIT_KEY, eventToRowJson, rowJsonToEvent } from '../storage/event-rows.ts';

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
  /** Where it starts in its segment: 0 for a segment's first record. */
  start: number;
}

/** A segment of an earlier run, checked whole and ready for an engine's bulk reader (see prepare). */
export interface PreparedSegment {
  segment: number;
  file: string;
  /** Where its last complete write ends, once a torn tail is cut off. */
  end: number;
  /** Events in it. */
  rows: number;
}

const APPEND_DSYNC = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;
const SEGMENT = /^(\d{10})\.log$/;
const segmentName = (n: number) => `${String(n).padStart(10, '0')}.log`;
const NEWLINE = 10;
const OPEN_BRACKET = 91;
const MARKER_PREFIX = Buffer.from(`{"${COMMIT_KEY}":`);

/**
 * The ingest log: an append-only file of events in the store's row shape (storage/event-rows.ts), one JSON line
 * per event, each group of events written at once, synchronously (O_DSYNC), before its events are acknowledged.
 * A database transaction costs milliseconds of fixed overhead here, a synchronous write a fraction of one, so
 * acknowledging from the log and loading the store in large batches behind it keeps both the latency and the
 * guarantee.
 *
 * Each write (a record) ends with a commit line, `{"#":<events>,"b":<bytes>}`: a write cut short by a crash
 * lacks it, or its counts do not match, and the replay cuts the whole write off, never part of one. Because
 * the lines are rows, a finished segment is loaded by the engine's own bulk reader from the file (seal, then
 * Storage.loadEventFile). Each start writes a new segment, and so does each seal; segments are deleted once the
 * store holds everything in them.
 *
 * Segments written by versions before the row shape hold one JSON array of events per line, each line a
 * record; the replay still reads them (a line that starts with `[`).
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
  /** Appends and seals, one at a time: a seal must never close the file under a write. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Segments of this run that may hold part of a failed write. */
  private readonly damaged = new Set<number>();

  static async open(dir: string, segmentBytes = 64 * 1024 * 1024): Promise<IngestLog> {
    mkdirSync(dir, { recursive: true });
    const existing = await segments(dir);
    const segment = (existing.at(-1) ?? 0) + 1;
    const file = await openSegment(dir, segment);
    return new IngestLog(dir, file, segment, 0, segmentBytes);
  }

  /** The file of a segment. */
  segmentFile(segment: number): string {
    return path.join(this.dir, segmentName(segment));
  }

  /**
   * Appends one record and resolves once it is on disk: the file is opened with O_DSYNC, so the write
   * itself waits for the data (one thread-pool hop, where write + fdatasync took two).
   */
  append(events: readonly CanonicalEvent[]): Promise<{ position: LogPosition; start: number }> {
    return this.exclusive(async () => {
      const line = this.encode(events);
      try {
        // writeFile, unlike write, loops until every byte is written.
        await this.file.writeFile(line);
      } catch (error) {
        // Part of a failed write may be in the file, and nothing of it was acknowledged: cut it off, or failing
        // that, never load this segment whole (its records are loaded from memory, one by one if need be).
        await this.file.truncate(this.size).catch(() => this.damaged.add(this.segment));
        throw error;
      }
      const start = this.size;
      this.size += line.length;
      const position = { segment: this.segment, offset: this.size };
      if (this.size >= this.segmentBytes) await this.rotate();
      return { position, start };
    });
  }

  /**
   * Ends the segment being written, if it holds anything, so that it can be loaded whole; answers its number
   * (undefined when it was empty). The next append starts a new segment.
   */
  seal(): Promise<number | undefined> {
    return this.exclusive(async () => {
      if (this.size === 0) return undefined;
      const sealed = this.segment;
      await this.rotate();
      return sealed;
    });
  }

  /** Whether a segment of this run may be loaded whole from its file (see append). */
  loadable(segment: number): boolean {
    return !this.damaged.has(segment);
  }

  /** The segment appends go to now. */
  get current(): number {
    return this.segment;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * The record's bytes, in a buffer kept from one record to the next: one row line per event, then the commit
   * line. A record is megabytes; a new buffer each would be freed only when V8 collects its small wrapper, and
   * under load those waited by the hundred.
   */
  private encode(events: readonly CanonicalEvent[]): Buffer {
    let text = '';
    for (const event of events) text += `${eventToRowJson(event)}\n`;
    const rows = Buffer.byteLength(text);
    text += `{"${COMMIT_KEY}":${events.length},"b":${rows}}\n`;
    const bytes = Buffer.byteLength(text);
    if (bytes > this.buffer.length)
      this.buffer = Buffer.allocUnsafeSlow(Math.max(bytes, this.buffer.length * 2));
    return this.buffer.subarray(0, this.buffer.write(text));
  }

  /** The segments older than this process's that hold something after `after`, in order. */
  async unconsumed(after: LogPosition | undefined): Promise<number[]> {
    return (await segments(this.dir)).filter(
      (segment) => segment < this.segment && !(after && segment < after.segment),
    );
  }

  /**
   * An earlier run's segment, made ready for a bulk load from its start: a torn write at its end is cut off
   * the file. Undefined when the file cannot be loaded whole by a bulk reader: written by an older version, or
   * holding a write that does not check out (those are read record by record by replay, which reports them).
   */
  async prepare(segment: number): Promise<PreparedSegment | undefined> {
    const file = this.segmentFile(segment);
    const content = await readFile(file);
    if (content.length > 0 && content[0] === OPEN_BRACKET) return undefined;
    const { writes, end, damaged } = scan(content, 0);
    if (end < content.length) await truncate(file, end);
    if (damaged) return undefined;
    return { segment, file, end, rows: writes.reduce((sum, w) => sum + w.rows.length, 0) };
  }

  /**
   * Every complete record after `after` in the segments older than this process's (or in `only`), in order. A
   * record cut short by a crash was never acknowledged; it is cut off the file. A record that cannot be read is
   * handed to `onCorrupt` and skipped, so one bad line cannot keep the server from starting.
   */
  async *replay(
    after: LogPosition | undefined,
    onCorrupt: (file: string, offset: number, error: unknown) => void,
    only?: number,
  ): AsyncGenerator<LoggedRecord> {
    for (const segment of await this.unconsumed(after)) {
      if (only !== undefined && segment !== only) continue;
      const file = this.segmentFile(segment);
      const content = await readFile(file);
      const from = after && segment === after.segment ? after.offset : 0;
      const { writes, end } = scan(content, from);
      for (const write of writes) {
        if (write.error !== undefined) {
          onCorrupt(file, write.start, write.error);
          continue;
        }
        const events: CanonicalEvent[] = [];
        for (const [lineStart, lineEnd] of write.rows) {
          try {
            const parsed = JSON.parse(content.subarray(lineStart, lineEnd).toString('utf8'));
            if (write.legacy) events.push(...(parsed as object[]).map(reviveEvent));
            else events.push(rowJsonToEvent(parsed));
          } catch (error) {
            onCorrupt(file, lineStart, error);
          }
        }
        yield { events, position: { segment, offset: write.end }, start: write.start };
      }
      if (end < content.length) await truncate(file, end);
    }
  }

  /** Deletes every segment the store has consumed entirely: those before `position`'s. */
  async release(position: LogPosition): Promise<void> {
    for (const segment of await segments(this.dir)) {
      if (segment < position.segment && segment !== this.segment) {
        await rm(this.segmentFile(segment), { force: true });
      }
    }
  }

  async close(): Promise<void> {
    await this.exclusive(() => this.file.close());
  }

  private async rotate(): Promise<void> {
    await this.file.close();
    this.segment += 1;
    this.size = 0;
    this.file = await openSegment(this.dir, this.segment);
  }
}

/**
 * Creates a segment and makes its name durable: a write's O_DSYNC covers its data, not the directory entry of a
 * file created since the last sync of the directory.
 */
async function openSegment(dir: string, segment: number): Promise<FileHandle> {
  const file = await open(path.join(dir, segmentName(segment)), APPEND_DSYNC);
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
  return file;
}

/** One record of a segment, as scan finds it: its lines' byte ranges, or why it cannot be read. */
interface ScannedWrite {
  start: number;
  end: number;
  /** The event lines (row lines; for a legacy record, its one line of an array). */
  rows: [number, number][];
  legacy: boolean;
  error?: Error;
}

/**
 * The records of a segment from `from` on, by its lines alone (no event is parsed): a row-shaped write is the
 * lines up to its commit line, whose counts must match them; a legacy record is one line. `end` is where the last
 * complete record ends: what follows (a write without its commit line, a line without its newline) was torn by
 * a crash. `damaged`: some record does not check out.
 */
function scan(content: Buffer, from: number): { writes: ScannedWrite[]; end: number; damaged: boolean } {
  const writes: ScannedWrite[] = [];
  let end = from;
  let damaged = false;
  let rows: [number, number][] = [];
  let offset = from;
  while (offset < content.length) {
    const lineEnd = content.indexOf(NEWLINE, offset);
    if (lineEnd < 0) break;
    if (content[offset] === OPEN_BRACKET && rows.length === 0) {
      writes.push({ start: offset, end: lineEnd + 1, rows: [[offset, lineEnd]], legacy: true });
      end = lineEnd + 1;
    } else if (content.subarray(offset, offset + MARKER_PREFIX.length).equals(MARKER_PREFIX)) {
      const write: ScannedWrite = { start: end, end: lineEnd + 1, rows, legacy: false };
      try {
        const marker = JSON.parse(content.subarray(offset, lineEnd).toString('utf8')) as Record<
          string,
          unknown
        >;
        if (marker[COMMIT_KEY] !== rows.length || marker.b !== offset - end) {
          throw new Error(
            `commit line says ${marker[COMMIT_KEY]} rows in ${marker.b} bytes, the write holds ${rows.length} in ${offset - end}`,
          );
        }
      } catch (error) {
        write.error = error as Error;
        damaged = true;
      }
      writes.push(write);
      rows = [];
      end = lineEnd + 1;
    } else {
      rows.push([offset, lineEnd]);
    }
    offset = lineEnd + 1;
  }
  return { writes, end, damaged };
}

async function segments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .map((n) => SEGMENT.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}
