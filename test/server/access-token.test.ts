import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ODATA } from '../helpers/channel.ts';
import { errorOf } from '../helpers/errors.ts';
import {
  call,
  createKey,
  newMasterKey,
  readEvents,
  removeDir,
  type ServerProcess,
  serverForSuite,
  spawnServer,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';
import { UA_PREFIXES } from '../helpers/ua.ts';

/**
 * `access_token` (query string or form body) is for beacons, which cannot set a header: only the routes beacons
 * post to take it, the UA Write API's and the batch route (where the SDK's beacon flushes its queue as a page
 * hides). Everywhere else it would put a secret in URLs, browser histories and proxy logs, so it is refused,
 * saying to use the Authorization header; and no log line ever holds its value.
 */

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const NOT_HERE = /access_token is accepted only .*UA Write API.*Authorization: Bearer/;

let server: TestServer;
let writeKey: string;
let readKey: string;
serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
  readKey = await createKey(server, ['analytics:read']);
});

describe('access_token outside the UA Write API and the batch route', () => {
  it('in the query of admin, query, dimension and Channel routes: 401 saying to use the Authorization header', async () => {
    const master = encodeURIComponent(server.masterKey);
    const refused: [string, Parameters<typeof call>[1]][] = [
      [`/api/v1/orgs?access_token=${master}`, {}],
      [`/api/v1/orgs/default/keys?access_token=${master}`, {}],
      [
        `/api/v1/orgs/default/keys?access_token=${master}`,
        { body: { name: 'from a URL', privileges: ['admin'] } },
      ],
      [`/api/v1/events?access_token=${encodeURIComponent(readKey)}`, {}],
      [`/api/v1/query?access_token=${master}`, { body: { measures: ['count'] } }],
      [`/rest/ua/v15/dimensions/custom?access_token=${master}`, {}],
      [`/api/v1/channel/initLogAnalytics?access_token=${encodeURIComponent(writeKey)}`, { body: {} }],
    ];
    for (const [path, init] of refused) {
      const body = errorOf(await call(`${server.url}${path}`, init), 401, 'UNAUTHENTICATED');
      assert.match(body.message, NOT_HERE, path);
      assert.deepEqual(
        body.violations?.map((v) => [v.field, v.rule]),
        [['access_token', 'authorizationHeader']],
        path,
      );
      assert.ok(!JSON.stringify(body).includes(server.masterKey), 'the secret is not echoed');
    }
    const keys = await call<{ keys: { name: string }[] }>(`${server.url}/api/v1/orgs/default/keys`, {
      token: server.masterKey,
    });
    assert.ok(!keys.body.keys.some((k) => k.name === 'from a URL'), 'no key was made');
  });

  it('in the query of an OData route: 401, in OData’s error shape', async () => {
    const answer = await call<{ error: { code: string; message: string } }>(
      `${server.url}${ODATA}/msdyn_conversationsdata?access_token=${encodeURIComponent(server.masterKey)}`,
    );
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
    assert.equal(answer.body.error.code, 'UNAUTHENTICATED');
    assert.match(answer.body.error.message, NOT_HERE);
  });

  it('in the query even beside an Authorization header: 401, since the URL holds it already', async () => {
    const answer = await call(
      `${server.url}/api/v1/orgs?access_token=${encodeURIComponent(server.masterKey)}`,
      {
        token: server.masterKey,
      },
    );
    assert.match(errorOf(answer, 401, 'UNAUTHENTICATED').message, NOT_HERE);
  });

  it('in a form body of an admin route: 401 the same way', async () => {
    const body = new URLSearchParams({ access_token: server.masterKey, userId: 'eve@example.com' });
    const answer = await call(`${server.url}/api/v1/orgs/default/tokens`, {
      raw: body.toString(),
      headers: FORM,
    });
    assert.match(errorOf(answer, 401, 'UNAUTHENTICATED').message, NOT_HERE);
  });
});

describe('access_token on the UA Write API (beacons)', () => {
  it('works in the query and in the form body of every event route, under both prefixes', async () => {
    for (const prefix of UA_PREFIXES) {
      const eventType = `beacon-${prefix.split('/')[2]}`;
      const inQuery = await call(
        `${server.url}${prefix}/custom?access_token=${encodeURIComponent(writeKey)}&discardVisitInfo=true`,
        {
          raw: new URLSearchParams({
            customEvent: JSON.stringify(validCustomEvent({ eventType })),
          }).toString(),
          headers: FORM,
        },
      );
      assert.equal(inQuery.status, 200, JSON.stringify(inQuery.body));
      const inBody = await call(`${server.url}${prefix}/collect`, {
        raw: new URLSearchParams({
          access_token: writeKey,
          collectEvent: JSON.stringify({
            t: 'pageview',
            dl: 'https://shop.example/',
            ul: 'en',
            cid: crypto.randomUUID(),
          }),
        }).toString(),
        headers: FORM,
      });
      assert.equal(inBody.status, 200, JSON.stringify(inBody.body));
      const visit = await call(`${server.url}${prefix}/visit?access_token=${encodeURIComponent(writeKey)}`);
      assert.equal(visit.status, 200, JSON.stringify(visit.body));
    }
    const stored = await readEvents(server, server.masterKey, '&eventType=beacon-ua');
    assert.equal(stored.length, 1);
  });
});

describe('access_token on the batch route (the SDK’s beacon)', () => {
  const batchOf = (eventType: string, eventId = crypto.randomUUID()) =>
    JSON.stringify({
      sentAt: new Date().toISOString(),
      events: [{ kind: 'custom', eventId, ...validCustomEvent({ eventType }) }],
    });

  it('works in the query with a text/plain JSON body, as navigator.sendBeacon sends it', async () => {
    const eventId = crypto.randomUUID();
    const beacon = await call<{ results: { status: string }[] }>(
      `${server.url}/api/v1/events/batch?access_token=${encodeURIComponent(writeKey)}`,
      { raw: batchOf('beacon-batch', eventId), headers: { 'content-type': 'text/plain;charset=UTF-8' } },
    );
    assert.equal(beacon.status, 200, JSON.stringify(beacon.body));
    assert.deepEqual(
      beacon.body.results.map((r) => r.status),
      ['accepted'],
    );
    // The same event again (a fetch that was in flight as the page hid): stored once.
    const again = await call<{ results: { status: string }[] }>(`${server.url}/api/v1/events/batch`, {
      token: writeKey,
      raw: batchOf('beacon-batch', eventId),
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(
      again.body.results.map((r) => r.status),
      ['duplicate'],
    );
    assert.equal((await readEvents(server, server.masterKey, '&eventType=beacon-batch')).length, 1);
  });

  it('is checked as any credential: a wrong one is 401, a read-only key is 403, and nothing is stored', async () => {
    const wrong = await call(`${server.url}/api/v1/events/batch?access_token=oua_not-a-key`, {
      raw: batchOf('beacon-refused'),
      headers: { 'content-type': 'text/plain' },
    });
    errorOf(wrong, 401, 'UNAUTHENTICATED');
    const reader = await call(
      `${server.url}/api/v1/events/batch?access_token=${encodeURIComponent(readKey)}`,
      { raw: batchOf('beacon-refused'), headers: { 'content-type': 'text/plain' } },
    );
    errorOf(reader, 403, 'FORBIDDEN');
    assert.equal((await readEvents(server, server.masterKey, '&eventType=beacon-refused')).length, 0);
  });
});

describe('the request log', () => {
  let dataDir: string;
  let spawned: ServerProcess;
  const masterKey = newMasterKey();

  before(async () => {
    dataDir = tempDir();
    // At debug, every request is logged with its URL.
    spawned = await spawnServer(dataDir, masterKey, { OPENUA_LOG_LEVEL: 'debug' });
  });
  after(async () => {
    spawned.child.kill('SIGTERM');
    await spawned.exited;
    removeDir(dataDir);
  });

  it('logs each request at debug, its URL with access_token redacted, on every route, allowed or not', async () => {
    const secret = encodeURIComponent(masterKey);
    const paths = [
      `/rest/ua/v15/analytics/custom?access_token=${secret}&discardVisitInfo=true`,
      `/api/v1/orgs?org=default&access_token=${secret}`,
      `/no/such/route?access_token=${secret}`,
      `/rest/v15/analytics/status?ACCESS_TOKEN=${secret}`,
    ];
    for (const path of paths) {
      await call(`${spawned.url}${path}`, { body: validCustomEvent() });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const output = spawned.output();
    assert.ok(!output.includes(masterKey), 'the master key is in no log line');
    assert.ok(!output.includes(secret), 'nor its URL encoding');
    const urls = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { req?: { url?: string } })
      .flatMap((line) => (line.req?.url ? [line.req.url] : []));
    assert.ok(
      urls.includes('/rest/ua/v15/analytics/custom?access_token=[redacted]&discardVisitInfo=true'),
      urls.join('\n'),
    );
    assert.ok(urls.includes('/api/v1/orgs?org=default&access_token=[redacted]'), urls.join('\n'));
    assert.ok(urls.includes('/no/such/route?access_token=[redacted]'), urls.join('\n'));
    assert.ok(urls.includes('/rest/v15/analytics/status?ACCESS_TOKEN=[redacted]'), urls.join('\n'));
  });
});
