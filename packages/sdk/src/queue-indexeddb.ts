import { MemoryQueue, type PersistentQueue } from './queue.ts';
import type { QueuedItem } from './types.ts';

const STORE = 'events';

const done = <T>(request: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

/**
 * A browser's queue, in IndexedDB: events logged before a reload, a crash or an offline period are sent by
 * the next page of the same origin that makes a client with the same queue name. Items are kept under
 * increasing keys (insertion order, so the oldest come first) and found by their eventId to be removed.
 * Where IndexedDB cannot be opened (some private modes), the queue is kept in memory instead.
 */
export class IndexedDbQueue implements PersistentQueue {
  private readonly db: Promise<IDBDatabase | undefined>;
  private readonly memory = new MemoryQueue();

  constructor(name: string) {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () =>
      request.result.createObjectStore(STORE, { autoIncrement: true }).createIndex('eventId', 'eventId');
    this.db = done(request).catch(() => undefined);
  }

  /** Runs `use` in one transaction and resolves once it has committed; `fallback` without IndexedDB. */
  private async run<T>(
    mode: IDBTransactionMode,
    use: (store: IDBObjectStore) => IDBRequest<T> | undefined,
    fallback: (memory: MemoryQueue) => Promise<T>,
  ): Promise<T> {
    const db = await this.db;
    if (!db) return fallback(this.memory);
    const transaction = db.transaction(STORE, mode);
    const request = use(transaction.objectStore(STORE));
    await new Promise((resolve, reject) => {
      transaction.oncomplete = resolve;
      transaction.onerror = transaction.onabort = () => reject(transaction.error);
    });
    return request?.result as T;
  }

  add(items: QueuedItem[]): Promise<void> {
    return this.run(
      'readwrite',
      (store) => {
        for (const item of items) store.add(item);
        return undefined;
      },
      (memory) => memory.add(items),
    );
  }

  peek(count: number): Promise<QueuedItem[]> {
    return this.run(
      'readonly',
      (store) => store.getAll(null, count),
      (memory) => memory.peek(count),
    );
  }

  remove(eventIds: string[]): Promise<void> {
    return this.run(
      'readwrite',
      (store) => {
        for (const id of eventIds) {
          const keys = store.index('eventId').getAllKeys(id);
          keys.onsuccess = () => {
            for (const key of keys.result) store.delete(key);
          };
        }
        return undefined;
      },
      (memory) => memory.remove(eventIds),
    );
  }

  size(): Promise<number> {
    return this.run(
      'readonly',
      (store) => store.count(),
      (memory) => memory.size(),
    );
  }
}
