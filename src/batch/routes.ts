import type { FastifyInstance } from 'fastify';
import { ingestSettings } from '../orgs/organizations.ts';
import { BATCH_ROUTE, type EventBatch } from './event-batch.ts';

/** `POST /api/v1/events/batch`: 200 `{results}`, one per event and in order, whatever each one's fate. */
export function batchRoutes(batch: EventBatch, bodyLimit: number) {
  return async (app: FastifyInstance) => {
    app.post(
      BATCH_ROUTE,
      {
        bodyLimit,
        config: { privilege: 'analytics:write', keepsRejections: true },
        // A full queue sheds the batch before its body is even parsed: that work would only be thrown away.
        preParsing: async (_request, _reply, payload) => {
          batch.admit(1);
          return payload;
        },
      },
      async (request) => ({
        results: await batch.accept(request.body, {
          credential: request.credential,
          org: request.org,
          settings: ingestSettings(request.organization),
          prioritizeVisitorParameter: false,
          receivedAt: new Date(),
        }),
      }),
    );
  };
}
