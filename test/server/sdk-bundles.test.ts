import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { sdkRoutes } from '../../src/http/sdk.ts';
import { errorOf } from '../helpers/errors.ts';
import { asAnswer, routeApp } from '../helpers/route-app.ts';
import { call, removeDir, serverForSuite, type TestServer, tempDir } from '../helpers/server.ts';

/**
 * What the SDK needs of the server: its browser bundles at `GET /sdk/<file>.js` (public, any site, an hour's
 * cache revalidated by a strong ETag; only the built `.js` files of packages/sdk/dist, and a clear 503 before
 * they are built), and a batch route any page may post to, by fetch (CORS) or by beacon.
 */

const PAGE = 'https://shop.example.com';

describe('GET /sdk/<file>.js, over a directory of bundles', () => {
  let dist: string;
  let app: FastifyInstance;
  before(async () => {
    dist = path.join(tempDir('openua-sdk-'), 'dist');
    app = await routeApp(sdkRoutes(dist));
  });
  after(async () => {
    await app.close();
    removeDir(path.dirname(dist));
  });

  const get = async (file: string, headers: Record<string, string> = {}) =>
    asAnswer(await app.inject({ method: 'GET', url: `/sdk/${file}`, headers }));

  it('before a build: 503 UNAVAILABLE naming the command that builds them', async () => {
    const body = errorOf(await get('openua.js'), 503, 'UNAVAILABLE');
    assert.match(body.message, /npm run build --workspace packages\/sdk/);
    mkdirSync(dist, { recursive: true });
    writeFileSync(path.join(dist, 'openua.js.map'), '{}');
    errorOf(await get('openua.js'), 503, 'UNAVAILABLE');
  });

  it('serves a built bundle as a public script with a strong ETag, an hour’s cache and CORS *', async () => {
    writeFileSync(path.join(dist, 'openua.js'), 'window.OpenUA = {};\n');
    const answer = await get('openua.js', { origin: PAGE });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'window.OpenUA = {};\n');
    assert.equal(answer.headers.get('content-type'), 'application/javascript; charset=utf-8');
    assert.equal(answer.headers.get('cache-control'), 'public, max-age=3600, must-revalidate');
    assert.equal(answer.headers.get('access-control-allow-origin'), '*');
    assert.match(answer.headers.get('etag') ?? '', /^"[A-Za-z0-9_-]{43}"$/, 'strong: no W/');
  });

  it('answers 304 to its own ETag (strong or weak, alone or in a list), and 200 to another', async () => {
    const etag = (await get('openua.js')).headers.get('etag') as string;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const answer = await get('openua.js', { 'if-none-match': ifNoneMatch });
      assert.equal(answer.status, 304, ifNoneMatch);
      assert.equal(answer.body, '');
      assert.equal(answer.headers.get('etag'), etag);
      assert.equal(answer.headers.get('cache-control'), 'public, max-age=3600, must-revalidate');
    }
    assert.equal((await get('openua.js', { 'if-none-match': '"other"' })).status, 200);
  });

  it('serves a new build without a restart, under a new ETag', async () => {
    const before = (await get('openua.js')).headers.get('etag');
    writeFileSync(path.join(dist, 'openua.js'), 'window.OpenUA = { v: 2 };\n');
    writeFileSync(path.join(dist, 'cif.js'), 'window.Microsoft = {};\n');
    const after = await get('openua.js');
    assert.equal(after.body, 'window.OpenUA = { v: 2 };\n');
    assert.notEqual(after.headers.get('etag'), before);
    assert.equal((await get('cif.js')).body, 'window.Microsoft = {};\n');
    assert.equal((await get('openua.js', { 'if-none-match': before as string })).status, 200);
  });

  it('serves only the .js files the directory lists: any other name is 404 or 400, and no path escapes', async () => {
    writeFileSync(path.join(path.dirname(dist), 'secret.js'), 'secret');
    const missing = errorOf(await get('custom.js'), 404, 'NOT_FOUND');
    assert.match(missing.message, /cif\.js, openua\.js/, 'the message lists the bundles');
    for (const name of [
      'openua.js.map',
      'OpenUA.js',
      '..%2Fsecret.js',
      '%2E%2E%2Fsecret.js',
      '..%5Csecret.js',
      'openua.js%00.txt',
      '.js',
    ]) {
      const answer = await get(name);
      assert.ok([400, 404].includes(answer.status), `${name}: ${answer.status} ${String(answer.body)}`);
      assert.equal(answer.headers.get('content-type')?.split(';')[0], 'application/json', name);
    }
    const traversal = asAnswer(await app.inject({ method: 'GET', url: '/sdk/../secret.js' }));
    assert.equal(traversal.status, 404);
    assert.notEqual(traversal.body, 'secret');
  });
});

describe('the SDK’s routes on a running server', () => {
  let server: TestServer;
  serverForSuite(async (started) => {
    server = started;
    // An origin an organization lists: an answer to it must still be the public `*`, never this origin.
    const set = await call(`${server.url}/api/v1/orgs/default`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { allowedOrigins: [PAGE] },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
  });

  it('serves the built bundles without a credential, loadable as scripts by any site', async () => {
    for (const file of ['openua.js', 'custom.js', 'cif.js']) {
      const response = await fetch(`${server.url}/sdk/${file}`, { headers: { origin: PAGE } });
      assert.equal(response.status, 200, `${file}: run npm run build --workspace packages/sdk`);
      assert.equal(response.headers.get('content-type'), 'application/javascript; charset=utf-8');
      assert.equal(response.headers.get('access-control-allow-origin'), '*', file);
      assert.equal(response.headers.get('access-control-allow-credentials'), null);
      // Loaded by pages on other sites: Chromium blocks a no-cors script whose CORP is same-origin or same-site.
      assert.equal(response.headers.get('cross-origin-resource-policy'), 'cross-origin');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await response.text()).length > 100, file);
    }
  });

  it('the batch route answers a page on any origin, preflight and answer, as the event routes do', async () => {
    const elsewhere = 'https://any-site.example.org';
    const preflight = await call(`${server.url}/api/v1/events/batch`, {
      method: 'OPTIONS',
      headers: {
        origin: elsewhere,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), elsewhere);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    const answer = await call(`${server.url}/api/v1/events/batch`, {
      token: server.masterKey,
      headers: { origin: elsewhere },
      body: {
        events: [{ kind: 'custom', eventType: 'cors', eventValue: 'batch', language: 'en' }],
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('access-control-allow-origin'), elsewhere);
    // The events read route is no event route: an origin no organization lists gets nothing.
    const read = await call(`${server.url}/api/v1/events?limit=1`, {
      token: server.masterKey,
      headers: { origin: elsewhere },
    });
    assert.equal(read.headers.get('access-control-allow-origin'), null);
  });
});
