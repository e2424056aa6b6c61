import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MemoryQueue, type PersistentQueue } from './queue.ts';
import type { QueuedItem } from './types.ts';

/** A line of the file: items added, or ids removed. */
type Line = { add: QueuedItem[] } | { remove: string[] };

/** Past this many lines, the file is rewritten with only what is still queued. */
const COMPACT_AFTER_LINES = 1000;

/**
 * A Node process's queue, in a file: events logged before a restart or a crash, or while the server could
 * not be reached, are sent by the next client made with the same file. The file is a log of JSON lines
 * (items added, ids removed), appended to as the queue changes and read back whole when the client starts;
 * a last line cut short by a crash is ignored (and the file rewritten without it). It is rewritten (to a temporary file, then renamed over it)
 * once it holds COMPACT_AFTER_LINES lines, and emptied whenever the queue is. Writes are not fsynced: the
 * queue survives the process, not the machine losing power.
 */
export class FileQueue implements PersistentQueue {
  private readonly items = new MemoryQueue();
  private lines = 0;
  private ready: Promise<void> | undefined;
  /** One change at a time, in order: the file's lines follow the calls. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  add(items: QueuedItem[]): Promise<void> {
    return this.run(async () => {
      await this.items.add(items);
      await this.append({ add: items });
    });
  }

  peek(count: number): Promise<QueuedItem[]> {
    return this.run(() => this.items.peek(count));
  }

  remove(eventIds: string[]): Promise<void> {
    return this.run(async () => {
      await this.items.remove(eventIds);
      const left = await this.items.size();
      if (left === 0 || this.lines >= COMPACT_AFTER_LINES) await this.rewrite(left);
      else await this.append({ remove: eventIds });
    });
  }

  size(): Promise<number> {
    return this.run(() => this.items.size());
  }

  private run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.chain.then(() => (this.ready ??= this.load())).then(operation);
    this.chain = result.catch(() => {});
    return result;
  }

  private async load(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      this.lines++;
      if ('add' in line) await this.items.add(line.add);
      else await this.items.remove(line.remove);
    }
    // A line cut short would swallow the next one appended after it.
    if (text !== '' && !text.endsWith('\n')) await this.rewrite(await this.items.size());
  }

  private async append(line: Line): Promise<void> {
    await appendFile(this.file, `${JSON.stringify(line)}\n`);
    this.lines++;
  }

  private async rewrite(left: number): Promise<void> {
    const temporary = `${this.file}.tmp`;
    const items = await this.items.peek(left);
    await writeFile(temporary, items.length > 0 ? `${JSON.stringify({ add: items })}\n` : '');
    await rename(temporary, this.file);
    this.lines = items.length > 0 ? 1 : 0;
  }
}
