import { type TObject, type TSchema, Type } from '@sinclair/typebox';
import { echo, type Violation } from '../core/errors.ts';
import { compileCheck, printable } from '../core/validation.ts';
import { normaliseCustomData } from '../model/custom-data.ts';
import { type Attribute, type EntitySet, optionLabelOf, optionText, optionValueOf } from './entity-sets.ts';

/**
 * Reading and showing channel records. The same entity set is spoken in two dialects: `odata` names
 * attributes as the Web API does (`msdyn_conversationid`), `fields` names the stored fields
 * (`conversationId`) for the admin API. Both read through one schema per set, compiled once.
 */
export type Dialect = 'odata' | 'fields';
export type BodyMode = 'create' | 'update';

/** Field values a body sets (null clears); customData merged from the object and the five slots. */
export interface RecordChanges {
  values: Record<string, unknown>;
  /** customData keys the body sets (null removes the key). */
  customData: Record<string, string | null>;
}

/** The attributes a dialect addresses: the admin dialect has no slots, only the customData object. */
const addressable = (set: EntitySet, dialect: Dialect) =>
  set.attributes.filter((a) => dialect === 'odata' || a.slot === undefined);

/** An attribute's name in a dialect: the OData name, or the admin API's (the field, or its labelled name). */
export const nameIn = (attribute: Attribute, dialect: Dialect) =>
  dialect === 'odata' ? attribute.name : (attribute.labelled ?? attribute.field);

/** How a dialect names a field of a set, for messages (the field itself where the set has no such attribute). */
export function nameOf(set: EntitySet, field: string, dialect: Dialect): string {
  const attribute = set.attributes.find((a) => a.field === field && !a.slot);
  return attribute ? nameIn(attribute, dialect) : field;
}

/** Whether the dialect speaks this option set in labels (the admin API's `eventType`). */
const speaksLabels = (attribute: Attribute, dialect: Dialect) =>
  dialect === 'fields' && attribute.labelled !== undefined;

/** The schema of one attribute's value, with the limits of the entity model. */
export function attributeSchema(attribute: Attribute): TSchema {
  switch (attribute.kind) {
    case 'text': {
      const bounds = { maxLength: attribute.maxLength, ...(attribute.required ? { minLength: 1 } : {}) };
      return attribute.freeText ? Type.String(bounds) : printable(bounds);
    }
    case 'boolean':
      return Type.Boolean();
    case 'integer':
      // An option set is an enum alone, so a wrong value (7, "7", "Custom") is one violation, not two.
      return attribute.options
        ? Type.Unsafe<number>({ enum: attribute.options.map((o) => o.value) })
        : Type.Integer({ minimum: -2_147_483_648, maximum: 2_147_483_647 });
    case 'datetime':
      return Type.String({ format: 'date-time' });
    case 'customData':
      return Type.Record(Type.String(), Type.Unknown());
  }
}

const checks = new Map<string, (value: unknown) => Violation[]>();

/** The compiled check of a set's writable attributes in one dialect (nulls are removed before it runs). */
function checkOf(set: EntitySet, dialect: Dialect) {
  const id = `${set.set}:${dialect}`;
  let check = checks.get(id);
  if (!check) {
    const properties: Record<string, TSchema> = {};
    for (const a of addressable(set, dialect)) {
      if (!a.readOnly) properties[nameIn(a, dialect)] = Type.Optional(attributeSchema(a));
    }
    const compiled = compileCheck(Type.Object(properties, { additionalProperties: false }));
    const options = new Map(
      addressable(set, dialect)
        .filter((a) => a.options)
        .map((a) => [nameIn(a, dialect), a] as const),
    );
    // An option value refused names each allowed value with its label: `100000000 (System), …`.
    check = (value) =>
      compiled(value).map((violation) => {
        const attribute = violation.rule === 'enum' ? options.get(violation.field) : undefined;
        if (!attribute?.options) return violation;
        const allowed = attribute.options.map((o) => optionText(attribute, o.value)).join(', ');
        return { ...violation, message: `must be one of: ${allowed}` };
      });
    checks.set(id, check);
  }
  return check;
}

/**
 * Checks a create or update body against a set's attributes and answers what it changes, or every
 * violation: unknown and read-only attributes, natural-key changes, types, lengths, option values, and
 * (on create) the attributes that are required.
 */
export function readRecordBody(
  set: EntitySet,
  body: unknown,
  dialect: Dialect,
  mode: BodyMode,
  existing?: object,
): { changes: RecordChanges; violations: Violation[] } {
  const current = existing as Record<string, unknown> | undefined;
  const changes: RecordChanges = { values: {}, customData: {} };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const received = Array.isArray(body) ? 'array' : body === null ? null : typeof body;
    return {
      changes,
      violations: [
        { field: '', rule: 'type', limit: 'object', message: 'the body must be a JSON object', received },
      ],
    };
  }
  const attributes = addressable(set, dialect);
  const violations: Violation[] = [];
  const present: Record<string, unknown> = {};
  const nulls = new Set<string>();
  for (const [name, value] of Object.entries(body)) {
    // OData annotations (`@odata.type`) describe the body; they are not data.
    if (name.startsWith('@odata.')) continue;
    const attribute = attributes.find((a) => nameIn(a, dialect) === name);
    if (attribute?.readOnly) {
      violations.push({
        field: name,
        rule: 'readOnly',
        message: 'is set by the server',
        received: echo(value),
      });
      continue;
    }
    if (attribute && value === null) {
      nulls.add(name);
      continue;
    }
    if (attribute && speaksLabels(attribute, dialect)) {
      // The admin API takes a label in any case, or the integer; the check below then sees the integer.
      const code = optionValueOf(attribute, value);
      if (code === undefined) {
        violations.push(labelRefusal(attribute, name, value));
        continue;
      }
      present[name] = code;
      continue;
    }
    present[name] = value;
  }
  violations.push(...checkOf(set, dialect)(present));

  for (const attribute of attributes) {
    const name = nameIn(attribute, dialect);
    if (attribute.readOnly) continue;
    const given = name in present || nulls.has(name);
    const value = nulls.has(name) ? null : present[name];
    if (mode === 'create' && attribute.required && (value === null || value === undefined)) {
      violations.push({
        field: name,
        rule: 'required',
        message: 'is required',
        ...(given ? { received: null } : {}),
      });
      continue;
    }
    if (!given) continue;
    if (mode === 'update' && attribute.key && current && current[attribute.field] !== value) {
      violations.push({
        field: name,
        rule: 'immutable',
        message: `identifies the ${set.label} record and cannot change; create another record instead`,
        limit: current[attribute.field],
        received: echo(value),
      });
      continue;
    }
    if (attribute.slot) {
      changes.customData[attribute.slot] = value as string | null;
    } else if (attribute.kind === 'customData') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
      const normalised = normaliseCustomData(value as Record<string, unknown>, name);
      violations.push(...normalised.violations);
      Object.assign(changes.customData, normalised.data);
    } else if (attribute.kind === 'datetime') {
      changes.values[attribute.field] = typeof value === 'string' ? new Date(value) : null;
    } else {
      changes.values[attribute.field] = value;
    }
  }
  return { changes, violations };
}

/** An admin API value that names no option: the labels it may be, and their codes. */
function labelRefusal(attribute: Attribute, name: string, value: unknown): Violation {
  const options = attribute.options ?? [];
  return {
    field: name,
    rule: 'enum',
    limit: options.map((o) => o.label),
    message:
      `must be one of: ${options.map((o) => o.label).join(', ')} (in any case), ` +
      `or its code: ${options.map((o) => optionText(attribute, o.value)).join(', ')}`,
    received: echo(value),
  };
}

/** A value the admin API gives an option set it speaks in labels: a label in any case, or the code. */
const labelSchema = (attribute: Attribute) =>
  Type.Union([
    Type.String({
      description: `${(attribute.options ?? []).map((o) => o.label).join(' or ')}, in any case`,
    }),
    attributeSchema(attribute),
  ]);

/**
 * A set's create or update body in a dialect, for the OpenAPI document (readRecordBody checks it, with the rules a
 * schema cannot say: a natural key that changes, the set's record rules). null clears an attribute; OData
 * annotations (`@odata.type`) are passed over.
 */
export function recordBodySchema(set: EntitySet, dialect: Dialect, mode: BodyMode): TObject {
  const properties: Record<string, TSchema> = {};
  for (const attribute of addressable(set, dialect)) {
    if (attribute.readOnly) continue;
    const value = speaksLabels(attribute, dialect) ? labelSchema(attribute) : attributeSchema(attribute);
    properties[nameIn(attribute, dialect)] =
      mode === 'create' && attribute.required ? value : Type.Optional(Type.Union([value, Type.Null()]));
  }
  return Type.Object(properties, {
    additionalProperties: false,
    ...(dialect === 'odata' && { patternProperties: { '^@odata\\.': {} } }),
    description: `${mode === 'create' ? 'A new' : 'Changes to a'} ${set.label} record`,
  });
}

/** An attribute's value as showRecord writes it: dates as ISO 8601 text, option sets as labels where spoken so. */
function shownSchema(attribute: Attribute, dialect: Dialect): TSchema {
  if (speaksLabels(attribute, dialect)) {
    return Type.String({ enum: (attribute.options ?? []).map((o) => o.label) });
  }
  switch (attribute.kind) {
    case 'text':
      return Type.String();
    case 'boolean':
      return Type.Boolean();
    case 'integer':
      return attributeSchema(attribute);
    case 'datetime':
      return Type.String({ format: 'date-time' });
    case 'customData':
      return Type.Record(Type.String(), Type.String());
  }
}

/**
 * A record as showRecord writes it in a dialect, for the OpenAPI document. `selectable`: OData's `$select` may
 * leave out any attribute but the primary id.
 */
export function recordSchema(set: EntitySet, dialect: Dialect, selectable = false): TObject {
  const properties: Record<string, TSchema> = {};
  for (const attribute of addressable(set, dialect)) {
    const value =
      attribute.kind === 'customData'
        ? shownSchema(attribute, dialect)
        : Type.Union([shownSchema(attribute, dialect), Type.Null()]);
    properties[nameIn(attribute, dialect)] =
      selectable && attribute.name !== set.primaryId ? Type.Optional(value) : value;
  }
  return Type.Object(properties, { description: `A ${set.label} record` });
}

/** Applies a body's customData changes to a record's customData. */
export function mergeCustomData(
  current: Record<string, string> | null | undefined,
  changes: Record<string, string | null>,
): Record<string, string> {
  const merged: Record<string, string> = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

const shown = (value: unknown) => (value instanceof Date ? value.toISOString() : (value ?? null));

/** A record as a dialect shows it: every attribute (or those selected), dates as ISO 8601 text. */
export function showRecord(
  set: EntitySet,
  stored: object,
  dialect: Dialect,
  select?: readonly string[],
): Record<string, unknown> {
  const record = stored as Record<string, unknown>;
  const shownRecord: Record<string, unknown> = {};
  const customData = (record.customData ?? {}) as Record<string, string>;
  for (const attribute of addressable(set, dialect)) {
    const name = nameIn(attribute, dialect);
    if (select && !select.includes(name) && attribute.name !== set.primaryId) continue;
    shownRecord[name] = attribute.slot
      ? (customData[attribute.slot] ?? null)
      : attribute.kind === 'customData'
        ? customData
        : speaksLabels(attribute, dialect)
          ? optionLabelOf(attribute, record[attribute.field])
          : shown(record[attribute.field]);
  }
  return shownRecord;
}
