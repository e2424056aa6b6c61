import { type Static, Type } from '@sinclair/typebox';
import { invalid, type Violation } from '../core/errors.ts';
import { oneOf } from '../core/validation.ts';
import type { Dimension } from '../query/dimensions.ts';
import { resolveFilter } from '../query/filters.ts';
import { timeRange } from '../query/list-parameters.ts';
import { resolveField } from '../query/spec-fields.ts';
import type { EventExport, QueryFilter } from '../storage/storage.ts';

/**
 * What a raw export asks for, in the words of the routes it sits beside: `from`, `to` and `eventType` as
 * GET /api/v1/events takes them, and `filter` as POST /api/v1/query's filters (one of them, as JSON text).
 */

export const EXPORT_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const ExportQuery = Type.Object({
  format: oneOf(EXPORT_FORMATS, { description: 'csv, ndjson or parquet' }),
  ...timeRange,
  eventType: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'Only this event type' }),
  ),
  filter: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 65_536,
      description:
        'A filter as POST /api/v1/query takes one, as JSON: `{"field", "op", "value"}` on an event field or ' +
        '`customData.<key>`, or `{"and": […]}` / `{"or": […]}` of them',
    }),
  ),
  org: Type.Optional(
    Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
  ),
});
export type ExportQuery = Static<typeof ExportQuery>;

/** An export resolved: what the store reads, and the request's own words (for the audit log). */
export interface ExportRequest {
  format: ExportFormat;
  scan: EventExport;
  /** The parameters as given, for the audit log: format, from, to, eventType, filter. */
  asked: Record<string, unknown>;
}

/**
 * The export a query asks for, its filter resolved against the organization's dimensions (a customData key
 * declared as a number compares as one); `now`: where a range without `to` ends. Refused with every violation.
 */
export function resolveExport(
  query: ExportQuery,
  dimensions: ReadonlyMap<string, Dimension>,
  now = new Date(),
): ExportRequest {
  const violations: Violation[] = [];
  const from = query.from ? new Date(query.from) : new Date(0);
  const to = query.to ? new Date(query.to) : now;
  if (from >= to) {
    violations.push({
      field: 'from',
      rule: 'range',
      message: `must be before "to" (${to.toISOString()})`,
      received: query.from,
    });
  }
  const filters: QueryFilter[] = [];
  if (query.eventType !== undefined) {
    filters.push({
      kind: 'compare',
      op: 'eq',
      field: { kind: 'column', field: 'eventType', type: 'text' },
      value: query.eventType,
    });
  }
  let filter: unknown;
  if (query.filter !== undefined) {
    try {
      filter = JSON.parse(query.filter);
    } catch {
      violations.push({
        field: 'filter',
        rule: 'json',
        message: 'must be a filter as JSON, such as {"field":"eventType","op":"eq","value":"search"}',
        received: query.filter,
      });
    }
    if (filter !== undefined) {
      const fieldOf = (name: string, at: string) => resolveField(name, at, dimensions, violations);
      const resolved = resolveFilter(filter, 'filter', fieldOf, violations);
      if (resolved) filters.push(resolved);
    }
  }
  if (violations.length > 0) throw invalid(violations);
  const where: QueryFilter | undefined =
    filters.length === 0 ? undefined : filters.length === 1 ? filters[0] : { kind: 'and', filters };
  return {
    format: query.format,
    scan: { from, to, ...(where && { where }) },
    asked: {
      format: query.format,
      from: from.toISOString(),
      to: to.toISOString(),
      ...(query.eventType !== undefined && { eventType: query.eventType }),
      ...(filter !== undefined && { filter }),
    },
  };
}
