import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { checkedByHandler, oneOf } from '../core/validation.ts';
import { KPIS, publicKpi } from '../kpi/catalogue.ts';
import type { Scalar } from '../storage/storage.ts';
import { DimensionInput, type Dimensions, PublicDimensionSchema, publicDimension } from './dimensions.ts';
import {
  type Insights,
  KpiUnitSchema,
  KpiValueUnitSchema,
  QueryMetaSchema,
  type Row,
  shown,
} from './insights.ts';
import { QuerySpecSchema } from './query-spec.ts';

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

const QueryAnswerSchema = Type.Object({
  rows: Type.Array(
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
    { description: 'One object per row, keyed by the columns of meta.columns; times as ISO 8601' },
  ),
  meta: QueryMetaSchema,
});

const KpiSchema = Type.Object({
  name: Type.String({ description: 'How a query names it, as a measure' }),
  displayName: Type.String(),
  unit: KpiUnitSchema,
  unitDefinition: Type.String({ description: 'What one unit is, and when it is counted' }),
  valueUnit: KpiValueUnitSchema,
  definition: Type.String(),
  vendors: Type.Optional(
    Type.String({ description: 'How it compares with what other vendors call the same' }),
  ),
  parameters: Type.Array(
    Type.Object({
      name: Type.String(),
      description: Type.String(),
      type: oneOf(['number', 'boolean', 'enum'] as const),
      default: Type.Union([Type.Number(), Type.Boolean(), Type.String()]),
      min: Type.Optional(Type.Number()),
      max: Type.Optional(Type.Number()),
      values: Type.Optional(Type.Array(Type.String())),
    }),
  ),
  dimensions: Type.Array(Type.String(), {
    description: 'The fields a query with this KPI can group and filter by',
  }),
});

const DimensionParams = Type.Object({
  name: Type.String({ description: 'The dimension, normalised like a customData key' }),
});

/** `POST /api/v1/query`, `GET /api/v1/kpis` and `/api/v1/dimensions`. */
export function queryRoutes(insights: Insights, dimensions: Dimensions) {
  return async (app: FastifyInstance) => {
    const read = { config: { privilege: 'analytics:read' as const } };
    const admin = { config: { privilege: 'admin' as const } };
    const querySchema = {
      tags: ['Query'],
      summary: 'Measures by dimensions over a time range, as JSON rows or CSV',
      description:
        'Measures (counts, functions of a field, KPIs) grouped by event fields or customData keys, filtered, ' +
        'bucketed by time in a time zone, optionally compared with the period before. CSV with ' +
        '`"format": "csv"` or `Accept: text/csv`.',
      // Checked where it is resolved (resolveQuery), as alert rules' measures and filters are: a measure's or a
      // filter's refusal is listed with the spec's other faults, each in the words of the shape it was meant to be.
      body: checkedByHandler(QuerySpecSchema),
      response: {
        200: {
          description: 'The rows and what they are',
          content: {
            'application/json': { schema: QueryAnswerSchema },
            'text/csv': { schema: Type.String({ description: 'RFC 4180, a header line first' }) },
          },
        },
      },
    };
    const dimensionsTag = ['Dimensions'];

    app.post('/api/v1/query', { ...read, schema: querySchema }, async (request, reply) => {
      const { resolved, columns, rows, meta } = await insights.run(request.org, request.body);
      const wantsCsv = resolved.format === 'csv' || (request.headers.accept ?? '').includes('text/csv');
      if (wantsCsv) return reply.type('text/csv; charset=utf-8').send(csv(columns, rows));
      return {
        rows: rows.map((row) => Object.fromEntries(columns.map((c) => [c, shown(row[c] ?? null)]))),
        meta,
      };
    });

    app.get(
      '/api/v1/kpis',
      {
        ...read,
        schema: {
          tags: ['Query'],
          summary: 'The KPI catalogue: each KPI a query can measure, its definition and parameters',
          response: { 200: Type.Object({ kpis: Type.Array(KpiSchema) }) },
        },
      },
      async () => ({ kpis: KPIS.map(publicKpi) }),
    );

    app.get(
      '/api/v1/dimensions',
      {
        ...read,
        schema: {
          tags: dimensionsTag,
          summary: "The organization's custom dimensions: customData keys declared with a type",
          response: { 200: Type.Object({ dimensions: Type.Array(PublicDimensionSchema) }) },
        },
      },
      async (request) => ({
        dimensions: (await dimensions.list(request.org)).map(publicDimension),
      }),
    );

    app.post(
      '/api/v1/dimensions',
      {
        ...admin,
        schema: {
          tags: dimensionsTag,
          summary: 'Declares a customData key as a text, number or boolean dimension',
          description:
            'Changes no stored data: values logged before are read through it as soon as it exists. 409 if ' +
            'it is declared already.',
          // Checked by Dimensions.create, which lists the name's key rule with the schema's violations.
          body: checkedByHandler(DimensionInput),
          response: { 201: PublicDimensionSchema },
        },
      },
      async (request, reply) =>
        reply.code(201).send(publicDimension(await dimensions.create(request.org, request.body))),
    );

    app.delete<{ Params: Static<typeof DimensionParams> }>(
      '/api/v1/dimensions/:name',
      {
        ...admin,
        schema: {
          tags: dimensionsTag,
          summary: 'Deletes a custom dimension (its values stay, read as text)',
          params: DimensionParams,
          response: { 204: Type.Null({ description: 'Deleted' }) },
        },
      },
      async (request, reply) => {
        await dimensions.remove(request.org, request.params.name);
        return reply.code(204).send();
      },
    );
  };
}
