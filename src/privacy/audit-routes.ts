import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { invalid } from '../core/errors.ts';
import { DEFAULT_LIMIT, pagination, timeRange } from '../query/list-parameters.ts';
import {
  AUDIT_ACTIONS,
  AUDIT_ACTOR_KINDS,
  AUDIT_LIMIT_MAX,
  type AuditAction,
  type AuditLog,
  type AuditQuery,
} from './audit-log.ts';

export const AuditQuerySchema = Type.Object(
  {
    action: Type.Optional(
      Type.Unsafe<AuditAction>({ type: 'string', enum: [...AUDIT_ACTIONS], description: 'Only this action' }),
    ),
    ...timeRange,
    actorId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'Only what this actor did: an API key id, `master`, a CLI user, `retention`, `erasure`',
      }),
    ),
    subjectKind: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'The kind of identifier `subject` is (`username`, `clientId`…); needs `subject`',
      }),
    ),
    subject: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          "Only the entries about this person: the server hashes it with the organization's key and compares " +
          'hashes; the log never holds it. Needs `subjectKind`',
      }),
    ),
    limit: pagination(AUDIT_LIMIT_MAX).limit,
    before: Type.Optional(
      Type.String({
        pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
        description: 'Only entries older than this one: the `next` of the page before',
      }),
    ),
    org: Type.Optional(
      Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
    ),
  },
  { additionalProperties: false },
);
export type AuditQuerySchema = Static<typeof AuditQuerySchema>;

/** A read of the log from the query's text (already checked against AuditQuerySchema). */
export function auditQueryOf(q: AuditQuerySchema): AuditQuery {
  if ((q.subject === undefined) !== (q.subjectKind === undefined)) {
    const missing = q.subject === undefined ? 'subject' : 'subjectKind';
    throw invalid([
      {
        field: missing,
        rule: 'required',
        message: '`subject` and `subjectKind` are given together',
        received: q.subject ?? q.subjectKind,
      },
    ]);
  }
  return {
    action: q.action,
    from: q.from === undefined ? undefined : new Date(q.from),
    to: q.to === undefined ? undefined : new Date(q.to),
    actorId: q.actorId,
    subject:
      q.subject !== undefined && q.subjectKind !== undefined
        ? { kind: q.subjectKind, value: q.subject }
        : undefined,
    before: q.before,
    limit: q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit),
  };
}

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T, description: string) =>
  Type.Union([schema, Type.Null()], { description });

export const AuditEntrySchema = Type.Object({
  id: Type.String({ description: 'Time-ordered (UUIDv7)' }),
  org: Type.String(),
  at: Type.Unsafe<Date>(Type.String({ format: 'date-time' })),
  actorKind: Type.Unsafe<string>({
    type: 'string',
    enum: [...AUDIT_ACTOR_KINDS],
    description: '`system`: the server itself (retention, erasure runner); `cli`: a CLI command on the store',
  }),
  actorId: Type.String({ description: 'The API key id, `master`, the CLI user, or the system part' }),
  action: Type.Unsafe<AuditAction>({ type: 'string', enum: [...AUDIT_ACTIONS] }),
  subjectHash: nullable(Type.String(), "The organization's keyed hash of the person, `hmac-sha256:<hex>`"),
  subjectKind: nullable(Type.String(), 'The kind of identifier hashed'),
  target: nullable(Type.String(), 'What it was done to, not a person: a key id, a job id, an organization'),
  rows: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description: 'How many rows it read, removed or wrote',
  }),
  details: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
    description:
      "The action's own facts (settings changed, a format, counts by kind); never a person's identifier",
  }),
});

/** `GET /api/v1/audit`: the organization's audit log, newest first. Nothing changes or deletes an entry. */
export function auditRoutes(audit: AuditLog) {
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: AuditQuerySchema }>(
      '/api/v1/audit',
      {
        config: { privilege: 'admin' as const },
        schema: {
          tags: ['Privacy'],
          summary: 'The audit log of privacy and admin actions, newest first',
          description:
            'Filters hold together. `subjectKind` with `subject` finds the entries about one person by keyed ' +
            "hash. Page with `before`: the answer's `next`, null on the last page.",
          querystring: AuditQuerySchema,
          response: {
            200: Type.Object({
              entries: Type.Array(AuditEntrySchema),
              next: Type.Union([Type.String(), Type.Null()], {
                description: 'Pass as `before` for older entries; null when there are none',
              }),
            }),
          },
        },
      },
      async (request) => audit.list(request.org, auditQueryOf(request.query)),
    );
  };
}
