import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CUSTOM_PATH,
  call,
  createKey,
  readEvents,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';
import { mintToken } from '../helpers/ua.ts';

/** The identity rules of the UA Write API, by kind of credential (reference §2 and §4). */

let server: TestServer;
let writeKey: string;
let impersonateKey: string;
let token: string;
let tokenWithoutUser: string;

const mint = (claims: Record<string, unknown>) => mintToken(server, claims);

serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
  impersonateKey = await createKey(server, ['analytics:write', 'analytics:impersonate']);
  token = await mint({ userId: 'alice@example.com', userDisplayName: 'Alice', searchHub: 'CommunityHub' });
  tokenWithoutUser = await mint({ userId: 'x' });
});

let counter = 0;
/** Posts one event with a unique eventType and answers the stored record. */
async function stored(credential: string, extra: Record<string, unknown> = {}) {
  const eventType = `identity-${++counter}`;
  const answer = await call(`${server.url}${CUSTOM_PATH}`, {
    token: credential,
    body: validCustomEvent({ eventType, ...extra }),
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const [event] = await readEvents(server, server.masterKey, `&eventType=${eventType}`);
  assert.ok(event);
  return event;
}

describe('username and userDisplayName in the body', () => {
  for (const field of ['username', 'userDisplayName']) {
    it(`${field} without analytics:impersonate is 403, naming the field`, async () => {
      for (const credential of [writeKey, token]) {
        const answer = await call(`${server.url}${CUSTOM_PATH}`, {
          token: credential,
          body: validCustomEvent({ eventType: 'refused', [field]: 'mallory' }),
        });
        assert.equal(answer.status, 403);
        assert.equal(answer.body.code, 'FORBIDDEN');
        assert.match(String(answer.body.message), new RegExp(field));
        const violations = answer.body.violations as { field: string; rule: string; received: unknown }[];
        assert.deepEqual(
          violations.map((v) => [v.field, v.rule, v.received]),
          [[field, 'privilege', 'mallory']],
        );
      }
      assert.equal((await readEvents(server, server.masterKey, '&eventType=refused')).length, 0);
    });
  }

  it('both at once are both named', async () => {
    const answer = await call(`${server.url}${CUSTOM_PATH}`, {
      token: writeKey,
      body: validCustomEvent({ username: 'm', userDisplayName: 'M' }),
    });
    assert.equal(answer.status, 403);
    const fields = (answer.body.violations as { field: string }[]).map((v) => v.field);
    assert.deepEqual(fields, ['username', 'userDisplayName']);
  });

  it('with analytics:impersonate they are stored as sent, over the token', async () => {
    const event = await stored(impersonateKey, { username: 'bob@example.com', userDisplayName: 'Bob' });
    assert.equal(event.username, 'bob@example.com');
    assert.equal(event.userDisplayName, 'Bob');
  });

  it('the master key may impersonate', async () => {
    const event = await stored(server.masterKey, { username: 'carol' });
    assert.equal(event.username, 'carol');
  });
});

describe('defaults by credential', () => {
  it('an API key without a username records "anonymous"', async () => {
    const event = await stored(writeKey);
    assert.equal(event.username, 'anonymous');
    assert.equal(event.userDisplayName, null);
    assert.equal(event.anonymous, false);
  });

  it('a search token supplies username, display name and originLevel1', async () => {
    const event = await stored(token);
    assert.equal(event.username, 'alice@example.com');
    assert.equal(event.userDisplayName, 'Alice');
    assert.equal(event.originLevel1, 'CommunityHub');
  });

  it("originLevel1 in the body wins over the token's searchHub", async () => {
    const event = await stored(token, { originLevel1: 'OtherHub' });
    assert.equal(event.originLevel1, 'OtherHub');
  });

  it('anonymous: true keeps the token identity out of the record, but not the search hub', async () => {
    const event = await stored(token, { anonymous: true });
    assert.equal(event.anonymous, true);
    assert.equal(event.username, 'anonymous');
    assert.equal(event.userDisplayName, null);
    assert.equal(event.originLevel1, 'CommunityHub');
  });

  it('anonymous: false keeps the token identity', async () => {
    const event = await stored(token, { anonymous: false });
    assert.equal(event.username, 'alice@example.com');
  });

  it('a token user without a display name leaves it blank', async () => {
    const event = await stored(tokenWithoutUser);
    assert.equal(event.username, 'x');
    assert.equal(event.userDisplayName, null);
    assert.equal(event.originLevel1, null);
  });

  it('the organization comes from the credential, not the body', async () => {
    const event = await stored(writeKey, { org: 'someone-else', organization: 'someone-else' });
    assert.equal(event.org, 'default');
  });
});
