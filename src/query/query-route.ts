import type { FastifyInstance } from 'fastify';
import type { GroupCommit } from '../ingest/group-commit.ts';
import type { AggregateQuery, Scalar, Storage } from '../storage/storage.ts';
import { type Dimensions, publicDimension } from './dimensions.ts';
import { resolveQuery, TIME } from './query-spec.ts';

type Row = Record<string, Scalar>;

const PREVIOUS = 'previous.';

/** A scalar as JSON shows it: times as ISO 8601. */
const shown = (value: Scalar) => (value instanceof Date ? value.toISOString() : value);

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

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
function csv(columns: string[], rows: Row[]): string {
  const cell = (value: Scalar) => {
    const text = value === null ? '' : String(shown(value));
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.map(cell), ...rows.map((row) => columns.map((c) => cell(row[c] ?? null)))]
    .map((line) => line.join(','))
    .join('\r\n')
    .concat('\r\n');
}

/** `POST /api/v1/query` and `/api/v1/dimensions`. */
export function queryRoutes(storage: Storage, writer: GroupCommit, dimensions: Dimensions) {
  return async (app: FastifyInstance) => {
    const read = { config: { privilege: 'analytics:read' as const } };
    const admin = { config: { privilege: 'admin' as const } };

    app.post('/api/v1/query', read, async (request, reply) => {
      const resolved = resolveQuery(request.body, await dimensions.byName(request.org));
      // Acknowledged events may still wait in the ingest log: a query sees every event answered before it.
      await writer.sync();
      const { query } = resolved;
      const current = await storage.aggregateEvents(request.org, query);
      const earlier = resolved.previous
        ? await storage.aggregateEvents(request.org, resolved.previous)
        : undefined;
      const rows = earlier ? withPrevious(current.rows, earlier.rows, query) : current.rows;
      const columns = [
        ...(query.bucket ? [TIME] : []),
        ...query.dimensions.map((d) => d.name),
        ...query.measures.map((m) => m.name),
        ...(earlier ? query.measures.map((m) => `${PREVIOUS}${m.name}`) : []),
      ];
      const wantsCsv = resolved.format === 'csv' || (request.headers.accept ?? '').includes('text/csv');
      if (wantsCsv) return reply.type('text/csv; charset=utf-8').send(csv(columns, rows));
      return {
        rows: rows.map((row) => Object.fromEntries(columns.map((c) => [c, shown(row[c] ?? null)]))),
        meta: {
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
        },
      };
    });

    app.get('/api/v1/dimensions', read, async (request) => ({
      dimensions: (await dimensions.list(request.org)).map(publicDimension),
    }));

    app.post('/api/v1/dimensions', admin, async (request, reply) =>
      reply.code(201).send(publicDimension(await dimensions.create(request.org, request.body))),
    );

    app.delete('/api/v1/dimensions/:name', admin, async (request, reply) => {
      await dimensions.remove(request.org, (request.params as { name: string }).name);
      return reply.code(204).send();
    });
  };
}
