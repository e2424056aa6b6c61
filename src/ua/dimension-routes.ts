import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound } from '../core/errors.ts';
import { checkedByHandler } from '../core/validation.ts';
import type { Dimensions } from '../query/dimensions.ts';
import {
  CoveoDimensionSchema,
  CustomDimensionBody,
  coveoDeclaration,
  coveoDimension,
  DimensionParams,
  DimensionQuery,
  keyOfApiName,
  registrySpec,
  withEventList,
} from './custom-dimensions.ts';

/** Both prefixes the official client can build (reference §5b), as for the analytics routes. */
export const DIMENSION_PREFIXES = ['/rest/ua/v15/dimensions/custom', '/rest/v15/dimensions/custom'] as const;

// Coveo's API: an untrusted search token is Coveo's 400 InvalidToken here too, as on the Write API.
const ADMIN = { config: { privilege: 'admin' as const, coveoInvalidToken: true } };

type Params = Static<typeof DimensionParams>;

const TAGS = ['Dimensions'];
const DECLARED = { ...CoveoDimensionSchema, description: 'Declared' };

/**
 * The routes whose query string Fastify checks: `event` is made a list first, as a repeated parameter
 * arrives, so that one value is named `event[0]` as in a list of several.
 */
const CHECKED_QUERY = {
  ...ADMIN,
  preValidation: async (request: FastifyRequest) => {
    request.query = withEventList(request.query);
  },
};

/**
 * Declaring routes check the query string and the body together, so that a refusal names every violation of
 * both, and then the rules between them (`name`, the path, `path[0]`).
 */
const declaring = (summary: string, answers: Record<number, TSchema>, params?: TSchema) => ({
  ...ADMIN,
  schema: {
    tags: TAGS,
    summary,
    querystring: checkedByHandler(DimensionQuery),
    body: checkedByHandler(CustomDimensionBody),
    ...(params && { params: checkedByHandler(params) }),
    response: answers,
  },
});

/**
 * Coveo's custom dimension API over OpenUA's dimension registry (src/ua/custom-dimensions.ts says how the two
 * models map). `updatePastEvents` is accepted and changes nothing: a dimension is read at query time, so
 * events logged before it are always read through it.
 */
export function dimensionRoutes(dimensions: Dimensions) {
  return async (app: FastifyInstance) => {
    /** Declares through the registry; `replace` is PUT's create-or-edit. */
    const declare = async (request: FastifyRequest, fromPath: string | undefined, replace: boolean) => {
      const declaration = coveoDeclaration(request.query, request.body, fromPath);
      const existing = replace ? await dimensions.get(request.org, declaration.key) : undefined;
      const spec = registrySpec(declaration, existing);
      return dimensions.save(request.org, spec, replace ? 'replace' : 'create');
    };

    const find = async (request: FastifyRequest<{ Params: Params }>) => {
      const apiName = request.params.dimension;
      const found = await dimensions.get(request.org, keyOfApiName(apiName));
      if (!found) throw notFound(`No custom dimension ${JSON.stringify(apiName)}`);
      return found;
    };

    for (const base of DIMENSION_PREFIXES) {
      app.get(
        base,
        {
          ...CHECKED_QUERY,
          schema: {
            tags: TAGS,
            summary: 'List the custom dimensions',
            querystring: DimensionQuery,
            response: {
              200: Type.Array(CoveoDimensionSchema, {
                description: 'Every customData dimension, whichever API declared it',
              }),
            },
          },
        },
        async (request) => (await dimensions.list(request.org)).map(coveoDimension),
      );

      app.get<{ Params: Params }>(
        `${base}/:dimension`,
        {
          ...CHECKED_QUERY,
          schema: {
            tags: TAGS,
            summary: 'One custom dimension',
            querystring: DimensionQuery,
            params: checkedByHandler(DimensionParams),
            response: { 200: CoveoDimensionSchema },
          },
        },
        async (request) => coveoDimension(await find(request)),
      );

      app.post(base, declaring('Declare a custom dimension', { 201: DECLARED }), async (request, reply) => {
        const { dimension } = await declare(request, undefined, false);
        return reply.code(201).send(coveoDimension(dimension));
      });

      const edited = { 200: { ...CoveoDimensionSchema, description: 'Edited' }, 201: DECLARED };
      app.put(
        base,
        declaring('Declare or edit the custom dimension `?name=` names', edited),
        async (request, reply) => {
          const { dimension, created } = await declare(request, undefined, true);
          return reply.code(created ? 201 : 200).send(coveoDimension(dimension));
        },
      );
      app.put<{ Params: Params }>(
        `${base}/:dimension`,
        declaring('Declare or edit a custom dimension', edited, DimensionParams),
        async (request, reply) => {
          const fromPath = keyOfApiName(request.params.dimension);
          const { dimension, created } = await declare(request, fromPath, true);
          return reply.code(created ? 201 : 200).send(coveoDimension(dimension));
        },
      );

      app.delete<{ Params: Params }>(
        `${base}/:dimension`,
        {
          ...CHECKED_QUERY,
          schema: {
            tags: TAGS,
            summary: 'Remove a custom dimension',
            querystring: DimensionQuery,
            params: checkedByHandler(DimensionParams),
            response: { 204: Type.Null({ description: 'Removed' }) },
          },
        },
        async (request, reply) => {
          const found = await find(request);
          await dimensions.remove(request.org, found.name);
          return reply.code(204).send();
        },
      );
    }
  };
}
