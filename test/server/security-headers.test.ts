import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ODATA } from '../helpers/channel.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * Every answer carries the usual security headers (no sniffing, no referrer, never framed, nothing to run);
 * an answer that carries a secret (a new API key, a search token, a webhook secret) is never stored by a cache.
 */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

function assertSecurityHeaders(answer: Answer<unknown>, label: string) {
  const header = (name: string) => answer.headers.get(name);
  assert.equal(header('x-content-type-options'), 'nosniff', label);
  assert.equal(header('referrer-policy'), 'no-referrer', label);
  assert.equal(header('x-frame-options'), 'DENY', label);
  assert.equal(header('content-security-policy'), "default-src 'none';frame-ancestors 'none'", label);
  // Pages on other sites load the event answers and the SDK: no Cross-Origin-Resource-Policy: same-origin.
  assert.equal(header('cross-origin-resource-policy'), 'cross-origin', label);
  // HSTS is the TLS terminator's to send, for the hosts it serves.
  assert.equal(header('strict-transport-security'), null, label);
}

describe('security headers', () => {
  it('on events, admin, query, OData, health, errors, 404s and preflights alike', async () => {
    const answers: [string, Answer<unknown>][] = [
      [
        'event',
        await call(`${server.url}${CUSTOM_PATH}`, { token: server.masterKey, body: validCustomEvent() }),
      ],
      ['admin', await call(`${server.url}/api/v1/orgs/default`, { token: server.masterKey })],
      ['query', await call(`${server.url}/api/v1/events?limit=1`, { token: server.masterKey })],
      ['OData', await call(`${server.url}${ODATA}/`, { token: server.masterKey })],
      ['health', await call(`${server.url}/rest/ua/v15/analytics/monitoring/health`)],
      ['401', await call(`${server.url}/api/v1/orgs`)],
      ['404', await call(`${server.url}/no/such/route`)],
      [
        'preflight',
        await call(`${server.url}${CUSTOM_PATH}`, {
          method: 'OPTIONS',
          headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
        }),
      ],
    ];
    for (const [label, answer] of answers) assertSecurityHeaders(answer, label);
  });
});

describe('Cache-Control: no-store on answers that carry a secret', () => {
  it('a new API key, a signed search token, a new alert rule and a rotated webhook secret', async () => {
    const key = await call<{ key: string }>(`${server.url}/api/v1/orgs/default/keys`, {
      token: server.masterKey,
      body: { name: 'secret', privileges: ['analytics:write'] },
    });
    assert.equal(key.status, 201);
    assert.ok(key.body.key);
    const token = await call<{ token: string }>(`${server.url}/api/v1/orgs/default/tokens`, {
      token: server.masterKey,
      body: { userId: 'bob@example.com' },
    });
    assert.equal(token.status, 201);
    const rule = await call<{ id: string; webhookSecret: string }>(`${server.url}/api/v1/alert-rules`, {
      token: server.masterKey,
      body: {
        name: 'no-store',
        measure: 'count',
        comparison: 'gt',
        threshold: 10,
        windowMinutes: 5,
        webhookUrl: 'https://hooks.example.com/openua',
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    assert.ok(rule.body.webhookSecret);
    const rotated = await call<{ webhookSecret: string }>(
      `${server.url}/api/v1/alert-rules/${rule.body.id}`,
      {
        method: 'PATCH',
        token: server.masterKey,
        body: { rotateSecret: true },
      },
    );
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.ok(rotated.body.webhookSecret);
    for (const [label, answer] of [
      ['key', key],
      ['token', token],
      ['rule', rule],
      ['rotated', rotated],
    ] as const) {
      assert.equal(answer.headers.get('cache-control'), 'no-store', label);
    }
  });
});
