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
        // The SDK flushes its queue with navigator.sendBeacon as a page hides, which cannot set a header: its
        // credential comes as `access_token`, as on the UA Write API's routes.
        config: { privilege: 'analytics:write', keepsRejections: true, acceptsAccessToken: true },
        schema: {
          tags: ['Batch'],
          summary: 'Log many events of any kind at once',
          description:
            'Each event goes through the checks of its own route, alone: a refused one is answered and kept ' +
            'as a rejection, and the others are stored. The envelope alone can refuse the whole batch (400).',
          // The handler checks the envelope, then each item on its own. A beacon sends it as text/plain.
          body: {
            content: {
              'application/json': { schema: checkedByHandler(BatchBodySchema) },
              'text/plain': { schema: checkedByHandler(BatchBodySchema) },
            },
          },
          querystring: checkedByHandler(
            Type.Object(
              {
                access_token: Type.Optional(
                  Type.String({
                    description: 'The credential, for beacons, which cannot send an Authorization header',
                  }),
                ),
              },
              { additionalProperties: true },
            ),
          ),
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
