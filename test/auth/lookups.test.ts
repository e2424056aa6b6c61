import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { readConfig } from '../../src/core/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/startup/services.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { testStorage } from '../helpers/engine.ts';
import { errorOf } from '../helpers/errors.ts';
import { CUSTOM_PATH, call, newMasterKey, removeDir, tempDir, validCustomEvent } from '../helpers/server.ts';

/**
 * A credential naming something that does not exist (an API key id, an organization) costs what one naming
 * something that does costs: no store round trip per request, so unauthenticated requests cannot load the store,
 * and no difference an attacker could time to learn what exists.
 */

/** Store reads of an entity table, by table name: the real store, read through a counting wrapper. */
const reads = new Map<string, number>();
const counted = (storage: Storage): Storage =>
  new Proxy(storage, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== 'find') return value.bind(target);
      return (table: { name: string }, ...rest: unknown[]) => {
        reads.set(table.name, (reads.get(table.name) ?? 0) + 1);
        return value.call(target, table, ...rest);
      };
    },
  });

let url: string;
let app: FastifyInstance;
let dataDir: string;
const masterKey = newMasterKey();

before(async () => {
  dataDir = tempDir();
  const config = readConfig({
    OPENUA_DATA_DIR: dataDir,
    OPENUA_MASTER_KEY: masterKey,
    OPENUA_LOG_LEVEL: 'silent',
    OPENUA_ALERT_INTERVAL_SECONDS: '0',
  });
  const services = await createServices(config, counted(await testStorage(dataDir)));
  app = await buildApp(services, { logger: false });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await app.close();
  removeDir(dataDir);
});

const post = (token: string, query = '') =>
  call(`${url}${CUSTOM_PATH}${query}`, { token, body: validCustomEvent() });
const readsOf = (table: string) => reads.get(table) ?? 0;
const randomKey = () => `oua_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
const tokenFor = (organization: string) =>
  new SignJWT({ organization, userIds: [{ name: 'eve@example.com', type: 'User' }] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(Buffer.from('a secret no organization has'));

describe('unknown API key ids', () => {
  it('the same unknown id, tried 20 times, is looked up in the store once', async () => {
    const key = randomKey();
    const before = readsOf('api_keys');
    for (let i = 0; i < 20; i++) errorOf(await post(key), 401, 'UNAUTHENTICATED');
    assert.equal(readsOf('api_keys') - before, 1);
  });

  it('an unknown id and a known id with a wrong secret get the same answer', async () => {
    const created = await call<{ key: string }>(`${url}/api/v1/orgs/default/keys`, {
      token: masterKey,
      body: { name: 'lookups', privileges: ['analytics:write'] },
    });
    const wrongSecret = `${created.body.key.slice(0, 21)}${'B'.repeat(43)}`;
    const known = await post(wrongSecret);
    const unknown = await post(randomKey());
    errorOf(known, 401, 'UNAUTHENTICATED');
    assert.deepEqual(unknown.body, known.body);
  });

  it('a key made while the cache holds refused ids works at once', async () => {
    // Key ids are random: the key made next has an id nobody could have tried (the server forgets it as missing
    // when it makes it all the same). What can be tried is a key made while the cache is full of others.
    for (let i = 0; i < 50; i++) await post(randomKey());
    const created = await call<{ key: string }>(`${url}/api/v1/orgs/default/keys`, {
      token: masterKey,
      body: { name: 'fresh', privileges: ['analytics:write'] },
    });
    assert.equal((await post(created.body.key)).status, 200);
  });
});

describe('unknown organizations', () => {
  it('search tokens naming 20 organizations that do not exist cost no store read each', async () => {
    const before = readsOf('organizations');
    for (let i = 0; i < 20; i++) {
      errorOf(await post(await tokenFor(`nobody-${i}`)), 400, 'INVALID_TOKEN');
    }
    // At most one read of the whole table (the list of organizations is refreshed every few seconds).
    assert.ok(readsOf('organizations') - before <= 1, `${readsOf('organizations') - before} reads`);
  });

  it('the master key naming one that does not exist, 20 times: 404 each, no store read each', async () => {
    const before = readsOf('organizations');
    for (let i = 0; i < 20; i++) errorOf(await post(masterKey, '?org=not-yet'), 404, 'NOT_FOUND');
    assert.ok(readsOf('organizations') - before <= 1, `${readsOf('organizations') - before} reads`);
  });

  it('an organization created after requests named it in vain works at once', async () => {
    errorOf(await post(masterKey, '?org=late-comer'), 404, 'NOT_FOUND');
    const created = await call(`${url}/api/v1/orgs`, { token: masterKey, body: { id: 'late-comer' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await post(masterKey, '?org=late-comer')).status, 200);
    const minted = await call<{ token: string }>(`${url}/api/v1/orgs/late-comer/tokens`, {
      token: masterKey,
      body: { userId: 'bob@example.com' },
    });
    assert.equal((await post(minted.body.token)).status, 200);
    // And it is still made once only.
    const again = await call(`${url}/api/v1/orgs`, { token: masterKey, body: { id: 'late-comer' } });
    errorOf(again, 409, 'CONFLICT');
  });
});
