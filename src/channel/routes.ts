import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Credential } from '../auth/credential.ts';
import { checkedByHandler } from '../core/validation.ts';
import type { IngestContext } from '../ingest/context.ts';
import { ingestSettings } from '../orgs/organizations.ts';
import type { ChannelAnalytics } from './channel-analytics.ts';
import { type EntitySet, KPI_DEFINITIONS, PROVIDERS, referencesTo } from './entity-sets.ts';
import {
  CorrelatedItemSchema,
  InitAnswerSchema,
  InitLogAnalyticsBody,
  LogAnalyticsEventBody,
  LogAnswerSchema,
} from './payloads.ts';
import { recordBodySchema, recordSchema, showRecord } from './record-body.ts';
import type { ChannelRecords } from './records.ts';

const context = (request: FastifyRequest): IngestContext<Credential> => ({
  org: request.org,
  credential: request.credential,
  settings: ingestSettings(request.organization),
  receivedAt: new Date(),
});

/** The admin API's paths for the two configuration sets, spoken in field names. */
const ADMIN_SETS: readonly { path: string; set: EntitySet; plural: string }[] = [
  { path: '/api/v1/providers', set: PROVIDERS, plural: 'CIF providers' },
  { path: '/api/v1/kpi-definitions', set: KPI_DEFINITIONS, plural: 'KPI event definitions' },
];

const CorrelationParams = Type.Object({
  correlationId: Type.String({
    maxLength: 100,
    description: 'A correlation id: the one a JS API call was given or answered, or an externalCorrelationId',
  }),
});

/** When a record of the set is kept, not deleted (409): the rules its set declares (record-rules.ts). */
function keptWhen(set: EntitySet): string {
  const holders = referencesTo(set).map(({ set: holder }) => `${holder.label} records`);
  return [
    ...(holders.length > 0 ? [`Kept while ${holders.join(' or ')} name it.`] : []),
    ...(set.origin ? ['A first-party one is kept: deactivate it (stateCode 1) instead.'] : []),
  ].join(' ');
}

const AdminParams = Type.Object({ id: Type.String({ description: 'The record’s id, or its name' }) });
type AdminParams = Static<typeof AdminParams>;

/**
 * `/api/v1/channel/*`: the JS API's calls over HTTP; `/api/v1/correlations/{id}`: one correlation id
 * through every record and event; `/api/v1/providers` and `/api/v1/kpi-definitions`: administration.
 */
export function channelRoutes(channel: ChannelAnalytics, records: ChannelRecords) {
  return async (app: FastifyInstance) => {
    const write = { config: { privilege: 'analytics:write' as const, keepsRejections: true } };
    const admin = { config: { privilege: 'admin' as const } };
    const tags = ['Channel Analytics'];
    // Bodies are loosened (an object additionalData, numeric participant modes) before the check, and a refusal
    // lists schema and domain violations together and is kept as a rejection: the handler checks them.
    const written =
      'The provider must take analytics (403 ANALYTICS_DISABLED otherwise). A refusal is kept as a rejection.';

    app.post(
      '/api/v1/channel/initLogAnalytics',
      {
        ...write,
        schema: {
          tags,
          summary: 'initLogAnalytics: create or update a conversation, its session and participants',
          description: `One transaction; a replay with the same ids writes nothing. ${written}`,
          body: checkedByHandler(InitLogAnalyticsBody),
          response: { 200: InitAnswerSchema },
        },
      },
      async (request) => channel.initLogAnalytics(request.body, context(request)),
    );

    app.post(
      '/api/v1/channel/logAnalyticsEvent',
      {
        ...write,
        schema: {
          tags,
          summary: 'logAnalyticsEvent: log KPI events of a conversation, its session or a participant',
          description:
            'Every event is stored, or none: any violation in any item refuses the call. Each name needs an ' +
            `active KPI event definition, unless the organization flags unknown names. ${written}`,
          body: checkedByHandler(LogAnalyticsEventBody),
          response: { 200: LogAnswerSchema },
        },
      },
      async (request) => channel.logAnalyticsEvent(request.body, context(request)),
    );

    app.get<{ Params: Static<typeof CorrelationParams> }>(
      '/api/v1/correlations/:correlationId',
      {
        config: { privilege: 'analytics:read' },
        schema: {
          tags,
          summary: 'Every record and event that carries a correlation id, in time order',
          params: CorrelationParams,
          response: {
            200: Type.Object(
              { correlationId: Type.String(), items: Type.Array(CorrelatedItemSchema) },
              { description: 'The conversation, its sessions and participants, then its events' },
            ),
          },
        },
      },
      async (request) => {
        const { correlationId } = request.params;
        return { correlationId, items: await channel.correlation(request.org, correlationId) };
      },
    );

    for (const { path, set, plural } of ADMIN_SETS) {
      const show = (record: Record<string, unknown>) => showRecord(set, record, 'fields');
      // The admin API (and the CLI over it) names a record by its id or its name.
      const named = (request: FastifyRequest<{ Params: AdminParams }>) =>
        records.named(set, request.org, request.params.id);
      const Shown = recordSchema(set, 'fields');
      // Checked by the set's record rules (readRecordBody), which name each violation in the set's fields.
      const body = (mode: 'create' | 'update') => checkedByHandler(recordBodySchema(set, 'fields', mode));
      const one = (summary: string) => ({ tags, summary, params: AdminParams });
      app.get(
        path,
        {
          ...admin,
          schema: {
            tags,
            summary: `The ${plural}, by name`,
            response: { 200: Type.Object({ items: Type.Array(Shown) }, { description: `The ${plural}` }) },
          },
        },
        async (request) => ({
          items: (
            await records.list(set, request.org, { orderBy: [{ field: 'name', descending: false }] })
          ).rows.map(show),
        }),
      );
      app.post(
        path,
        {
          ...admin,
          schema: {
            tags,
            summary: `Create one of the ${plural}`,
            body: body('create'),
            response: { 201: Shown },
          },
        },
        async (request, reply) =>
          reply.code(201).send(show(await records.create(set, request.org, request.body, 'fields'))),
      );
      app.get<{ Params: AdminParams }>(
        `${path}/:id`,
        { ...admin, schema: { ...one(`One of the ${plural}, by id or name`), response: { 200: Shown } } },
        async (request) => show(await named(request)),
      );
      app.patch<{ Params: AdminParams }>(
        `${path}/:id`,
        {
          ...admin,
          schema: { ...one(`Change one of the ${plural}`), body: body('update'), response: { 200: Shown } },
        },
        async (request) =>
          show(await records.update(set, request.org, (await named(request)).id, request.body, 'fields')),
      );
      app.delete<{ Params: AdminParams }>(
        `${path}/:id`,
        {
          ...admin,
          schema: {
            ...one(`Delete one of the ${plural}`),
            description: keptWhen(set),
            response: { 204: Type.Null({ description: 'Deleted' }) },
          },
        },
        async (request, reply) => {
          await records.remove(set, request.org, (await named(request)).id);
          return reply.code(204).send();
        },
      );
    }
  };
}
