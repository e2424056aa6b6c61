import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { duckdbOnly } from '../helpers/engine.ts';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  removeDir,
  serverForSuite,
  startServer,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';
import { postEvent, validSearchEvent } from '../helpers/ua.ts';

/**
 * Coveo's custom dimension API (`/rest/ua/v15/dimensions/custom`, and `/rest/v15/…`) over OpenUA's one
 * dimension registry: what it accepts and refuses, and that a dimension declared through either API is the
 * other's too, queries included.
 */

const PREFIXES = ['/rest/ua/v15/dimensions/custom', '/rest/v15/dimensions/custom'] as const;

interface CoveoDimension {
  name: string;
  returnName: string;
  apiNames: string[];
  displayName: string;
  type: string;
  path: string[];
  eventTypes: string[];
  custom: boolean;
  status: string;
  field: string;
  eventKinds: string[];
  createdAt: string;
}

interface RegistryDimension {
  name: string;
  type: string;
  displayName: string;
  eventKinds: string[];
  field: string;
}

let server: TestServer;
let admin: string;
let writer: string;
serverForSuite(async (started) => {
  server = started;
  admin = await createKey(server, ['admin']);
  writer = await createKey(server, ['analytics:write']);
});

/** A run-unique key, so that the suites' dimensions never meet. */
const unique = (base: string) => `${base}_${randomUUID().slice(0, 8)}`;

const dimensionsUrl = (query = '', prefix: string = PREFIXES[0]) =>
  `${server.url}${prefix}${query ? `?${query}` : ''}`;

const declare = (
  method: 'POST' | 'PUT',
  query: string,
  body: unknown,
  options: { token?: string; prefix?: string; path?: string } = {},
) =>
  call<CoveoDimension>(
    `${server.url}${options.prefix ?? PREFIXES[0]}${options.path ? `/${options.path}` : ''}${query ? `?${query}` : ''}`,
    { method, token: options.token ?? admin, body },
  );

const coveoList = (prefix: string = PREFIXES[0], token = admin) =>
  call<CoveoDimension[]>(dimensionsUrl('', prefix), { token });

const getOne = (apiName: string, prefix: string = PREFIXES[0], token = admin) =>
  call<CoveoDimension>(`${server.url}${prefix}/${apiName}`, { token });

async function registryList(): Promise<RegistryDimension[]> {
  const answer = await call<{ dimensions: RegistryDimension[] }>(`${server.url}/api/v1/dimensions`, {
    token: server.masterKey,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.dimensions;
}

describe('declaring through Coveo’s API', () => {
  it('creates a dimension of each Coveo type, typed in the registry as queries read it', async () => {
    const expected = {
      TEXT: 'text',
      NUMBER: 'number',
      SHORT: 'number',
      BOOLEAN: 'boolean',
      DATE: 'text',
      DATETIME: 'text',
    } as const;
    const keys: Record<string, string> = {};
    for (const type of Object.keys(expected)) {
      const key = unique(`of_${type.toLowerCase()}`);
      keys[type] = key;
      const created = await declare('POST', `name=${key}`, { type, displayName: `Of ${type}` });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.name, `c_${key}`);
      assert.equal(created.body.type, type);
      assert.equal(created.body.displayName, `Of ${type}`);
      assert.deepEqual(created.body.eventTypes, ['searches', 'clicks', 'custom_events'], 'no event: all');
      assert.deepEqual(created.body.eventKinds, []);
    }
    const registry = new Map((await registryList()).map((d) => [d.name, d]));
    for (const [type, registryType] of Object.entries(expected)) {
      const key = keys[type] as string;
      assert.equal(registry.get(key)?.type, registryType, `${type} reads as ${registryType}`);
      assert.equal(registry.get(key)?.field, `customData.${key}`);
      assert.equal((registry.get(key) as unknown as Record<string, unknown>).coveoType, undefined);
      // The Coveo view answers the type the user declared, not the registry's.
      assert.equal((await getOne(`c_${key}`)).body.type, type);
    }
  });

  it('answers Coveo’s dimension model, with a repeated `event`, the `c_` prefix optional in `name`', async () => {
    const key = unique('user_role');
    const created = await declare('POST', `name=c_${key}&event=searches&event=clicks&updatePastEvents=true`, {
      type: 'TEXT',
      displayName: 'User role',
      path: [key],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { createdAt, ...model } = created.body;
    assert.ok(!Number.isNaN(Date.parse(createdAt)));
    assert.deepEqual(model, {
      name: `c_${key}`,
      returnName: `c_${key}`,
      apiNames: [`c_${key}`, `searches.c_${key}`, `clicks.c_${key}`],
      displayName: 'User role',
      type: 'TEXT',
      path: [key],
      eventTypes: ['searches', 'clicks'],
      custom: true,
      status: 'AVAILABLE',
      field: `customData.${key}`,
      eventKinds: ['search', 'click'],
    });
    const [registered] = (await registryList()).filter((d) => d.name === key);
    assert.deepEqual(registered?.eventKinds, ['search', 'click']);
    // One event named once, a key with capitals and spaces folded as customData keys are.
    const folded = unique('Basket Size');
    const single = await declare('POST', `name=${encodeURIComponent(folded)}&event=custom_events`, {
      type: 'NUMBER',
      displayName: 'Basket',
    });
    assert.equal(single.status, 201, JSON.stringify(single.body));
    assert.equal(single.body.name, `c_${folded.toLowerCase().replace(' ', '_')}`);
    assert.deepEqual(single.body.eventTypes, ['custom_events']);
    assert.deepEqual(single.body.eventKinds, ['custom']);
  });

  it('lists and reads them under both prefixes, by `c_<key>` or `<event>.c_<key>`', async () => {
    const key = unique('listed');
    const created = await declare(
      'POST',
      `name=${key}&event=clicks`,
      { type: 'BOOLEAN', displayName: 'Listed' },
      { prefix: PREFIXES[1] },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const prefix of PREFIXES) {
      const listed = await coveoList(prefix);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.ok(Array.isArray(listed.body), 'Coveo answers a list of dimension models');
      const found = listed.body.find((d) => d.name === `c_${key}`);
      assert.equal(found?.type, 'BOOLEAN');
      assert.deepEqual(found?.eventTypes, ['clicks']);
      for (const apiName of [`c_${key}`, `clicks.c_${key}`, `CLICKS.c_${key}`]) {
        const one = await getOne(apiName, prefix);
        assert.equal(one.status, 200, JSON.stringify(one.body));
        assert.deepEqual(one.body, found);
      }
    }
    errorOf(await getOne(`c_${unique('absent')}`), 404, 'NOT_FOUND');
    const includeOnlyParents = await call(dimensionsUrl('includeOnlyParents=true'), { token: admin });
    assert.equal(includeOnlyParents.status, 200, JSON.stringify(includeOnlyParents.body));
  });

  it('PUT edits one (keeping its events unless `event` is given) or creates it', async () => {
    const key = unique('edited');
    const created = await declare('POST', `name=${key}&event=searches`, {
      type: 'TEXT',
      displayName: 'Before',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const edited = await declare('PUT', `name=c_${key}&updatePastEvents=false`, {
      type: 'SHORT',
      displayName: 'After',
    });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.type, 'SHORT');
    assert.equal(edited.body.displayName, 'After');
    assert.deepEqual(edited.body.eventTypes, ['searches'], 'no `event`: the events it had');
    assert.equal(edited.body.createdAt, created.body.createdAt, 'still the dimension created before');

    // Coveo's client edits by path: PUT …/custom/{apiName}?updatePastEvents=…
    const byPath = await declare(
      'PUT',
      'event=clicks&event=custom_events',
      { type: 'NUMBER', displayName: 'By path' },
      { path: `searches.c_${key}`, prefix: PREFIXES[1] },
    );
    assert.equal(byPath.status, 200, JSON.stringify(byPath.body));
    assert.deepEqual(byPath.body.eventTypes, ['clicks', 'custom_events']);
    const [registered] = (await registryList()).filter((d) => d.name === key);
    assert.deepEqual(
      [registered?.type, registered?.displayName, registered?.eventKinds],
      ['number', 'By path', ['click', 'custom']],
    );

    const fresh = unique('put_created');
    const put = await declare('PUT', `name=${fresh}`, { type: 'DATETIME', displayName: 'Made by PUT' });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.type, 'DATETIME');
    const putByPath = await declare(
      'PUT',
      '',
      { type: 'DATE', displayName: 'Made by PUT on its path' },
      { path: `c_${unique('put_path')}` },
    );
    assert.equal(putByPath.status, 201, JSON.stringify(putByPath.body));
    assert.equal((await getOne(putByPath.body.name)).body.type, 'DATE');
  });

  it('DELETE removes one from both views; a second DELETE is 404', async () => {
    const key = unique('deleted');
    const created = await declare('POST', `name=${key}`, { type: 'TEXT', displayName: 'Doomed' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const removed = await call(`${server.url}${PREFIXES[1]}/c_${key}`, { method: 'DELETE', token: admin });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.ok(!(await registryList()).some((d) => d.name === key));
    assert.ok(!(await coveoList()).body.some((d) => d.name === `c_${key}`));
    errorOf(
      await call(`${server.url}${PREFIXES[0]}/c_${key}`, { method: 'DELETE', token: admin }),
      404,
      'NOT_FOUND',
    );
  });

  it('POST refuses a dimension that exists, whichever form of its name', async () => {
    const key = unique('twice');
    const first = await declare('POST', `name=${key}`, { type: 'TEXT', displayName: 'Once' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    errorOf(
      await declare('POST', `name=c_${key}`, { type: 'NUMBER', displayName: 'Twice' }),
      409,
      'CONFLICT',
    );
    errorOf(
      await declare('POST', `name=${key.toUpperCase()}`, { type: 'TEXT', displayName: 'x' }),
      409,
      'CONFLICT',
    );
    assert.equal((await getOne(`c_${key}`)).body.type, 'TEXT', 'the first one is kept');
  });
});

describe('refusals', () => {
  const body = { type: 'TEXT', displayName: 'x' };

  it('needs `admin`: 401 without a credential, 400 InvalidToken for a bad search token, 403 with an analytics:write key, on every route', async () => {
    const key = unique('guarded');
    const routes: [string, string, unknown][] = [
      ['GET', '', undefined],
      ['GET', `/c_${key}`, undefined],
      ['POST', `?name=${key}`, body],
      ['PUT', `?name=${key}`, body],
      ['PUT', `/c_${key}`, body],
      ['DELETE', `/c_${key}`, undefined],
    ];
    for (const prefix of PREFIXES) {
      for (const [method, rest, payload] of routes) {
        const url = `${server.url}${prefix}${rest}`;
        errorOf(await call(url, { method, body: payload }), 401, 'UNAUTHENTICATED');
        // Coveo's answer to a search token it cannot trust, as on the Write API.
        const untrusted = errorOf(
          await call(url, { method, body: payload, token: 'eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJl' }),
          400,
          'INVALID_TOKEN',
        );
        assert.equal(untrusted.type, 'InvalidToken');
        const forbidden = errorOf(
          await call(url, { method, body: payload, token: writer }),
          403,
          'FORBIDDEN',
        );
        assert.deepEqual(
          forbidden.violations?.map((v) => [v.field, v.rule, v.limit]),
          [['credential', 'privilege', 'admin']],
        );
      }
    }
    assert.ok(!(await registryList()).some((d) => d.name === key), 'nothing was declared');
  });

  it('a type, an event or a name that is not Coveo’s is refused, naming the field, the rule and the value', async () => {
    const key = unique('refused');
    const badType = violationsOf(await declare('POST', `name=${key}`, { type: 'DECIMAL', displayName: 'x' }));
    assert.deepEqual(
      badType.map((v) => [v.field, v.rule, v.received]),
      [['type', 'enum', 'DECIMAL']],
    );
    assert.deepEqual(badType[0]?.limit, ['TEXT', 'NUMBER', 'SHORT', 'BOOLEAN', 'DATE', 'DATETIME']);

    const badEvent = violationsOf(await declare('PUT', `name=${key}&event=searches&event=views`, body));
    assert.deepEqual(
      badEvent.map((v) => [v.field, v.rule, v.received]),
      [['event[1]', 'enum', 'views']],
    );
    assert.deepEqual(badEvent[0]?.limit, ['searches', 'clicks', 'custom_events']);
    const oneBadEvent = violationsOf(await declare('POST', `name=${key}&event=Searches`, body));
    assert.deepEqual(
      oneBadEvent.map((v) => [v.field, v.rule, v.received]),
      [['event[0]', 'enum', 'Searches']],
    );

    const badName = violationsOf(await declare('POST', `name=${encodeURIComponent('größe')}`, body));
    assert.deepEqual(
      badName.map((v) => [v.field, v.rule, v.received]),
      [['name', 'keyCharacters', 'größe']],
    );
    const onlyPrefix = violationsOf(await declare('POST', 'name=c_', body));
    assert.deepEqual(
      onlyPrefix.map((v) => [v.field, v.rule, v.received]),
      [['name', 'minLength', 'c_']],
    );
    const noName = violationsOf(await declare('POST', '', body));
    assert.deepEqual(
      noName.map((v) => [v.field, v.rule]),
      [['name', 'required']],
    );
    const badApiName = violationsOf(await getOne('user_role'));
    assert.deepEqual(
      badApiName.map((v) => [v.field, v.rule, v.received]),
      [['dimension', 'pattern', 'user_role']],
    );
    const badApiKey = violationsOf(await declare('PUT', '', body, { path: 'c_a-b' }));
    assert.deepEqual(
      badApiKey.map((v) => [v.field, v.rule, v.received]),
      [['dimension', 'keyCharacters', 'a-b']],
    );
    const otherPath = violationsOf(await declare('POST', `name=${key}`, { ...body, path: ['other_key'] }));
    assert.deepEqual(
      otherPath.map((v) => [v.field, v.rule, v.received, v.limit]),
      [['path[0]', 'matchesName', 'other_key', key]],
    );
    const semiStructured = violationsOf(
      await declare('POST', `name=${key}`, { ...body, path: [key, 'child'] }),
    );
    assert.deepEqual(
      semiStructured.map((v) => [v.field, v.rule]),
      [['path', 'maxItems']],
    );
    const mismatch = violationsOf(
      await declare('PUT', `name=${unique('other')}`, body, { path: `c_${key}` }),
    );
    assert.deepEqual(
      mismatch.map((v) => [v.field, v.rule]),
      [['name', 'matchesPath']],
    );
    const badFlag = violationsOf(await declare('PUT', `name=${key}&updatePastEvents=yes`, body));
    assert.deepEqual(
      badFlag.map((v) => [v.field, v.rule, v.received]),
      [['updatePastEvents', 'enum', 'yes']],
    );
    // Every violation at once: the query string's and the body's.
    const many = violationsOf(await declare('POST', `name=${key}&event=pageviews`, { displayName: '' }));
    assert.deepEqual(many.map((v) => [v.field, v.rule]).sort(), [
      ['displayName', 'minLength'],
      ['event[0]', 'enum'],
      ['type', 'required'],
    ]);
    assert.ok(!(await registryList()).some((d) => d.name === key), 'nothing was declared');
  });

  it('a path sent as one string is that step', async () => {
    const key = unique('string_path');
    const created = await declare('POST', `name=${key}`, { type: 'TEXT', displayName: 'x', path: key });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.path, [key]);
  });
});

describe('one registry, two views', () => {
  it('a NUMBER dimension declared through Coveo’s API is summed by the query API, over its events only', async () => {
    const key = unique('basket_total');
    const created = await declare('POST', `name=${key}&event=custom_events`, {
      type: 'NUMBER',
      displayName: 'Basket total',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const marker = unique('summed');
    for (const value of ['5', '7.5', 'n/a']) {
      const posted = await call(`${server.url}${CUSTOM_PATH}`, {
        token: server.masterKey,
        body: validCustomEvent({ eventType: marker, customData: { [key]: value } }),
      });
      assert.equal(posted.status, 200, JSON.stringify(posted.body));
    }
    // A search carrying the same key: not one of the dimension's events, so not read.
    const searched = await postEvent(
      server,
      'search',
      validSearchEvent({ queryText: marker, customData: { [key]: '1000' } }),
    );
    assert.equal(searched.status, 200, JSON.stringify(searched.body));

    const answer = await call<{ rows: Record<string, unknown>[]; meta: Record<string, unknown> }>(
      `${server.url}/api/v1/query`,
      {
        token: server.masterKey,
        body: {
          from: new Date(Date.now() - 3600_000).toISOString(),
          to: new Date(Date.now() + 60_000).toISOString(),
          measures: ['count', { fn: 'sum', field: created.body.field, as: 'total' }],
          dimensions: ['category'],
          filters: [
            {
              or: [
                { field: 'eventType', op: 'eq', value: marker },
                { field: 'queryText', op: 'eq', value: marker },
              ],
            },
          ],
          orderBy: [{ field: 'category' }],
        },
      },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.rows, [
      { category: 'custom', count: 3, total: 12.5 },
      { category: 'search', count: 1, total: null },
    ]);
    assert.deepEqual(answer.body.meta.typeErrors, { [`customData.${key}`]: 1 });
  });

  it('a dimension declared through /api/v1/dimensions is listed by Coveo’s API with its Coveo type', async () => {
    const cases = [
      {
        name: unique('Is VIP'),
        type: 'boolean',
        eventKinds: ['view', 'search'],
        coveo: 'BOOLEAN',
        events: ['searches'],
      },
      {
        name: unique('wait'),
        type: 'number',
        eventKinds: [],
        coveo: 'NUMBER',
        events: ['searches', 'clicks', 'custom_events'],
      },
      { name: unique('tier'), type: 'text', eventKinds: ['view'], coveo: 'TEXT', events: [] },
    ];
    for (const { name, type, eventKinds, coveo, events } of cases) {
      const created = await call<RegistryDimension>(`${server.url}/api/v1/dimensions`, {
        token: server.masterKey,
        body: { name, type, eventKinds, displayName: `Declared ${type}` },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const key = created.body.name;
      const found = (await coveoList()).body.find((d) => d.name === `c_${key}`);
      assert.equal(found?.type, coveo);
      assert.equal(found?.displayName, `Declared ${type}`);
      assert.deepEqual(found?.eventTypes, events);
      assert.deepEqual(found?.eventKinds, eventKinds, 'the registry’s kinds, Coveo’s or not');
      assert.equal(found?.field, `customData.${key}`);
      // And the Coveo API removes it from the registry.
      const removed = await call(`${server.url}${PREFIXES[0]}/c_${key}`, { method: 'DELETE', token: admin });
      assert.equal(removed.status, 204);
      assert.ok(!(await registryList()).some((d) => d.name === key));
    }
  });
});

describe(
  'a store whose dimensions table predates the Coveo API',
  duckdbOnly('a DuckDB file made by hand'),
  () => {
    const dataDir = tempDir('openua-dimensions-upgrade-');
    after(() => removeDir(dataDir));

    it('opens, keeps its dimensions, and takes Coveo types at once', async () => {
      const instance = await DuckDBInstance.create(path.join(dataDir, 'openua.duckdb'));
      const connection = await instance.connect();
      // The dimensions table as OpenUA created it before `coveo_type`.
      await connection.run(`CREATE TABLE dimensions ("org" VARCHAR, "name" VARCHAR, "display_name" VARCHAR,
      "type" VARCHAR, "event_kinds" VARCHAR[], "created_at" TIMESTAMP, PRIMARY KEY ("org", "name"))`);
      await connection.run(`INSERT INTO dimensions VALUES
      ('default', 'wait_seconds', 'Wait (s)', 'number', ['custom'], '2025-06-01 10:00:00'),
      ('default', 'vip', 'VIP', 'boolean', [], '2025-06-01 10:00:00')`);
      connection.closeSync();
      instance.closeSync();

      let upgraded = await startServer({ dataDir });
      try {
        const registry = await call<{ dimensions: RegistryDimension[] }>(
          `${upgraded.url}/api/v1/dimensions`,
          {
            token: upgraded.masterKey,
          },
        );
        assert.deepEqual(registry.body.dimensions.map((d) => [d.name, d.type, d.eventKinds]).sort(), [
          ['vip', 'boolean', []],
          ['wait_seconds', 'number', ['custom']],
        ]);
        const listed = await call<CoveoDimension[]>(`${upgraded.url}${PREFIXES[0]}`, {
          token: upgraded.masterKey,
        });
        assert.deepEqual(listed.body.map((d) => [d.name, d.type, d.eventTypes, d.createdAt]).sort(), [
          ['c_vip', 'BOOLEAN', ['searches', 'clicks', 'custom_events'], '2025-06-01T10:00:00.000Z'],
          ['c_wait_seconds', 'NUMBER', ['custom_events'], '2025-06-01T10:00:00.000Z'],
        ]);
        const edited = await call<CoveoDimension>(`${upgraded.url}${PREFIXES[0]}/c_wait_seconds`, {
          method: 'PUT',
          token: upgraded.masterKey,
          body: { type: 'SHORT', displayName: 'Wait (s)' },
        });
        assert.equal(edited.status, 200, JSON.stringify(edited.body));
        assert.equal(edited.body.type, 'SHORT');
      } finally {
        await upgraded.close();
      }
      // The declared type is stored: a restart answers it too.
      upgraded = await startServer({ dataDir, masterKey: upgraded.masterKey });
      try {
        const again = await call<CoveoDimension>(`${upgraded.url}${PREFIXES[1]}/c_wait_seconds`, {
          token: upgraded.masterKey,
        });
        assert.equal(again.status, 200, JSON.stringify(again.body));
        assert.deepEqual([again.body.type, again.body.eventKinds], ['SHORT', ['custom']]);
      } finally {
        await upgraded.close();
      }
    });
  },
);
