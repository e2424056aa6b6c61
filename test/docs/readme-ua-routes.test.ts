import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { UA_ROUTES, UA_ROUTES_IN_TEXT, type UaRoute } from '../../scripts/readme-tables/ua-answers.ts';
import { UA_PREFIXES } from '../../src/ua/routes.ts';
import { registeredRoutes, routeName } from '../helpers/routes.ts';
import { call, serverForSuite, type TestServer, validCustomEvent } from '../helpers/server.ts';
import { validClickEvent, validSearchEvent, validViewEvent } from '../helpers/ua.ts';

/**
 * The routes table of docs/api/ua-write.md (rendered from UA_ROUTES by scripts/readme-tables) against a real server: the
 * routes registered under the UA prefixes are the table's and the ones the text beside it describes, and each
 * answers with the keys the table names.
 */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

/** `METHOD path` of every route the app serves (HEAD, added for GET, left out). */
const registered = (app: FastifyInstance): string[] =>
  registeredRoutes(app)
    .filter((route) => route.method !== 'HEAD')
    .map(routeName);

const name = (route: Pick<UaRoute, 'method' | 'path'>) => `${route.method} …/${route.path}`;

describe('the UA Write API routes of docs/api/ua-write.md', () => {
  it('are the routes served under each prefix', () => {
    const routes = registered(server.app);
    const documented = [...UA_ROUTES, ...UA_ROUTES_IN_TEXT].map(name).sort();
    for (const prefix of UA_PREFIXES) {
      const served = routes
        .filter((route) => route.split(' ')[1]?.startsWith(`${prefix}/`))
        .map((route) => route.replace(`${prefix}/`, '…/'))
        .sort();
      assert.deepEqual(served, documented, `under ${prefix}`);
    }
  });

  const visitor = randomUUID();
  /** A request each route answers with 200, in the table's order (the visit is read before it is ended). */
  const REQUESTS: Record<string, { query?: string; body?: unknown }> = {
    'POST …/custom': { body: validCustomEvent() },
    'POST …/search': { body: validSearchEvent() },
    'POST …/searches': { body: [validSearchEvent(), validSearchEvent()] },
    'POST …/click': { body: validClickEvent() },
    'POST …/view': { body: validViewEvent() },
    'POST …/collect': { body: { t: 'pageview', dl: 'https://support.example.com/', ul: 'en', cid: visitor } },
    'GET …/visit': { query: `?clientId=${visitor}` },
    'DELETE …/visit': { query: `?clientId=${visitor}` },
  };
  const keysOf = (value: unknown) => Object.keys(value as object).sort();

  for (const prefix of UA_PREFIXES) {
    for (const route of UA_ROUTES) {
      it(`${prefix}: ${name(route)} answers with the keys the table names`, async () => {
        const request = REQUESTS[name(route)];
        assert.ok(request, `no request to try ${name(route)} with`);
        const answer = await call(`${server.url}${prefix}/${route.path}${request.query ?? ''}`, {
          method: route.method,
          token: server.masterKey,
          body: request.body,
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(keysOf(answer.body), [...route.keys].sort());
        if (route.list) {
          const of = UA_ROUTES.find((r) => r.method === 'POST' && r.path === route.list?.of);
          assert.ok(of, `the table has no route ${route.list.of}`);
          const items = answer.body[route.list.key] as unknown[];
          assert.equal(items.length, (request.body as unknown[]).length);
          for (const item of items) assert.deepEqual(keysOf(item), [...of.keys].sort());
        }
      });
    }
  }
});
