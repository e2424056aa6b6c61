import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ODATA } from '../helpers/channel.ts';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  createKey,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';
import { UA_PREFIXES } from '../helpers/ua.ts';

/**
 * CORS: the event routes (the UA Write API, the Channel JS API) answer pages on any origin, as beacons and
 * tracking scripts need; every other route answers only the origins its organization lists in `allowedOrigins`.
 * `null` (sandboxed frames, `file:` pages) is never an allowed origin.
 */

const DASH = 'https://dash.example.com';
const RIVAL_DASH = 'https://rival-dash.example.com';
const EVIL = 'https://evil.example';

let server: TestServer;
let readKey: string;
let rivalReadKey: string;
serverForSuite(async (started) => {
  server = started;
  readKey = await createKey(server, ['analytics:read']);
  const rival = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'rival' } });
  assert.equal(rival.status, 201);
  rivalReadKey = await createKey(server, ['analytics:read'], 'rival');
});

const allowOrigin = (answer: Answer<unknown>) => answer.headers.get('access-control-allow-origin');

function preflight(path: string, origin: string, method = 'GET') {
  return call(`${server.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization,content-type',
    },
  });
}

const setOrigins = (org: string, allowedOrigins: unknown) =>
  call(`${server.url}/api/v1/orgs/${org}`, {
    method: 'PATCH',
    token: server.masterKey,
    body: { allowedOrigins },
  });

describe('the event routes answer any origin but null', () => {
  const eventPaths = [
    ...UA_PREFIXES.map((prefix) => `${prefix}/custom`),
    '/api/v1/channel/initLogAnalytics',
    '/api/v1/channel/logAnalyticsEvent',
  ];

  it('a preflight from any page is allowed, with credentials', async () => {
    for (const path of eventPaths) {
      const answer = await preflight(path, EVIL, 'POST');
      assert.equal(answer.status, 204, path);
      assert.equal(allowOrigin(answer), EVIL, path);
      assert.equal(answer.headers.get('access-control-allow-credentials'), 'true', path);
    }
  });

  it('origin null is never reflected, on a preflight or an event', async () => {
    for (const path of eventPaths) {
      assert.equal(allowOrigin(await preflight(path, 'null', 'POST')), null, path);
    }
    const event = await call(`${server.url}${CUSTOM_PATH}`, {
      token: server.masterKey,
      body: validCustomEvent(),
      headers: { origin: 'null' },
    });
    assert.equal(event.status, 200, 'the event is still taken; its answer is not for the page to read');
    assert.equal(allowOrigin(event), null);
    assert.equal(event.headers.get('access-control-allow-credentials'), null);
  });
});

describe('allowedOrigins, an organization setting', () => {
  it('is [] until set; PATCH sets a list of exact origins, null clears it', async () => {
    const read = await call(`${server.url}/api/v1/orgs/default`, { token: server.masterKey });
    assert.deepEqual(read.body.allowedOrigins, []);
    const set = await setOrigins('default', [DASH, 'http://localhost:5173']);
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.allowedOrigins, [DASH, 'http://localhost:5173']);
    const cleared = await setOrigins('default', null);
    assert.deepEqual(cleared.body.allowedOrigins, []);
  });

  it('refuses what a browser never sends as an Origin, naming each entry and saying how to write it', async () => {
    const wrong = [
      'null',
      '*',
      'https://*.example.com',
      `${DASH}/`,
      'https://Dash.Example.com',
      'https://dash.example.com:443',
      'ftp://files.example.com',
      'dash.example.com',
      42,
    ];
    const violations = violationsOf(await setOrigins('default', wrong));
    assert.deepEqual(
      violations.map((v) => v.field),
      wrong.map((_, i) => `allowedOrigins.${i}`),
    );
    assert.match(violations[3]?.message ?? '', /https:\/\/dash\.example\.com$/);
    assert.match(violations[4]?.message ?? '', /https:\/\/dash\.example\.com$/);
    assert.deepEqual(
      violationsOf(await setOrigins('default', DASH)).map((v) => [v.field, v.rule]),
      [['allowedOrigins', 'type']],
    );
    assert.deepEqual(
      violationsOf(
        await setOrigins(
          'default',
          Array.from({ length: 101 }, (_, i) => `https://a${i}.example`),
        ),
      ).map((v) => [v.field, v.rule]),
      [['allowedOrigins', 'maxItems']],
    );
  });
});

describe('every other route answers only the origins its organization allows', () => {
  before(async () => {
    assert.equal((await setOrigins('default', [DASH])).status, 200);
    assert.equal((await setOrigins('rival', [RIVAL_DASH])).status, 200);
  });

  const routes = [
    '/api/v1/events?limit=1',
    '/api/v1/orgs/default',
    `${ODATA}/msdyn_conversationsdata`,
    '/rest/ua/v15/dimensions/custom',
  ];

  it("an answer to the organization's own origin carries it; to another origin, nothing", async () => {
    for (const path of routes) {
      const allowed = await call(`${server.url}${path}`, {
        token: server.masterKey,
        headers: { origin: DASH },
      });
      assert.equal(allowed.status, 200, `${path}: ${JSON.stringify(allowed.body)}`);
      assert.equal(allowOrigin(allowed), DASH, path);
      assert.match(allowed.headers.get('vary') ?? '', /Origin/i, path);
      assert.equal(allowed.headers.get('access-control-allow-credentials'), null, 'bearer credentials only');
      for (const origin of [EVIL, RIVAL_DASH, 'null']) {
        const refused = await call(`${server.url}${path}`, { token: server.masterKey, headers: { origin } });
        assert.equal(refused.status, 200, path);
        assert.equal(allowOrigin(refused), null, `${path} from ${origin}`);
      }
    }
  });

  it("the credential's organization decides: rival's key from rival's origin, not from default's", async () => {
    const own = await call(`${server.url}/api/v1/events?limit=1`, {
      token: rivalReadKey,
      headers: { origin: RIVAL_DASH },
    });
    assert.equal(allowOrigin(own), RIVAL_DASH);
    const other = await call(`${server.url}/api/v1/events?limit=1`, {
      token: rivalReadKey,
      headers: { origin: DASH },
    });
    assert.equal(allowOrigin(other), null);
    const master = await call(`${server.url}/api/v1/events?limit=1&org=rival`, {
      token: server.masterKey,
      headers: { origin: RIVAL_DASH },
    });
    assert.equal(allowOrigin(master), RIVAL_DASH);
  });

  it('a preflight (no credential): an origin some organization allows, or the one ?org= names', async () => {
    for (const path of routes) {
      const allowed = await preflight(path, DASH);
      assert.equal(allowed.status, 204, path);
      assert.equal(allowOrigin(allowed), DASH, path);
      assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
      assert.equal(allowed.headers.get('access-control-allow-credentials'), null);
      assert.equal(allowOrigin(await preflight(path, EVIL)), null, path);
      assert.equal(allowOrigin(await preflight(path, 'null')), null, path);
    }
    assert.equal(allowOrigin(await preflight('/api/v1/events?org=rival', RIVAL_DASH)), RIVAL_DASH);
    assert.equal(allowOrigin(await preflight('/api/v1/events?org=rival', DASH)), null);
    assert.equal(allowOrigin(await preflight('/api/v1/events?org=no-such-org', DASH)), null);
  });

  it('an error an allowed page caused (a wrong key) is readable by it, so it can say why', async () => {
    const answer = await call(`${server.url}/api/v1/events`, {
      token: `oua_${'0'.repeat(16)}_${'A'.repeat(43)}`,
      headers: { origin: DASH },
    });
    errorOf(answer, 401, 'UNAUTHENTICATED');
    assert.equal(allowOrigin(answer), DASH);
    const fromEvil = await call(`${server.url}/api/v1/events`, { headers: { origin: EVIL } });
    assert.equal(allowOrigin(fromEvil), null);
  });

  it('an origin removed from the list is refused at once', async () => {
    await setOrigins('default', []);
    const answer = await call(`${server.url}/api/v1/events?limit=1`, {
      token: readKey,
      headers: { origin: DASH },
    });
    assert.equal(allowOrigin(answer), null);
    assert.equal(allowOrigin(await preflight('/api/v1/events', DASH)), null);
    await setOrigins('default', [DASH]);
  });
});
