import type { QueuedItem } from './types.ts';

/**
 * Where events wait until the server has answered them, oldest first. Delivery is its only user: it adds
 * each event as it is logged, reads the oldest to send them, and removes them once answered (or dropped).
 * The cap and the drop policy are Delivery's, so every queue has the same.
 *
 * One queue serves one client: two clients (or two processes) on one store would send each other's
 * events, which the idempotency keys keep from being stored twice, but their answers would reach only
 * the client that sent them.
 */
export interface PersistentQueue {
  add(items: QueuedItem[]): Promise<void>;
  /** The `count` oldest items, oldest first. */
  peek(count: number): Promise<QueuedItem[]>;
  remove(eventIds: string[]): Promise<void>;
  size(): Promise<number>;
}

/** The queue of a process or page that keeps nothing across restarts (Node's default, and a browser's without IndexedDB). */
export class MemoryQueue implements PersistentQueue {
  // A Map keeps insertion order: its first entries are the oldest.
  private readonly items = new Map<string, QueuedItem>();

  async add(items: QueuedItem[]): Promise<void> {
    for (const item of items) this.items.set(item.eventId, item);
  }

  async peek(count: number): Promise<QueuedItem[]> {
    return [...this.items.values()].slice(0, count);
  }

  async remove(eventIds: string[]): Promise<void> {
    for (const id of eventIds) this.items.delete(id);
  }

  async size(): Promise<number> {
    return this.items.size;
  }
}
