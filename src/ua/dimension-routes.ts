import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound } from '../core/errors.ts';
import type { Dimensions } from '../query/dimensions.ts';
import {
  checkDimensionQuery,
  coveoDeclaration,
  coveoDimension,
  keyOfApiName,
  registrySpec,
} from './custom-dimensions.ts';

/** Both prefixes the official client can build (reference §5b), as for the analytics routes. */
export const DIMENSION_PREFIXES = ['/rest/ua/v15/dimensions/custom', '/rest/v15/dimensions/custom'] as const;

// Coveo's API: an untrusted search token is Coveo's 400 InvalidToken here too, as on the Write API.
const ADMIN = { config: { privilege: 'admin' as const, coveoInvalidToken: true } };

const apiNameOf = (request: FastifyRequest) => (request.params as { dimension: string }).dimension;

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

    const find = async (request: FastifyRequest) => {
      checkDimensionQuery(request.query);
      const apiName = apiNameOf(request);
      const found = await dimensions.get(request.org, keyOfApiName(apiName));
      if (!found) throw notFound(`No custom dimension ${JSON.stringify(apiName)}`);
      return found;
    };

    for (const base of DIMENSION_PREFIXES) {
      app.get(base, ADMIN, async (request) => {
        checkDimensionQuery(request.query);
        return (await dimensions.list(request.org)).map(coveoDimension);
      });

      app.get(`${base}/:dimension`, ADMIN, async (request) => coveoDimension(await find(request)));

      app.post(base, ADMIN, async (request, reply) => {
        const { dimension } = await declare(request, undefined, false);
        return reply.code(201).send(coveoDimension(dimension));
      });

      for (const path of [base, `${base}/:dimension`]) {
        app.put(path, ADMIN, async (request, reply) => {
          const fromPath = path === base ? undefined : keyOfApiName(apiNameOf(request));
          const { dimension, created } = await declare(request, fromPath, true);
          return reply.code(created ? 201 : 200).send(coveoDimension(dimension));
        });
      }

      app.delete(`${base}/:dimension`, ADMIN, async (request, reply) => {
        const found = await find(request);
        await dimensions.remove(request.org, found.name);
        return reply.code(204).send();
      });
    }
  };
}
