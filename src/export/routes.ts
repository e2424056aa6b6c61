import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { auditActor } from '../privacy/audit-log.ts';
import { ExportQuery } from './export-request.ts';
import { CONTENT_TYPES, CSV_COLUMNS } from './formats.ts';
import type { RawExports } from './raw-export.ts';

/** The header that carries an export's event count, sent before its first byte, for a client's progress. */
export const TOTAL_COUNT_HEADER = 'x-total-count';

/** The file name an export is offered under: the organization and the range, which name it uniquely enough. */
export function exportFileName(org: string, from: string, to: string, format: string): string {
  const stamp = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const safeOrg = org.replace(/[^A-Za-z0-9_-]/g, '_');
  return `openua-${safeOrg}-${stamp(from)}-${stamp(to)}.${format}`;
}

/** `GET /api/v1/export`: the organization's events in a time range, streamed as CSV, NDJSON or Parquet. */
export function exportRoutes(exports: RawExports) {
  const schema = {
    tags: ['Events'],
    summary: 'Export events in a time range as CSV, NDJSON or Parquet, streamed',
    description:
      'The events whose derived (skew-corrected) time is in [`from`, `to`) (default: from the first event until ' +
      'now) and that match `eventType` and `filter`, oldest first (derived time, then id). NDJSON: one event per ' +
      'line as GET /api/v1/events answers it. CSV: a header row, one column per field (' +
      `${CSV_COLUMNS.length} columns: the canonical fields, then customData), lists and objects as JSON text, ` +
      'times in ISO 8601 UTC, a null as an empty field and an empty text as `""`. Parquet: typed columns, ' +
      'times as TIMESTAMP (UTC), customData as a MAP(VARCHAR, VARCHAR). The event count is in `X-Total-Count` ' +
      'before the first byte. Streamed: the server holds a few thousand events at a time.',
    querystring: ExportQuery,
    response: {
      200: {
        description: 'The events, as a file to save',
        headers: Type.Object({
          [TOTAL_COUNT_HEADER]: Type.Integer({ description: 'How many events the export holds' }),
        }),
        content: {
          [CONTENT_TYPES.csv]: { schema: Type.String({ description: 'RFC 4180, a header row first' }) },
          [CONTENT_TYPES.ndjson]: { schema: Type.String({ description: 'One JSON event per line' }) },
          [CONTENT_TYPES.parquet]: { schema: Type.String({ format: 'binary' }) },
        },
      },
    },
  };
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: ExportQuery }>(
      '/api/v1/export',
      { config: { privilege: 'analytics:read' }, schema },
      async (request, reply) => {
        const opened = await exports.open(request.org, request.query, auditActor(request.credential));
        const { format, asked } = opened.request;
        const name = exportFileName(request.org, asked.from as string, asked.to as string, format);
        reply
          .type(CONTENT_TYPES[format])
          .header('content-disposition', `attachment; filename="${name}"`)
          .header(TOTAL_COUNT_HEADER, String(opened.rows));
        if (opened.bytes !== undefined) reply.header('content-length', String(opened.bytes));
        return reply.send(opened.stream);
      },
    );
  };
}
