import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Browser } from 'playwright-core';
import { ErrorCodes } from '../../src/core/errors.ts';
import { RULES } from '../../src/core/rules.ts';
import { browserSkipReason, launchChromium } from '../helpers/browser.ts';
import { registeredRoutes, routeName } from '../helpers/routes.ts';
import { ROOT, startServer, type TestServer } from '../helpers/server.ts';

/**
 * `GET /openapi.json`: the OpenAPI 3.1 document generated from the routes as they register, so a route cannot be
 * left out of it; and `GET /docs`, the reference page built from it, served by OpenUA with nothing from elsewhere.
 */

interface Operation {
  tags?: string[];
  summary?: string;
  security?: unknown[];
  parameters?: { in: string; name: string }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${path}`,
      method,
      operation,
    })),
  );

/** Fastify's `:param` (and OData's `(key)` segment) as OpenAPI writes it: `{param}`. */
const asOpenApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');

/** Routes that are not the API: the preflight, HEAD (it goes with its GET), and the document and its page. */
const notTheApi = (method: string, path: string) =>
  method === 'OPTIONS' || method === 'HEAD' || path === '/openapi.json' || path.startsWith('/docs');

let server: TestServer;
let doc: OpenApiDocument;

before(async () => {
  server = await startServer();
  const answer = await fetch(`${server.url}/openapi.json`);
  assert.equal(answer.status, 200);
  doc = (await answer.json()) as OpenApiDocument;
});
after(() => server.close());

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without a credential', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(
      structuredClone(doc) as unknown as Parameters<Validator['validate']>[0],
    );
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 2000));
  });

  it('lists every route the server registers, with its method', () => {
    const missing: string[] = [];
    let listed = 0;
    for (const route of registeredRoutes(server.app)) {
      if (notTheApi(route.method, route.path)) continue;
      listed++;
      // A prefix's own route is registered with and without its trailing slash; the document writes it once.
      const methods = doc.paths[asOpenApiPath(route.path)] ?? doc.paths[`${asOpenApiPath(route.path)}/`];
      if (!methods?.[route.method.toLowerCase()]) missing.push(routeName(route));
    }
    assert.deepEqual(missing, []);
    assert.ok(listed > 70, `${listed} routes`);
  });

  it('gives every operation a tag, a summary and its success answer; every body-taking one, its body', () => {
    const lacking = operations().flatMap(({ name, method, operation }) => [
      ...(operation.tags?.length ? [] : [`${name}: tags`]),
      ...(operation.summary ? [] : [`${name}: summary`]),
      ...(Object.keys(operation.responses).some((code) => /^2/.test(code)) ? [] : [`${name}: 2xx answer`]),
      ...(['post', 'put', 'patch'].includes(method) && !operation.requestBody ? [`${name}: body`] : []),
    ]);
    assert.deepEqual(lacking, []);
  });

  it('holds the error answer with every error code and every violation rule', () => {
    const error = doc.components.schemas.Error as {
      properties: {
        code: { enum: string[] };
        violations: { items: { properties: { rule: { description: string } } } };
      };
    };
    assert.deepEqual(error.properties.code.enum, Object.keys(ErrorCodes));
    const ruleText = error.properties.violations.items.properties.rule.description;
    const missing = Object.keys(RULES).filter((rule) => !ruleText.includes(`\`${rule}\``));
    assert.deepEqual(missing, []);
  });

  it('documents the refusals of every protected route, and the organization it may name', () => {
    const wrong = operations().flatMap(({ name, operation }) => {
      if (operation.security?.length === 0) return [];
      const problems = ['401', '403', '429']
        .filter((code) => !operation.responses[code]?.content)
        .map((code) => `${name}: ${code}`);
      const orgInPath = name.includes('{org}');
      const orgInQuery = operation.parameters?.some((p) => p.in === 'query' && p.name === 'org');
      if (!orgInPath && !orgInQuery) problems.push(`${name}: ?org=`);
      return problems;
    });
    assert.deepEqual(wrong, []);
  });

  it('names the credential every protected route takes', () => {
    const schemes = (
      doc as unknown as { components: { securitySchemes: Record<string, { scheme: string }> } }
    ).components.securitySchemes;
    assert.equal(schemes.bearer?.scheme, 'bearer');
  });
});

describe('GET /docs', { skip: browserSkipReason() }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());

  it('renders the reference in Chromium from this server alone', async () => {
    const page = await browser.newPage();
    const elsewhere: string[] = [];
    const failed: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(server.url) && !request.url().startsWith('data:'))
        elsewhere.push(request.url());
    });
    page.on('requestfailed', (request) => failed.push(request.url()));
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}/docs/`);
    // Swagger UI lists one block per operation once it has read the document.
    await page.locator('.opblock').first().waitFor({ timeout: 15_000 });
    const operations = await page.locator('.opblock').count();
    assert.ok(operations > 50, `${operations} operations shown`);
    assert.match((await page.locator('.info .title').textContent()) ?? '', /OpenUA/);
    assert.deepEqual(elsewhere, [], 'requests outside the server');
    assert.deepEqual(failed, []);
    assert.deepEqual(errors, []);
    const shots = path.join(ROOT, 'test-results');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'docs.png'), fullPage: false });
    await page.close();
  });
});
