import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../core/errors.ts';
import { dedupWindowMs, ingestSettings } from '../orgs/organizations.ts';
import type { ChannelAnalytics, ChannelCallContext } from './channel-analytics.ts';
import { type EntitySet, KPI_DEFINITIONS, PROVIDERS } from './entity-sets.ts';
import { showRecord } from './record-body.ts';
import type { ChannelRecords } from './records.ts';

const context = (request: FastifyRequest): ChannelCallContext => ({
  org: request.org,
  credential: request.credential,
  receivedAt: new Date(),
  dedupWindowMs: dedupWindowMs(ingestSettings(request.organization)),
});

/** The admin API's paths for the two configuration sets, spoken in field names. */
const ADMIN_SETS: readonly { path: string; set: EntitySet }[] = [
  { path: '/api/v1/providers', set: PROVIDERS },
  { path: '/api/v1/kpi-definitions', set: KPI_DEFINITIONS },
];

/**
 * `/api/v1/channel/*`: the JS API's calls over HTTP; `/api/v1/correlations/{id}`: one correlation id
 * through every record and event; `/api/v1/providers` and `/api/v1/kpi-definitions`: administration.
 */
export function channelRoutes(channel: ChannelAnalytics, records: ChannelRecords) {
  return async (app: FastifyInstance) => {
    const write = { config: { privilege: 'analytics:write' as const, keepsRejections: true } };
    const admin = { config: { privilege: 'admin' as const } };

    app.post('/api/v1/channel/initLogAnalytics', write, async (request) =>
      channel.initLogAnalytics(request.body, context(request)),
    );

    app.post('/api/v1/channel/logAnalyticsEvent', write, async (request) =>
      channel.logAnalyticsEvent(request.body, context(request)),
    );

    app.get(
      '/api/v1/correlations/:correlationId',
      { config: { privilege: 'analytics:read' } },
      async (request) => {
        const { correlationId } = request.params as { correlationId: string };
        if (correlationId.length > 100) {
          throw invalid([
            {
              field: 'correlationId',
              rule: 'maxLength',
              limit: 100,
              message: 'must be at most 100 characters',
              received: correlationId.slice(0, 256),
            },
          ]);
        }
        return { correlationId, items: await channel.correlation(request.org, correlationId) };
      },
    );

    for (const { path, set } of ADMIN_SETS) {
      const show = (record: Record<string, unknown>) => showRecord(set, record, 'fields');
      // The admin API (and the CLI over it) names a record by its id or its name.
      const named = (request: FastifyRequest) =>
        records.named(set, request.org, (request.params as { id: string }).id);
      app.get(path, admin, async (request) => ({
        items: (
          await records.list(set, request.org, { orderBy: [{ field: 'name', descending: false }] })
        ).rows.map(show),
      }));
      app.post(path, admin, async (request, reply) =>
        reply.code(201).send(show(await records.create(set, request.org, request.body, 'fields'))),
      );
      app.get(`${path}/:id`, admin, async (request) => show(await named(request)));
      app.patch(`${path}/:id`, admin, async (request) =>
        show(await records.update(set, request.org, (await named(request)).id, request.body, 'fields')),
      );
      app.delete(`${path}/:id`, admin, async (request, reply) => {
        await records.remove(set, request.org, (await named(request)).id);
        return reply.code(204).send();
      });
    }
  };
}
