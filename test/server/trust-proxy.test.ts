import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, readConfig } from '../../src/core/config.ts';
import { ODATA } from '../helpers/channel.ts';
import { CUSTOM_PATH, call, serverForSuite, type TestServer, validCustomEvent } from '../helpers/server.ts';

/**
 * `X-Forwarded-*` headers are the client's word unless a proxy in front wrote them: OpenUA believes them only when
 * OPENUA_TRUST_PROXY says which proxies to trust. Believed, they decide the host in OData links and the cookie's
 * Secure flag; otherwise anyone could point those at a host of their choosing.
 */

const FORWARDED = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };

/** The service document's context URL, and the visitor cookie set on a custom event, for forwarded headers. */
async function whatTheServerBelieves(server: TestServer) {
  const service = await call<{ '@odata.context': string }>(`${server.url}${ODATA}/`, {
    token: server.masterKey,
    headers: FORWARDED,
  });
  assert.equal(service.status, 200, JSON.stringify(service.body));
  const event = await call(`${server.url}${CUSTOM_PATH}`, {
    token: server.masterKey,
    body: validCustomEvent(),
    headers: FORWARDED,
  });
  assert.equal(event.status, 200, JSON.stringify(event.body));
  return { context: service.body['@odata.context'], cookie: event.headers.get('set-cookie') ?? '' };
}

describe('by default, no proxy is trusted', () => {
  let server: TestServer;
  serverForSuite((started) => {
    server = started;
  });

  it('X-Forwarded-Host and -Proto change neither OData links nor the cookie flags', async () => {
    const { context, cookie } = await whatTheServerBelieves(server);
    assert.equal(context, `${server.url}${ODATA}/$metadata`);
    assert.match(cookie, /coveo_visitorId=/);
    assert.doesNotMatch(cookie, /Secure/i);
    assert.match(cookie, /SameSite=Lax/i);
  });
});

describe('OPENUA_TRUST_PROXY=loopback: a proxy on this host', () => {
  let server: TestServer;
  serverForSuite(
    (started) => {
      server = started;
    },
    { env: { OPENUA_TRUST_PROXY: 'loopback' } },
  );

  it('its X-Forwarded-Host and -Proto are believed', async () => {
    const { context, cookie } = await whatTheServerBelieves(server);
    assert.equal(context, `https://evil.example${ODATA}/$metadata`);
    assert.match(cookie, /Secure/);
    assert.match(cookie, /SameSite=None/i);
  });
});

describe('OPENUA_TRUST_PROXY values', () => {
  const trust = (value: string) => readConfig({ OPENUA_TRUST_PROXY: value }).trustProxy;

  it('unset, empty or false: none; true: every proxy; else the addresses and CIDRs of the proxies', () => {
    assert.equal(readConfig({}).trustProxy, false);
    assert.equal(trust(''), false);
    assert.equal(trust('false'), false);
    assert.equal(trust('true'), true);
    assert.deepEqual(trust('10.0.0.1, 192.168.0.0/16,::1,fd00::/8'), [
      '10.0.0.1',
      '192.168.0.0/16',
      '::1',
      'fd00::/8',
    ]);
    assert.deepEqual(trust('loopback,uniquelocal'), ['loopback', 'uniquelocal']);
  });

  for (const value of [
    'yes',
    '0',
    '2',
    '-1',
    '101',
    '1.5',
    '10.0.0.1/33',
    '300.1.1.1',
    'proxy.example',
    '10.0.0.1,,',
  ]) {
    it(`${JSON.stringify(value)} is refused in one line naming the setting and the value`, () => {
      assert.throws(
        () => trust(value),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /^OPENUA_TRUST_PROXY must be /);
          assert.ok(error.message.includes(JSON.stringify(value)), error.message);
          assert.ok(!error.message.includes('\n'), 'one line');
          if (/^\d+$/.test(value)) assert.match(error.message, /not a hop count/);
          return true;
        },
      );
    });
  }
});
