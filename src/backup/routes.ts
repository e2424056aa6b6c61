import { PassThrough } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { requireMaster } from '../auth/credential.ts';
import { OpenUAError } from '../core/errors.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import { type AuditLog, auditActor } from '../privacy/audit-log.ts';
import type { Storage } from '../storage/storage.ts';
import { prepareBackupDir, SERVER_ENGINE_BACKUP, takeBackup } from './backups.ts';

const BackupBody = Type.Object(
  {
    dir: Type.String({
      pattern: '^/',
      maxLength: 4096,
      description:
        "An absolute path on the server's machine: a new or empty directory, which the server makes and writes",
    }),
  },
  { additionalProperties: false },
);
type BackupBody = Static<typeof BackupBody>;

const FlushBody = Type.Object({}, { additionalProperties: false, description: 'Nothing: `{}`' });

const Flushed = Type.Object({
  coveredUntil: Type.String({
    format: 'date-time',
    description: 'Every event this server acknowledged before this instant is in the store',
  }),
});

/** The NDJSON stream's lines, for a client to draw its progress and read the manifest from. */
export type BackupLine =
  | { done: number; total: number }
  | { manifest: Record<string, unknown> }
  | { error: { code: string; message: string } };

/**
 * `/api/v1/backups`: a backup of the store into a directory of the server's machine, answered as a stream of
 * progress lines then the manifest; and the flush that loads this server's ingest log into the store, to run
 * before an engine's own backup (ClickHouse). The master key only: a backup writes to the server's filesystem and
 * holds every organization.
 */
export function backupRoutes(storage: Storage, writer: Pick<GroupCommit, 'sync'>, audit: AuditLog) {
  return async (app: FastifyInstance) => {
    const master = { config: { privilege: 'admin' as const } };
    const tags = ['Backup'];

    app.post<{ Body: BackupBody }>(
      '/api/v1/backups',
      {
        ...master,
        // Like any privilege, before the body is checked: only the master key learns the body's rules.
        preValidation: async (request) => requireMaster(request.credential, 'back up the store'),
        schema: {
          tags,
          summary: 'Back up the store into a directory of the server (the master key only; DuckDB)',
          description:
            'Loads the ingest log into the store, then copies every table from one snapshot into `dir` while ' +
            'ingest and queries go on, and writes `dir/backup.json` last. Answers NDJSON: `{"done","total"}` ' +
            '(rows copied) lines, then `{"manifest"}`, or `{"error"}` if the copy failed once begun. A ' +
            'ClickHouse store answers 409: it is backed up with its own tools after POST /api/v1/backups/flush.',
          body: BackupBody,
          response: {
            200: {
              description: 'Progress lines, then the manifest',
              content: { 'application/x-ndjson': { schema: Type.String() } },
            },
          },
        },
      },
      async (request, reply) => {
        const { dir } = request.body;
        // Refused as an HTTP error while nothing is streamed yet.
        if (!storage.backup) throw new OpenUAError('CONFLICT', SERVER_ENGINE_BACKUP);
        await prepareBackupDir(dir);
        const stream = new PassThrough();
        const line = (value: BackupLine) => stream.write(`${JSON.stringify(value)}\n`);
        void (async () => {
          try {
            const manifest = await takeBackup(storage, writer, dir, (done, total) => line({ done, total }));
            await audit.record({
              org: request.org,
              actor: auditActor(request.credential),
              action: 'backup',
              rows: manifest.tables.reduce((sum, t) => sum + t.rows, 0),
              details: { dir, coveredUntil: manifest.coveredUntil, bytes: manifest.bytes },
            });
            line({ manifest: { ...manifest } });
          } catch (error) {
            request.log.error({ err: error }, 'backup failed');
            const code = error instanceof OpenUAError ? error.code : 'INTERNAL';
            line({ error: { code, message: (error as Error).message } });
          } finally {
            stream.end();
          }
        })();
        return reply.type('application/x-ndjson').send(stream);
      },
    );

    app.post(
      '/api/v1/backups/flush',
      {
        ...master,
        preValidation: async (request) => requireMaster(request.credential, 'flush the ingest log'),
        schema: {
          tags,
          summary: "Load this server's ingest log into the store (the master key only)",
          description:
            'Answers once every event this server acknowledged before the call is in the store: run it on each ' +
            "server before ClickHouse's own backup, whose copy then holds every event acknowledged before the " +
            'earliest `coveredUntil`.',
          body: FlushBody,
          response: { 200: Flushed },
        },
      },
      async () => {
        const coveredUntil = new Date();
        await writer.sync();
        return { coveredUntil: coveredUntil.toISOString() };
      },
    );
  };
}
