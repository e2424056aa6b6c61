import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type CliRun, openua } from '../helpers/cli.ts';
import { duckdbOnly } from '../helpers/engine.ts';
import {
  CUSTOM_PATH,
  call,
  newMasterKey,
  ROOT,
  removeDir,
  type ServerProcess,
  spawnServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * `openua serve` as an operator meets it: a start that cannot go on says so in one line on stderr (what is wrong,
 * and what to do) and exits non-zero; /metrics on its own listener; logs for people on a terminal; and
 * `openua org update --rate-limits`.
 */

/** The one line a failed start prints, asserted to be exactly one. */
function oneLine(run: CliRun): string {
  assert.notEqual(run.code, 0, `expected a failed start:\n${run.stdout}\n${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, not a stack:\n${run.stderr}`);
  return lines[0] as string;
}

const dirs: string[] = [];
const servers: ServerProcess[] = [];
after(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }
  for (const dir of dirs) removeDir(dir);
});

const freshDir = () => {
  const dir = tempDir('openua-ops-');
  dirs.push(dir);
  return dir;
};

/** A port something else holds, and that something. */
async function busyPort(): Promise<{ port: number; holder: Server }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { port: (holder.address() as { port: number }).port, holder };
}

const close = (holder: Server) => new Promise((resolve) => holder.close(resolve));

describe('a start that cannot go on: one line naming the problem and the fix, exit ≠ 0', () => {
  it('a busy port', async () => {
    const { port, holder } = await busyPort();
    try {
      const line = oneLine(
        await openua(['serve'], { OPENUA_DATA_DIR: freshDir(), PORT: String(port), HOST: '127.0.0.1' }),
      );
      assert.match(
        line,
        new RegExp(
          `^openua: 127\\.0\\.0\\.1:${port} is already in use by another process \\(EADDRINUSE\\): stop that process, or set PORT \\(or HOST\\) to a free port$`,
        ),
      );
    } finally {
      await close(holder);
    }
  });

  it('a data directory that is a file', async () => {
    const file = path.join(freshDir(), 'not-a-directory');
    writeFileSync(file, 'x');
    const line = oneLine(await openua(['serve'], { OPENUA_DATA_DIR: file, PORT: '0' }));
    assert.match(
      line,
      /^openua: the data directory .*not-a-directory cannot be made: .*not-a-directory is a file/,
    );
    assert.match(line, /Move the file, or set OPENUA_DATA_DIR to another directory$/);
  });

  it('a data directory this user may not read', async (t) => {
    const dataDir = path.join(freshDir(), 'private');
    mkdirSync(dataDir, { mode: 0o700 });
    let as: string[] = [];
    if (process.getuid?.() === 0) {
      // Root reads anything: the server runs as nobody, to whom the directory is closed.
      if (!existsSync('/usr/bin/setpriv')) return t.skip('running as root without setpriv');
      // The checkout itself must be open to nobody (a clone under a 0700 temporary directory is not).
      const probe = spawnSync('/usr/bin/setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'test',
        '-r',
        path.join(ROOT, 'bin/openua.js'),
      ]);
      if (probe.status !== 0) {
        process.stderr.write(
          `\n!!! ${ROOT} is closed to the user nobody: the unreadable-data-directory case is SKIPPED\n\n`,
        );
        return t.skip(`${ROOT} is not readable by nobody`);
      }
      chmodSync(path.dirname(dataDir), 0o755);
      as = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    } else {
      chmodSync(dataDir, 0o000);
    }
    try {
      const line = oneLine(
        await openua(['serve'], { OPENUA_DATA_DIR: dataDir, PORT: '0', HOME: tmpdir() }, { as }),
      );
      assert.match(
        line,
        /^openua: this user may not read and write (the store in )?.*private.*: give it the data directory .*\(chown\/chmod\), or set OPENUA_DATA_DIR to another directory$/,
      );
    } finally {
      chmodSync(dataDir, 0o700);
    }
  });

  it(
    'a store another server holds',
    duckdbOnly(
      'the DuckDB file lock (on ClickHouse, test/cli/store-settings.test.ts covers a shared data directory)',
    ),
    async () => {
      const dataDir = freshDir();
      const first = await spawnServer(dataDir, newMasterKey());
      servers.push(first);
      const line = oneLine(await openua(['serve'], { OPENUA_DATA_DIR: dataDir, PORT: '0' }));
      assert.match(
        line,
        new RegExp(
          `^openua: the store in ${dataDir.replaceAll('.', '\\.')} is in use by another process \\(PID ${first.child.pid}\\), another OpenUA server most likely: stop it, or set OPENUA_DATA_DIR to another directory`,
        ),
      );
      const still = await call(`${first.url}/ready`);
      assert.equal(still.status, 200, 'the first server is untouched');
    },
  );

  it('a bad setting', async () => {
    const line = oneLine(
      await openua(['serve'], { OPENUA_DATA_DIR: freshDir(), OPENUA_METRICS_ADDRESS: 'http://localhost' }),
    );
    assert.equal(
      line,
      'openua: OPENUA_METRICS_ADDRESS must be host:port, such as 127.0.0.1:9464; received "http://localhost"',
    );
    const format = oneLine(
      await openua(['serve'], { OPENUA_DATA_DIR: freshDir(), OPENUA_LOG_FORMAT: 'xml' }),
    );
    assert.equal(format, 'openua: OPENUA_LOG_FORMAT must be one of auto, json, pretty; received "xml"');
  });

  it('a busy metrics port', async () => {
    const { port, holder } = await busyPort();
    try {
      const line = oneLine(
        await openua(['serve'], {
          OPENUA_DATA_DIR: freshDir(),
          PORT: '0',
          OPENUA_METRICS_ADDRESS: `127.0.0.1:${port}`,
        }),
      );
      assert.match(line, /is already in use by another process \(EADDRINUSE\): .*set OPENUA_METRICS_ADDRESS/);
    } finally {
      await close(holder);
    }
  });
});

describe('OPENUA_METRICS_ADDRESS: /metrics on its own listener', () => {
  it('serves it there without a credential, and not on the main port', async () => {
    const { port, holder } = await busyPort();
    await close(holder);
    const masterKey = newMasterKey();
    const server = await spawnServer(freshDir(), masterKey, { OPENUA_METRICS_ADDRESS: `127.0.0.1:${port}` });
    servers.push(server);
    const posted = await call(`${server.url}${CUSTOM_PATH}`, { token: masterKey, body: validCustomEvent() });
    assert.equal(posted.status, 200);

    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(scraped.status, 200);
    assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await scraped.text();
    assert.match(
      text,
      /openua_http_requests_total\{method="POST",route="\/rest\/ua\/v15\/analytics\/custom",status="200"\} 1/,
    );
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready`)).status, 404, 'only /metrics there');

    const main = await call(`${server.url}/metrics`, { token: masterKey });
    assert.equal(main.status, 404, 'not on the main port');
    assert.match(server.output(), new RegExp(`Metrics: http://127\\.0\\.0\\.1:${port}/metrics`));
  });
});

describe('logs', () => {
  it('OPENUA_LOG_FORMAT=pretty writes one readable line per entry (JSON otherwise, as when not on a terminal)', async () => {
    const masterKey = newMasterKey();
    const pretty = await spawnServer(freshDir(), masterKey, { OPENUA_LOG_FORMAT: 'pretty' });
    servers.push(pretty);
    const json = await spawnServer(freshDir(), masterKey);
    servers.push(json);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(
      pretty.output(),
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}OpenUA listening on http:\/\/127\.0\.0\.1:\d+$/m,
    );
    assert.ok(!pretty.output().includes('{"level"'), pretty.output());
    const lines = json
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    assert.ok(lines.some((line) => line.level === 30 && line.msg.startsWith('OpenUA listening on')));
    // The start names where the API reference is, and it is there.
    const reference = lines.find((line) => line.msg.startsWith('API reference: '))?.msg ?? '';
    const [, docs, document] = /^API reference: (\S+) \(OpenAPI 3\.1: (\S+)\)$/.exec(reference) ?? [];
    assert.ok(docs && document, reference);
    assert.equal((await fetch(docs)).status, 200);
    assert.equal(((await (await fetch(document)).json()) as { openapi: string }).openapi, '3.1.0');
  });
});

describe('openua org update --rate-limits', () => {
  it('sets the limits, null resets them, and a wrong one is refused by name', async () => {
    const env = { OPENUA_DATA_DIR: freshDir() };
    const set = await openua(
      ['org', 'update', 'default', '--rate-limits', '{"writePerSecond":500,"burst":5}'],
      env,
    );
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout).rateLimits, {
      writePerSecond: 500,
      readPerSecond: 200,
      burst: 5,
    });
    const reset = await openua(['org', 'update', 'default', '--rate-limits', 'null'], env);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual(JSON.parse(reset.stdout).rateLimits, {
      writePerSecond: 50_000,
      readPerSecond: 200,
      burst: 10,
    });
    const wrong = await openua(['org', 'update', 'default', '--rate-limits', '{"writePerSecond":0}'], env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /rateLimits\.writePerSecond: must be ≥ 1 \(received 0\)/);
  });
});
