import { SETTINGS } from '../core/config.ts';
import type { ChannelRecord, EntitySet } from './entity-sets.ts';

/**
 * How long a record read from the store is trusted before it is read again. Every KPI event looks up its
 * conversation, provider, session, participant and definition; without this, those reads were the whole cost
 * of a call. This server's own writes are seen at once; another server's (a provider switched off, a
 * record deleted) within this time. Only records that exist are kept: a record just created elsewhere is
 * found at once.
 */
const RECORD_CACHE_MS = 10_000;

const cacheKey = (set: EntitySet, org: string, id: string) => `${set.set}\u0000${org}\u0000${id}`;

/**
 * Channel records read by id, kept for RECORD_CACHE_MS, at most `maxRecords` of them (OPENUA_RECORD_CACHE_SIZE);
 * a read under way is shared, so a burst of calls reads once.
 */
export class RecordCache {
  private readonly entries = new Map<string, { record: Promise<ChannelRecord | undefined>; until: number }>();

  constructor(private readonly maxRecords: number = SETTINGS.recordCacheSize.read({})) {}

  /** The record with this id, from the cache while it is young, else from `read`. */
  get(
    set: EntitySet,
    org: string,
    id: string,
    read: () => Promise<ChannelRecord | undefined>,
  ): Promise<ChannelRecord | undefined> {
    const key = cacheKey(set, org, id);
    const entry = this.entries.get(key);
    if (entry && entry.until > Date.now()) return entry.record;
    const record = read().then(
      (found) => {
        // A record that does not exist is looked for again next time: it may be created at any moment.
        if (!found && this.entries.get(key)?.record === record) this.entries.delete(key);
        return found;
      },
      (error: unknown) => {
        if (this.entries.get(key)?.record === record) this.entries.delete(key);
        throw error;
      },
    );
    // Oldest read first: a Map iterates in insertion order, so this bounds memory without a full LRU.
    this.entries.delete(key);
    if (this.entries.size >= this.maxRecords) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { record, until: Date.now() + RECORD_CACHE_MS });
    return record;
  }

  /** Drops a record, so the next read is the store's (after a write, or before changing it). */
  forget(set: EntitySet, org: string, id: string): void {
    this.entries.delete(cacheKey(set, org, id));
  }

  /** Drops every record of a set in an organization (after deleting rows by a condition, not by id). */
  forgetAll(set: EntitySet, org: string): void {
    const prefix = cacheKey(set, org, '');
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}
