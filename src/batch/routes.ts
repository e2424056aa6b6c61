import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { checkedByHandler } from '../core/validation.ts';
import { ingestSettings } from '../orgs/organizations.ts';
import { BATCH_ROUTE, BatchBodySchema, BatchResultSchema, type EventBatch } from './event-batch.ts';

/** `POST /api/v1/events/batch`: 200 `{results}`, one per event and in order, whatever each one's fate. */
export function batchRoutes(batch: EventBatch, bodyLimit: number) {
  return async (app: FastifyInstance) => {
    app.post(
      BATCH_ROUTE,
      {
        bodyLimit,
        config: { privilege: 'analytics:write', keepsRejections: true },
        schema: {
          tags: ['Batch'],
          summary: 'Log many events of any kind at once',
          description:
            'Each event goes through the checks of its own route, alone: a refused one is answered and kept ' +
            'as a rejection, and the others are stored. The envelope alone can refuse the whole batch (400).',
          // The handler checks the envelope, then each item on its own.
          body: checkedByHandler(BatchBodySchema),
          response: {
            200: Type.Object(
              { results: Type.Array(BatchResultSchema, { description: 'One per event, in order' }) },
              { description: "Each event's fate" },
            ),
          },
        },
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
          receivedAt: new Date(),
        }),
      }),
    );
  };
}
