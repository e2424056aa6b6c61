import type { GroupCommit } from '../ingest/group-commit.ts';
import type { AggregateQuery, AggregateResult, Scalar, Storage } from '../storage/storage.ts';
import type { Dimensions } from './dimensions.ts';
import { type ResolvedQuery, resolveQuery, TIME } from './query-spec.ts';

export type Row = Record<string, Scalar>;

export const PREVIOUS = 'previous.';

/** A scalar as JSON shows it: times as ISO 8601. */
export const shown = (value: Scalar) => (value instanceof Date ? value.toISOString() : value);

/** A query spec's answer, before it is shown as JSON or CSV. */
export interface InsightAnswer {
  resolved: ResolvedQuery;
  /** The answer's columns, in order: the time bucket, the dimensions, the measures, then previous.<measure>. */
  columns: string[];
  rows: Row[];
  meta: Record<string, unknown>;
}

/**
 * Each row gains `previous.<measure>`: the same dimensions' measure in the period just before, a time
 * bucket matched to the one a period earlier; null where that period has no such row.
 */
function withPrevious(rows: Row[], previous: Row[], query: AggregateQuery): Row[] {
  const span = query.to.getTime() - query.from.getTime();
  const bucketStart = (row: Row, shift: number) => {
    const time = row[TIME] as Date | null | undefined;
    return time ? time.getTime() - shift : null;
  };
  const key = (row: Row, shift: number) =>
    JSON.stringify([
      ...(query.bucket ? [bucketStart(row, shift)] : []),
      ...query.dimensions.map((d) => shown(row[d.name] ?? null)),
    ]);
  const before = new Map(previous.map((row) => [key(row, 0), row]));
  return rows.map((row) => {
    const match = before.get(key(row, span));
    const extra: Row = {};
    for (const m of query.measures) extra[`${PREVIOUS}${m.name}`] = match ? (match[m.name] ?? null) : null;
    return { ...row, ...extra };
  });
}

/**
 * The one place a query spec is run: the query route answers with it, and breach rules evaluate through it,
 * so a rule's measure means exactly what the same spec means in `POST /api/v1/query`.
 */
export class Insights {
  constructor(
    private readonly storage: Storage,
    private readonly writer: GroupCommit,
    private readonly dimensions: Dimensions,
  ) {}

  async run(org: string, spec: unknown, now = new Date()): Promise<InsightAnswer> {
    const resolved = resolveQuery(spec, await this.dimensions.byName(org), now);
    // Acknowledged events may still wait in the ingest log: a query sees every event answered before it.
    await this.writer.sync();
    const { query } = resolved;
    const current = await this.aggregate(org, query);
    const earlier = resolved.previous ? await this.aggregate(org, resolved.previous) : undefined;
    const rows = earlier ? withPrevious(current.rows, earlier.rows, query) : current.rows;
    const columns = [
      ...(query.bucket ? [TIME] : []),
      ...query.dimensions.map((d) => d.name),
      ...query.measures.map((m) => m.name),
      ...(earlier ? query.measures.map((m) => `${PREVIOUS}${m.name}`) : []),
    ];
    const meta = {
      from: query.from.toISOString(),
      to: query.to.toISOString(),
      timeZone: resolved.timeZone,
      granularity: resolved.granularity ?? null,
      columns,
      rowCount: rows.length,
      // At the limit, there may be more rows than were answered.
      truncated: rows.length === query.limit,
      typeErrors: current.typeErrors,
      ...(resolved.previous && {
        previous: {
          from: resolved.previous.from.toISOString(),
          to: resolved.previous.to.toISOString(),
          typeErrors: earlier?.typeErrors ?? {},
        },
      }),
    };
    return { resolved, columns, rows, meta };
  }

  private aggregate(org: string, query: AggregateQuery): Promise<AggregateResult> {
    return this.storage.aggregateEvents(org, query);
  }
}
