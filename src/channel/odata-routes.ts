import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Privilege } from '../auth/privileges.ts';
import { installErrorHandler } from '../core/error-handler.ts';
import { invalid, notFound, type OpenUAError } from '../core/errors.ts';
import { checkedByHandler } from '../core/validation.ts';
import { ingestSettings } from '../orgs/organizations.ts';
import type { RecordPage, RecordQuery } from '../storage/storage.ts';
import {
  ENTITY_SETS,
  type EntitySet,
  entitySetNamed,
  KPI_DEFINITIONS,
  KPI_EVENTS,
  PROVIDERS,
} from './entity-sets.ts';
import type { KpiEvents } from './kpi-events.ts';
import { METADATA_XML } from './odata-metadata.ts';
import {
  MAX_PAGE,
  parseCollectionQuery,
  parseRecordQuery,
  QueryOptionsSchema,
  recordIdOf,
} from './odata-query.ts';
import {
  EntityAnswer,
  type ODataErrorBody,
  odataErrors,
  ReadAnswer,
  recordBodies,
  ServiceDocument,
  TargetParams,
} from './odata-schemas.ts';
import { showRecord } from './record-body.ts';
import type { ChannelRecords } from './records.ts';

/** The Web API base that server-side loggers expect (reference §5, §7). */
export const ODATA_BASE = '/api/data/v9.1';

/** One entity set's records, whether kept in a table or as KPI events. */
interface SetRecords {
  create(request: FastifyRequest): Promise<{ id: string }>;
  get(org: string, id: string): Promise<object>;
  list(org: string, query: RecordQuery): Promise<RecordPage<object>>;
  update(org: string, id: string, body: unknown): Promise<object>;
  remove(org: string, id: string): Promise<void>;
}

/** `msdyn_conversationsdata`, or one record of it: `msdyn_conversationsdata(<key>)`. */
function target(request: FastifyRequest): { set: EntitySet | undefined; name: string; key?: string } {
  const raw = (request.params as { target: string }).target;
  const match = /^([A-Za-z_]+)(?:\((.*)\))?$/.exec(raw);
  return { set: entitySetNamed(match?.[1] ?? raw), name: match?.[1] ?? raw, key: match?.[2] };
}

/**
 * Reads need `analytics:read`. Providers and KPI event definitions are configuration: writing them needs
 * `admin`. Analytics records are written with `analytics:write`; deleting them needs `admin`.
 */
function privilegeFor(request: FastifyRequest): Privilege {
  // HEAD is the GET route answered without its body (Fastify adds it): a read, needing what GET needs.
  if (request.method === 'GET' || request.method === 'HEAD') return 'analytics:read';
  const { set } = target(request);
  if (request.method === 'DELETE' || set === PROVIDERS || set === KPI_DEFINITIONS) return 'admin';
  return 'analytics:write';
}

/** OData's error body, carrying OpenUA's violations (field, rule, limit, value received) along. */
const odataError = (error: OpenUAError): ODataErrorBody => ({
  error: {
    code: error.code,
    message: error.message,
    ...(error.violations ? { violations: error.violations } : {}),
  },
});

/** `/api/data/v9.1/…`: create, read, query, update and delete on every Channel Analytics entity set. */
export function odataRoutes(records: ChannelRecords, kpiEvents: KpiEvents, bodyLimit: number) {
  const backends = new Map<EntitySet, SetRecords>();
  for (const set of ENTITY_SETS) {
    if (set === KPI_EVENTS) continue;
    backends.set(set, {
      create: (request) => records.create(set, request.org, request.body, 'odata'),
      get: (org, id) => records.require(set, org, id),
      list: (org, query) => records.list(set, org, query),
      update: (org, id, body) => records.update(set, org, id, body, 'odata'),
      remove: (org, id) => records.remove(set, org, id),
    });
  }
  backends.set(KPI_EVENTS, {
    create: (request) =>
      kpiEvents.create(
        {
          org: request.org,
          credential: request.credential,
          settings: ingestSettings(request.organization),
          receivedAt: new Date(),
        },
        request.body,
      ),
    get: (org, id) => kpiEvents.get(org, id),
    list: (org, query) => kpiEvents.list(org, query),
    update: (org, id, body) => kpiEvents.update(org, id, body),
    remove: (org, id) => kpiEvents.remove(org, id),
  });

  return async (app: FastifyInstance) => {
    installErrorHandler(app, bodyLimit, odataError);
    app.addHook('onSend', async (_request, reply) => {
      reply.header('OData-Version', '4.0');
    });
    const route = { config: { privilege: privilegeFor } };
    const tags = ['OData'];
    const created = Type.Null({
      description: 'Created (without `Prefer: return=representation`)',
      headers: { 'OData-EntityId': Type.String({ description: 'The URL of the new record' }) },
    });
    const done = Type.Null({ description: 'Done (without `Prefer: return=representation`)' });
    const base = (request: FastifyRequest) => `${request.protocol}://${request.host}${ODATA_BASE}`;

    /** The set and its records, or 404 naming the sets there are. */
    const resolve = (request: FastifyRequest) => {
      const found = target(request);
      if (!found.set) {
        throw notFound(
          `No entity set ${JSON.stringify(found.name)}; there are ${ENTITY_SETS.map((s) => s.set).join(', ')}`,
        );
      }
      const { set, key } = found;
      const id = key === undefined ? undefined : recordIdOf(set, request.org, key);
      return { set, id, records: backends.get(set) as SetRecords };
    };
    const needsId = (id: string | undefined, method: string, set: EntitySet) => {
      if (id !== undefined) return id;
      throw invalid([
        {
          field: 'url',
          rule: 'key',
          message: `${method} addresses one record: ${ODATA_BASE}/${set.set}(<${set.primaryId}>)`,
          received: set.set,
        },
      ]);
    };
    const entity = (request: FastifyRequest, set: EntitySet, record: object, select?: string[]) => ({
      '@odata.context': `${base(request)}/$metadata#${set.set}${select ? `(${select.join(',')})` : ''}/$entity`,
      ...showRecord(set, record, 'odata', select),
    });
    /** The record as the answer when the caller asks for it (`Prefer: return=representation`), else 204. */
    const represent = (
      request: FastifyRequest,
      reply: FastifyReply,
      set: EntitySet,
      record: object,
      status: 200 | 201,
    ) => {
      if (!/return=representation/i.test(String(request.headers.prefer ?? ''))) return reply.code(204).send();
      reply.header('Preference-Applied', 'return=representation');
      return reply.code(status).send(entity(request, set, record));
    };

    app.get(
      '/',
      {
        ...route,
        schema: {
          tags,
          summary: 'The service document: the entity sets',
          response: { 200: ServiceDocument, ...odataErrors(401, 403, 429) },
        },
      },
      async (request) => ({
        '@odata.context': `${base(request)}/$metadata`,
        value: ENTITY_SETS.map((s) => ({ name: s.set, kind: 'EntitySet' as const, url: s.set })),
      }),
    );

    app.get(
      '/$metadata',
      {
        ...route,
        schema: {
          tags,
          summary: 'The CSDL document of the entity sets',
          response: {
            200: {
              description: 'The entity types, their attributes and the entity sets (OData CSDL XML)',
              content: { 'application/xml': { schema: Type.String() } },
            },
            ...odataErrors(401, 403, 429),
          },
        },
      },
      async (_request, reply) => reply.type('application/xml; charset=utf-8').send(METADATA_XML),
    );

    app.get(
      '/:target',
      {
        ...route,
        schema: {
          tags,
          summary: 'Read one record by its key, or query an entity set',
          description:
            'A path naming one record takes `$select` only. A query answers pages of at most ' +
            `${MAX_PAGE} records, with \`@odata.nextLink\` when there are more, unless \`$top\` is given.`,
          params: TargetParams,
          // Read by parseCollectionQuery or parseRecordQuery, which tell the two apart and refuse other options.
          querystring: checkedByHandler(QueryOptionsSchema),
          response: { 200: ReadAnswer, ...odataErrors(400, 401, 403, 404, 429) },
        },
      },
      async (request) => {
        const { set, id, records: setRecords } = resolve(request);
        const options = request.query as Record<string, unknown>;
        if (id !== undefined) {
          const select = parseRecordQuery(options, set);
          return entity(request, set, await setRecords.get(request.org, id), select);
        }
        const { query, select, top } = parseCollectionQuery(options, set);
        const page = await setRecords.list(request.org, query);
        const more = top === undefined && page.rows.length > MAX_PAGE;
        const rows = more ? page.rows.slice(0, MAX_PAGE) : page.rows;
        const next = new URLSearchParams(options as Record<string, string>);
        next.set('$skip', String((query.offset ?? 0) + MAX_PAGE));
        return {
          '@odata.context': `${base(request)}/$metadata#${set.set}${select ? `(${select.join(',')})` : ''}`,
          ...(page.count === undefined ? {} : { '@odata.count': page.count }),
          value: rows.map((row) => showRecord(set, row, 'odata', select)),
          ...(more ? { '@odata.nextLink': `${base(request)}/${set.set}?${next}` } : {}),
        };
      },
    );

    app.post(
      '/:target',
      {
        ...route,
        schema: {
          tags,
          summary: 'Create a record in an entity set',
          description:
            'Conversations need their provider, sessions their conversation, participants their session, and KPI ' +
            'events all three; the provider must take analytics. Configuration sets (providers, KPI event ' +
            'definitions) need `admin`, the others `analytics:write`.',
          params: TargetParams,
          // Read by the set's record rules (readRecordBody), which name each violation in the set's attributes.
          body: checkedByHandler(recordBodies('create')),
          response: {
            201: EntityAnswer,
            204: created,
            ...odataErrors(400, 401, 403, 404, 409, 413, 415, 429, 503),
          },
        },
      },
      async (request, reply: FastifyReply) => {
        const { set, id, records: setRecords } = resolve(request);
        if (id !== undefined) {
          throw invalid([
            {
              field: 'url',
              rule: 'collection',
              message: `POST creates a record in ${set.set} itself`,
              received: id,
            },
          ]);
        }
        const record = await setRecords.create(request);
        reply.header('OData-EntityId', `${base(request)}/${set.set}(${record.id})`);
        return represent(request, reply, set, record, 201);
      },
    );

    app.patch(
      '/:target',
      {
        ...route,
        schema: {
          tags,
          summary: 'Change a record, addressed by its key',
          params: TargetParams,
          body: checkedByHandler(recordBodies('update')),
          response: { 200: EntityAnswer, 204: done, ...odataErrors(400, 401, 403, 404, 409, 413, 415, 429) },
        },
      },
      async (request, reply) => {
        const { set, id, records: setRecords } = resolve(request);
        const record = await setRecords.update(request.org, needsId(id, 'PATCH', set), request.body);
        return represent(request, reply, set, record, 200);
      },
    );

    app.delete(
      '/:target',
      {
        ...route,
        schema: {
          tags,
          summary: 'Delete a record, addressed by its key (needs `admin`)',
          description:
            'A record others still name (a conversation with sessions…) and a first-party one are kept.',
          params: TargetParams,
          response: {
            204: Type.Null({ description: 'Deleted' }),
            ...odataErrors(400, 401, 403, 404, 409, 429),
          },
        },
      },
      async (request, reply) => {
        const { set, id, records: setRecords } = resolve(request);
        await setRecords.remove(request.org, needsId(id, 'DELETE', set));
        return reply.code(204).send();
      },
    );
  };
}
