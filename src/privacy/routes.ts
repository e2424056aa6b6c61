import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { type AuditLog, auditActor } from './audit-log.ts';
import { type Erasures, publicErasure } from './erasures.ts';
import { SubjectBody, subjectOf } from './identifiers.ts';
import { exportedRows, type PersonExportParts, personExport } from './person-export.ts';

const OrgQuery = Type.Object({
  org: Type.Optional(
    Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
  ),
});
type OrgQuery = Static<typeof OrgQuery>;

const ErasureBody = Type.Object(
  {
    ...SubjectBody.properties,
    mode: Type.Optional(
      Type.Union([Type.Literal('anonymise'), Type.Literal('delete')], {
        description:
          'anonymise (default): the identifier is replaced by a pseudonym made for the job, and every figure stays; ' +
          'delete: the events go, and figures that counted them change',
      }),
    ),
  },
  { additionalProperties: false },
);
type ErasureBody = Static<typeof ErasureBody>;

const Counts = Type.Object({
  events: Type.Integer(),
  records: Type.Record(Type.String(), Type.Integer()),
  rejections: Type.Integer(),
  idempotencyKeys: Type.Integer(),
  deadLettered: Type.Integer(),
});

const ErasureAnswer = Type.Object({
  id: Type.String(),
  org: Type.String(),
  kind: Type.String({ description: 'Which identifier the person was named by' }),
  subjectHash: Type.Union([Type.String(), Type.Null()], {
    description: "The audit log's keyed hash of the subject; the identifier itself is never answered",
  }),
  mode: Type.String(),
  state: Type.String({ description: 'queued, running, done or failed' }),
  requestedAt: Type.String({ format: 'date-time' }),
  requestedBy: Type.String(),
  coveredUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Every event acknowledged before this instant is covered; one acknowledged later is not',
  }),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  found: Type.Union([Counts, Type.Null()]),
  removed: Type.Union([Counts, Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});

const JobParams = Type.Object({ id: Type.String({ description: "The erasure's id" }) });
type JobParams = Static<typeof JobParams>;

const PersonExportAnswer = Type.Object({
  subject: Type.Object({ kind: Type.String(), value: Type.String() }),
  generatedAt: Type.String({ format: 'date-time' }),
  coveredUntil: Type.String({ format: 'date-time' }),
  events: Type.Array(Type.Object({}, { additionalProperties: true })),
  records: Type.Record(Type.String(), Type.Array(Type.Object({}, { additionalProperties: true }))),
  rejections: Type.Array(Type.Object({}, { additionalProperties: true })),
});

/** `/api/v1/privacy/…`: a person's erasure (a background job) and a person's export. */
export function privacyRoutes(erasures: Erasures, exportParts: PersonExportParts, audit: AuditLog) {
  return async (app: FastifyInstance) => {
    const admin = { config: { privilege: 'admin' as const } };
    const tags = ['Privacy'];

    app.post<{ Body: ErasureBody; Querystring: OrgQuery }>(
      '/api/v1/privacy/erasures',
      {
        ...admin,
        schema: {
          tags,
          summary: "Erase a person's data (a background job); answers the job",
          description:
            'Name the person by exactly one identifier. Every event, channel record, rejected payload and ' +
            'idempotency key that holds it, in the store and in the ingest log, is anonymised or removed. ' +
            '`coveredUntil` on the job says up to when events are covered.',
          querystring: OrgQuery,
          body: ErasureBody,
          response: { 202: ErasureAnswer },
        },
      },
      async (request, reply) => {
        const { mode = 'anonymise', ...body } = request.body;
        const subject = subjectOf(body);
        const job = await erasures.request(request.org, subject, mode, auditActor(request.credential));
        return reply
          .code(202)
          .header('Location', `/api/v1/privacy/erasures/${job.id}`)
          .header('Cache-Control', 'no-store')
          .send(publicErasure(job));
      },
    );

    app.get<{ Querystring: OrgQuery }>(
      '/api/v1/privacy/erasures',
      {
        ...admin,
        schema: {
          tags,
          summary: "The organization's erasures, newest first",
          querystring: OrgQuery,
          response: { 200: Type.Object({ erasures: Type.Array(ErasureAnswer) }) },
        },
      },
      async (request) => ({ erasures: (await erasures.list(request.org)).map(publicErasure) }),
    );

    app.get<{ Params: JobParams; Querystring: OrgQuery }>(
      '/api/v1/privacy/erasures/:id',
      {
        ...admin,
        schema: {
          tags,
          summary: 'One erasure: its state, and what it found and removed by kind',
          params: JobParams,
          querystring: OrgQuery,
          response: { 200: ErasureAnswer },
        },
      },
      async (request) => publicErasure(await erasures.get(request.org, request.params.id)),
    );

    app.post<{ Body: SubjectBody; Querystring: OrgQuery }>(
      '/api/v1/privacy/exports',
      {
        ...admin,
        schema: {
          tags,
          summary: "A person's data as one JSON document",
          description:
            'Every event, channel record and rejected payload that holds the identifier. Name the person by ' +
            'exactly one identifier.',
          querystring: OrgQuery,
          body: SubjectBody,
          response: { 200: PersonExportAnswer },
        },
      },
      async (request, reply) => {
        const subject = subjectOf(request.body);
        const document = await personExport(exportParts, request.org, subject);
        await audit.record({
          org: request.org,
          actor: auditActor(request.credential),
          action: 'person-export',
          subject,
          rows: exportedRows(document),
        });
        return reply.header('Cache-Control', 'no-store').send(document);
      },
    );
  };
}
