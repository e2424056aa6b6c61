import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Violation } from '../../src/core/errors.ts';
import { type ErrorBody, errorOf, violationsOf } from '../helpers/errors.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  createKey,
  readEvents,
  removeDir,
  serverForSuite,
  startServer,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';
import { UA_PREFIXES, validSearchEvent } from '../helpers/ua.ts';

/**
 * How `POST /analytics/custom` is reached: every body shape the official client sends (JSON, text/plain,
 * beacons), CORS, credentials, and every error status, each with the documented error body.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let server: TestServer;
let writeKey: string;
let readKey: string;

serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
  readKey = await createKey(server, ['analytics:read']);
});

let counter = 0;
/** A unique eventType, so each test finds exactly the events it sent. */
const uniqueType = (label: string) => `transport-${label}-${++counter}`;

const custom = (prefix: string = UA_PREFIXES[0]) => `${server.url}${prefix}/custom`;

function assertVisitAnswer(answer: Answer): { visitId: string; visitorId: string; clientId: string } {
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const body = answer.body as { visitId: string; visitorId: string; clientId: string };
  assert.deepEqual(Object.keys(body).sort(), ['clientId', 'visitId', 'visitorId']);
  assert.match(body.visitId, UUID);
  assert.match(body.visitorId, UUID);
  assert.match(body.clientId, UUID);
  return body;
}

async function storedOf(eventType: string) {
  return readEvents(server, server.masterKey, `&eventType=${encodeURIComponent(eventType)}`);
}

async function storedOne(eventType: string) {
  const events = await storedOf(eventType);
  assert.equal(events.length, 1, `exactly one event of type ${eventType}: ${JSON.stringify(events)}`);
  return events[0] as Record<string, unknown>;
}

describe('JSON bodies with Authorization: Bearer', () => {
  for (const prefix of UA_PREFIXES) {
    for (const kind of ['master key', 'API key with analytics:write'] as const) {
      it(`${prefix}/custom with the ${kind} answers the visit and stores the event`, async () => {
        const eventType = uniqueType('json');
        const token = kind === 'master key' ? server.masterKey : writeKey;
        const answer = await call(custom(prefix), {
          token,
          body: validCustomEvent({ eventType, eventValue: 'json-value', customData: { Marker: eventType } }),
        });
        const visit = assertVisitAnswer(answer);
        const event = await storedOne(eventType);
        assert.equal(event.org, 'default');
        assert.equal(event.category, 'custom');
        assert.equal(event.eventValue, 'json-value');
        assert.equal(event.language, 'en');
        assert.equal(event.visitId, visit.visitId);
        assert.equal(event.visitorId, visit.visitorId);
        assert.equal(event.clientId, visit.clientId);
        assert.deepEqual(event.customData, { marker: eventType });
      });
    }
  }

  it('a clientId in the body is the visitor and the client', async () => {
    const eventType = uniqueType('clientid');
    const clientId = crypto.randomUUID();
    const visit = assertVisitAnswer(
      await call(custom(), { token: writeKey, body: validCustomEvent({ eventType, clientId }) }),
    );
    assert.equal(visit.clientId, clientId);
    assert.equal(visit.visitorId, clientId);
    assert.equal((await storedOne(eventType)).clientId, clientId);
  });
});

describe('text/plain bodies (sent by browsers without a preflight)', () => {
  for (const contentType of ['text/plain', 'text/plain;charset=UTF-8']) {
    it(`${contentType} holding JSON is accepted and stored`, async () => {
      const eventType = uniqueType('text');
      const answer = await call(custom(), {
        token: writeKey,
        raw: JSON.stringify(validCustomEvent({ eventType, eventValue: 'from-text' })),
        headers: { 'content-type': contentType },
      });
      assertVisitAnswer(answer);
      assert.equal((await storedOne(eventType)).eventValue, 'from-text');
    });
  }

  it('text/plain holding something other than JSON is 400 with a json violation', async () => {
    const eventType = uniqueType('text-bad');
    const answer = await call(custom(), {
      token: writeKey,
      raw: `eventType=${eventType}, not json`,
      headers: { 'content-type': 'text/plain' },
    });
    const violations = violationsOf(answer);
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule]),
      [['', 'json']],
    );
    assert.match(violations[0]?.message ?? '', /JSON/);
    assert.equal((await storedOf(eventType)).length, 0);
  });
});

describe('browser beacons (application/x-www-form-urlencoded)', () => {
  const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

  it('customEvent=<JSON> with access_token, visitorId and discardVisitInfo in the query', async () => {
    const eventType = uniqueType('beacon-query');
    const visitorId = crypto.randomUUID();
    const query = new URLSearchParams({ access_token: writeKey, visitorId, discardVisitInfo: 'true' });
    const body = new URLSearchParams({
      customEvent: JSON.stringify(validCustomEvent({ eventType, customData: { via: 'beacon' } })),
    });
    const answer = await call(`${custom()}?${query}`, { raw: body.toString(), headers: FORM });
    const visit = assertVisitAnswer(answer);
    assert.equal(visit.visitorId, visitorId);
    const event = await storedOne(eventType);
    assert.equal(event.visitorId, visitorId, 'the visitorId of the query is the visitor');
    assert.equal(event.clientId, visitorId);
    assert.deepEqual(event.customData, { via: 'beacon' });
  });

  it('access_token=...&customEvent=... in the body, visitorId in the query', async () => {
    const eventType = uniqueType('beacon-body');
    const visitorId = crypto.randomUUID();
    const body = new URLSearchParams({
      access_token: writeKey,
      customEvent: JSON.stringify(validCustomEvent({ eventType })),
    });
    const answer = await call(`${custom(UA_PREFIXES[1])}?visitorId=${visitorId}&discardVisitInfo=true`, {
      raw: body.toString(),
      headers: FORM,
    });
    assert.equal(assertVisitAnswer(answer).visitorId, visitorId);
    const event = await storedOne(eventType);
    assert.equal(event.visitorId, visitorId);
    // The access token is a credential, not event data.
    assert.deepEqual(event.customData, {});
  });

  it('a clientId in the beacon event wins over the visitorId of the query', async () => {
    const eventType = uniqueType('beacon-client');
    const clientId = crypto.randomUUID();
    const body = new URLSearchParams({
      access_token: writeKey,
      customEvent: JSON.stringify(validCustomEvent({ eventType, clientId })),
    });
    const answer = await call(`${custom()}?visitorId=${crypto.randomUUID()}`, {
      raw: body.toString(),
      headers: FORM,
    });
    assert.equal(assertVisitAnswer(answer).visitorId, clientId);
    assert.equal((await storedOne(eventType)).visitorId, clientId);
  });

  it('a form body without customEvent is 400 naming customEvent', async () => {
    const body = new URLSearchParams({ access_token: writeKey, searchEvent: '{}' });
    const violations = violationsOf(await call(custom(), { raw: body.toString(), headers: FORM }));
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule]),
      [['customEvent', 'required']],
    );
    assert.match(violations[0]?.message ?? '', /customEvent/);
  });

  it('a form body whose customEvent is not JSON is 400 naming customEvent', async () => {
    const body = new URLSearchParams({ access_token: writeKey, customEvent: '{not json' });
    const violations = violationsOf(await call(custom(), { raw: body.toString(), headers: FORM }));
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule]),
      [['customEvent', 'json']],
    );
  });

  it('a beacon without access_token is 401', async () => {
    const body = new URLSearchParams({ customEvent: JSON.stringify(validCustomEvent()) });
    errorOf(await call(custom(), { raw: body.toString(), headers: FORM }), 401, 'UNAUTHENTICATED');
  });
});

describe('CORS', () => {
  it('a preflight from a page is 204 and allows the origin, credentials and the Authorization header', async () => {
    for (const prefix of UA_PREFIXES) {
      const answer = await call(custom(prefix), {
        method: 'OPTIONS',
        headers: {
          origin: 'https://shop.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      assert.equal(answer.status, 204);
      assert.equal(answer.headers.get('access-control-allow-origin'), 'https://shop.example');
      assert.equal(answer.headers.get('access-control-allow-credentials'), 'true');
      const allowed = (answer.headers.get('access-control-allow-headers') ?? '')
        .toLowerCase()
        .split(',')
        .map((h) => h.trim());
      assert.ok(allowed.includes('authorization'), `allow-headers: ${allowed}`);
      assert.ok(allowed.includes('content-type'), `allow-headers: ${allowed}`);
      assert.match(answer.headers.get('access-control-allow-methods') ?? '', /POST/);
    }
  });

  it('a POST with an Origin header carries access-control-allow-origin for that origin', async () => {
    const eventType = uniqueType('cors');
    const answer = await call(custom(), {
      token: writeKey,
      body: validCustomEvent({ eventType }),
      headers: { origin: 'https://other-shop.example' },
    });
    assertVisitAnswer(answer);
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://other-shop.example');
    assert.equal(answer.headers.get('access-control-allow-credentials'), 'true');
    await storedOne(eventType);
  });

  it('an error answer to a page carries the CORS headers too, so the page can read it', async () => {
    const answer = await call(custom(), {
      body: validCustomEvent(),
      headers: { origin: 'https://shop.example' },
    });
    errorOf(answer, 401, 'UNAUTHENTICATED');
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://shop.example');
  });
});

describe('400: bodies that are not a valid event', () => {
  it('lists every violation at once', async () => {
    const eventType = uniqueType('many');
    const answer = await call(custom(), {
      token: writeKey,
      body: {
        eventType,
        // eventValue is missing
        language: 'klingon',
        outcome: 9,
        clientId: 'not-a-uuid',
        trackingId: 'Has Upper Case',
        anonymous: 'yes',
        customData: { 'bad-key!': 1, good: 'kept' },
      },
    });
    const violations = violationsOf(answer);
    const pairs = violations.map((v) => `${v.field}:${v.rule}`).sort();
    for (const expected of [
      'eventValue:required',
      'language:format',
      'outcome:maximum',
      'clientId:format',
      'trackingId:pattern',
      'anonymous:type',
      'customData.bad-key!:keyCharacters',
    ]) {
      assert.ok(pairs.includes(expected), `${expected} is among ${pairs.join(', ')}`);
    }
    assert.equal(violations.length, 7, JSON.stringify(violations));
    assert.match((answer.body as unknown as ErrorBody).message, /7 violations/);
    const outcome = violations.find((v) => v.field === 'outcome');
    assert.equal(outcome?.received, 9);
    assert.equal(outcome?.limit, 5);
    assert.equal((await storedOf(eventType)).length, 0, 'nothing of a refused event is stored');
  });

  it('invalid JSON is 400 with rule json', async () => {
    const answer = await call(custom(), {
      token: writeKey,
      raw: '{"eventType": "x", ',
      headers: { 'content-type': 'application/json' },
    });
    const violations = violationsOf(answer);
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule]),
      [['', 'json']],
    );
  });

  it('an empty body with content-type application/json is 400', async () => {
    const answer = await call(custom(), {
      token: writeKey,
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    const violations = violationsOf(answer);
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule]),
      [['', 'json']],
    );
  });

  for (const [label, raw, received] of [
    ['a JSON array', '[{"eventType":"a","eventValue":"b","language":"en"}]', 'array'],
    ['a JSON string', '"facet"', 'string'],
    ['a JSON number', '42', 'number'],
    ['JSON null', 'null', null],
  ] as const) {
    it(`${label} as the body is 400 on field '' with rule type`, async () => {
      const answer = await call(custom(), {
        token: writeKey,
        raw,
        headers: { 'content-type': 'application/json' },
      });
      const violations = violationsOf(answer);
      assert.deepEqual(
        violations.map((v) => [v.field, v.rule]),
        [['', 'type']],
      );
      assert.equal(violations[0]?.received, received);
    });
  }
});

/** A search token claiming `organization` (no such claim when null), signed with `secret` and `alg`. */
async function tokenSignedWith(
  secret: string,
  exp: number | undefined,
  organization: string | null = 'default',
  alg = 'HS256',
) {
  const jwt = new SignJWT({
    ...(organization !== null && { organization }),
    userIds: [{ name: 'eve@example.com', provider: 'Email Security Provider', type: 'User' }],
  })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt();
  if (exp !== undefined) jwt.setExpirationTime(exp);
  return jwt.sign(Buffer.from(secret));
}

/** An unsecured JWT (`alg: none`, no signature), which must never pass for a signed one. */
function unsignedToken(claims: Record<string, unknown>) {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

const now = () => Math.floor(Date.now() / 1000);

describe('401: no valid credential', () => {
  async function assert401(token: string | undefined, message: RegExp) {
    const eventType = uniqueType('unauth');
    const answer = await call(custom(), { token, body: validCustomEvent({ eventType }) });
    const body = errorOf(answer, 401, 'UNAUTHENTICATED');
    assert.equal(body.error, 'Unauthorized');
    assert.equal(body.type, undefined, 'InvalidToken is for search tokens only');
    assert.match(body.message, message);
    assert.equal((await storedOf(eventType)).length, 0);
  }

  it('no credential at all', async () => {
    await assert401(undefined, /No credential/i);
  });

  it('a garbage bearer token', async () => {
    await assert401('not-a-real-token', /not a known/i);
  });

  it('an unknown oua_ key of the right shape', async () => {
    await assert401(`oua_${'0'.repeat(16)}_${'A'.repeat(43)}`, /API key is unknown, revoked or malformed/);
  });

  it('a known key id with a wrong secret', async () => {
    const id = writeKey.slice(4, 20);
    await assert401(`oua_${id}_${'B'.repeat(43)}`, /API key is unknown, revoked or malformed/);
  });

  it('a revoked key, which worked before revocation', async () => {
    const created = await call<{ id: string; key: string }>(`${server.url}/api/v1/orgs/default/keys`, {
      token: server.masterKey,
      body: { name: 'to revoke', privileges: ['analytics:write'] },
    });
    assert.equal(created.status, 201);
    assertVisitAnswer(await call(custom(), { token: created.body.key, body: validCustomEvent() }));
    const revoked = await call(`${server.url}/api/v1/orgs/default/keys/${created.body.id}`, {
      method: 'DELETE',
      token: server.masterKey,
    });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.ok(revoked.body.revokedAt, 'the answer records the revocation');
    await assert401(created.body.key, /API key is unknown, revoked or malformed/);
  });
});

describe('400 InvalidToken: a search token that cannot be trusted (as Coveo answers it)', () => {
  let secret: string;
  before(async () => {
    secret = (await server.services.organizations.require('default')).tokenSecret;
  });

  /** Asserts Coveo's `type` beside OpenUA's own fields, the one violation naming the credential, and no event. */
  async function assertInvalidToken(token: string, rule: string, message: RegExp) {
    const eventType = uniqueType('invalid-token');
    const answer = await call(custom(), { token, body: validCustomEvent({ eventType }) });
    const body = errorOf(answer, 400, 'INVALID_TOKEN');
    assert.equal(body.type, 'InvalidToken');
    assert.equal(body.error, 'Bad Request');
    assert.match(body.message, message);
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule]),
      [['credential', rule]],
    );
    assert.match(body.violations?.[0]?.message ?? '', /^the search token /);
    assert.ok(!JSON.stringify(body).includes(token), 'the token is never echoed');
    assert.equal((await storedOf(eventType)).length, 0);
    return body.violations?.[0] as Violation;
  }

  it('an expired one (while the same token with a future expiry works), saying when it expired', async () => {
    const fresh = await tokenSignedWith(secret, now() + 600);
    assertVisitAnswer(await call(custom(), { token: fresh, body: validCustomEvent() }));
    const exp = now() - 600;
    const violation = await assertInvalidToken(await tokenSignedWith(secret, exp), 'expired', /expired/);
    assert.equal(violation.received, new Date(exp * 1000).toISOString());
    assert.ok(
      Math.abs(Date.parse(String(violation.limit)) - Date.now()) < 60_000,
      "the limit is the server's now",
    );
  });

  it('one signed with another secret that claims this organization', async () => {
    await assertInvalidToken(
      await tokenSignedWith('a-secret-this-server-never-issued', now() + 600),
      'signature',
      /not signed by a known organization/,
    );
  });

  it("one signed with organization b's real secret that claims organization default", async () => {
    const created = await call(`${server.url}/api/v1/orgs`, {
      token: server.masterKey,
      body: { id: 'transport-b' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { tokenSecret } = await server.services.organizations.require('transport-b');
    await assertInvalidToken(
      await tokenSignedWith(tokenSecret, now() + 600, 'default'),
      'signature',
      /not signed by a known organization/,
    );
  });

  it('one naming an organization that does not exist gets the very answer of a bad signature: ids cannot be enumerated', async () => {
    const answers = async (path: string, body: unknown, claims: [string, number, string, string?][]) =>
      Promise.all(
        claims.map(async ([secret, exp, org, alg]) =>
          call(`${server.url}${path}`, { token: await tokenSignedWith(secret, exp, org, alg), body }),
        ),
      );
    const [unknown, forged] = await answers(CUSTOM_PATH, validCustomEvent(), [
      ['whatever', now() + 600, 'no-such-org'],
      ['whatever', now() + 600, 'default'],
    ]);
    const body = errorOf(unknown as Answer, 400, 'INVALID_TOKEN');
    assert.deepEqual(unknown?.body, forged?.body);
    assert.match(body.message, /^The search token is not signed by a known organization$/);
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule, v.received]),
      [['credential', 'signature', undefined]],
    );
    assert.ok(!JSON.stringify(body).includes('no-such-org'), 'the claim is not echoed');
    // Expired, or signed with another algorithm, the two are still told apart by nothing.
    const [unknownOld, forgedOld] = await answers(CUSTOM_PATH, validCustomEvent(), [
      ['whatever', now() - 600, 'no-such-org'],
      ['whatever', now() - 600, 'default'],
    ]);
    assert.deepEqual(unknownOld?.body, forgedOld?.body);
    const [unknown512, known512] = await answers(CUSTOM_PATH, validCustomEvent(), [
      ['whatever', now() + 600, 'no-such-org', 'HS512'],
      [secret, now() + 600, 'default', 'HS512'],
    ]);
    assert.deepEqual(unknown512?.body, known512?.body);
    // On OpenUA's own API, 401 the same way.
    const [apiUnknown, apiForged] = await answers('/api/v1/events/batch', { events: [] }, [
      ['whatever', now() + 600, 'no-such-org'],
      ['whatever', now() + 600, 'default'],
    ]);
    errorOf(apiUnknown as Answer, 401, 'UNAUTHENTICATED');
    assert.deepEqual(apiUnknown?.body, apiForged?.body);
  });

  it('one without an organization claim', async () => {
    await assertInvalidToken(
      await tokenSignedWith(secret, now() + 600, null),
      'organization',
      /no "organization" claim/,
    );
  });

  it('a three-part token that is not a JWT', async () => {
    await assertInvalidToken('abc.def.ghi', 'format', /not a well-formed JWT/);
  });

  it("one signed with the organization's secret but another algorithm (HS512), or none", async () => {
    const hs512 = await tokenSignedWith(secret, now() + 600, 'default', 'HS512');
    const violation = await assertInvalidToken(hs512, 'algorithm', /HS256/);
    assert.deepEqual([violation.limit, violation.received], ['HS256', 'HS512']);
    const none = unsignedToken({
      organization: 'default',
      userIds: [{ name: 'eve', type: 'User' }],
      exp: now() + 600,
    });
    assert.equal((await assertInvalidToken(none, 'algorithm', /HS256/)).received, 'none');
  });

  it('one without an expiry', async () => {
    await assertInvalidToken(await tokenSignedWith(secret, undefined), 'claims', /exp/);
  });

  it('on every UA route, under both prefixes, and in a beacon', async () => {
    const expired = await tokenSignedWith(secret, now() - 600);
    const form = new URLSearchParams({
      access_token: expired,
      customEvent: JSON.stringify(validCustomEvent()),
    });
    for (const prefix of UA_PREFIXES) {
      const requests: [string, Parameters<typeof call>[1]][] = [
        ['/custom', { body: validCustomEvent() }],
        ['/search', { body: validSearchEvent() }],
        ['/searches', { body: [validSearchEvent()] }],
        ['/collect', { body: { t: 'pageview' } }],
        ['/visit', { method: 'GET' }],
        ['/visit', { method: 'DELETE' }],
        [
          '/custom',
          { raw: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        ],
      ];
      for (const [route, init] of requests) {
        const token = init?.raw === undefined ? expired : undefined;
        const answer = await call(`${server.url}${prefix}${route}`, { ...init, token });
        const body = errorOf(answer, 400, 'INVALID_TOKEN');
        assert.equal(body.type, 'InvalidToken', `${init?.method ?? 'POST'} ${prefix}${route}`);
      }
    }
  });

  it("on OpenUA's own API a bad search token is a 401, as any bad credential, with the same violation", async () => {
    const expired = await tokenSignedWith(secret, now() - 600);
    // A search token may write batches: the one /api route where it would otherwise be accepted.
    const batch = await call(`${server.url}/api/v1/events/batch`, {
      token: expired,
      body: { events: [{ kind: 'custom', ...validCustomEvent() }] },
    });
    const body = errorOf(batch, 401, 'UNAUTHENTICATED');
    assert.equal(body.type, undefined);
    assert.match(body.message, /expired/);
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule]),
      [['credential', 'expired']],
    );
    errorOf(await call(`${server.url}/api/v1/events`, { token: 'abc.def.ghi' }), 401, 'UNAUTHENTICATED');
  });
});

describe('403: a valid credential that may not do this', () => {
  before(async () => {
    const created = await call(`${server.url}/api/v1/orgs`, {
      token: server.masterKey,
      body: { id: 'other' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });

  it('an analytics:read key cannot post an event (violation rule privilege)', async () => {
    const eventType = uniqueType('read-only');
    const answer = await call(custom(), { token: readKey, body: validCustomEvent({ eventType }) });
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.match(body.message, /analytics:write/);
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule, v.limit]),
      [['credential', 'privilege', 'analytics:write']],
    );
    assert.equal((await storedOf(eventType)).length, 0);
  });

  it('an analytics:write key of default posting with ?org=other is 403 naming org', async () => {
    const eventType = uniqueType('cross-org');
    const answer = await call(`${custom()}?org=other`, {
      token: writeKey,
      body: validCustomEvent({ eventType }),
    });
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.received]),
      [['org', 'other']],
    );
    assert.match(body.message, /"default"/);
    assert.equal((await storedOf(eventType)).length, 0);
    const inOther = await readEvents(server, server.masterKey, `&org=other&eventType=${eventType}`);
    assert.equal(inOther.length, 0);
  });

  it('the same key naming its own organization is accepted', async () => {
    const eventType = uniqueType('own-org');
    assertVisitAnswer(
      await call(`${custom()}?org=default`, { token: writeKey, body: validCustomEvent({ eventType }) }),
    );
    await storedOne(eventType);
  });
});

describe('413: a body over OPENUA_BODY_LIMIT', () => {
  let small: TestServer;
  before(async () => {
    small = await startServer({ env: { OPENUA_BODY_LIMIT: '2048' } });
  });
  after(async () => {
    await small.close();
    removeDir(small.dataDir);
  });

  const big = () => JSON.stringify(validCustomEvent({ customData: { big: 'x'.repeat(4096) } }));

  for (const contentType of ['application/json', 'text/plain']) {
    it(`a 4 KB ${contentType} body is 413 BODY_TOO_LARGE`, async () => {
      const answer = await call(`${small.url}${CUSTOM_PATH}`, {
        token: small.masterKey,
        raw: big(),
        headers: { 'content-type': contentType },
      });
      errorOf(answer, 413, 'BODY_TOO_LARGE');
      assert.equal((answer.body as unknown as ErrorBody).error, 'Payload Too Large');
    });
  }

  it('a 4 KB beacon is 413 BODY_TOO_LARGE', async () => {
    const body = new URLSearchParams({ access_token: small.masterKey, customEvent: big() });
    const answer = await call(`${small.url}${CUSTOM_PATH}`, {
      raw: body.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    errorOf(answer, 413, 'BODY_TOO_LARGE');
  });

  it('a body under the limit is still accepted by the same server', async () => {
    const answer = await call(`${small.url}${CUSTOM_PATH}`, {
      token: small.masterKey,
      body: validCustomEvent({ eventType: 'small-body', customData: { some: 'x'.repeat(1000) } }),
    });
    assertVisitAnswer(answer);
    assert.equal((await readEvents(small, small.masterKey, '&eventType=small-body')).length, 1);
  });

  it('the 413 message names the limit in bytes', async () => {
    const answer = await call(`${small.url}${CUSTOM_PATH}`, {
      token: small.masterKey,
      raw: big(),
      headers: { 'content-type': 'application/json' },
    });
    const body = errorOf(answer, 413, 'BODY_TOO_LARGE');
    assert.match(body.message, /2048/);
  });
});

describe('415: a media type the API does not take', () => {
  for (const contentType of ['application/xml', 'multipart/form-data; boundary=x', 'image/png']) {
    it(`${contentType} is 415 UNSUPPORTED_MEDIA_TYPE`, async () => {
      const answer = await call(custom(), {
        token: writeKey,
        raw: '<event><eventType>x</eventType></event>',
        headers: { 'content-type': contentType },
      });
      const body = errorOf(answer, 415, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(body.message, /application\/json/, 'the message says what to send instead');
    });
  }
});

/** Sends raw bytes with raw header lines (repeated headers included), as fetch cannot. */
function rawPost(url: string, headers: string[], body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe('no input produces a 500', () => {
  interface Hostile {
    label: string;
    body: string | Buffer;
    contentType?: string;
    headers?: Record<string, string>;
    query?: string;
    /** Sent without any credential header (the token travels elsewhere, or not at all). */
    anonymous?: boolean;
  }

  const json = (value: unknown) => JSON.stringify(value);
  const event = (extra: Record<string, unknown>) => json(validCustomEvent(extra));
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  const FIELDS = [
    'eventType',
    'eventValue',
    'language',
    'anonymous',
    'lastSearchQueryUid',
    'originContext',
    'originLevel1',
    'originLevel2',
    'originLevel3',
    'outcome',
    'splitTestRunName',
    'splitTestRunVersion',
    'trackingId',
    'userDisplayName',
    'username',
    'clientId',
    'userAgent',
    'customData',
  ];

  const hostile: Hostile[] = [
    {
      label: 'nested customData (1000 levels)',
      body: `{"eventType":"n","eventValue":"v","language":"en","customData":{"a":${nested(1000)}}}`,
    },
    {
      label: 'nested objects in customData (500 levels)',
      body: event({ customData: { a: JSON.parse(`${'{"a":'.repeat(500)}1${'}'.repeat(500)}`) } }),
    },
    { label: 'outcome 1e308', body: event({ outcome: 1e308 }) },
    {
      label: 'outcome beyond double range',
      body: '{"eventType":"a","eventValue":"b","language":"en","outcome":1e400}',
    },
    {
      label: 'customData number beyond double range',
      body: '{"eventType":"a","eventValue":"b","language":"en","customData":{"n":1e400,"m":-1e400}}',
    },
    { label: 'outcome -0.0', body: '{"eventType":"a","eventValue":"b","language":"en","outcome":-0.0}' },
    { label: 'outcome 2.5', body: event({ outcome: 2.5 }) },
    {
      label: 'eventType a huge integer',
      body: '{"eventType":123456789012345678901234567890,"language":"en"}',
    },
    { label: 'unicode customData keys', body: event({ customData: { ключ: 1, '😀': 2, 'Facet Id': 'x' } }) },
    { label: 'unicode top-level keys', body: event({ ключ: 1, '😀': { a: 1 } }) },
    {
      label: 'NUL and lone surrogates in values',
      body: event({ eventValue: 'a\u0000b\ud800', userAgent: '\udfff' }),
    },
    { label: 'every field null', body: json(Object.fromEntries(FIELDS.map((f) => [f, null]))) },
    ...FIELDS.flatMap((field) => [
      { label: `${field} as an object`, body: event({ [field]: { nested: [1, 2] } }) },
      { label: `${field} as a number`, body: event({ [field]: 12.5 }) },
    ]),
    { label: 'customData as an array', body: event({ customData: [1, 2, 3] }) },
    { label: 'customData as a string', body: event({ customData: 'data' }) },
    {
      label: '__proto__ in customData (JSON)',
      body: '{"eventType":"a","eventValue":"b","language":"en","customData":{"__proto__":{"polluted":"yes"}}}',
    },
    {
      label: 'constructor.prototype in customData (JSON)',
      body: '{"eventType":"a","eventValue":"b","language":"en","customData":{"constructor":{"prototype":{"polluted":"yes"}}}}',
    },
    {
      label: '__proto__ at top level (JSON)',
      body: '{"__proto__":{"username":"admin"},"eventType":"a","eventValue":"b","language":"en"}',
    },
    {
      label: '__proto__ in customData (text/plain)',
      contentType: 'text/plain',
      body: '{"eventType":"a","eventValue":"b","language":"en","customData":{"__proto__":{"polluted":"yes"}}}',
    },
    {
      label: '__proto__ at top level (text/plain)',
      contentType: 'text/plain',
      body: '{"__proto__":{"polluted":"yes"},"eventType":"a","eventValue":"b","language":"en"}',
    },
    {
      label: 'constructor and prototype keys at top level (text/plain)',
      contentType: 'text/plain',
      body: '{"constructor":{"prototype":{"polluted":"yes"}},"prototype":1,"eventType":"a","eventValue":"b","language":"en"}',
    },
    {
      label: 'invalid UTF-8 bytes in a JSON string',
      body: Buffer.concat([
        Buffer.from('{"eventType":"'),
        Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
        Buffer.from('","eventValue":"b","language":"en"}'),
      ]),
    },
    {
      label: 'invalid UTF-8 bytes in text/plain',
      contentType: 'text/plain; charset=utf-8',
      body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    },
    {
      label: 'invalid UTF-8 bytes in a beacon',
      contentType: 'application/x-www-form-urlencoded',
      anonymous: true,
      body: Buffer.concat([
        Buffer.from('customEvent='),
        Buffer.from([0xff, 0xc3]),
        Buffer.from('%FF%ZZ&x=%'),
      ]),
    },
    { label: 'a UTF-8 byte order mark before the JSON', body: `\ufeff${event({})}` },
    {
      label: 'JSON with a charset of utf-16',
      contentType: 'application/json; charset=utf-16',
      body: event({}),
    },
    { label: 'JSON with a broken charset', contentType: 'application/json; charset="', body: event({}) },
    { label: 'JSON with odd parameters', contentType: 'application/json;;; q=0.5; x', body: event({}) },
    { label: 'text/plain with charset latin1', contentType: 'text/plain; charset=latin1', body: event({}) },
    { label: 'content type application/*', contentType: 'application/*', body: event({}) },
    { label: 'content type */*', contentType: '*/*', body: event({}) },
    { label: 'content type with only spaces', contentType: '   ', body: event({}) },
    { label: 'NaN as the body', body: 'NaN' },
    { label: 'a lone NUL byte', body: Buffer.from([0]) },
    { label: 'a very long eventType (200k characters)', body: event({ eventType: 'e'.repeat(200_000) }) },
    {
      label: '10,000 customData keys',
      body: event({ customData: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])) }),
    },
    {
      label: 'customEvent twice in a beacon',
      contentType: 'application/x-www-form-urlencoded',
      anonymous: true,
      query: '?access_token=ACCESS',
      body: `customEvent=${encodeURIComponent(event({}))}&customEvent=${encodeURIComponent(event({}))}`,
    },
    {
      label: 'a beacon whose customEvent is a JSON array',
      contentType: 'application/x-www-form-urlencoded',
      anonymous: true,
      query: '?access_token=ACCESS',
      body: `customEvent=${encodeURIComponent('[1,2]')}`,
    },
    { label: 'org given twice in the query', query: '?org=default&org=other', body: event({}) },
    { label: 'org as an array parameter', query: '?org[]=x&org[x]=y', body: event({}) },
    { label: 'a NUL org', query: '?org=%00', body: event({}) },
    {
      label: 'a long, odd visitor parameter',
      query: `?visitor=${'z'.repeat(5000)}&prioritizeVisitorParameter=true&visitorId=%00`,
      body: event({}),
    },
    {
      label: 'access_token given twice in the query',
      anonymous: true,
      query: '?access_token=a&access_token=b',
      body: event({}),
    },
    {
      label: 'a malformed visitor cookie',
      headers: { cookie: 'coveo_visitorId=%ZZ%; other=;;=' },
      body: event({}),
    },
    {
      label: 'Basic authorization',
      anonymous: true,
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
      body: event({}),
    },
    { label: 'a bare Bearer', anonymous: true, headers: { authorization: 'Bearer' }, body: event({}) },
    {
      label: 'a JWT-looking bearer of garbage base64',
      anonymous: true,
      headers: { authorization: 'Bearer eyJhbGciOi.eyJvcmdhbml6.@@@' },
      body: event({}),
    },
    {
      label: 'an unsigned (alg none) JWT for default',
      anonymous: true,
      headers: {
        authorization: `Bearer ${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
          json({ organization: 'default', exp: 9_999_999_999, userIds: [{ name: 'x', type: 'User' }] }),
        ).toString('base64url')}.`,
      },
      body: event({}),
    },
    {
      label: 'a very long bearer',
      anonymous: true,
      headers: { authorization: `Bearer oua_${'f'.repeat(16)}_${'x'.repeat(8_000)}` },
      body: event({}),
    },
  ];

  it(`answers each of ${hostile.length} hostile requests with a status below 500, then stays healthy`, async () => {
    const failures: string[] = [];
    for (const input of hostile) {
      const headers: Record<string, string> = {
        'content-type': input.contentType ?? 'application/json',
        ...input.headers,
      };
      if (!input.anonymous) headers.authorization ??= `Bearer ${writeKey}`;
      const query = (input.query ?? '').replace('ACCESS', encodeURIComponent(writeKey));
      const response = await fetch(`${custom()}${query}`, {
        method: 'POST',
        headers,
        body: typeof input.body === 'string' ? input.body : new Uint8Array(input.body),
      });
      const text = await response.text();
      if (response.status >= 500) {
        failures.push(`${input.label}: ${response.status} ${text.slice(0, 200)}`);
        continue;
      }
      if (response.status >= 400) {
        // Every refusal uses the documented error body.
        const body = JSON.parse(text) as ErrorBody;
        if (body.statusCode !== response.status || typeof body.code !== 'string' || !body.message) {
          failures.push(`${input.label}: error body ${text.slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(failures, []);
    const health = await call(`${server.url}${UA_PREFIXES[0]}/monitoring/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'UP' });
    assertVisitAnswer(await call(custom(), { token: writeKey, body: validCustomEvent() }));
  });

  it('a repeated Content-Type header is refused below 500', async () => {
    const answer = await rawPost(
      custom(),
      [
        'content-type',
        'application/json',
        'content-type',
        'text/plain',
        'authorization',
        `Bearer ${writeKey}`,
      ],
      Buffer.from(event({})),
    );
    assert.ok(answer.status >= 400 && answer.status < 500, `${answer.status} ${answer.text}`);
    const health = await call(`${server.url}${UA_PREFIXES[0]}/monitoring/health`);
    assert.deepEqual(health.body, { status: 'UP' });
  });

  it('values that are not proper text are refused, not stored changed (NUL, lone surrogates, invalid UTF-8)', async () => {
    const eventType = uniqueType('odd-text');
    const nul = violationsOf(
      await call(custom(), {
        token: writeKey,
        body: validCustomEvent({ eventType, eventValue: 'a\u0000b', customData: { k: 'x\u0000y' } }),
      }),
    );
    assert.deepEqual(
      nul.map((v) => [v.field, v.rule]),
      [
        ['eventValue', 'nul'],
        ['customData.k', 'nul'],
      ],
    );
    // "\ud800" is valid JSON but not Unicode text: the store would keep U+FFFD in its place.
    const surrogate = violationsOf(
      await call(custom(), { token: writeKey, body: validCustomEvent({ eventType, eventValue: '\ud800' }) }),
    );
    assert.deepEqual(
      surrogate.map((v) => [v.field, v.rule]),
      [['eventValue', 'unicode']],
    );
    const bytes = await fetch(custom(), {
      method: 'POST',
      headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' },
      body: new Uint8Array(
        Buffer.concat([
          Buffer.from(`{"eventType":"${eventType}","eventValue":"`),
          Buffer.from([0xff]),
          Buffer.from('","language":"en"}'),
        ]),
      ),
    });
    assert.equal(bytes.status, 400);
    assert.equal((await storedOf(eventType)).length, 0);
  });

  it('deeply nested customData (5,000 levels, 10 KB) is a 400 naming the depth rule, not a 500', async () => {
    const eventType = uniqueType('deep');
    const answer = await call(custom(), {
      token: writeKey,
      raw: `{"eventType":"${eventType}","eventValue":"v","language":"en","customData":{"a":${nested(5000)}}}`,
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(
      violationsOf(answer).map((v) => [v.rule, v.limit]),
      [['depth', 64]],
    );
  });

  it('a customData key named "constructor" is an ordinary key', async () => {
    const eventType = uniqueType('ctor');
    const answer = await call(custom(), {
      token: writeKey,
      body: validCustomEvent({ eventType, customData: { constructor: 'x' } }),
    });
    assertVisitAnswer(answer);
    assert.deepEqual((await storedOne(eventType)).customData, { constructor: 'x' });
  });

  it('a text/plain or beacon event cannot take its fields from a top-level "__proto__" object', async () => {
    const eventType = uniqueType('proto');
    const raw = `{"__proto__":{"eventType":"${eventType}","eventValue":"v","language":"en"}}`;
    const text = await call(custom(), {
      token: writeKey,
      raw,
      headers: { 'content-type': 'text/plain' },
    });
    const beacon = await call(`${custom()}?access_token=${encodeURIComponent(writeKey)}`, {
      raw: new URLSearchParams({ customEvent: raw }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const json = await call(custom(), {
      token: writeKey,
      raw,
      headers: { 'content-type': 'application/json' },
    });
    // Every body shape refuses prototype keys the same way, with a 400 that says so.
    for (const answer of [json, text, beacon]) {
      const violations = violationsOf(answer);
      assert.deepEqual(
        violations.map((v) => v.rule),
        ['json'],
      );
      assert.match(violations[0]?.message ?? '', /prototype/i);
    }
    assert.equal((await storedOf(eventType)).length, 0);
  });
});

describe('health and status (no credential needed)', () => {
  for (const prefix of UA_PREFIXES) {
    it(`${prefix}/monitoring/health is UP`, async () => {
      const answer = await call(`${server.url}${prefix}/monitoring/health`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { status: 'UP' });
    });

    it(`${prefix}/status is online`, async () => {
      const answer = await call(`${server.url}${prefix}/status`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { status: 'online' });
    });
  }
});

describe('unknown routes', () => {
  for (const [method, path] of [
    ['GET', '/rest/ua/v15/analytics/nothing-here'],
    ['POST', '/rest/ua/v14/analytics/custom'],
    ['GET', '/rest/ua/v15/analytics/custom'],
  ] as const) {
    it(`${method} ${path} is 404 NOT_FOUND in JSON`, async () => {
      const answer = await call(`${server.url}${path}?x=1`, { method, token: writeKey });
      const body = errorOf(answer, 404, 'NOT_FOUND');
      assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(body.message, `No route ${method} ${path}`);
    });
  }
});
