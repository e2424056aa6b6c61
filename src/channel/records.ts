import { randomUUID } from 'node:crypto';
import { conflict, invalid, notFound, type Violation } from '../core/errors.ts';
import type { RecordPage, RecordQuery, Storage } from '../storage/storage.ts';
import { type ChannelRecord, CONVERSATIONS, type EntitySet, keyFields } from './entity-sets.ts';
import { naturalId } from './natural-ids.ts';
import { type Dialect, mergeCustomData, nameOf, type RecordChanges, readRecordBody } from './record-body.ts';
import { RecordCache } from './record-cache.ts';
import { analyticsProvider, checkRemoval, type RecordLookup, writeRefusals } from './record-rules.ts';

const BOOKKEEPING = new Set(['createdOn', 'modifiedOn', 'version']);

const same = (a: unknown, b: unknown) =>
  a instanceof Date || b instanceof Date
    ? (a as Date | null)?.getTime?.() === (b as Date | null)?.getTime?.()
    : JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** statecode and statuscode move together (active 0/1, inactive 1/2) unless the body sets both. */
function syncState(record: ChannelRecord, changes: RecordChanges): void {
  const { stateCode, statusCode } = changes.values;
  if (stateCode !== undefined && statusCode === undefined) record.statusCode = stateCode === 1 ? 2 : 1;
  if (statusCode !== undefined && stateCode === undefined) record.stateCode = statusCode === 2 ? 1 : 0;
}

/**
 * Channel records kept in tables (providers, KPI event definitions, conversations, sessions and session
 * participants): reading them (through a short-lived cache), and writing them under the rules their sets
 * declare (record-rules.ts), for the OData API, the admin API and initLogAnalytics alike.
 */
export class ChannelRecords implements RecordLookup {
  private readonly cache: RecordCache;

  /** `maxCachedRecords`: the record cache's bound (OPENUA_RECORD_CACHE_SIZE). */
  constructor(
    private readonly storage: Storage,
    maxCachedRecords?: number,
  ) {
    this.cache = new RecordCache(maxCachedRecords);
  }

  /** Stores records in one transaction. */
  async commit(writes: readonly { set: EntitySet; record: ChannelRecord }[]): Promise<void> {
    if (writes.length === 0) return;
    await this.storage.upsertAll(writes.map(({ set, record }) => ({ table: this.table(set), row: record })));
    for (const { set, record } of writes) this.cache.forget(set, record.org, record.id);
  }

  private table(set: EntitySet) {
    if (!set.table) throw new Error(`${set.label} is not kept in a table`);
    return set.table;
  }

  /** A record by id; `fresh` reads the store even when a cached copy is young (before changing it). */
  get(set: EntitySet, org: string, id: string, fresh = false): Promise<ChannelRecord | undefined> {
    if (fresh) this.cache.forget(set, org, id);
    return this.cache.get(
      set,
      org,
      id,
      async () => (await this.storage.find(this.table(set), { org, id }))[0],
    );
  }

  async require(set: EntitySet, org: string, id: string, fresh = false): Promise<ChannelRecord> {
    const record = await this.get(set, org, id, fresh);
    if (!record) throw notFound(`No ${set.label} record ${JSON.stringify(id)} in this organization`);
    return record;
  }

  /** A configuration record (provider, KPI event definition) by its id or, failing that, its name. */
  async findNamed(set: EntitySet, org: string, idOrName: string): Promise<ChannelRecord | undefined> {
    return (await this.get(set, org, idOrName)) ?? (await this.where(set, org, { name: idOrName }))[0];
  }

  /** The same, or 404: the admin API and the CLI name a record by its id or its name. */
  async named(set: EntitySet, org: string, idOrName: string): Promise<ChannelRecord> {
    const record = await this.findNamed(set, org, idOrName);
    if (!record)
      throw notFound(`No ${set.label} with id or name ${JSON.stringify(idOrName)} in this organization`);
    return record;
  }

  /** The record with this natural key (sets whose id derives from one). */
  byKey(
    set: EntitySet,
    org: string,
    key: readonly unknown[],
    fresh = false,
  ): Promise<ChannelRecord | undefined> {
    return this.get(set, org, naturalId(org, set, key), fresh);
  }

  list(set: EntitySet, org: string, query: RecordQuery): Promise<RecordPage<ChannelRecord>> {
    return this.storage.query(this.table(set), { org }, query);
  }

  /** Every record of a set whose fields equal the given values. */
  where(set: EntitySet, org: string, equal: Record<string, unknown>): Promise<ChannelRecord[]> {
    return this.storage.find(this.table(set), { org, ...equal } as Partial<ChannelRecord>);
  }

  /**
   * The record a body's changes make: a new one (with its id and bookkeeping) or the existing one
   * updated. `changed` is false when the changes leave it as it was, so a replay writes nothing.
   */
  merge(
    set: EntitySet,
    org: string,
    changes: RecordChanges,
    existing?: ChannelRecord,
  ): { record: ChannelRecord; changed: boolean } {
    const now = new Date();
    const base: ChannelRecord = existing ?? {
      org,
      id: '',
      createdOn: now,
      modifiedOn: now,
      version: 0,
      ...set.defaults,
    };
    const record: ChannelRecord = { ...base, ...changes.values };
    if (set.attributes.some((a) => a.kind === 'customData')) {
      record.customData = mergeCustomData(base.customData as Record<string, string>, changes.customData);
    }
    syncState(record, changes);
    if (!existing) {
      const key = keyFields(set);
      record.id =
        key.length > 0
          ? naturalId(
              org,
              set,
              key.map((f) => record[f]),
            )
          : randomUUID();
      record.version = 1;
      return { record, changed: true };
    }
    const changed = Object.keys(record).some((f) => !BOOKKEEPING.has(f) && !same(record[f], existing[f]));
    if (changed) {
      record.modifiedOn = now;
      record.version = existing.version + 1;
    }
    return { record, changed };
  }

  /** Every rule a record must meet before it is stored (record-rules.ts), as violations or an error thrown. */
  check(set: EntitySet, record: ChannelRecord, dialect: Dialect, path = ''): Promise<Violation[]> {
    return writeRefusals(this, set, record, dialect, path);
  }

  /** The conversation's provider, which must take analytics; `field` names the conversation in a refusal. */
  requireProviderOf(conversation: ChannelRecord, field: string): Promise<ChannelRecord> {
    return analyticsProvider(this, CONVERSATIONS, conversation, {
      field,
      received: conversation.conversationId,
    });
  }

  async create(set: EntitySet, org: string, body: unknown, dialect: Dialect): Promise<ChannelRecord> {
    const read = readRecordBody(set, body, dialect, 'create');
    if (read.violations.length > 0) throw invalid(read.violations);
    const { record } = this.merge(set, org, read.changes);
    if (keyFields(set).length > 0 && (await this.get(set, org, record.id, true))) {
      const key = keyFields(set)
        .map((f) => `${nameOf(set, f, dialect)} ${JSON.stringify(record[f])}`)
        .join(', ');
      throw conflict(`${set.label} with ${key} exists already (id ${record.id}); update that record instead`);
    }
    const violations = await this.check(set, record, dialect);
    if (violations.length > 0) throw invalid(violations);
    await this.commit([{ set, record }]);
    return record;
  }

  async update(
    set: EntitySet,
    org: string,
    id: string,
    body: unknown,
    dialect: Dialect,
  ): Promise<ChannelRecord> {
    const existing = await this.require(set, org, id, true);
    const read = readRecordBody(set, body, dialect, 'update', existing);
    if (read.violations.length > 0) throw invalid(read.violations);
    const { record, changed } = this.merge(set, org, read.changes, existing);
    if (!changed) return existing;
    const violations = await this.check(set, record, dialect);
    if (violations.length > 0) throw invalid(violations);
    await this.commit([{ set, record }]);
    return record;
  }

  /**
   * Deletes the records of a set last changed before `before` (retention), with no removal rule: a record kept
   * past its retention would keep the person it names. Answers how many.
   */
  async expire(set: EntitySet, org: string, before: Date): Promise<number> {
    const removed = await this.storage.remove(
      this.table(set),
      { org },
      { kind: 'compare', op: 'lt', field: 'modifiedOn', value: before },
    );
    // Cached copies must not outlive their rows: a KPI event would still find its conversation.
    if (removed > 0) this.cache.forgetAll(set, org);
    return removed;
  }

  /** Deletes a record, unless its set's rules keep it (record-rules.ts: others name it, or it is first-party). */
  async remove(set: EntitySet, org: string, id: string): Promise<void> {
    const record = await this.require(set, org, id, true);
    await checkRemoval(this, set, record);
    await this.storage.remove(this.table(set), { org, id });
    this.cache.forget(set, org, id);
  }
}
