import { createHash, randomUUID } from 'node:crypto';
import { analyticsDisabled, conflict, invalid, notFound, type Violation } from '../core/errors.ts';
import type { RecordPage, RecordQuery, Storage } from '../storage/storage.ts';
import {
  type ChannelRecord,
  CONVERSATIONS,
  type EntitySet,
  KPI_DEFINITIONS,
  KPI_EVENT_TYPE,
  keyFields,
  kpiEventTypeOf,
  optionLabelOf,
  optionText,
  PARTICIPANTS,
  PROVIDERS,
  SESSIONS,
} from './entity-sets.ts';
import { type Dialect, mergeCustomData, nameIn, type RecordChanges, readRecordBody } from './record-body.ts';

/**
 * The id of a record that has a natural key (a conversation by its conversationId, a session by its
 * conversation and provider session id…): a name-based UUID (version 5 layout over SHA-1), so the same
 * key always gives the same record, on any server, and replays cannot create duplicates.
 */
export function naturalId(org: string, set: EntitySet, key: readonly unknown[]): string {
  const name = [org, set.set, ...key.map(String)].join('\u0000');
  let id = NATURAL_IDS.get(name);
  if (id === undefined) {
    const hash = createHash('sha1').update(name).digest();
    hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
    hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
    const hex = hash.subarray(0, 16).toString('hex');
    id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    // Every KPI event derives four ids; hashing them again was a tenth of a call's CPU.
    if (NATURAL_IDS.size >= 100_000) NATURAL_IDS.clear();
    NATURAL_IDS.set(name, id);
  }
  return id;
}

const NATURAL_IDS = new Map<string, string>();

/** Values a new record starts with, before the body's. */
const DEFAULTS: Partial<Record<EntitySet['set'], Record<string, unknown>>> = {
  msdyn_ciproviders: { enableAnalytics: false, stateCode: 0, statusCode: 1 },
  msdyn_kpieventdefinitions: {
    stateCode: 0,
    statusCode: 1,
    firstParty: false,
    eventTypeCode: KPI_EVENT_TYPE.custom,
  },
};

const BOOKKEEPING = new Set(['createdOn', 'modifiedOn', 'version']);

/**
 * How long a record read from the store is trusted before it is read again. Every KPI event looks up its
 * conversation, provider, session, participant and definition; without this, those reads were the whole cost
 * of a call. This server's own writes are seen at once; another server's (a provider switched off, a
 * record deleted) within this time. Only records that exist are kept: a record just created elsewhere is
 * found at once.
 */
const RECORD_CACHE_MS = 10_000;
const RECORD_CACHE_SIZE = 100_000;

/** The sets whose records are also looked up by name (and can be renamed). */
const NAMED_SETS: readonly EntitySet[] = [PROVIDERS, KPI_DEFINITIONS];

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

/** How a dialect names a field of a set, for messages. */
function nameOf(set: EntitySet, field: string, dialect: Dialect): string {
  const attribute = set.attributes.find((a) => a.field === field && !a.slot);
  return attribute ? nameIn(attribute, dialect) : field;
}

/** Whether a provider takes analytics: switched on, and active. */
const analyticsOn = (provider: ChannelRecord) =>
  provider.enableAnalytics === true && provider.stateCode !== 1;

/**
 * Channel records kept in tables (providers, KPI event definitions, conversations, sessions and session
 * participants): reading them, and every rule of writing them. The creation order of the reference
 * (conversation, then session, then participant) and each provider's analytics switch are enforced here,
 * for the OData API, the admin API and initLogAnalytics alike.
 */
export class ChannelRecords {
  /** Reads by key, kept for RECORD_CACHE_MS; a read under way is shared, so a burst of calls reads once. */
  private readonly cache = new Map<string, { record: Promise<ChannelRecord | undefined>; until: number }>();

  constructor(private readonly storage: Storage) {}

  private load(
    key: string,
    read: () => Promise<ChannelRecord | undefined>,
  ): Promise<ChannelRecord | undefined> {
    const entry = this.cache.get(key);
    if (entry && entry.until > Date.now()) return entry.record;
    const record = read().then(
      (found) => {
        // A record that does not exist is looked for again next time: it may be created at any moment.
        if (!found && this.cache.get(key)?.record === record) this.cache.delete(key);
        return found;
      },
      (error: unknown) => {
        if (this.cache.get(key)?.record === record) this.cache.delete(key);
        throw error;
      },
    );
    // Oldest first: a Map iterates in insertion order, so this bounds memory without a full LRU.
    if (this.cache.size >= RECORD_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { record, until: Date.now() + RECORD_CACHE_MS });
    return record;
  }

  /** Drops what a write makes stale: the record, or for named sets every entry of the set (renames). */
  private forget(set: EntitySet, record: ChannelRecord): void {
    if (!NAMED_SETS.includes(set)) {
      this.cache.delete(cacheKey(set, record.org, record.id));
      return;
    }
    const prefix = cacheKey(set, record.org, '');
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  /** Stores records in one transaction. */
  async commit(writes: readonly { set: EntitySet; record: ChannelRecord }[]): Promise<void> {
    if (writes.length === 0) return;
    await this.storage.upsertAll(writes.map(({ set, record }) => ({ table: this.table(set), row: record })));
    for (const { set, record } of writes) this.forget(set, record);
  }

  private table(set: EntitySet) {
    if (!set.table) throw new Error(`${set.label} is not kept in a table`);
    return set.table;
  }

  /** A record by id; `fresh` reads the store even when a cached copy is young (before changing it). */
  get(set: EntitySet, org: string, id: string, fresh = false): Promise<ChannelRecord | undefined> {
    if (fresh) this.cache.delete(cacheKey(set, org, id));
    return this.load(
      cacheKey(set, org, id),
      async () => (await this.storage.find(this.table(set), { org, id }))[0],
    );
  }

  async require(set: EntitySet, org: string, id: string, fresh = false): Promise<ChannelRecord> {
    const record = await this.get(set, org, id, fresh);
    if (!record) throw notFound(`No ${set.label} record ${JSON.stringify(id)} in this organization`);
    return record;
  }

  /** A configuration record (provider, KPI event definition) by its id or, failing that, its name. */
  async named(set: EntitySet, org: string, idOrName: string): Promise<ChannelRecord> {
    const record =
      (await this.get(set, org, idOrName)) ?? (await this.where(set, org, { name: idOrName }))[0];
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

  /** A provider by its id or, failing that, its unique name. */
  provider(org: string, idOrName: string): Promise<ChannelRecord | undefined> {
    return this.named(PROVIDERS, org, idOrName).catch(() => undefined);
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
      ...DEFAULTS[set.set],
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

  /**
   * Every rule a record must meet before it is stored, as violations (a missing conversation, session or
   * provider; a provider name taken), or an error thrown at once for a provider whose switch is off.
   */
  async check(set: EntitySet, record: ChannelRecord, dialect: Dialect, path = ''): Promise<Violation[]> {
    const named = (field: string) => `${path}${nameOf(set, field, dialect)}`;
    const { org } = record;
    const violations: Violation[] = [];
    const missing = (field: string, target: EntitySet, order: string) =>
      violations.push({
        field: named(field),
        rule: 'reference',
        limit: target.set,
        message: `no ${target.label} with this ${nameOf(target, field, 'odata')} exists in this organization; ${order}`,
        received: record[field],
      });
    if (set === KPI_DEFINITIONS) {
      const refusal = eventTypeRefusal(record, named('eventTypeCode'), dialect);
      if (refusal) violations.push(refusal);
    }
    if (set === PROVIDERS) {
      const named = await this.where(PROVIDERS, org, { name: record.name });
      if (named.some((p) => p.id !== record.id)) {
        throw conflict(`A provider named ${JSON.stringify(record.name)} exists already in this organization`);
      }
    }
    if (set === CONVERSATIONS) {
      const provider = await this.provider(org, record.providerId as string);
      if (!provider) {
        missing('providerId', PROVIDERS, 'create the provider first (openua provider create)');
      } else {
        requireAnalytics(provider, named('providerId'));
      }
    }
    if (set === SESSIONS || set === PARTICIPANTS) {
      const conversation = await this.byKey(CONVERSATIONS, org, [record.conversationId]);
      if (!conversation) {
        missing('conversationId', CONVERSATIONS, 'create Conversation Data first');
      } else {
        await this.requireProviderOf(conversation, named('conversationId'));
      }
      if (
        conversation &&
        set === PARTICIPANTS &&
        !(await this.byKey(SESSIONS, org, [record.conversationId, record.providerSessionId]))
      ) {
        missing('providerSessionId', SESSIONS, 'create Session Data for the conversation first');
      }
    }
    return violations;
  }

  /** The conversation's provider, which must take analytics. */
  async requireProviderOf(conversation: ChannelRecord, field: string): Promise<ChannelRecord> {
    const provider = await this.provider(conversation.org, conversation.providerId as string);
    if (!provider) {
      throw invalid([
        {
          field,
          rule: 'reference',
          limit: PROVIDERS.set,
          message: `the conversation's provider ${JSON.stringify(conversation.providerId)} no longer exists`,
          received: conversation.conversationId,
        },
      ]);
    }
    requireAnalytics(provider, field);
    return provider;
  }

  async create(
    set: EntitySet,
    org: string,
    body: unknown,
    dialect: Dialect,
    init: Record<string, unknown> = {},
  ): Promise<ChannelRecord> {
    const read = readRecordBody(set, body, dialect, 'create');
    if (read.violations.length > 0) throw invalid(read.violations);
    const { record } = this.merge(set, org, { ...read.changes, values: { ...read.changes.values, ...init } });
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
   * Deletes a record. A conversation with sessions, a session with participants and a provider with
   * conversations are kept: deleting them would leave records that point nowhere.
   */
  async remove(set: EntitySet, org: string, id: string): Promise<void> {
    const record = await this.require(set, org, id, true);
    const dependants =
      set === CONVERSATIONS
        ? { set: SESSIONS, rows: await this.where(SESSIONS, org, { conversationId: record.conversationId }) }
        : set === SESSIONS
          ? {
              set: PARTICIPANTS,
              rows: await this.where(PARTICIPANTS, org, {
                conversationId: record.conversationId,
                providerSessionId: record.providerSessionId,
              }),
            }
          : set === PROVIDERS
            ? {
                set: CONVERSATIONS,
                rows: [
                  ...(await this.where(CONVERSATIONS, org, { providerId: record.id })),
                  ...(await this.where(CONVERSATIONS, org, { providerId: record.name })),
                ],
              }
            : undefined;
    if (dependants && dependants.rows.length > 0) {
      throw conflict(
        `${set.label} ${id} still has ${dependants.rows.length} ${dependants.set.label} record(s); delete those first`,
      );
    }
    if (set === KPI_DEFINITIONS && record.firstParty === true) {
      throw conflict(
        `${record.name} is a first-party KPI event definition; deactivate it (statecode 1) instead`,
      );
    }
    await this.storage.remove(this.table(set), { org, id });
    this.forget(set, record);
  }
}

/**
 * A KPI event definition's `msdyn_eventtype` must be the one its origin gives it: System for the first-party
 * definitions (read-only there), Custom for every other. A body may repeat the value; it may not change it.
 */
function eventTypeRefusal(record: ChannelRecord, field: string, dialect: Dialect): Violation | undefined {
  const expected = kpiEventTypeOf(record.firstParty);
  const given = record.eventTypeCode;
  if (given === expected) return undefined;
  const attribute = KPI_DEFINITIONS.attributes.find((a) => a.field === 'eventTypeCode');
  if (!attribute) throw new Error('KPI_DEFINITIONS has no eventTypeCode');
  const show = (value: unknown) => (dialect === 'fields' ? optionLabelOf(attribute, value) : value);
  const system = optionText(attribute, KPI_EVENT_TYPE.system);
  const custom = optionText(attribute, KPI_EVENT_TYPE.custom);
  if (record.firstParty === true) {
    return {
      field,
      rule: 'readOnly',
      limit: show(expected),
      message: `is ${system} on the first-party definition ${JSON.stringify(record.name)}, and cannot change`,
      received: show(given),
    };
  }
  return given === null || given === undefined
    ? {
        field,
        rule: 'required',
        limit: show(expected),
        message: `cannot be cleared: a definition made by an admin is ${custom}`,
        received: null,
      }
    : {
        field,
        rule: 'firstPartyOnly',
        limit: show(expected),
        message:
          `${system} is kept for the first-party definitions OpenUA seeds; a definition made by an admin ` +
          `is ${custom}`,
        received: show(given),
      };
}

const cacheKey = (set: EntitySet, org: string, id: string) => `${set.set}\u0000${org}\u0000${id}`;

/** Refuses analytics for a provider whose switch is off (or that is inactive), saying how to switch it on. */
function requireAnalytics(provider: ChannelRecord, field: string): void {
  if (analyticsOn(provider)) return;
  const why = provider.stateCode === 1 ? 'is inactive' : 'has analytics switched off';
  const id = provider.id;
  throw analyticsDisabled(
    `Provider ${JSON.stringify(provider.name)} (${id}) ${why}, so nothing was stored. Switch it on with ` +
      `\`openua provider update ${id} --enable-analytics --active\`, PATCH /api/v1/providers/${id} ` +
      `{"enableAnalytics":true,"stateCode":0}, or PATCH /api/data/v9.1/msdyn_ciproviders(${id}) ` +
      `{"msdyn_enableanalytics":true,"statecode":0}.`,
    {
      field,
      rule: 'analyticsEnabled',
      limit: true,
      message: `provider ${JSON.stringify(provider.name)} ${why}`,
      received: provider.enableAnalytics,
    },
  );
}
