import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { dashboardRoutes } from '../../src/http/dashboard.ts';
import { errorOf } from '../helpers/errors.ts';
import { asAnswer, routeApp } from '../helpers/route-app.ts';
import { call, removeDir, serverForSuite, type TestServer, tempDir } from '../helpers/server.ts';

/**
 * The dashboard as the server serves it: `GET /` (its page, revalidated on every load) and `GET /assets/<file>`
 * (the build's content-hashed files, cached as immutable), public, under a CSP that lets the page load and
 * connect to this origin only; a clear 503 before the build; no name reaches a file outside the build.
 */

const INDEX = '<!doctype html><script type="module" src="/assets/index-Ab12.js"></script>';
const SCRIPT = 'console.log("dashboard");\n';

/** The CSP's directives, by name. */
function policy(header: string | null): Map<string, string[]> {
  assert.ok(header, 'a Content-Security-Policy header');
  return new Map(
    header
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...sources]) => [name as string, sources]),
  );
}

function assertSelfOnly(header: string | null) {
  const directives = policy(header);
  assert.deepEqual(directives.get('default-src'), ["'self'"]);
  assert.deepEqual(directives.get('script-src'), ["'self'"], 'no inline or remote script');
  assert.deepEqual(directives.get('connect-src'), ["'self'"], 'the API on this origin only');
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
  for (const [name, sources] of directives) {
    for (const source of sources) {
      assert.ok(!/^(https?:|\*|data:|'unsafe-eval')/.test(source), `${name} ${source}: no CDN, no eval`);
    }
  }
}

describe('GET / and GET /assets/<file>, over a build directory', () => {
  let dist: string;
  let app: FastifyInstance;
  before(async () => {
    dist = path.join(tempDir('openua-dashboard-'), 'dist');
    app = await routeApp(dashboardRoutes(dist), { securityHeaders: true });
  });
  after(async () => {
    await app.close();
    removeDir(path.dirname(dist));
  });

  const get = async (url: string, headers: Record<string, string> = {}) =>
    asAnswer(await app.inject({ method: 'GET', url, headers }));

  it('before a build: 503 UNAVAILABLE naming the command that builds it', async () => {
    for (const url of ['/', '/assets/index-Ab12.js']) {
      const body = errorOf(await get(url), 503, 'UNAVAILABLE');
      assert.match(body.message, /npm run build --workspace dashboard/, url);
    }
  });

  it('serves the page with no-cache, a strong ETag (304 to it) and a CSP of its own origin only', async () => {
    mkdirSync(path.join(dist, 'assets'), { recursive: true });
    writeFileSync(path.join(dist, 'index.html'), INDEX);
    writeFileSync(path.join(dist, 'assets', 'index-Ab12.js'), SCRIPT);
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.equal(page.body, INDEX);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assertSelfOnly(page.headers.get('content-security-policy'));
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    const etag = page.headers.get('etag') as string;
    assert.match(etag, /^"[A-Za-z0-9_-]{43}"$/);
    const again = await get('/', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    writeFileSync(path.join(dist, 'index.html'), `${INDEX}\n<!-- a new build -->`);
    const rebuilt = await get('/', { 'if-none-match': etag });
    assert.equal(rebuilt.status, 200, 'a new build is served without a restart');
    assert.notEqual(rebuilt.headers.get('etag'), etag);
  });

  it('serves a built file as immutable for a year, with its type', async () => {
    writeFileSync(path.join(dist, 'assets', 'index-Cd34.css'), 'body{margin:0}');
    const script = await get('/assets/index-Ab12.js');
    assert.equal(script.status, 200);
    assert.equal(script.body, SCRIPT);
    assert.equal(script.headers.get('content-type'), 'application/javascript; charset=utf-8');
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assertSelfOnly(script.headers.get('content-security-policy'));
    const etag = script.headers.get('etag') as string;
    assert.equal((await get('/assets/index-Ab12.js', { 'if-none-match': `W/${etag}` })).status, 304);
    const style = await get('/assets/index-Cd34.css');
    assert.equal(style.headers.get('content-type'), 'text/css; charset=utf-8');
  });

  it('serves only the files the build lists: any other name is 404 or 400, and no path escapes', async () => {
    writeFileSync(path.join(dist, 'secret.txt'), 'secret');
    writeFileSync(path.join(path.dirname(dist), 'secret.txt'), 'secret');
    const missing = errorOf(await get('/assets/index-Zz99.js'), 404, 'NOT_FOUND');
    assert.match(missing.message, /index-Zz99\.js/);
    for (const name of [
      '..%2Fsecret.txt',
      '..%2F..%2Fsecret.txt',
      '%2E%2E%2Findex.html',
      '..%5Csecret.txt',
      'index-Ab12.js%00.txt',
      '.hidden',
      'index.html',
    ]) {
      const answer = await get(`/assets/${name}`);
      assert.ok([400, 404].includes(answer.status), `${name}: ${answer.status} ${String(answer.body)}`);
      assert.equal(answer.headers.get('content-type')?.split(';')[0], 'application/json', name);
    }
    for (const url of ['/assets/../secret.txt', '/assets/../../secret.txt', '/secret.txt']) {
      const traversal = await get(url);
      assert.equal(traversal.status, 404, url);
      assert.notEqual(traversal.body, 'secret', url);
    }
  });
});

describe('the dashboard’s routes on a running server', () => {
  let server: TestServer;
  serverForSuite(async (started) => {
    server = started;
  });

  it('are public, documented under the Dashboard tag', async () => {
    const document = (await call(`${server.url}/openapi.json`)).body as {
      paths: Record<string, { get: { tags: string[]; summary: string; security?: unknown[] } }>;
      tags: { name: string }[];
    };
    for (const route of ['/', '/assets/{file}']) {
      const operation = document.paths[route]?.get;
      assert.ok(operation, route);
      assert.deepEqual(operation.tags, ['Dashboard'], route);
      assert.ok(operation.summary, route);
      assert.deepEqual(operation.security, [], `${route} takes no credential`);
    }
    assert.ok(document.tags.some((tag) => tag.name === 'Dashboard'));
  });
});
