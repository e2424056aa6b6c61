import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * The schemas a route declares are checked by Fastify with OpenUA's own Ajv: after the credential (a caller
 * without one learns nothing of a route's rules), refused as OpenUA's 400 naming field, rule and value, and,
 * for the routes that check their bodies themselves, not a second time.
 */

describe('schemas declared on routes', () => {
  let server: TestServer;
  serverForSuite((started) => {
    server = started;
  });

  it('checks the credential before the schema: no credential is a 401 even for a bad query', async () => {
    const answer = await call(`${server.url}/api/v1/events?limit=lots`, { token: '' });
    errorOf(answer, 401, 'UNAUTHENTICATED');
  });

  it("checks the privilege before the schema: a write key's bad query is a 403", async () => {
    const writer = await createKey(server, ['analytics:write']);
    const answer = await call(`${server.url}/api/v1/events?limit=lots`, { token: writer });
    errorOf(answer, 403, 'FORBIDDEN');
  });

  it("refuses a bad query with OpenUA's 400, every violation at once, each with its value", async () => {
    const answer = await call(`${server.url}/api/v1/events?limit=lots&from=yesterday`, {
      token: server.masterKey,
    });
    const error = errorOf(answer, 400, 'INVALID_REQUEST');
    assert.deepEqual(error.violations?.map((v) => [v.field, v.rule, v.received]).sort(), [
      ['from', 'format', 'yesterday'],
      ['limit', 'pattern', 'lots'],
    ]);
  });

  it('a body checked by its handler is refused once, with schema and domain violations together', async () => {
    const answer = await call(`${server.url}/api/v1/alert-rules`, {
      token: server.masterKey,
      body: { name: '', measure: 'count', threshold: 'high', webhookUrl: 'ftp://example.com' },
    });
    const error = errorOf(answer, 400, 'INVALID_REQUEST');
    const fields = error.violations?.map((v) => v.field) ?? [];
    assert.equal(new Set(fields).size, fields.length, `each violation once: ${fields.join(', ')}`);
    assert.ok(fields.includes('name') && fields.includes('webhookUrl'), fields.join(', '));
  });
});
