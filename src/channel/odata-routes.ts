import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Privilege } from '../auth/privileges.ts';
import { installErrorHandler } from '../core/error-handler.ts';
import { invalid, notFound } from '../core/errors.ts';
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
import { MAX_PAGE, parseCollectionQuery, parseRecordQuery, recordIdOf } from './odata-query.ts';
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
const odataError = (error: { code: string; message: string; violations?: unknown[] }) => ({
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
        { org: request.org, credential: request.credential, correlationId: null, receivedAt: new Date() },
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
    const representation = (request: FastifyRequest) =>
      /return=representation/i.test(String(request.headers.prefer ?? ''));

    app.get('/', route, async (request) => ({
      '@odata.context': `${base(request)}/$metadata`,
      value: ENTITY_SETS.map((s) => ({ name: s.set, kind: 'EntitySet', url: s.set })),
    }));

    app.get('/$metadata', route, async (_request, reply) =>
      reply.type('application/xml; charset=utf-8').send(METADATA_XML),
    );

    app.get('/:target', route, async (request) => {
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
    });

    app.post('/:target', route, async (request, reply: FastifyReply) => {
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
      if (representation(request)) {
        reply.header('Preference-Applied', 'return=representation');
        return reply.code(201).send(entity(request, set, record));
      }
      return reply.code(204).send();
    });

    app.patch('/:target', route, async (request, reply) => {
      const { set, id, records: setRecords } = resolve(request);
      const record = await setRecords.update(request.org, needsId(id, 'PATCH', set), request.body);
      if (representation(request)) {
        reply.header('Preference-Applied', 'return=representation');
        return reply.code(200).send(entity(request, set, record));
      }
      return reply.code(204).send();
    });

    app.delete('/:target', route, async (request, reply) => {
      const { set, id, records: setRecords } = resolve(request);
      await setRecords.remove(request.org, needsId(id, 'DELETE', set));
      return reply.code(204).send();
    });
  };
}
