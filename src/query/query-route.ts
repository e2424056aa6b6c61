import type { FastifyInstance } from 'fastify';
import { KPIS, publicKpi } from '../kpi/catalogue.ts';
import type { Scalar } from '../storage/storage.ts';
import { type Dimensions, publicDimension } from './dimensions.ts';
import { type Insights, type Row, shown } from './insights.ts';

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
export function queryRoutes(insights: Insights, dimensions: Dimensions) {
  return async (app: FastifyInstance) => {
    const read = { config: { privilege: 'analytics:read' as const } };
    const admin = { config: { privilege: 'admin' as const } };

    app.post('/api/v1/query', read, async (request, reply) => {
      const { resolved, columns, rows, meta } = await insights.run(request.org, request.body);
      const wantsCsv = resolved.format === 'csv' || (request.headers.accept ?? '').includes('text/csv');
      if (wantsCsv) return reply.type('text/csv; charset=utf-8').send(csv(columns, rows));
      return {
        rows: rows.map((row) => Object.fromEntries(columns.map((c) => [c, shown(row[c] ?? null)]))),
        meta,
      };
    });

    app.get('/api/v1/kpis', read, async () => ({ kpis: KPIS.map(publicKpi) }));

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
