import type { FastifyInstance } from 'fastify';
import type { ApiKeys } from '../auth/api-keys.ts';
import { publicApiKey } from '../auth/api-keys.ts';
import { requireMaster } from '../auth/credential.ts';
import type { SearchTokens } from '../auth/search-tokens.ts';
import { forbidden } from '../core/errors.ts';
import { type Organizations, publicOrganization } from '../orgs/organizations.ts';

/** `/api/v1/orgs…`: organizations, their API keys and their search tokens. */
export function adminRoutes(organizations: Organizations, apiKeys: ApiKeys, searchTokens: SearchTokens) {
  return async (app: FastifyInstance) => {
    const admin = { config: { privilege: 'admin' as const } };
    const adminOfOrg = { config: { privilege: 'admin' as const, orgFrom: 'params' as const } };

    app.post('/api/v1/orgs', admin, async (request, reply) => {
      requireMaster(request.credential, 'create organizations');
      const org = await organizations.create(request.body);
      return reply.code(201).send(publicOrganization(org));
    });

    app.get('/api/v1/orgs', admin, async (request) => {
      // The master key sees every organization; an admin key only its own.
      const all = await organizations.list();
      const visible = request.credential.kind === 'master' ? all : all.filter((o) => o.id === request.org);
      return { orgs: visible.map(publicOrganization) };
    });

    app.get('/api/v1/orgs/:org', adminOfOrg, async (request) =>
      publicOrganization(await organizations.require(request.org)),
    );

    app.patch('/api/v1/orgs/:org', adminOfOrg, async (request) =>
      publicOrganization(await organizations.update(request.org, request.body)),
    );

    app.post('/api/v1/orgs/:org/keys', adminOfOrg, async (request, reply) => {
      // `metrics` reads the whole server, every organization's traffic: an admin key may not grant it.
      const privileges = (request.body as { privileges?: unknown } | null)?.privileges;
      if (Array.isArray(privileges) && privileges.includes('metrics')) {
        requireMaster(request.credential, 'grant the server-wide "metrics" privilege');
      }
      const { key, apiKey } = await apiKeys.create(request.org, request.body);
      // The secret is answered once: no cache may keep it.
      return reply
        .code(201)
        .header('Cache-Control', 'no-store')
        .send({ ...publicApiKey(apiKey), key });
    });

    app.get('/api/v1/orgs/:org/keys', adminOfOrg, async (request) => ({
      keys: (await apiKeys.list(request.org)).map(publicApiKey),
    }));

    app.delete('/api/v1/orgs/:org/keys/:id', adminOfOrg, async (request) => {
      const { id } = request.params as { id: string };
      if (request.credential.kind === 'apiKey' && request.credential.id === id) {
        throw forbidden('A key cannot revoke itself; use another admin key or the master key');
      }
      return publicApiKey(await apiKeys.revoke(request.org, id));
    });

    app.post('/api/v1/orgs/:org/tokens', adminOfOrg, async (request, reply) => {
      const signed = await searchTokens.sign(request.org, request.body);
      return reply.code(201).header('Cache-Control', 'no-store').send(signed);
    });
  };
}
