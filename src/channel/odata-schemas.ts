import { type TObject, Type } from '@sinclair/typebox';
import type { ErrorBody, ErrorBodySchema } from '../core/errors.ts';
import { ENTITY_SETS, type EntitySet } from './entity-sets.ts';
import { type BodyMode, recordBodySchema, recordSchema } from './record-body.ts';

/**
 * The OData API as the OpenAPI document shows it. One route serves every entity set, so its body and answers are
 * the union of the sets' own. Each set's schemas carry an `$id`, which the document lists once, by name:
 * `msdyn_conversationdata` (the entity), `msdyn_conversationsdata` (a page of the set),
 * `msdyn_conversationdata.create` and `.update` (the bodies). They are not added to Fastify (a plugin that adds
 * schemas gets Fastify's own compilers, not OpenUA's), and nothing compiles them: bodies are checked by their
 * handlers, and answers are not filtered.
 */

/** A part of the Error schema (core/errors.ts, which the OpenAPI document lists), by its JSON pointer. */
const errorPart = (property: keyof typeof ErrorBodySchema.properties) =>
  Type.Unsafe({ $ref: `Error#/properties/${property}` });

/** OData's error body, carrying OpenUA's code and violations (field, rule, limit, value received) along. */
const ODataErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: errorPart('code'),
      message: errorPart('message'),
      violations: Type.Optional(errorPart('violations')),
    }),
  },
  {
    title: 'ODataError',
    description: 'Every error answer under /api/data: OData’s shape, with the code and violations of Error',
  },
);

export interface ODataErrorBody {
  error: Pick<ErrorBody, 'code' | 'message' | 'violations'>;
}

const ERRORS = {
  400: 'Refused: `error.violations` names each field, rule and value received',
  401: 'No credential, or one that is not valid',
  403:
    "The credential lacks the route's privilege, or names another organization; or the provider does not " +
    'take analytics (ANALYTICS_DISABLED)',
  404: 'No such entity set, or no such record in this organization',
  409: 'The record exists already, its provider name is taken, or others still name it',
  413: 'The body is larger than the limit',
  415: 'A media type the route does not read',
  429: "Over the organization's rate limit (Retry-After and RateLimit-* say when it lifts)",
  503: 'The ingest queue is full (Retry-After): the KPI event was not kept',
  default: 'Any other error',
} as const;

/** The error answers of an OData route, in OData's shape (declared here, they replace OpenUA's Error shape). */
export const odataErrors = (...statuses: (keyof typeof ERRORS)[]) =>
  Object.fromEntries(
    [...statuses, 'default' as const].map((status) => [
      status,
      { description: ERRORS[status], content: { 'application/json': { schema: ODataErrorSchema } } },
    ]),
  );

const Context = Type.String({ description: 'The `$metadata` fragment the answer conforms to' });

/** One record, as a read or `Prefer: return=representation` answers it: `$id` is the entity's name. */
const entityOf = (set: EntitySet): TObject =>
  Type.Object(
    { '@odata.context': Context, ...recordSchema(set, 'odata', true).properties },
    { $id: set.entity, title: set.entity, description: `A ${set.label} record` },
  );

/** A page of a set's records: `$id` is the set's name. */
const collectionOf = (set: EntitySet, entity: TObject): TObject =>
  Type.Object(
    {
      '@odata.context': Context,
      '@odata.count': Type.Optional(
        Type.Integer({ minimum: 0, description: 'Every match, whatever the page (`$count=true`)' }),
      ),
      value: Type.Array(entity),
      '@odata.nextLink': Type.Optional(
        Type.String({ description: 'The next page, when there is one and `$top` was not given' }),
      ),
    },
    { $id: set.set, title: set.set, description: `A page of ${set.label} records` },
  );

const bodyOf = (set: EntitySet, mode: BodyMode): TObject => ({
  ...recordBodySchema(set, 'odata', mode),
  $id: `${set.entity}.${mode}`,
  title: `${set.entity}.${mode}`,
});

const ENTITIES = ENTITY_SETS.map(entityOf);

/** One record of the set the path names. */
export const EntityAnswer = Type.Union(ENTITIES, {
  'x-response-description': 'The record, in the shape of its entity set',
});

/** A record, or a page of records, of the set the path names. */
export const ReadAnswer = Type.Union(
  [...ENTITIES, ...ENTITY_SETS.map((set, i) => collectionOf(set, ENTITIES[i] as TObject))],
  { 'x-response-description': 'One record when the path names one by its key, else a page of the set' },
);

/** The body of a create or an update: a record of the set the path names. */
export const recordBodies = (mode: BodyMode) =>
  Type.Union(
    ENTITY_SETS.map((set) => bodyOf(set, mode)),
    {
      description: `The ${mode === 'create' ? 'new record' : 'changes'}, in the shape of the set the path names`,
    },
  );

/** `/:target`: an entity set, or one record of it. */
export const TargetParams = Type.Object({
  target: Type.String({
    description:
      'An entity set (`msdyn_conversationsdata`), or one record of it by its id ' +
      '(`msdyn_conversationsdata(<msdyn_conversationdataid>)`) or by its natural key ' +
      "(`msdyn_sessionsdata(msdyn_conversationid='c1',msdyn_providersessionid='s1')`)",
    examples: ['msdyn_conversationsdata', "msdyn_conversationsdata(msdyn_conversationid='c1')"],
  }),
});

/** The service document: the entity sets there are. */
export const ServiceDocument = Type.Object(
  {
    '@odata.context': Context,
    value: Type.Array(
      Type.Object({ name: Type.String(), kind: Type.Literal('EntitySet'), url: Type.String() }),
    ),
  },
  { description: 'The entity sets' },
);
