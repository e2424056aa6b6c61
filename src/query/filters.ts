import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { Violation } from '../core/errors.ts';
import { compileCheck, oneOf } from '../core/validation.ts';
import type { Comparison, QueryFilter, Scalar } from '../storage/storage.ts';
import { objectShape } from './shape-refusals.ts';
import type { FieldResolver, SpecField } from './spec-fields.ts';

/**
 * A query's filters: `{field, op, value}` on an event field or a customData key, nested in `{and: […]}` and
 * `{or: […]}`, resolved into the engine-neutral QueryFilter.
 */

const OPERATORS = ['eq', 'ne', 'in', 'contains', 'gt', 'ge', 'lt', 'le'] as const;

/**
 * The deepest nesting of and/or filters. A body cannot nest deeper (it is at most MAX_JSON_DEPTH levels, two
 * per and/or); the bound keeps a spec built otherwise (a stored alert rule) from overflowing the stack.
 */
export const MAX_FILTER_DEPTH = 32;

const SCALARS = [Type.String(), Type.Number(), Type.Boolean()];

const LEAF = objectShape(
  Type.Object(
    {
      field: Type.String({ description: 'An event field or customData.<key>' }),
      op: oneOf(OPERATORS),
      value: Type.Union(
        [...SCALARS, Type.Null(), Type.Array(Type.Union(SCALARS), { minItems: 1, maxItems: 1000 })],
        {
          description:
            "In the field's type (ISO 8601 for times); 1 to 1000 of them for in, text for contains; null with " +
            'eq or ne tests for absence',
        },
      ),
    },
    { additionalProperties: false },
  ),
  {
    properties: {
      field: { rule: 'required', message: 'names the field to filter on' },
      op: { rule: 'enum', limit: OPERATORS, message: `must be one of: ${OPERATORS.join(', ')}` },
      // A value is refused by its op and the field's type (resolveLeaf), which say more than its shape.
    },
    unknown: { rule: 'unknownField', message: 'is not a field of a filter' },
  },
);
type Leaf = Static<typeof LEAF.schema>;

/** `{and: […]}` and `{or: […]}`, over the given filter schema. */
const nodes = <F extends TSchema>(filter: F) => ({
  and: Type.Object({ and: Type.Array(filter, { minItems: 1 }) }, { additionalProperties: false }),
  or: Type.Object({ or: Type.Array(filter, { minItems: 1 }) }, { additionalProperties: false }),
});

export const FilterSchema = Type.Recursive(
  (filter) => {
    const { and, or } = nodes(filter);
    return Type.Union([LEAF.schema, and, or], {
      description: `Nested up to ${MAX_FILTER_DEPTH} levels`,
    });
  },
  { $id: 'QueryFilter' },
);

/**
 * An and/or node is checked one level at a time, its filters as they are resolved: nesting is bounded by
 * MAX_FILTER_DEPTH before anything recurses, and each refusal names its place.
 */
const ONE_LEVEL = nodes(Type.Unknown());
const checkNode = { and: compileCheck(ONE_LEVEL.and), or: compileCheck(ONE_LEVEL.or) };

export function resolveFilter(
  filter: unknown,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
  depth = 1,
): QueryFilter | undefined {
  if (depth > MAX_FILTER_DEPTH) {
    violations.push({
      field: at,
      rule: 'depth',
      limit: MAX_FILTER_DEPTH,
      message: `and/or filters nest deeper than ${MAX_FILTER_DEPTH} levels here`,
    });
    return undefined;
  }
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
    violations.push({
      field: at,
      rule: 'type',
      message: 'must be {field, op, value}, {and: […]} or {or: […]}',
      received: filter,
    });
    return undefined;
  }
  const object = filter as Record<string, unknown>;
  const kind = 'and' in object ? 'and' : 'or' in object ? 'or' : undefined;
  if (!kind) return resolveLeaf(object, at, fieldOf, violations);
  if (checkNode[kind](object).length > 0) {
    violations.push({
      field: `${at}.${kind}`,
      rule: 'type',
      message: 'must be the only key, holding a non-empty list of filters',
      received: object[kind],
    });
    return undefined;
  }
  const filters = (object[kind] as unknown[]).flatMap(
    (f, i) => resolveFilter(f, `${at}.${kind}[${i}]`, fieldOf, violations, depth + 1) ?? [],
  );
  return { kind, filters };
}

function resolveLeaf(
  object: Record<string, unknown>,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
): QueryFilter | undefined {
  const shape = LEAF.check(object, at);
  violations.push(...shape.violations);
  if (shape.faulty.has('field') || shape.faulty.has('op')) return undefined;
  const { field: name, op, value } = object as Leaf;
  const field = fieldOf(name, `${at}.field`);
  if (!field) return undefined;
  const scalar = (v: unknown, where: string) => filterValue(field, v, where, violations);
  if (op === 'in') {
    if (!Array.isArray(value) || value.length === 0 || value.length > 1000) {
      violations.push({
        field: `${at}.value`,
        rule: 'type',
        message: 'in takes a list of 1 to 1000 values',
        received: value,
      });
      return undefined;
    }
    const values = value.map((v, i) => scalar(v, `${at}.value[${i}]`));
    return values.every((v) => v !== undefined)
      ? { kind: 'in', field, values: values as Scalar[] }
      : undefined;
  }
  if (op === 'contains') {
    if (typeof value !== 'string' || !(field.type === 'text')) {
      violations.push({
        field: `${at}.value`,
        rule: 'type',
        message: 'contains takes a string, on a text field',
        received: value,
      });
      return undefined;
    }
    return { kind: 'match', op: 'contains', field, value };
  }
  if (value === null && (op === 'eq' || op === 'ne')) return { kind: 'compare', op, field, value: null };
  const resolved = scalar(value, `${at}.value`);
  return resolved === undefined
    ? undefined
    : { kind: 'compare', op: op as Comparison, field, value: resolved };
}

/** A filter's value in the field's type: a number, a boolean, a time (ISO 8601) or a string. */
function filterValue(
  field: SpecField,
  value: unknown,
  at: string,
  violations: Violation[],
): Scalar | undefined {
  const expected =
    field.kind === 'custom'
      ? field.type === 'number'
        ? 'number'
        : field.type === 'boolean'
          ? 'boolean'
          : 'string'
      : field.type === 'integer'
        ? 'number'
        : field.type === 'boolean'
          ? 'boolean'
          : field.type === 'timestamp'
            ? 'date-time'
            : 'string';
  if (expected === 'date-time') {
    if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value);
  } else if (typeof value === expected) return value as Scalar;
  violations.push({
    field: at,
    rule: 'type',
    limit: expected,
    message: `must be a ${expected}, as the field is`,
    received: value,
  });
  return undefined;
}

/** The fields a filter names, with their places, as deep as resolveFilter reads (deeper ones are refused there). */
export function filterFields(filter: unknown, at: string, depth = 1): { name: string; at: string }[] {
  if (filter === null || typeof filter !== 'object' || depth > MAX_FILTER_DEPTH) return [];
  const object = filter as Record<string, unknown>;
  for (const kind of ['and', 'or']) {
    const list = object[kind];
    if (Array.isArray(list)) return list.flatMap((f, i) => filterFields(f, `${at}.${kind}[${i}]`, depth + 1));
  }
  return typeof object.field === 'string' ? [{ name: object.field, at: `${at}.field` }] : [];
}
