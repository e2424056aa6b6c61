import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../auth/api-keys.ts';
import { ApiKeyAnswerSchema, ApiKeyInput, NewApiKeyAnswerSchema, publicApiKey } from '../auth/api-keys.ts';
import { requireMaster } from '../auth/credential.ts';
import { type SearchTokens, SignedTokenSchema, SignInput } from '../auth/search-tokens.ts';
import { forbidden } from '../core/errors.ts';
import {
  OrganizationAnswerSchema,
  OrganizationInput,
  OrganizationSettings,
  type Organizations,
  publicOrganization,
} from '../orgs/organizations.ts';
import { type AuditLog, auditActor } from '../privacy/audit-log.ts';

const OrgParams = Type.Object({ org: Type.String({ description: "The organization's id" }) });
type OrgParams = Static<typeof OrgParams>;
const KeyParams = Type.Object({ ...OrgParams.properties, id: Type.String({ description: "The key's id" }) });
type KeyParams = Static<typeof KeyParams>;

/**
 * `/api/v1/orgs…`: organizations, their API keys and their search tokens. Each change is recorded in the audit log
 * before it is answered: a failed record fails the request (500), so no change is reported done while the log
 * lacks it; the change itself stays made, and the caller that retries sees it.
 */
export function adminRoutes(
  organizations: Organizations,
  apiKeys: ApiKeys,
  searchTokens: SearchTokens,
  audit: AuditLog,
) {
  return async (app: FastifyInstance) => {
    const admin = { config: { privilege: 'admin' as const } };
    const adminOfOrg = { config: { privilege: 'admin' as const, orgFrom: 'params' as const } };
    const tags = ['Admin'];

    app.post<{ Body: OrganizationInput }>(
      '/api/v1/orgs',
      {
        ...admin,
        // Like any privilege, before the body is checked: only the master key learns the body's rules.
        preValidation: async (request) => requireMaster(request.credential, 'create organizations'),
        schema: {
          tags,
          summary: 'Create an organization (the master key only)',
          body: OrganizationInput,
          response: { 201: OrganizationAnswerSchema },
        },
      },
      async (request, reply) => {
        const org = await organizations.create(request.body);
        await audit.record({
          org: org.id,
          actor: auditActor(request.credential),
          action: 'org.create',
          target: org.id,
          details: { name: org.name },
        });
        return reply.code(201).send(publicOrganization(org));
      },
    );

    app.get(
      '/api/v1/orgs',
      {
        ...admin,
        schema: {
          tags,
          summary: "Every organization (the master key), or the credential's own",
          response: { 200: Type.Object({ orgs: Type.Array(OrganizationAnswerSchema) }) },
        },
      },
      async (request) => {
        // The master key sees every organization; an admin key only its own.
        const all = await organizations.list();
        const visible = request.credential.kind === 'master' ? all : all.filter((o) => o.id === request.org);
        return { orgs: visible.map(publicOrganization) };
      },
    );

    app.get<{ Params: OrgParams }>(
      '/api/v1/orgs/:org',
      {
        ...adminOfOrg,
        schema: {
          tags,
          summary: 'An organization and its settings',
          params: OrgParams,
          response: { 200: OrganizationAnswerSchema },
        },
      },
      async (request) => publicOrganization(await organizations.require(request.org)),
    );

    app.patch<{ Params: OrgParams; Body: OrganizationSettings }>(
      '/api/v1/orgs/:org',
      {
        ...adminOfOrg,
        schema: {
          tags,
          summary: "Change an organization's name and settings; fields left out keep their value",
          description:
            '`kpiDefaults`, `rateLimits` and `allowedOrigins` replace what was set before; null returns each to ' +
            'its default.',
          params: OrgParams,
          body: OrganizationSettings,
          response: { 200: OrganizationAnswerSchema },
        },
      },
      async (request) => {
        const org = await organizations.update(request.org, request.body);
        // Settings, never people: the fields set and their new values.
        await audit.record({
          org: org.id,
          actor: auditActor(request.credential),
          action: 'org.update',
          target: org.id,
          details: { settings: request.body },
        });
        return publicOrganization(org);
      },
    );

    app.post<{ Params: OrgParams; Body: ApiKeyInput }>(
      '/api/v1/orgs/:org/keys',
      {
        ...adminOfOrg,
        // `metrics` reads the whole server, every organization's traffic: an admin key may not grant it. A
        // privilege, so it is checked before the body is.
        preValidation: async (request: FastifyRequest<{ Body: unknown }>) => {
          const privileges = (request.body as { privileges?: unknown } | null)?.privileges;
          if (Array.isArray(privileges) && privileges.includes('metrics')) {
            requireMaster(request.credential, 'grant the server-wide "metrics" privilege');
          }
        },
        schema: {
          tags,
          summary: 'Create an API key; the answer holds its secret, once',
          params: OrgParams,
          body: ApiKeyInput,
          response: { 201: NewApiKeyAnswerSchema },
        },
      },
      async (request, reply) => {
        const { key, apiKey } = await apiKeys.create(request.org, request.body);
        await audit.record({
          org: request.org,
          actor: auditActor(request.credential),
          action: 'key.create',
          target: apiKey.id,
          details: { name: apiKey.name, privileges: apiKey.privileges },
        });
        // The secret is answered once: no cache may keep it.
        return reply
          .code(201)
          .header('Cache-Control', 'no-store')
          .send({ ...publicApiKey(apiKey), key });
      },
    );

    app.get<{ Params: OrgParams }>(
      '/api/v1/orgs/:org/keys',
      {
        ...adminOfOrg,
        schema: {
          tags,
          summary: "The organization's API keys, revoked ones included (never their secrets)",
          params: OrgParams,
          response: { 200: Type.Object({ keys: Type.Array(ApiKeyAnswerSchema) }) },
        },
      },
      async (request) => ({ keys: (await apiKeys.list(request.org)).map(publicApiKey) }),
    );

    app.delete<{ Params: KeyParams }>(
      '/api/v1/orgs/:org/keys/:id',
      {
        ...adminOfOrg,
        schema: {
          tags,
          summary: 'Revoke an API key: it is refused from then on',
          params: KeyParams,
          response: { 200: ApiKeyAnswerSchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (request.credential.kind === 'apiKey' && request.credential.id === id) {
          throw forbidden('A key cannot revoke itself; use another admin key or the master key');
        }
        const revoked = await apiKeys.revoke(request.org, id);
        await audit.record({
          org: request.org,
          actor: auditActor(request.credential),
          action: 'key.revoke',
          target: id,
          details: { name: revoked.name },
        });
        return publicApiKey(revoked);
      },
    );

    app.post<{ Params: OrgParams; Body: SignInput }>(
      '/api/v1/orgs/:org/tokens',
      {
        ...adminOfOrg,
        schema: {
          tags,
          summary: 'Sign a search token for a user, for browsers to send events with',
          description:
            "A JWT signed with the organization's secret, carrying the claims Coveo's search tokens carry.",
          params: OrgParams,
          body: SignInput,
          response: { 201: SignedTokenSchema },
        },
      },
      async (request, reply) => {
        const signed = await searchTokens.sign(request.org, request.body);
        return reply.code(201).header('Cache-Control', 'no-store').send(signed);
      },
    );
  };
}
