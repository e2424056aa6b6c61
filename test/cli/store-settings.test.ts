import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, readConfig } from '../../src/core/config.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import { StoreBusyError, StoreCredentialsError, StoreUnreachableError } from '../../src/storage/storage.ts';
import { type CliRun, openua, openuaJson } from '../helpers/cli.ts';
import { type ClickHouseServers, skipReason, startClickHouse } from '../helpers/clickhouse.ts';
import { call, newMasterKey, removeDir, spawnServer, tempDir } from '../helpers/server.ts';

/**
 * Which store a server opens (src/storage/open-storage.ts), read from the OPENUA_CLICKHOUSE_* settings, and what a
 * store that cannot be opened says: a DuckDB file another process holds is a StoreBusyError, a ClickHouse that does
 * not answer a StoreUnreachableError, and the CLI prints either in one line that says what to do.
 */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) removeDir(dir);
});
const freshDir = () => {
  const dir = tempDir('openua-store-');
  dirs.push(dir);
  return dir;
};

const SECRET = 'pa55-w0rd-never-shown';

/** The refusal of an environment, as readConfig throws it. */
function refusal(env: Record<string, string>): string {
  try {
    readConfig({ OPENUA_DATA_DIR: '/tmp/x', ...env });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The one line a failed command prints, asserted to be exactly one. */
function oneLine(run: CliRun): string {
  assert.notEqual(run.code, 0, `expected a failure:\n${run.stdout}\n${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, not a stack:\n${run.stderr}`);
  return lines[0] as string;
}

describe('the store settings', () => {
  it('unset: the embedded DuckDB store in the data directory, with its memory limit', () => {
    const config = readConfig({ OPENUA_DATA_DIR: '/srv/openua', OPENUA_STORE_MEMORY_LIMIT: '1GB' });
    assert.deepEqual(config.storage, { dataDir: '/srv/openua', memoryLimit: '1GB' });
    assert.deepEqual(readConfig({ OPENUA_DATA_DIR: '/srv/openua' }).storage, { dataDir: '/srv/openua' });
  });

  it('OPENUA_CLICKHOUSE_URL: ClickHouse, with database openua, user default and no password by default', () => {
    const config = readConfig({
      OPENUA_DATA_DIR: '/srv/openua',
      OPENUA_CLICKHOUSE_URL: 'http://10.0.0.5:8123/',
    });
    assert.deepEqual(config.storage, {
      dataDir: '/srv/openua',
      clickhouse: { url: 'http://10.0.0.5:8123', database: 'openua', user: 'default', password: '' },
    });
  });

  it('every ClickHouse setting, a cluster included', () => {
    const config = readConfig({
      OPENUA_DATA_DIR: '/srv/openua',
      OPENUA_CLICKHOUSE_URL: 'https://ch.example.com',
      OPENUA_CLICKHOUSE_DATABASE: 'analytics_1',
      OPENUA_CLICKHOUSE_USER: 'openua',
      OPENUA_CLICKHOUSE_PASSWORD: SECRET,
      OPENUA_CLICKHOUSE_CLUSTER: 'two_shards',
      OPENUA_CLICKHOUSE_SHARDS: 'http://10.0.0.1:8123, http://10.0.0.2:8123',
    });
    assert.deepEqual(config.storage.clickhouse, {
      url: 'https://ch.example.com',
      database: 'analytics_1',
      user: 'openua',
      password: SECRET,
      cluster: 'two_shards',
      shards: ['http://10.0.0.1:8123', 'http://10.0.0.2:8123'],
    });
  });

  it('refuses each bad value in one line naming the setting, never repeating a password', () => {
    const cases: [Record<string, string>, string][] = [
      [
        { OPENUA_CLICKHOUSE_URL: 'tcp://10.0.0.5:9000' },
        'OPENUA_CLICKHOUSE_URL must be an http(s) URL such as http://127.0.0.1:8123 (not http or https); received "tcp://10.0.0.5:9000"',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: '10.0.0.5:8123' },
        'OPENUA_CLICKHOUSE_URL must be an http(s) URL such as http://127.0.0.1:8123; received "10.0.0.5:8123"',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: 'not a url' },
        'OPENUA_CLICKHOUSE_URL must be an http(s) URL such as http://127.0.0.1:8123; received "not a url"',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: `http://openua:${SECRET}@10.0.0.5:8123` },
        'OPENUA_CLICKHOUSE_URL must be an http(s) URL such as http://127.0.0.1:8123 (the user and password go in OPENUA_CLICKHOUSE_USER and OPENUA_CLICKHOUSE_PASSWORD); received "http://openua:***@10.0.0.5:8123"',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: 'http://10.0.0.5:8123/analytics' },
        'OPENUA_CLICKHOUSE_URL must be an http(s) URL such as http://127.0.0.1:8123 (no path or query: the database goes in OPENUA_CLICKHOUSE_DATABASE); received "http://10.0.0.5:8123/analytics"',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: 'http://ch:8123', OPENUA_CLICKHOUSE_DATABASE: 'drop table; --' },
        'OPENUA_CLICKHOUSE_DATABASE must be a name of letters, digits and underscores, not starting with a digit; received "drop table; --"',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: 'http://ch:8123', OPENUA_CLICKHOUSE_SHARDS: 'http://a:8123,http://b:8123' },
        'OPENUA_CLICKHOUSE_SHARDS needs OPENUA_CLICKHOUSE_CLUSTER: set both, or neither',
      ],
      [
        { OPENUA_CLICKHOUSE_URL: 'http://ch:8123', OPENUA_CLICKHOUSE_CLUSTER: 'two_shards' },
        'OPENUA_CLICKHOUSE_CLUSTER needs OPENUA_CLICKHOUSE_SHARDS: set both, or neither',
      ],
      [
        { OPENUA_CLICKHOUSE_CLUSTER: 'two_shards', OPENUA_CLICKHOUSE_SHARDS: 'http://a:8123,http://b:8123' },
        'OPENUA_CLICKHOUSE_CLUSTER needs OPENUA_CLICKHOUSE_URL (one of the shards, or a balancer in front of them)',
      ],
      [
        {
          OPENUA_CLICKHOUSE_URL: 'http://ch:8123',
          OPENUA_CLICKHOUSE_CLUSTER: 'two_shards',
          OPENUA_CLICKHOUSE_SHARDS: `http://a:8123,,http://b:8123`,
        },
        'OPENUA_CLICKHOUSE_SHARDS must be http(s) URLs separated by commas, such as http://10.0.0.1:8123,http://10.0.0.2:8123 (an empty entry); received "http://a:8123,,http://b:8123"',
      ],
      [
        {
          OPENUA_CLICKHOUSE_URL: 'http://ch:8123',
          OPENUA_CLICKHOUSE_CLUSTER: 'two_shards',
          OPENUA_CLICKHOUSE_SHARDS: `http://a:8123,http://u:${SECRET}@b:8123`,
        },
        'OPENUA_CLICKHOUSE_SHARDS must be http(s) URLs separated by commas, such as http://10.0.0.1:8123,http://10.0.0.2:8123 (the user and password go in OPENUA_CLICKHOUSE_USER and OPENUA_CLICKHOUSE_PASSWORD); received "http://a:8123,http://u:***@b:8123"',
      ],
      [
        {
          OPENUA_CLICKHOUSE_URL: 'http://ch:8123',
          OPENUA_CLICKHOUSE_CLUSTER: 'two_shards',
          OPENUA_CLICKHOUSE_SHARDS: 'http://a:8123,http://a:8123/',
        },
        'OPENUA_CLICKHOUSE_SHARDS must be http(s) URLs separated by commas, such as http://10.0.0.1:8123,http://10.0.0.2:8123 (a URL twice); received "http://a:8123,http://a:8123/"',
      ],
    ];
    for (const [env, expected] of cases) {
      const message = refusal(env);
      assert.equal(message, expected);
      assert.ok(!message.includes(SECRET), message);
    }
  });
});

describe('a store that cannot be opened', () => {
  it('a DuckDB file another process holds: StoreBusyError, naming the file and the holder', async () => {
    const dataDir = freshDir();
    const holder = await spawnServer(dataDir, newMasterKey());
    try {
      const busy = await openStorage({ dataDir }).then(
        () => assert.fail('opened a file another process holds'),
        (error: unknown) => error,
      );
      assert.ok(busy instanceof StoreBusyError, String(busy));
      assert.equal(busy.location, path.join(dataDir, 'openua.duckdb'));
      assert.equal(busy.holderPid, holder.child.pid);
    } finally {
      holder.child.kill('SIGTERM');
      await holder.exited;
    }
  });

  it('a ClickHouse that does not answer: StoreUnreachableError, and one line from serve and the admin commands', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const unreachable = await openStorage({
      dataDir: freshDir(),
      clickhouse: { url, database: 'openua', user: 'default', password: SECRET },
    }).then(
      () => assert.fail('opened a ClickHouse that does not listen'),
      (error: unknown) => error,
    );
    assert.ok(unreachable instanceof StoreUnreachableError, String(unreachable));
    assert.equal(unreachable.location, url);
    assert.equal(unreachable.reason, 'ECONNREFUSED');

    const env = {
      OPENUA_DATA_DIR: freshDir(),
      PORT: '0',
      OPENUA_CLICKHOUSE_URL: url,
      OPENUA_CLICKHOUSE_PASSWORD: SECRET,
    };
    const expected = `openua: ClickHouse at ${url} does not answer (ECONNREFUSED): start it, or unset OPENUA_CLICKHOUSE_URL to use the embedded store`;
    for (const args of [['serve'], ['org', 'list']]) {
      const run = await openua(args, env);
      assert.equal(oneLine(run), expected, `openua ${args.join(' ')}`);
      assert.ok(!`${run.stdout}${run.stderr}`.includes(SECRET));
    }
  });
});

describe('a ClickHouse store', () => {
  let clickhouse: ClickHouseServers | undefined;
  before(async () => {
    clickhouse = await startClickHouse();
  });
  after(async () => {
    await clickhouse?.stop();
  });
  const env = (dataDir: string, extra: Record<string, string> = {}) => ({
    OPENUA_DATA_DIR: dataDir,
    OPENUA_CLICKHOUSE_URL: clickhouse?.url as string,
    OPENUA_CLICKHOUSE_DATABASE: 'store_settings',
    ...extra,
  });

  it('OPENUA_CLICKHOUSE_URL opens it, for openStorage and the CLI: no DuckDB file is made', async (t) => {
    if (!clickhouse) return t.skip(skipReason());
    const dataDir = freshDir();
    const orgs = await openuaJson<{ id: string }[]>(['org', 'list'], env(dataDir));
    assert.deepEqual(
      orgs.map((o) => o.id),
      ['default'],
    );
    const storage = await openStorage(readConfig(env(dataDir)).storage);
    try {
      assert.equal(storage.engine, 'clickhouse');
      assert.match(storage.location, new RegExp(`^${clickhouse.url}/store_settings$`));
    } finally {
      await storage.close();
    }
    assert.ok(!existsSync(path.join(dataDir, 'openua.duckdb')));
  });

  it('a wrong password: StoreCredentialsError, and one line that names the settings and not the password', async (t) => {
    if (!clickhouse) return t.skip(skipReason());
    const refused = await openStorage(
      readConfig(env(freshDir(), { OPENUA_CLICKHOUSE_PASSWORD: SECRET })).storage,
    ).then(
      () => assert.fail('opened with a wrong password'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof StoreCredentialsError, String(refused));
    assert.equal(refused.user, 'default');
    const run = await openua(['serve'], {
      ...env(freshDir(), { OPENUA_CLICKHOUSE_PASSWORD: SECRET }),
      PORT: '0',
    });
    assert.match(
      oneLine(run),
      new RegExp(
        `^openua: ClickHouse at ${clickhouse.url} refuses the user "default" \\(code \\d+\\): check OPENUA_CLICKHOUSE_USER and OPENUA_CLICKHOUSE_PASSWORD$`,
      ),
    );
    assert.ok(!`${run.stdout}${run.stderr}`.includes(SECRET));
  });

  it('servers may share it, not a data directory; the admin commands run beside them; a dead holder is taken over', async (t) => {
    if (!clickhouse) return t.skip(skipReason());
    const dataDir = freshDir();
    // What a server killed with SIGKILL leaves: the lock of a process that is gone.
    const gone = spawnSync('true').pid as number;
    writeFileSync(path.join(dataDir, 'openua.pid'), String(gone));
    const settings = env(dataDir);
    const first = await spawnServer(dataDir, newMasterKey(), settings);
    try {
      const second = await openua(['serve'], { ...settings, PORT: '0' });
      assert.equal(
        oneLine(second),
        `openua: the data directory ${dataDir} is in use by another process (PID ${first.child.pid}), another OpenUA ` +
          'server most likely: servers may share a ClickHouse, not a data directory: set OPENUA_DATA_DIR to another directory',
      );
      // No master key: the command opens the shared store itself, with an ingest log of its own.
      const orgs = await openuaJson<{ id: string }[]>(['org', 'list'], settings);
      assert.ok(orgs.some((o) => o.id === 'default'));
      assert.equal((await call(`${first.url}/ready`)).status, 200, 'the first server is untouched');
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
    assert.ok(!existsSync(path.join(dataDir, 'openua.pid')), 'a clean stop releases the directory');
  });
});
