import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { PRIVILEGES, type Privilege } from '../../src/auth/privileges.ts';
import { ENTITY_SETS, type EntitySet, KPI_DEFINITIONS, PROVIDERS } from '../../src/channel/entity-sets.ts';
import { DASHBOARD_DIST } from '../../src/http/dashboard.ts';
import { type Fixtures, FUZZ_ORG, makeFixtures } from '../fuzz/targets.ts';
import { ODATA } from '../helpers/channel.ts';
import { registeredRoutes } from '../helpers/routes.ts';
import { call, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * The authorization matrix: every route the server registers (read from Fastify's route tree, path parameters
 * filled with real ids of the victim organization `default`) against every kind of bad credential. Public
 * routes answer without one; every other route refuses each with 401/403 (or Coveo's 400 InvalidToken for an
 * untrusted search token on Coveo's routes), never 2xx and never 5xx; another organization's admin key naming
 * `default` is 403. A key holding exactly the route's privilege gets past authorization, which proves the
 * table below against the routes' own `config.privilege`. A route missing from the table fails the test.
 */

let server: TestServer;
let fixtures: Fixtures;
const VICTIM = 'default';
const RIVAL = 'rival-matrix';

/** How a route is reached: public (why), or the privilege it needs, and whether it is Coveo's (InvalidToken). */
type Access = { public: string } | { privilege: Privilege; coveo?: true } | { odata: true };

const write = { privilege: 'analytics:write', coveo: true } as const;
const coveoAdmin = { privilege: 'admin', coveo: true } as const;
const read = { privilege: 'analytics:read' } as const;
const admin = { privilege: 'admin' } as const;

/** Every route, by `METHOD path` as registered (HEAD goes with its GET). A new route needs a line here. */
const EXPECTED: Record<string, Access> = {
  'OPTIONS *': { public: 'CORS preflights carry no credential' },
  'GET /ready': { public: 'readiness probe for load balancers and orchestrators' },
  'GET /metrics': { privilege: 'metrics' },
  'GET /openapi.json': { public: 'the OpenAPI document: what the API is, no data' },
  'GET /sdk/:file': {
    public: 'the SDK’s browser bundles, for script tags on any site: the same code for everyone, no data',
  },
  'GET /': {
    public: 'the dashboard’s page: no data; it asks the API with the credential its reader signs in with',
  },
  'GET /assets/:file': { public: 'the dashboard’s built files: the same code for everyone, no data' },
  ...Object.fromEntries(
    [
      '/docs',
      '/docs/',
      '/docs/static/index.html',
      '/docs/static/swagger-initializer.js',
      '/docs/*',
      '/docs/json',
      '/docs/yaml',
    ].map((path) => [
      `GET ${path}`,
      { public: 'the API reference page and its files, built from the OpenAPI document' },
    ]),
  ),
  ...Object.fromEntries(
    ['/rest/ua/v15', '/rest/v15'].flatMap((prefix) => [
      [`GET ${prefix}/analytics/status`, { public: "Coveo's status route" }],
      [`GET ${prefix}/analytics/monitoring/health`, { public: 'health check' }],
      ...['custom', 'click', 'collect', 'search', 'searches', 'view'].map((kind) => [
        `POST ${prefix}/analytics/${kind}`,
        write,
      ]),
      [`GET ${prefix}/analytics/visit`, write],
      [`DELETE ${prefix}/analytics/visit`, write],
      [`GET ${prefix}/dimensions/custom`, coveoAdmin],
      [`POST ${prefix}/dimensions/custom`, coveoAdmin],
      [`PUT ${prefix}/dimensions/custom`, coveoAdmin],
      [`GET ${prefix}/dimensions/custom/:dimension`, coveoAdmin],
      [`PUT ${prefix}/dimensions/custom/:dimension`, coveoAdmin],
      [`DELETE ${prefix}/dimensions/custom/:dimension`, coveoAdmin],
    ]),
  ),
  'POST /api/v1/orgs': admin,
  'GET /api/v1/orgs': admin,
  // The master key only (a preValidation check past the privilege), as POST /api/v1/orgs.
  'POST /api/v1/backups': admin,
  'POST /api/v1/backups/flush': admin,
  'GET /api/v1/orgs/:org': admin,
  'PATCH /api/v1/orgs/:org': admin,
  'POST /api/v1/orgs/:org/keys': admin,
  'GET /api/v1/orgs/:org/keys': admin,
  'DELETE /api/v1/orgs/:org/keys/:id': admin,
  'POST /api/v1/orgs/:org/tokens': admin,
  'GET /api/v1/events': read,
  'POST /api/v1/events/batch': { privilege: 'analytics:write' },
  'GET /api/v1/rejections': read,
  'GET /api/v1/rejections/counts': read,
  'POST /api/v1/query': read,
  'GET /api/v1/kpis': read,
  'GET /api/v1/kpi-definitions': admin,
  'POST /api/v1/kpi-definitions': admin,
  'GET /api/v1/kpi-definitions/:id': admin,
  'PATCH /api/v1/kpi-definitions/:id': admin,
  'DELETE /api/v1/kpi-definitions/:id': admin,
  'GET /api/v1/dimensions': read,
  'POST /api/v1/dimensions': admin,
  'DELETE /api/v1/dimensions/:name': admin,
  'POST /api/v1/channel/initLogAnalytics': { privilege: 'analytics:write' },
  'POST /api/v1/channel/logAnalyticsEvent': { privilege: 'analytics:write' },
  'GET /api/v1/correlations/:correlationId': read,
  'GET /api/v1/providers': admin,
  'POST /api/v1/providers': admin,
  'GET /api/v1/providers/:id': admin,
  'PATCH /api/v1/providers/:id': admin,
  'DELETE /api/v1/providers/:id': admin,
  'POST /api/v1/alert-rules': admin,
  'GET /api/v1/alert-rules': read,
  'GET /api/v1/alert-rules/:id': read,
  'PATCH /api/v1/alert-rules/:id': admin,
  'DELETE /api/v1/alert-rules/:id': admin,
  'GET /api/v1/alerts': read,
  'GET /api/v1/alerts/:id': read,
  'POST /api/v1/forecast': read,
  'POST /api/v1/staffing': read,
  'GET /api/v1/audit': admin,
  'POST /api/v1/privacy/erasures': admin,
  'GET /api/v1/privacy/erasures': admin,
  'GET /api/v1/privacy/erasures/:id': admin,
  'POST /api/v1/privacy/exports': admin,
  'GET /api/v1/export': read,
  [`GET ${ODATA}`]: read,
  [`GET ${ODATA}/`]: read,
  [`GET ${ODATA}/$metadata`]: read,
  // One route serves every entity set; its privilege is a function of the set and the method (odata-routes.ts).
  [`GET ${ODATA}/:target`]: { odata: true },
  [`POST ${ODATA}/:target`]: { odata: true },
  [`PATCH ${ODATA}/:target`]: { odata: true },
  [`DELETE ${ODATA}/:target`]: { odata: true },
};

/** OData's rule: reads `analytics:read`; configuration sets and every DELETE `admin`; records `analytics:write`. */
function odataPrivilege(method: string, set: EntitySet): Privilege {
  if (method === 'GET' || method === 'HEAD') return 'analytics:read';
  if (method === 'DELETE' || set === PROVIDERS || set === KPI_DEFINITIONS) return 'admin';
  return 'analytics:write';
}

/** One row of the matrix: a concrete request to a route, and what it needs. */
interface Row {
  route: string;
  method: string;
  path: string;
  access: { public: string } | { privilege: Privilege; coveo: boolean };
  body?: unknown;
}

/** The credentials that must get nowhere, each answering the expected refusal for a route. */
interface BadCredential {
  name: string;
  headers: () => Record<string, string>;
  /** The statuses allowed for a route that needs `privilege` (Coveo's routes answer InvalidToken as 400). */
  refusal: (coveo: boolean) => number[];
  /** Add `?org=default` (the victim) to the request. */
  namesVictim?: boolean;
  /** Only where the route needs a privilege other than these. */
  unless?: Privilege[];
}

const keys: Record<string, string> = {};
let rowsBuilt: Row[] = [];

serverForSuite(async (started) => {
  server = started;
  fixtures = await makeFixtures(server);
  const master = server.masterKey;
  const post = async (path: string, body: unknown) => {
    const answer = await call(`${server.url}${path}`, { token: master, body });
    assert.ok(answer.status < 300, `${path}: ${answer.status} ${shown(answer.body)}`);
    return answer.body;
  };
  const keyWith = async (privileges: Privilege[], org = VICTIM) =>
    (await post(`/api/v1/orgs/${org}/keys`, { name: `matrix ${privileges.join(' ')}`, privileges })) as {
      key: string;
      id: string;
    };
  await post('/api/v1/orgs', { id: RIVAL });
  const grantable = PRIVILEGES.filter((p) => p !== 'metrics');
  keys.rivalAdmin = (await keyWith([...grantable], RIVAL)).key;
  const revoked = await keyWith([...grantable]);
  const revocation = await call(`${server.url}/api/v1/orgs/${VICTIM}/keys/${revoked.id}`, {
    method: 'DELETE',
    token: master,
  });
  assert.equal(revocation.status, 200, JSON.stringify(revocation.body));
  keys.revoked = revoked.key;
  for (const privilege of PRIVILEGES) {
    keys[`only ${privilege}`] = (await keyWith([privilege])).key;
    const others = grantable.filter((p) => p !== privilege);
    keys[`all but ${privilege}`] = (await keyWith(others)).key;
  }
  keys.searchToken = (
    (await post(`/api/v1/orgs/${VICTIM}/tokens`, { userId: 'matrix@example.com' })) as { token: string }
  ).token;
  // Signed with the organization's own secret, expired a minute ago: only its expiry is wrong.
  const organization = await server.services.organizations.get(VICTIM);
  assert.ok(organization);
  const now = Math.floor(Date.now() / 1000);
  keys.expiredToken = await new SignJWT({
    organization: VICTIM,
    userIds: [{ name: 'matrix@example.com', provider: 'Email Security Provider', type: 'User' }],
    v8: true,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now - 120)
    .setExpirationTime(now - 60)
    .sign(Buffer.from(organization.tokenSecret));
  rowsBuilt = await buildRows();
});

/** A victim record of each kind, for the path parameters: a refused request must not reach real data. */
async function buildRows(): Promise<Row[]> {
  const bodyFor = (method: string, path: string) =>
    fixtures.targets.find((t) => t.method === method && t.path.split('?')[0] === path.split('?')[0])
      ?.seeds[0];
  const pathOf = (pattern: string) => fixtures.targets.find((t) => t.route.endsWith(pattern))?.path ?? '';
  const idIn = (pattern: string) => pathOf(pattern).split('/').at(-1) ?? '';
  const keyId = (
    (
      await call<{ keys: { id: string }[] }>(`${server.url}/api/v1/orgs/${VICTIM}/keys`, {
        token: server.masterKey,
      })
    ).body.keys[0] as { id: string }
  ).id;
  const params: Record<string, string> = {
    ':org': VICTIM,
    ':id@/api/v1/orgs/:org/keys/:id': keyId,
    ':id@/api/v1/kpi-definitions/:id': idIn('/api/v1/kpi-definitions/:id'),
    ':id@/api/v1/providers/:id': idIn('/api/v1/providers/:id'),
    ':id@/api/v1/alert-rules/:id': idIn('/api/v1/alert-rules/:id'),
    ':id@/api/v1/alerts/:id': randomUUID(),
    ':name': 'wait_seconds',
    ':correlationId': 'fz-correlation',
    ':dimension': idIn('/dimensions/custom/:dimension'),
    ':file': 'openua.js',
    // One file of the dashboard's build stands for the rest (their names are content hashes).
    ':file@/assets/:file': readdirSync(join(DASHBOARD_DIST, 'assets'))[0] ?? 'missing',
  };
  const fill = (path: string) =>
    path
      .replace(/:[A-Za-z]+/g, (param) => params[`${param}@${path}`] ?? params[param] ?? param)
      // The reference page's files: one of them stands for the rest.
      .replace(/^\/docs\/\*$/, '/docs/static/swagger-ui.css');

  const rows: Row[] = [];
  for (const route of registeredRoutes(server.app)) {
    const key = `${route.method === 'HEAD' ? 'GET' : route.method} ${route.path}`;
    const access = EXPECTED[key];
    if (!access) continue; // reported by the coverage test
    const name = `${route.method} ${route.path}`;
    if ('odata' in access) {
      for (const set of ENTITY_SETS) {
        // A collection for GET and POST; one real record (the fuzz fixture's) for PATCH and DELETE.
        const one = fixtures.targets.find(
          (t) => t.method === 'PATCH' && t.path.startsWith(`${ODATA}/${set.set}(`),
        );
        const path = ['GET', 'HEAD', 'POST'].includes(route.method)
          ? `${ODATA}/${set.set}`
          : (one?.path ?? '');
        rows.push({
          route: `${name} (${set.set})`,
          method: route.method,
          path,
          access: { privilege: odataPrivilege(route.method, set), coveo: false },
          body: bodyFor(route.method, path),
        });
      }
      continue;
    }
    const path = route.path === '*' ? '/api/v1/events' : fill(route.path);
    const body = ['POST', 'PATCH', 'PUT'].includes(route.method)
      ? (bodyFor(route.method, path) ?? {})
      : undefined;
    rows.push({
      route: name,
      method: route.method,
      path,
      access: 'public' in access ? access : { privilege: access.privilege, coveo: access.coveo === true },
      ...(body !== undefined && { body }),
    });
  }
  return rows;
}

const shown = (body: unknown) => String(JSON.stringify(body) ?? '(no body)').slice(0, 300);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const unauthorized = () => [401];
const untrusted = (coveo: boolean) => (coveo ? [400] : [401]);

const BAD_CREDENTIALS: BadCredential[] = [
  { name: 'no credential', headers: () => ({}), refusal: unauthorized },
  { name: 'malformed API key', headers: () => bearer('oua_not-a-key'), refusal: unauthorized },
  {
    name: 'another scheme',
    headers: () => ({ authorization: 'Basic dXNlcjpwYXNzd29yZA==' }),
    refusal: unauthorized,
  },
  {
    name: 'malformed search token',
    headers: () => bearer('eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln'),
    refusal: untrusted,
  },
  { name: 'revoked API key', headers: () => bearer(keys.revoked as string), refusal: unauthorized },
  { name: 'expired search token', headers: () => bearer(keys.expiredToken as string), refusal: untrusted },
  {
    name: "another organization's admin key",
    headers: () => bearer(keys.rivalAdmin as string),
    refusal: () => [403],
    namesVictim: true,
  },
  {
    name: "a key without the route's privilege",
    headers: () => ({}), // per row: see credentialFor
    refusal: () => [403],
  },
  {
    name: 'a valid search token',
    headers: () => bearer(keys.searchToken as string),
    refusal: () => [403],
    unless: ['analytics:write'],
  },
];

function requestFor(row: Row, headers: Record<string, string>, namesVictim: boolean) {
  const separator = row.path.includes('?') ? '&' : '?';
  const path = namesVictim ? `${row.path}${separator}org=${VICTIM}` : row.path;
  const extra: Record<string, string> =
    row.method === 'OPTIONS'
      ? { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' }
      : {};
  return call(`${server.url}${path}`, {
    method: row.method,
    headers: { ...headers, ...extra },
    ...(row.body !== undefined && { body: row.body }),
  });
}

describe('the authorization matrix', () => {
  it('has an expectation for every registered route, and none for a route that is gone', () => {
    const registered = new Set(
      registeredRoutes(server.app).map((r) => `${r.method === 'HEAD' ? 'GET' : r.method} ${r.path}`),
    );
    const missing = [...registered].filter((r) => !(r in EXPECTED));
    const stale = Object.keys(EXPECTED).filter((r) => !registered.has(r));
    assert.deepEqual(
      missing,
      [],
      'routes without an expectation: add them to EXPECTED, public or with their privilege',
    );
    assert.deepEqual(stale, [], 'expectations for routes the server no longer has');
  });

  it('public routes answer without a credential, whatever credential is sent', async (t) => {
    const failures: string[] = [];
    const rows = rowsBuilt.filter((r) => 'public' in r.access);
    for (const row of rows) {
      for (const bad of BAD_CREDENTIALS.slice(0, 7)) {
        const answer = await requestFor(row, bad.headers(), false);
        if (answer.status < 200 || answer.status >= 300) {
          failures.push(`${row.route} with ${bad.name}: ${answer.status} ${shown(answer.body)}`);
        }
      }
    }
    t.diagnostic(`${rows.length} public routes × 7 credentials`);
    assert.deepEqual(failures, []);
  });

  it('every other route refuses every bad credential with 401/403 (400 InvalidToken on Coveo’s), never 2xx or 5xx', async (t) => {
    const failures: string[] = [];
    const rows = rowsBuilt.filter((r) => 'privilege' in r.access);
    let cells = 0;
    for (const row of rows) {
      const { privilege, coveo } = row.access as { privilege: Privilege; coveo: boolean };
      for (const bad of BAD_CREDENTIALS) {
        if (bad.unless?.includes(privilege)) continue;
        const headers =
          bad.name === "a key without the route's privilege"
            ? privilege === 'metrics'
              ? bearer(keys[`all but metrics`] as string)
              : bearer(keys[`all but ${privilege}`] as string)
            : bad.headers();
        const answer = await requestFor(row, headers, bad.namesVictim === true);
        cells++;
        const expected = bad.refusal(coveo);
        const body = answer.body as { code?: string; type?: string } | undefined;
        const ok =
          expected.includes(answer.status) &&
          // Coveo's InvalidToken, said in the body (a HEAD answer has none).
          (answer.status !== 400 ||
            row.method === 'HEAD' ||
            (body?.code === 'INVALID_TOKEN' && body.type === 'InvalidToken'));
        if (!ok) {
          failures.push(
            `${row.route} ${row.path} with ${bad.name}: ${answer.status} (expected ${expected.join(' or ')}) ${shown(answer.body)}`,
          );
        }
      }
    }
    t.diagnostic(
      `matrix: ${rows.length} protected route rows (every registered method and path, OData per entity set) × up to ${BAD_CREDENTIALS.length} bad credentials = ${cells} requests`,
    );
    assert.deepEqual(failures, [], `${failures.length} of ${cells} cells wrong`);
  });

  it("a key holding exactly the route's privilege gets past authorization (the table matches the routes)", async (t) => {
    const failures: string[] = [];
    const rows = rowsBuilt.filter((r) => 'privilege' in r.access);
    // Last of all, and deleting nothing real: DELETE rows address a record that does not exist.
    for (const row of rows) {
      const { privilege } = row.access as { privilege: Privilege };
      const path =
        row.method !== 'DELETE'
          ? row.path
          : row.path.endsWith(')')
            ? row.path.replace(/\([^)]*\)$/, `(${randomUUID()})`)
            : /\/:[A-Za-z]+$/.test(row.route.split(' ')[1] ?? '')
              ? row.path.replace(/\/[^/]+$/, `/nothing-${randomUUID().slice(0, 8)}`)
              : row.path;
      const answer = await requestFor({ ...row, path }, bearer(keys[`only ${privilege}`] as string), false);
      const body = answer.body as { code?: string; violations?: { rule?: string }[] } | undefined;
      const refusedForPrivilege =
        answer.status === 401 ||
        (answer.status === 403 && body?.violations?.some((v) => v.rule === 'privilege'));
      if (refusedForPrivilege || answer.status >= 500) {
        failures.push(`${row.route} ${path} with only ${privilege}: ${answer.status} ${shown(answer.body)}`);
      }
    }
    t.diagnostic(`${rows.length} routes, each with a key holding only its privilege`);
    assert.deepEqual(failures, []);
  });

  it('the rival organization exists and its admin key works on its own data', async () => {
    const own = await call(`${server.url}/api/v1/orgs/${RIVAL}`, { token: keys.rivalAdmin });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const fuzzOrg = await call(`${server.url}/api/v1/orgs/${FUZZ_ORG}`, { token: keys.rivalAdmin });
    assert.equal(fuzzOrg.status, 403, 'nor any third organization');
  });
});
