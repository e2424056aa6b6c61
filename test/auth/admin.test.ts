import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { decodeJwt } from 'jose';
import { duckdbOnly } from '../helpers/engine.ts';
import { type ErrorBody, errorOf } from '../helpers/errors.ts';
import {
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

/** `/api/v1/orgs…`: organizations, API keys and search tokens, and the isolation between organizations. */

type CreatedKey = { id: string; key: string; org: string; name: string; privileges: string[] };

const KEY_FORMAT = /^oua_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const fieldsOf = (body: ErrorBody) => (body.violations ?? []).map((v) => v.field);

/** Every property name and every primitive value anywhere in a JSON value. */
function walk(value: unknown, names: string[] = [], values: unknown[] = []) {
  if (Array.isArray(value)) for (const item of value) walk(item, names, values);
  else if (value && typeof value === 'object') {
    for (const [name, item] of Object.entries(value)) {
      names.push(name);
      walk(item, names, values);
    }
  } else values.push(value);
  return { names, values };
}

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

/** What an organization is answered with: its settings, never its token secret. */
const ORG_FIELDS = [
  'allowedOrigins',
  'createdAt',
  'dedupWindowDays',
  'eventRetentionDays',
  'id',
  'kpiDefaults',
  'kpiEventRetentionDays',
  'maxEventAgeDays',
  'maxEventFutureMinutes',
  'name',
  'rateLimits',
  'recordRetentionDays',
  'rejectionRetentionDays',
  'unknownKpiEvents',
];
const orgsUrl = () => `${server.url}/api/v1/orgs`;
const keysUrl = (org: string) => `${server.url}/api/v1/orgs/${org}/keys`;
const tokensUrl = (org: string) => `${server.url}/api/v1/orgs/${org}/tokens`;
const customUrl = (query = '') => `${server.url}${CUSTOM_PATH}${query}`;

async function createOrg(id: string, name?: string) {
  const answer = await call(orgsUrl(), { token: server.masterKey, body: { id, name } });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

async function newKey(org: string, privileges: string[], token = server.masterKey): Promise<CreatedKey> {
  const answer = await call<CreatedKey>(keysUrl(org), {
    token,
    body: { name: `admin-test ${privileges.join(' ')}`, privileges },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

describe('organizations', () => {
  it('the master key creates one: 201 {id, name, createdAt, settings}, never its token secret', async () => {
    const answer = await call(orgsUrl(), {
      token: server.masterKey,
      body: { id: 'acme-1', name: 'Acme One' },
    });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body).sort(), ORG_FIELDS);
    assert.equal(answer.body.id, 'acme-1');
    assert.equal(answer.body.name, 'Acme One');
    assert.ok(!Number.isNaN(Date.parse(answer.body.createdAt as string)), 'createdAt is a date');
    const { tokenSecret } = await server.services.organizations.require('acme-1');
    assert.ok(!JSON.stringify(answer.body).includes(tokenSecret));
    const read = await call(`${orgsUrl()}/acme-1`, { token: server.masterKey });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, answer.body);
  });

  it('without a name, the name is the id', async () => {
    const org = await createOrg('nameless');
    assert.equal(org.name, 'nameless');
  });

  it('the same id again is 409 CONFLICT', async () => {
    await createOrg('twice');
    const answer = await call(orgsUrl(), { token: server.masterKey, body: { id: 'twice', name: 'again' } });
    const body = errorOf(answer, 409, 'CONFLICT');
    assert.match(body.message, /"twice" already exists/);
  });

  it('`default` already exists: 409', async () => {
    errorOf(await call(orgsUrl(), { token: server.masterKey, body: { id: 'default' } }), 409, 'CONFLICT');
  });

  for (const [label, id] of [
    ['uppercase', 'Acme'],
    ['too long (65 characters)', 'a'.repeat(65)],
    ['empty', ''],
    ['starting with "-"', '-acme'],
    ['holding a slash', 'a/b'],
  ] as const) {
    it(`an id that is ${label} is 400 naming field id`, async () => {
      const answer = await call(orgsUrl(), { token: server.masterKey, body: { id } });
      const body = errorOf(answer, 400, 'INVALID_REQUEST');
      assert.deepEqual(
        body.violations?.map((v) => [v.field, v.rule, v.received]),
        [['id', 'pattern', id]],
      );
    });
  }

  it('an id of 64 characters is accepted', async () => {
    await createOrg('b'.repeat(64));
  });

  it('a body without an id is 400 naming field id', async () => {
    const answer = await call(orgsUrl(), { token: server.masterKey, body: { name: 'no id' } });
    assert.deepEqual(fieldsOf(errorOf(answer, 400, 'INVALID_REQUEST')), ['id']);
  });

  it('an id of the wrong type (null, a number) is 400 naming field id, not 500', async () => {
    for (const id of [null, 123]) {
      const answer = await call(orgsUrl(), { token: server.masterKey, body: { id } });
      assert.deepEqual(fieldsOf(errorOf(answer, 400, 'INVALID_REQUEST')), ['id'], `id ${id}`);
    }
  });

  it('a name that is not a string is 400 naming field name, not 500', async () => {
    const answer = await call(orgsUrl(), {
      token: server.masterKey,
      body: { id: 'objname', name: { a: 1 } },
    });
    assert.deepEqual(fieldsOf(errorOf(answer, 400, 'INVALID_REQUEST')), ['name']);
  });

  it('an analytics:write key cannot create one (403)', async () => {
    const key = await createKey(server, ['analytics:write']);
    const answer = await call(orgsUrl(), { token: key, body: { id: 'by-writer' } });
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule, v.limit]),
      [['credential', 'privilege', 'admin']],
    );
    errorOf(await call(`${orgsUrl()}/by-writer`, { token: server.masterKey }), 404, 'NOT_FOUND');
  });

  it('an admin key cannot create one: 403 saying only the master key does, and nothing is created', async () => {
    const admin = await createKey(server, ['admin']);
    const answer = await call(orgsUrl(), { token: admin, body: { id: 'by-admin' } });
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.match(body.message, /only the master key/i);
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule, v.received]),
      [['credential', 'masterKey', 'apiKey']],
    );
    errorOf(await call(`${orgsUrl()}/by-admin`, { token: server.masterKey }), 404, 'NOT_FOUND');
  });

  it('an admin key cannot list, read or change another organization, or its keys and tokens (403)', async () => {
    await createOrg('admin-elsewhere');
    const admin = await createKey(server, ['admin']);
    const other = `${orgsUrl()}/admin-elsewhere`;
    const refused: [string, Parameters<typeof call>[1]][] = [
      [`${orgsUrl()}?org=admin-elsewhere`, {}],
      [other, {}],
      [other, { method: 'PATCH', body: { name: 'taken over' } }],
      [keysUrl('admin-elsewhere'), {}],
      [keysUrl('admin-elsewhere'), { body: { name: 'mine now', privileges: ['admin'] } }],
      [tokensUrl('admin-elsewhere'), { body: { userId: 'eve@example.com' } }],
      // An organization that does not exist is answered as one that does: 403, nothing to enumerate.
      [`${orgsUrl()}/no-such-org`, {}],
    ];
    for (const [url, init] of refused) {
      errorOf(await call(url, { ...init, token: admin }), 403, 'FORBIDDEN');
    }
    const read = await call(other, { token: server.masterKey });
    assert.equal(read.body.name, 'admin-elsewhere', 'the PATCH changed nothing');
  });

  it('without a credential: 401', async () => {
    errorOf(await call(orgsUrl(), { body: { id: 'anonymous-org' } }), 401, 'UNAUTHENTICATED');
    errorOf(await call(orgsUrl()), 401, 'UNAUTHENTICATED');
  });

  it('the master key lists every organization; an admin key of default lists only default', async () => {
    await createOrg('listed');
    const all = await call<{ orgs: { id: string }[] }>(orgsUrl(), { token: server.masterKey });
    assert.equal(all.status, 200);
    const ids = all.body.orgs.map((o) => o.id);
    for (const id of ['default', 'acme-1', 'listed']) assert.ok(ids.includes(id), `${id} in ${ids}`);
    assert.ok(!JSON.stringify(all.body).includes('tokenSecret'));
    for (const org of all.body.orgs) assert.deepEqual(Object.keys(org).sort(), ORG_FIELDS);

    const admin = await createKey(server, ['admin']);
    const own = await call<{ orgs: { id: string }[] }>(orgsUrl(), { token: admin });
    assert.equal(own.status, 200);
    assert.deepEqual(
      own.body.orgs.map((o) => o.id),
      ['default'],
    );
  });
});

describe('organization settings', () => {
  it("an admin key changes its own organization's settings, and no other's", async () => {
    await createOrg('settings-other');
    const admin = await createKey(server, ['admin']);
    const changed = await call(`${orgsUrl()}/default`, {
      method: 'PATCH',
      token: admin,
      body: { name: 'Renamed', unknownKpiEvents: 'flag' },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual([changed.body.name, changed.body.unknownKpiEvents], ['Renamed', 'flag']);
    const read = await call(`${orgsUrl()}/default`, { token: server.masterKey });
    assert.equal(read.body.unknownKpiEvents, 'flag');
    errorOf(
      await call(`${orgsUrl()}/settings-other`, { method: 'PATCH', token: admin, body: { name: 'x' } }),
      403,
      'FORBIDDEN',
    );
    const writer = await createKey(server, ['analytics:write']);
    errorOf(
      await call(`${orgsUrl()}/default`, { method: 'PATCH', token: writer, body: {} }),
      403,
      'FORBIDDEN',
    );
    const wrong = errorOf(
      await call(`${orgsUrl()}/default`, {
        method: 'PATCH',
        token: admin,
        body: { unknownKpiEvents: 'sometimes', tokenSecret: 'x' },
      }),
      400,
      'INVALID_REQUEST',
    );
    assert.deepEqual((wrong.violations ?? []).map((v) => [v.field, v.rule]).sort(), [
      ['tokenSecret', 'unknownField'],
      ['unknownKpiEvents', 'enum'],
    ]);
    await call(`${orgsUrl()}/default`, {
      method: 'PATCH',
      token: admin,
      body: { unknownKpiEvents: 'refuse' },
    });
  });
});

describe('API keys', () => {
  before(async () => {
    await createOrg('other');
  });

  it('creating one answers 201 with its id and its secret, once', async () => {
    const answer = await call<CreatedKey & { createdAt: string; revokedAt: unknown }>(keysUrl('default'), {
      token: server.masterKey,
      body: { name: 'web', privileges: ['analytics:write', 'analytics:write'] },
    });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.ok(answer.body.key.startsWith('oua_'));
    const match = KEY_FORMAT.exec(answer.body.key);
    assert.ok(match, `key format: ${answer.body.key}`);
    assert.equal(match[1], answer.body.id, 'the id is the middle part of the key');
    assert.equal(answer.body.org, 'default');
    assert.equal(answer.body.name, 'web');
    assert.deepEqual(answer.body.privileges, ['analytics:write'], 'duplicates are folded');
    assert.equal(answer.body.revokedAt, null);
    assert.ok(!('secretHash' in answer.body));
  });

  it('listing never shows a secret or its hash', async () => {
    const created = await newKey('default', ['analytics:read']);
    const secret = KEY_FORMAT.exec(created.key)?.[2] as string;
    const answer = await call<{ keys: { id: string }[] }>(keysUrl('default'), { token: server.masterKey });
    assert.equal(answer.status, 200);
    assert.ok(
      answer.body.keys.some((k) => k.id === created.id),
      'the new key is listed',
    );
    const { names, values } = walk(answer.body);
    assert.ok(!names.includes('secretHash'), `no secretHash property: ${names}`);
    assert.ok(!names.includes('key'), 'no key property');
    assert.ok(!values.includes(created.key), 'no value is the key');
    assert.ok(
      values.every((v) => typeof v !== 'string' || !v.includes(secret)),
      'no value holds the secret',
    );
    const hash = createHash('sha256').update(secret).digest('hex');
    assert.ok(!JSON.stringify(answer.body).includes(hash), 'no value holds the hash');
  });

  it('an unknown privilege is 400 naming privileges[index]', async () => {
    const answer = await call(keysUrl('default'), {
      token: server.masterKey,
      body: { name: 'bad', privileges: ['analytics:write', 'analytics:delete'] },
    });
    const body = errorOf(answer, 400, 'INVALID_REQUEST');
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule, v.received]),
      [['privileges[1]', 'enum', 'analytics:delete']],
    );
    const first = await call(keysUrl('default'), {
      token: server.masterKey,
      body: { name: 'bad', privileges: ['superuser'] },
    });
    assert.deepEqual(fieldsOf(errorOf(first, 400, 'INVALID_REQUEST')), ['privileges[0]']);
  });

  it('a missing name and empty privileges are both named at once', async () => {
    const answer = await call(keysUrl('default'), { token: server.masterKey, body: { privileges: [] } });
    assert.deepEqual(fieldsOf(errorOf(answer, 400, 'INVALID_REQUEST')).sort(), ['name', 'privileges']);
  });

  it('keys of an organization that does not exist: 404', async () => {
    const answer = await call(keysUrl('no-such-org'), {
      token: server.masterKey,
      body: { name: 'x', privileges: ['admin'] },
    });
    errorOf(answer, 404, 'NOT_FOUND');
  });

  it('an analytics:read key reads events but cannot post them', async () => {
    const { key } = await newKey('default', ['analytics:read']);
    const read = await call<{ events: unknown[] }>(`${server.url}/api/v1/events`, { token: key });
    assert.equal(read.status, 200);
    assert.ok(Array.isArray(read.body.events));
    const post = await call(customUrl(), { token: key, body: validCustomEvent() });
    const body = errorOf(post, 403, 'FORBIDDEN');
    assert.equal(body.violations?.[0]?.rule, 'privilege');
    assert.equal(body.violations?.[0]?.limit, 'analytics:write');
  });

  it('an analytics:write key posts events but cannot read them or administer', async () => {
    const { key } = await newKey('default', ['analytics:write']);
    assert.equal((await call(customUrl(), { token: key, body: validCustomEvent() })).status, 200);
    errorOf(await call(`${server.url}/api/v1/events`, { token: key }), 403, 'FORBIDDEN');
    errorOf(await call(keysUrl('default'), { token: key }), 403, 'FORBIDDEN');
  });

  it('an admin key manages keys of its own organization and is 403 on another', async () => {
    const admin = await newKey('default', ['admin']);
    const made = await newKey('default', ['analytics:write'], admin.key);
    assert.equal(made.org, 'default');
    assert.equal((await call(customUrl(), { token: made.key, body: validCustomEvent() })).status, 200);
    const listed = await call<{ keys: { id: string }[] }>(keysUrl('default'), { token: admin.key });
    assert.ok(listed.body.keys.some((k) => k.id === made.id));

    const elsewhere = await call(keysUrl('other'), {
      token: admin.key,
      body: { name: 'intruder', privileges: ['analytics:write'] },
    });
    const body = errorOf(elsewhere, 403, 'FORBIDDEN');
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.received]),
      [['org', 'other']],
    );
    errorOf(await call(keysUrl('other'), { token: admin.key }), 403, 'FORBIDDEN');
    errorOf(await call(`${orgsUrl()}/other`, { token: admin.key }), 403, 'FORBIDDEN');
    const otherKeys = await call<{ keys: { name: string }[] }>(keysUrl('other'), { token: server.masterKey });
    assert.ok(!otherKeys.body.keys.some((k) => k.name === 'intruder'));
  });

  it('a revoked key is 401 from then on, and listed with revokedAt', async () => {
    const { id, key } = await newKey('default', ['analytics:write']);
    assert.equal((await call(customUrl(), { token: key, body: validCustomEvent() })).status, 200);
    const revoked = await call(`${keysUrl('default')}/${id}`, { method: 'DELETE', token: server.masterKey });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.id, id);
    assert.ok(!Number.isNaN(Date.parse(revoked.body.revokedAt as string)));
    const after = await call(customUrl(), { token: key, body: validCustomEvent() });
    assert.match(errorOf(after, 401, 'UNAUTHENTICATED').message, /revoked/);
    const listed = await call<{ keys: { id: string; revokedAt: unknown }[] }>(keysUrl('default'), {
      token: server.masterKey,
    });
    assert.ok(listed.body.keys.find((k) => k.id === id)?.revokedAt);
  });

  it('revoking a key through another organization is 404, and the key keeps working', async () => {
    const { id, key } = await newKey('default', ['analytics:write']);
    const answer = await call(`${keysUrl('other')}/${id}`, { method: 'DELETE', token: server.masterKey });
    errorOf(answer, 404, 'NOT_FOUND');
    assert.equal((await call(customUrl(), { token: key, body: validCustomEvent() })).status, 200);
  });

  it('a key cannot revoke itself (403), and still works afterwards', async () => {
    const admin = await newKey('default', ['admin']);
    const answer = await call(`${keysUrl('default')}/${admin.id}`, { method: 'DELETE', token: admin.key });
    assert.match(errorOf(answer, 403, 'FORBIDDEN').message, /cannot revoke itself/);
    assert.equal((await call(keysUrl('default'), { token: admin.key })).status, 200);
  });

  it('an admin key revokes another key of its organization', async () => {
    const admin = await newKey('default', ['admin']);
    const victim = await newKey('default', ['analytics:write']);
    const answer = await call(`${keysUrl('default')}/${victim.id}`, { method: 'DELETE', token: admin.key });
    assert.equal(answer.status, 200);
    errorOf(await call(customUrl(), { token: victim.key, body: validCustomEvent() }), 401, 'UNAUTHENTICATED');
  });
});

describe('secrets at rest', () => {
  let own: TestServer;
  let closed = false;
  before(async () => {
    own = await startServer();
  });
  after(async () => {
    if (!closed) await own.close();
    removeDir(own.dataDir);
  });

  it(
    'the database holds the sha256 of each secret and never the secret',
    duckdbOnly('reads the DuckDB file directly'),
    async () => {
      const created = await call<CreatedKey>(`${own.url}/api/v1/orgs/default/keys`, {
        token: own.masterKey,
        body: { name: 'at-rest', privileges: ['analytics:write'] },
      });
      assert.equal(created.status, 201);
      const [, id, secret] = KEY_FORMAT.exec(created.body.key) as unknown as [string, string, string];
      await own.close();
      closed = true;

      const instance = await DuckDBInstance.create(path.join(own.dataDir, 'openua.duckdb'));
      const connection = await instance.connect();
      try {
        const reader = await connection.runAndReadAll('SELECT * FROM api_keys');
        const rows = reader.getRowObjectsJS() as Record<string, unknown>[];
        const row = rows.find((r) => r.id === id);
        assert.ok(row, `the key's row is stored: ${JSON.stringify(rows.map((r) => r.id))}`);
        const text = JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
        assert.ok(!text.includes(secret), 'no column of any row holds the secret');
        assert.ok(!text.includes(created.body.key), 'no column of any row holds the key');
        assert.equal(row.secret_hash, createHash('sha256').update(secret).digest('hex'));
        assert.equal(row.org, 'default');
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    },
  );
});

describe('organization isolation', () => {
  let keyA: CreatedKey;
  let keyB: CreatedKey;
  const markers = { a: [] as string[], b: [] as string[] };

  before(async () => {
    await createOrg('a', 'Org A');
    await createOrg('b', 'Org B');
    keyA = await newKey('a', ['analytics:write', 'analytics:read']);
    keyB = await newKey('b', ['analytics:write', 'analytics:read']);
    for (const [org, key] of [
      ['a', keyA],
      ['b', keyB],
    ] as const) {
      for (let i = 0; i < 3; i++) {
        const marker = `${org}-${i}-${crypto.randomUUID()}`;
        const answer = await call(customUrl(), {
          token: key.key,
          body: validCustomEvent({ eventType: 'isolation', customData: { marker } }),
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        markers[org].push(marker);
      }
    }
  });

  const markersOf = (events: Record<string, unknown>[]) =>
    events
      .filter((e) => e.eventType === 'isolation')
      .map((e) => (e.customData as Record<string, string>).marker)
      .sort();

  it('key A posting with ?org=b is 403 naming org, and nothing lands in b', async () => {
    const marker = `cross-${crypto.randomUUID()}`;
    const answer = await call(customUrl('?org=b'), {
      token: keyA.key,
      body: validCustomEvent({ eventType: 'isolation', customData: { marker } }),
    });
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.received]),
      [['org', 'b']],
    );
    const inB = await readEvents(server, server.masterKey, '&org=b');
    const inA = await readEvents(server, server.masterKey, '&org=a');
    assert.ok(!markersOf([...inA, ...inB]).includes(marker));
  });

  it('each key sees exactly the events of its own organization', async () => {
    const seenByA = await readEvents(server, keyA.key);
    const seenByB = await readEvents(server, keyB.key);
    assert.deepEqual(markersOf(seenByA), [...markers.a].sort());
    assert.deepEqual(markersOf(seenByB), [...markers.b].sort());
    assert.ok(seenByA.every((e) => e.org === 'a'));
    assert.ok(seenByB.every((e) => e.org === 'b'));
  });

  it('key A reading with ?org=b is 403, and with ?org=a sees its own', async () => {
    const answer = await call(`${server.url}/api/v1/events?org=b`, { token: keyA.key });
    assert.deepEqual(
      errorOf(answer, 403, 'FORBIDDEN').violations?.map((v) => v.field),
      ['org'],
    );
    assert.deepEqual(markersOf(await readEvents(server, keyA.key, '&org=a')), [...markers.a].sort());
  });

  it('the master key with ?org=a sees only the events of a', async () => {
    const events = await readEvents(server, server.masterKey, '&org=a');
    assert.deepEqual(markersOf(events), [...markers.a].sort());
    assert.ok(events.every((e) => e.org === 'a'));
    const inDefault = await readEvents(server, server.masterKey);
    assert.deepEqual(markersOf(inDefault), [], 'without ?org the master key reads default');
  });

  it('the master key with ?org=missing is 404', async () => {
    const answer = await call(`${server.url}/api/v1/events?org=missing`, { token: server.masterKey });
    assert.match(errorOf(answer, 404, 'NOT_FOUND').message, /"missing" does not exist/);
    const post = await call(customUrl('?org=missing'), { token: server.masterKey, body: validCustomEvent() });
    errorOf(post, 404, 'NOT_FOUND');
  });

  it('key A cannot list or create the keys of b', async () => {
    errorOf(await call(keysUrl('b'), { token: keyA.key }), 403, 'FORBIDDEN');
  });
});

describe('search tokens', () => {
  let tokenA: string;

  before(async () => {
    const answer = await call<{ token: string }>(tokensUrl('a'), {
      token: server.masterKey,
      body: { userId: 'bob@a.example' },
    });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    tokenA = answer.body.token;
  });

  async function mint(body: Record<string, unknown>, org = 'default') {
    return call<{ token: string; expiresAt: string }>(tokensUrl(org), { token: server.masterKey, body });
  }

  it('minting answers 201 {token, expiresAt} with the claims asked for', async () => {
    const answer = await mint({
      userId: 'alice@example.com',
      userDisplayName: 'Alice',
      searchHub: 'CommunityHub',
      userGroups: ['staff', 'beta'],
      expiresIn: 600,
    });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body).sort(), ['expiresAt', 'token']);
    const claims = decodeJwt(answer.body.token);
    assert.equal(claims.organization, 'default');
    assert.equal((claims.userIds as { name: string }[])[0]?.name, 'alice@example.com');
    assert.equal(claims.userDisplayName, 'Alice');
    assert.equal(claims.searchHub, 'CommunityHub');
    assert.deepEqual(claims.userGroups, ['staff', 'beta']);
    assert.equal(Date.parse(answer.body.expiresAt) / 1000, claims.exp);
    assert.equal((claims.exp as number) - (claims.iat as number) >= 599, true);
    assert.equal((claims.exp as number) - (claims.iat as number) <= 601, true);
  });

  it("an event posted with a token is stored with the token's user, display name and search hub", async () => {
    const { body } = await mint({
      userId: 'carol@example.com',
      userDisplayName: 'Carol',
      searchHub: 'SupportHub',
      expiresIn: 600,
    });
    const eventType = `token-event-${crypto.randomUUID()}`;
    const answer = await call(customUrl(), { token: body.token, body: validCustomEvent({ eventType }) });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [event, ...rest] = await readEvents(server, server.masterKey, `&eventType=${eventType}`);
    assert.equal(rest.length, 0);
    assert.equal(event?.org, 'default');
    assert.equal(event?.username, 'carol@example.com');
    assert.equal(event?.userDisplayName, 'Carol');
    assert.equal(event?.originLevel1, 'SupportHub');
    assert.equal(event?.anonymous, false);
  });

  it('a token cannot read events (403 privilege)', async () => {
    const { body } = await mint({ userId: 'dave@example.com' });
    const answer = await call(`${server.url}/api/v1/events`, { token: body.token });
    const error = errorOf(answer, 403, 'FORBIDDEN');
    assert.deepEqual(
      error.violations?.map((v) => [v.rule, v.limit]),
      [['privilege', 'analytics:read']],
    );
    errorOf(await call(keysUrl('default'), { token: body.token }), 403, 'FORBIDDEN');
  });

  it('a token of org a acts on a, and with ?org=b is 403', async () => {
    const eventType = `token-a-${crypto.randomUUID()}`;
    const own = await call(customUrl(), { token: tokenA, body: validCustomEvent({ eventType }) });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const stored = await readEvents(server, server.masterKey, `&org=a&eventType=${eventType}`);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.username, 'bob@a.example');

    const cross = await call(customUrl('?org=b'), { token: tokenA, body: validCustomEvent({ eventType }) });
    assert.deepEqual(
      errorOf(cross, 403, 'FORBIDDEN').violations?.map((v) => [v.field, v.received]),
      [['org', 'b']],
    );
    assert.equal((await readEvents(server, server.masterKey, `&org=b&eventType=${eventType}`)).length, 0);
  });

  for (const expiresIn of [0, -5, 1.5, 'abc', 400 * 24 * 3600]) {
    it(`expiresIn ${JSON.stringify(expiresIn)} is 400 naming expiresIn`, async () => {
      const answer = await mint({ userId: 'erin@example.com', expiresIn });
      const body = errorOf(answer, 400, 'INVALID_REQUEST');
      assert.deepEqual(
        body.violations?.map((v) => [v.field, v.received]),
        [['expiresIn', expiresIn]],
      );
    });
  }

  it('a missing userId is 400 naming userId', async () => {
    assert.deepEqual(fieldsOf(errorOf(await mint({ expiresIn: 60 }), 400, 'INVALID_REQUEST')), ['userId']);
  });

  it('an analytics:write key cannot mint tokens (403)', async () => {
    const key = await createKey(server, ['analytics:write']);
    const answer = await call(tokensUrl('default'), { token: key, body: { userId: 'x@example.com' } });
    errorOf(answer, 403, 'FORBIDDEN');
  });

  it('tokens for an organization that does not exist: 404', async () => {
    errorOf(await mint({ userId: 'x@example.com' }, 'no-such-org'), 404, 'NOT_FOUND');
  });
});
