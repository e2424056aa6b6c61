import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { openua, openuaJson } from '../helpers/cli.ts';
import { duckdbOnly } from '../helpers/engine.ts';
import {
  CUSTOM_PATH,
  call,
  newMasterKey,
  removeDir,
  type ServerProcess,
  spawnServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

/** The `openua` command: administration on the data directory, and over HTTP while a server holds it. */

const KEY_FORMAT = /^oua_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

describe('openua CLI on a data directory no server holds', () => {
  const dataDir = tempDir('openua-cli-');
  const env = { OPENUA_DATA_DIR: dataDir };
  let created: { id: string; key: string };

  after(() => removeDir(dataDir));

  it('org create acme --name Acme prints the organization', async () => {
    const org = await openuaJson(['org', 'create', 'acme', '--name', 'Acme'], env);
    assert.equal(org.id, 'acme');
    assert.equal(org.name, 'Acme');
    assert.ok(!('tokenSecret' in org), 'the token secret is never printed');
  });

  it('org create of an existing id fails with a message', async () => {
    const run = await openua(['org', 'create', 'acme'], env);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /"acme" already exists/);
  });

  it('org list includes default (created on first open) and acme', async () => {
    const orgs = await openuaJson<{ id: string; name: string }[]>(['org', 'list'], env);
    assert.deepEqual(orgs.map((o) => o.id).sort(), ['acme', 'default']);
    assert.ok(!JSON.stringify(orgs).includes('tokenSecret'));
  });

  it('key create prints the key once', async () => {
    const key = await openuaJson<{ id: string; key: string; org: string; privileges: string[] }>(
      ['key', 'create', '--org', 'acme', '--name', 'web', '--privileges', 'analytics:write,analytics:read'],
      env,
    );
    assert.match(key.key, KEY_FORMAT);
    assert.equal(KEY_FORMAT.exec(key.key)?.[1], key.id);
    assert.equal(key.org, 'acme');
    assert.deepEqual(key.privileges, ['analytics:write', 'analytics:read']);
    assert.ok(!('secretHash' in key));
    created = key;
  });

  it('key list shows the key without its secret', async () => {
    const run = await openua(['key', 'list', '--org', 'acme'], env);
    assert.equal(run.code, 0, run.stderr);
    const keys = JSON.parse(run.stdout) as { id: string; name: string; revokedAt: unknown }[];
    assert.deepEqual(
      keys.map((k) => [k.id, k.name, k.revokedAt]),
      [[created.id, 'web', null]],
    );
    const secret = KEY_FORMAT.exec(created.key)?.[2] as string;
    assert.ok(!run.stdout.includes(secret), 'the secret is not printed');
    assert.ok(!run.stdout.includes('secretHash'));
  });

  it('key revoke <id> --org acme marks it revoked', async () => {
    const revoked = await openuaJson(['key', 'revoke', created.id, '--org', 'acme'], env);
    assert.equal(revoked.id, created.id);
    assert.ok(!Number.isNaN(Date.parse(revoked.revokedAt as string)));
    const keys = await openuaJson<{ id: string; revokedAt: unknown }[]>(
      ['key', 'list', '--org', 'acme'],
      env,
    );
    assert.ok(keys.find((k) => k.id === created.id)?.revokedAt);
  });

  it('token sign prints a token carrying the organization, user and search hub', async () => {
    const signed = await openuaJson<{ token: string; expiresAt: string }>(
      [
        'token',
        'sign',
        '--org',
        'acme',
        '--user',
        'alice@example.com',
        '--search-hub',
        'main',
        '--expires-in',
        '600',
      ],
      env,
    );
    const claims = decodeJwt(signed.token);
    assert.equal(claims.organization, 'acme');
    assert.equal((claims.userIds as { name: string }[])[0]?.name, 'alice@example.com');
    assert.equal(claims.searchHub, 'main');
    assert.equal(Date.parse(signed.expiresAt) / 1000, claims.exp);
  });

  it('an unknown privilege exits non-zero naming it', async () => {
    const run = await openua(
      ['key', 'create', '--org', 'acme', '--name', 'bad', '--privileges', 'analytics:write,analytics:delete'],
      env,
    );
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /analytics:delete/);
    const keys = await openuaJson<{ name: string }[]>(['key', 'list', '--org', 'acme'], env);
    assert.ok(!keys.some((k) => k.name === 'bad'), 'no key was created');
  });

  it('provider create, update and list manage the analytics switch', async () => {
    const created = await openuaJson<{
      id: string;
      name: string;
      enableAnalytics: boolean;
      stateCode: number;
    }>(
      ['provider', 'create', 'Contoso Voice', '--org', 'acme', '--label', 'Voice', '--sort-order', '2'],
      env,
    );
    assert.equal(created.name, 'Contoso Voice');
    assert.equal(created.enableAnalytics, false, 'analytics is off until switched on');
    const on = await openuaJson<{ id: string; enableAnalytics: boolean; version: number }>(
      ['provider', 'update', 'Contoso Voice', '--org', 'acme', '--enable-analytics'],
      env,
    );
    assert.equal(on.id, created.id, 'a provider can be named by its name');
    assert.equal(on.enableAnalytics, true);
    assert.equal(on.version, 2);
    const off = await openuaJson<{ enableAnalytics: boolean; stateCode: number; statusCode: number }>(
      ['provider', 'update', created.id, '--org', 'acme', '--no-enable-analytics', '--no-active'],
      env,
    );
    assert.deepEqual([off.enableAnalytics, off.stateCode, off.statusCode], [false, 1, 2]);
    const list = await openuaJson<{ id: string }[]>(['provider', 'list', '--org', 'acme'], env);
    assert.deepEqual(
      list.map((p) => p.id),
      [created.id],
    );
    const duplicate = await openua(['provider', 'create', 'Contoso Voice', '--org', 'acme'], env);
    assert.notEqual(duplicate.code, 0);
    assert.match(duplicate.stderr, /exists already/);
  });

  it('kpi list shows the first-party definitions; kpi create and update add and deactivate custom ones', async () => {
    const seeded = await openuaJson<{ name: string; firstParty: boolean }[]>(
      ['kpi', 'list', '--org', 'acme'],
      env,
    );
    assert.ok(seeded.some((d) => d.name === 'NotificationDisplayed' && d.firstParty));
    const created = await openuaJson<{ name: string; eventType: string; stateCode: number }>(
      ['kpi', 'create', 'OrderLookup', '--org', 'acme', '--description', 'order looked up'],
      env,
    );
    assert.deepEqual([created.name, created.eventType, created.stateCode], ['OrderLookup', 'Custom', 0]);
    const inactive = await openuaJson<{ stateCode: number }>(
      ['kpi', 'update', 'OrderLookup', '--org', 'acme', '--no-active'],
      env,
    );
    assert.equal(inactive.stateCode, 1);
    const tooLong = await openua(['kpi', 'create', 'k'.repeat(101), '--org', 'acme'], env);
    assert.notEqual(tooLong.code, 0);
    assert.match(tooLong.stderr, /name: must be at most 100 characters/);
  });

  it('kpi --event-type takes System or Custom in any case, or the code, and kpi list answers the label', async () => {
    for (const [name, type] of [
      ['Escalated', 'custom'],
      ['Transferred', '100000001'],
    ]) {
      const created = await openuaJson<{ eventType: string }>(
        ['kpi', 'create', name as string, '--org', 'acme', '--event-type', type as string],
        env,
      );
      assert.equal(created.eventType, 'Custom', `--event-type ${type}`);
    }
    const list = await openuaJson<{ name: string; eventType: string; firstParty: boolean }[]>(
      ['kpi', 'list', '--org', 'acme'],
      env,
    );
    assert.equal(list.find((d) => d.name === 'SessionStarted')?.eventType, 'System');
    assert.equal(list.find((d) => d.name === 'Escalated')?.eventType, 'Custom');
    assert.ok(list.every((d) => d.eventType === (d.firstParty ? 'System' : 'Custom')));

    const old = await openua(['kpi', 'create', 'Old', '--org', 'acme', '--event-type', 'FirstParty'], env);
    assert.notEqual(old.code, 0);
    assert.match(
      old.stderr,
      /eventType: must be one of: System, Custom \(in any case\), or its code: 100000000 \(System\), 100000001 \(Custom\) \(received "FirstParty"\)/,
    );
    const system = await openua(['kpi', 'create', 'Mine', '--org', 'acme', '--event-type', 'system'], env);
    assert.notEqual(system.code, 0);
    assert.match(system.stderr, /eventType: 100000000 \(System\) is kept for the first-party definitions/);
    const firstParty = await openua(
      ['kpi', 'update', 'SessionStarted', '--org', 'acme', '--event-type', 'Custom'],
      env,
    );
    assert.notEqual(firstParty.code, 0);
    assert.match(firstParty.stderr, /eventType: is 100000000 \(System\) on the first-party definition/);
    const names = (await openuaJson<{ name: string }[]>(['kpi', 'list', '--org', 'acme'], env)).map(
      (d) => d.name,
    );
    assert.ok(!names.includes('Old') && !names.includes('Mine'), 'nothing refused was stored');
  });

  it('org update sets what happens to unknown KPI events', async () => {
    const org = await openuaJson<{ unknownKpiEvents: string }>(
      ['org', 'update', 'acme', '--unknown-kpi-events', 'flag'],
      env,
    );
    assert.equal(org.unknownKpiEvents, 'flag');
    const wrong = await openua(['org', 'update', 'acme', '--unknown-kpi-events', 'maybe'], env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unknownKpiEvents: must be one of: refuse, flag \(received "maybe"\)/);
  });

  it('org update sets the ingest settings, and refuses a value that is not an integer by name', async () => {
    const org = await openuaJson<Record<string, number>>(
      [
        'org',
        'update',
        'acme',
        '--dedup-window-days',
        '3',
        '--rejection-retention-days',
        '90',
        '--max-event-age-days',
        '45',
        '--max-event-future-minutes',
        '5',
      ],
      env,
    );
    assert.deepEqual(
      [org.dedupWindowDays, org.rejectionRetentionDays, org.maxEventAgeDays, org.maxEventFutureMinutes],
      [3, 90, 45, 5],
    );
    const wrong = await openua(['org', 'update', 'acme', '--dedup-window-days', 'week'], env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /dedupWindowDays: must be an integer \(received "week"\)/);
  });

  it('org update sets the KPI defaults, and refuses a parameter that is not one by name', async () => {
    const org = await openuaJson<{ kpiDefaults: unknown }>(
      [
        'org',
        'update',
        'acme',
        '--kpi-defaults',
        '{"shortAbandonSeconds": 30, "denominator": "answeredAndAbandoned"}',
      ],
      env,
    );
    assert.deepEqual(org.kpiDefaults, { shortAbandonSeconds: 30, denominator: 'answeredAndAbandoned' });
    const wrong = await openua(['org', 'update', 'acme', '--kpi-defaults', '{"shortAbandon": 30}'], env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /kpiDefaults\.shortAbandon: is not a KPI parameter/);
    const notJson = await openua(
      ['org', 'update', 'acme', '--kpi-defaults', '{shortAbandonSeconds: 30}'],
      env,
    );
    assert.notEqual(notJson.code, 0);
    assert.match(notJson.stderr, /must be JSON/);
  });

  it('org update sets the allowed origins (a comma-separated list; empty clears it), and refuses one by name', async () => {
    const org = await openuaJson<{ allowedOrigins: string[] }>(
      ['org', 'update', 'acme', '--allowed-origins', 'https://dash.example.com, http://localhost:5173'],
      env,
    );
    assert.deepEqual(org.allowedOrigins, ['https://dash.example.com', 'http://localhost:5173']);
    const wrong = await openua(
      ['org', 'update', 'acme', '--allowed-origins', 'https://dash.example.com/'],
      env,
    );
    assert.notEqual(wrong.code, 0);
    assert.match(
      wrong.stderr,
      /allowedOrigins\.0: must be written as a browser sends it: https:\/\/dash\.example\.com/,
    );
    const cleared = await openuaJson<{ allowedOrigins: string[] }>(
      ['org', 'update', 'acme', '--allowed-origins', ''],
      env,
    );
    assert.deepEqual(cleared.allowedOrigins, []);
  });

  it('an organization that does not exist exits non-zero naming it', async () => {
    const run = await openua(
      ['key', 'create', '--org', 'nope', '--name', 'x', '--privileges', 'analytics:write'],
      env,
    );
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /"nope" does not exist/);
  });
});

describe(
  'openua CLI while a server holds the data directory',
  duckdbOnly('the DuckDB file lock: on ClickHouse the CLI writes to the store itself'),
  () => {
    const dataDir = tempDir('openua-cli-server-');
    const masterKey = newMasterKey();
    let server: ServerProcess;
    let port: string;

    before(async () => {
      const org = await openua(['org', 'create', 'acme'], { OPENUA_DATA_DIR: dataDir });
      assert.equal(org.code, 0, org.stderr);
      server = await spawnServer(dataDir, masterKey);
      port = new URL(server.url).port;
    });

    after(async () => {
      if (server && server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      removeDir(dataDir);
    });

    it('key create without --server falls back to the server over HTTP with OPENUA_MASTER_KEY', async () => {
      const key = await openuaJson<{ id: string; key: string; org: string }>(
        [
          'key',
          'create',
          '--org',
          'acme',
          '--name',
          'live',
          '--privileges',
          'analytics:write,analytics:read',
        ],
        { OPENUA_DATA_DIR: dataDir, OPENUA_MASTER_KEY: masterKey, PORT: port, HOST: '127.0.0.1' },
      );
      assert.match(key.key, KEY_FORMAT);
      assert.equal(key.org, 'acme');

      const eventType = `cli-live-${crypto.randomUUID()}`;
      const posted = await call(`${server.url}${CUSTOM_PATH}`, {
        token: key.key,
        body: validCustomEvent({ eventType }),
      });
      assert.equal(posted.status, 200, JSON.stringify(posted.body));
      const read = await call<{ events: { org: string; eventType: string }[] }>(
        `${server.url}/api/v1/events?eventType=${eventType}`,
        { token: key.key },
      );
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.deepEqual(
        read.body.events.map((e) => [e.org, e.eventType]),
        [['acme', eventType]],
      );
    });

    it('org list over HTTP answers the same organizations', async () => {
      const orgs = await openuaJson<{ id: string }[]>(['org', 'list'], {
        OPENUA_DATA_DIR: dataDir,
        OPENUA_MASTER_KEY: masterKey,
        PORT: port,
        HOST: '127.0.0.1',
      });
      assert.deepEqual(orgs.map((o) => o.id).sort(), ['acme', 'default']);
    });

    it('provider and kpi commands work over HTTP too', async () => {
      const env = { OPENUA_DATA_DIR: dataDir, OPENUA_MASTER_KEY: masterKey, PORT: port, HOST: '127.0.0.1' };
      const provider = await openuaJson<{ id: string; enableAnalytics: boolean }>(
        ['provider', 'create', 'Live Chat', '--org', 'acme', '--enable-analytics'],
        env,
      );
      assert.equal(provider.enableAnalytics, true);
      const updated = await openuaJson<{ label: string }>(
        ['provider', 'update', 'Live Chat', '--org', 'acme', '--label', 'Chat'],
        env,
      );
      assert.equal(updated.label, 'Chat');
      const kpi = await openuaJson<{ eventType: string }>(
        ['kpi', 'create', 'CallbackRequested', '--org', 'acme', '--event-type', 'CUSTOM'],
        env,
      );
      assert.equal(kpi.eventType, 'Custom');
      const refused = await openua(['kpi', 'create', 'Other', '--org', 'acme', '--event-type', 'Other'], env);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /eventType: must be one of: System, Custom/);
      const definitions = await call<{ items: { name: string }[] }>(
        `${server.url}/api/v1/kpi-definitions?org=acme`,
        {
          token: masterKey,
        },
      );
      assert.ok(definitions.body.items.some((d) => d.name === 'CallbackRequested'));
      const org = await openuaJson<{ unknownKpiEvents: string }>(
        ['org', 'update', 'acme', '--unknown-kpi-events', 'flag'],
        env,
      );
      assert.equal(org.unknownKpiEvents, 'flag');
    });

    it('without OPENUA_MASTER_KEY it exits non-zero and says OPENUA_MASTER_KEY is needed', async () => {
      const run = await openua(
        ['key', 'create', '--org', 'acme', '--name', 'nokey', '--privileges', 'analytics:write'],
        { OPENUA_DATA_DIR: dataDir, PORT: port, HOST: '127.0.0.1' },
      );
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /OPENUA_MASTER_KEY/);
      assert.equal(run.stdout, '', 'no key is printed');
      const keys = await call<{ keys: { name: string }[] }>(`${server.url}/api/v1/orgs/acme/keys`, {
        token: masterKey,
      });
      assert.ok(!keys.body.keys.some((k) => k.name === 'nokey'));
    });

    it('the server stops cleanly on SIGTERM', async () => {
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
    });
  },
);

describe('configuration', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) removeDir(dir);
  });

  it('reads .env from the working directory, and the real environment wins over it', async () => {
    const cwd = tempDir();
    const fromFile = path.join(cwd, 'from-dotenv');
    const fromEnv = path.join(cwd, 'from-environment');
    dirs.push(cwd);
    writeFileSync(path.join(cwd, '.env'), `OPENUA_DATA_DIR=${fromFile}\n`);
    await openuaJson(['org', 'create', 'dotenv-org'], {}, { cwd });
    assert.ok(existsSync(path.join(fromFile, 'openua.duckdb')), 'the data went where .env said');
    const overridden = await openuaJson<{ id: string }[]>(
      ['org', 'list'],
      { OPENUA_DATA_DIR: fromEnv },
      { cwd },
    );
    assert.deepEqual(
      overridden.map((o) => o.id),
      ['default'],
    );
  });

  it('a bad setting stops the command with a message naming it and what was received', async () => {
    const run = await openua(['org', 'list'], { PORT: 'eighty', OPENUA_DATA_DIR: tempDir() });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /PORT must be an integer from 0 to 65535; received "eighty"/);
    const short = await openua(['org', 'list'], { OPENUA_MASTER_KEY: 'short', OPENUA_DATA_DIR: tempDir() });
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /OPENUA_MASTER_KEY must be at least 16 characters/);
    const domain = await openua(['org', 'list'], {
      OPENUA_VISITOR_COOKIE_DOMAIN: 'https://example.com/',
      OPENUA_DATA_DIR: tempDir(),
    });
    assert.notEqual(domain.code, 0);
    assert.match(
      domain.stderr,
      /OPENUA_VISITOR_COOKIE_DOMAIN must be a domain name such as example.com; received "https:\/\/example.com\/"/,
    );
    assert.equal(domain.stderr.trim().split('\n').length, 1, 'one line, not a stack');
  });
});
