import { Type } from '@sinclair/typebox';
import type { Comparison, RecordFilter } from '../storage/storage.ts';

/**
 * The query-string parameters the list routes share (events, rejections, alerts): a page (`limit`, `offset`), a
 * time range (`from`, `to`), and how the parameters a route lists fold into the store's filter. Query strings
 * are text and Ajv does not coerce them: numbers are checked as digits, then read.
 */

export const DEFAULT_LIMIT = 100;

/**
 * `limit` (1 to `maxLimit`, a power of ten) and `offset` (a route that answers only the first page takes
 * `limit` alone). The bound is in the pattern, so a refusal lists it with every other violation of the query.
 */
export function pagination(maxLimit: number) {
  const digits = String(maxLimit).length - 1;
  if (maxLimit !== 10 ** digits || digits < 1)
    throw new Error(`maxLimit must be a power of ten: ${maxLimit}`);
  return {
    limit: Type.Optional(
      Type.String({
        pattern: `^([1-9][0-9]{0,${digits - 1}}|${maxLimit})$`,
        description: `How many to answer at most: 1 to ${maxLimit} (default ${DEFAULT_LIMIT})`,
      }),
    ),
    offset: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,9}$', description: 'How many to skip first (default 0)' }),
    ),
  };
}

/** The page a query asks for, defaults filled in (its text already checked by `pagination`). */
export const pageOf = (query: { limit?: string; offset?: string }) => ({
  limit: query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit),
  offset: query.offset === undefined ? 0 : Number(query.offset),
});

/** `from` (inclusive) and `to` (exclusive): ISO 8601 times. */
export const timeRange = {
  from: Type.Optional(
    Type.String({ format: 'date-time', description: 'From this time, inclusive (ISO 8601)' }),
  ),
  to: Type.Optional(
    Type.String({ format: 'date-time', description: 'Until this time, exclusive (ISO 8601)' }),
  ),
};

/** How one query parameter narrows a list: the record field it is compared with, and how. */
export interface ParameterFilter {
  field: string;
  /** A comparison with the parameter's value, or `has`: the list field holds it. */
  op: Comparison | 'has';
  /** The value is an ISO 8601 time, compared as a time. */
  time?: boolean;
}

/** `timeRange`'s parameters, over the record's time field. */
export const timeRangeOf = (field: string) =>
  ({ from: { field, op: 'ge', time: true }, to: { field, op: 'lt', time: true } }) as const;

/**
 * The filter a query's parameters make, each one given narrowing the list by its `ParameterFilter`; undefined
 * when none is given. Parameters without one (a page, the organization) are not conditions.
 */
export function whereOf<Query extends object>(
  query: Query,
  filters: { readonly [Name in keyof Query]?: ParameterFilter },
): RecordFilter | undefined {
  const conditions = Object.entries(filters as Record<string, ParameterFilter>).flatMap(
    ([name, { field, op, time }]): RecordFilter[] => {
      const value = (query as Record<string, unknown>)[name];
      if (typeof value !== 'string') return [];
      if (op === 'has') return [{ kind: 'has', field, value }];
      return [{ kind: 'compare', op, field, value: time ? new Date(value) : value }];
    },
  );
  if (conditions.length <= 1) return conditions[0];
  return { kind: 'and', filters: conditions };
}
