import { analyticsDisabled, conflict, invalid, type Violation } from '../core/errors.ts';
import {
  type ChannelRecord,
  type EntitySet,
  keyFields,
  optionLabelOf,
  optionText,
  type Reference,
  referencesTo,
} from './entity-sets.ts';
import { type Dialect, nameOf } from './record-body.ts';

/**
 * The rules entity sets declare (entity-sets.ts: references, unique names, origins), applied to any set: the
 * creation order of the reference (provider, conversation, session, participant), each provider's analytics
 * switch, and what keeps a record from being deleted.
 */

/** What the rules read: records by natural key, by id or name, and by field values. */
export interface RecordLookup {
  byKey(set: EntitySet, org: string, key: readonly unknown[]): Promise<ChannelRecord | undefined>;
  findNamed(set: EntitySet, org: string, idOrName: string): Promise<ChannelRecord | undefined>;
  where(set: EntitySet, org: string, equal: Record<string, unknown>): Promise<ChannelRecord[]>;
}

/** Where a refusal points: the field of the request, and the value it held. */
interface Pointer {
  field: string;
  received: unknown;
}

/** The record a reference names, if it exists. */
function referenced(lookup: RecordLookup, reference: Reference, record: ChannelRecord) {
  const values = reference.fields.map((f) => record[f]);
  return reference.byIdOrName
    ? lookup.findNamed(reference.target, record.org, values[0] as string)
    : lookup.byKey(reference.target, record.org, values);
}

/**
 * Every rule a record must meet before it is stored, as violations (a value its origin does not give, a record it
 * names that does not exist), or an error thrown at once (a name taken, a provider whose switch is off).
 * `path` prefixes the fields violations name (initLogAnalytics' `data.conversation.`).
 */
export async function writeRefusals(
  lookup: RecordLookup,
  set: EntitySet,
  record: ChannelRecord,
  dialect: Dialect,
  path = '',
): Promise<Violation[]> {
  const named = (field: string) => `${path}${nameOf(set, field, dialect)}`;
  const violations: Violation[] = [];
  if (set.origin) {
    const refusal = originRefusal(set, record, named(set.origin.field), dialect);
    if (refusal) violations.push(refusal);
  }
  if (set.uniqueName) {
    const sameName = await lookup.where(set, record.org, { name: record.name });
    if (sameName.some((other) => other.id !== record.id)) {
      throw conflict(
        `A ${set.noun} named ${JSON.stringify(record.name)} exists already in this organization`,
      );
    }
  }
  for (const reference of set.references ?? []) {
    const field = reference.fields.at(-1) as string;
    const target = await referenced(lookup, reference, record);
    if (!target) {
      violations.push({
        field: named(field),
        rule: 'reference',
        limit: reference.target.set,
        message:
          `no ${reference.target.label} with this ${nameOf(reference.target, field, 'odata')} exists in this ` +
          `organization; ${reference.createFirst}`,
        received: record[field],
      });
      // The references after it belong to the record it names (a session to its conversation).
      break;
    }
    if (reference.analytics) {
      await analyticsProvider(lookup, reference.target, target, {
        field: named(field),
        received: record[field],
      });
    }
  }
  return violations;
}

/**
 * The provider a record leads to, which must take analytics: the record itself at the end of the chain (a set
 * without an analytics reference), else the provider its analytics reference leads to, which must still exist.
 */
export async function analyticsProvider(
  lookup: RecordLookup,
  set: EntitySet,
  record: ChannelRecord,
  at: Pointer,
): Promise<ChannelRecord> {
  const via = set.references?.find((r) => r.analytics);
  if (!via) {
    requireAnalytics(record, at.field);
    return record;
  }
  const target = await referenced(lookup, via, record);
  if (!target) {
    const named = record[via.fields[0] as string];
    throw invalid([
      {
        field: at.field,
        rule: 'reference',
        limit: via.target.set,
        message: `the ${set.noun}'s ${via.target.noun} ${JSON.stringify(named)} no longer exists`,
        received: at.received,
      },
    ]);
  }
  return analyticsProvider(lookup, via.target, target, at);
}

/**
 * Refuses deleting a record that others still name (a conversation with sessions, a session with participants, a
 * provider with conversations: they would point nowhere), or a first-party one.
 */
export async function checkRemoval(
  lookup: RecordLookup,
  set: EntitySet,
  record: ChannelRecord,
): Promise<void> {
  for (const { set: holder, reference } of referencesTo(set)) {
    const rows = await naming(lookup, holder, reference, record);
    if (rows.length > 0) {
      throw conflict(
        `${set.label} ${record.id} still has ${rows.length} ${holder.label} record(s); delete those first`,
      );
    }
  }
  if (set.origin && record[set.origin.flag] === true) {
    throw conflict(`${record.name} is a first-party ${set.label}; deactivate it (statecode 1) instead`);
  }
}

/** The records of `holder` whose reference names `record`: by its natural key, or by its id or its name. */
async function naming(
  lookup: RecordLookup,
  holder: EntitySet,
  reference: Reference,
  record: ChannelRecord,
): Promise<ChannelRecord[]> {
  if (reference.byIdOrName) {
    const [field] = reference.fields as [string];
    return [
      ...(await lookup.where(holder, record.org, { [field]: record.id })),
      ...(await lookup.where(holder, record.org, { [field]: record.name })),
    ];
  }
  const key = keyFields(reference.target);
  const equal = Object.fromEntries(reference.fields.map((f, i) => [f, record[key[i] as string]]));
  return lookup.where(holder, record.org, equal);
}

/**
 * The field an origin fixes must hold the value the record's origin gives it (a KPI event definition's
 * `msdyn_eventtype`: System for the first-party ones, read-only there, and Custom for every other). A body may
 * repeat the value; it may not change it.
 */
function originRefusal(
  set: EntitySet,
  record: ChannelRecord,
  field: string,
  dialect: Dialect,
): Violation | undefined {
  const origin = set.origin;
  if (!origin) return undefined;
  const firstParty = record[origin.flag] === true;
  const expected = origin.value(firstParty);
  const given = record[origin.field];
  if (given === expected) return undefined;
  const attribute = set.attributes.find((a) => a.field === origin.field);
  if (!attribute) throw new Error(`${set.label} has no ${origin.field}`);
  const show = (value: unknown) => (dialect === 'fields' ? optionLabelOf(attribute, value) : value);
  const ofFirstParty = optionText(attribute, origin.value(true));
  const ofOthers = optionText(attribute, origin.value(false));
  const { noun } = set;
  if (firstParty) {
    return {
      field,
      rule: 'readOnly',
      limit: show(expected),
      message: `is ${ofFirstParty} on the first-party ${noun} ${JSON.stringify(record.name)}, and cannot change`,
      received: show(given),
    };
  }
  return given === null || given === undefined
    ? {
        field,
        rule: 'required',
        limit: show(expected),
        message: `cannot be cleared: a ${noun} made by an admin is ${ofOthers}`,
        received: null,
      }
    : {
        field,
        rule: 'firstPartyOnly',
        limit: show(expected),
        message:
          `${ofFirstParty} is kept for the first-party ${noun}s OpenUA seeds; a ${noun} made by an admin ` +
          `is ${ofOthers}`,
        received: show(given),
      };
}

/** Refuses analytics for a provider whose switch is off (or that is inactive), saying how to switch it on. */
function requireAnalytics(provider: ChannelRecord, field: string): void {
  if (provider.enableAnalytics === true && provider.stateCode !== 1) return;
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
