import assert from 'node:assert/strict';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BackupManifest } from '../../src/backup/backups.ts';
import { openua } from '../helpers/cli.ts';
import { duckdbOnly, testEngine, testStorage } from '../helpers/engine.ts';
import {
  call,
  newMasterKey,
  removeDir,
  type ServerProcess,
  spawnServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

const onDuckDB = testEngine() === 'duckdb';

interface Acknowledged {
  id: string;
  at: number;
}

async function stop(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  await server.exited;
}

/** Posts `n` custom events in one batch; answers their ids once the server acknowledged them. */
async function postBatch(url: string, token: string, n: number, eventType: string): Promise<string[]> {
  const answer = await call<{ results: { status: string; id: string }[] }>(`${url}/api/v1/events/batch`, {
    token,
    body: {
      events: Array.from({ length: n }, () => ({ kind: 'custom', ...validCustomEvent({ eventType }) })),
    },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  for (const r of answer.body.results) assert.equal(r.status, 'accepted', JSON.stringify(r));
  return answer.body.results.map((r) => r.id);
}

/** Every event id of the default organization in a store no process holds, with how many times each is there. */
async function storedIds(dataDir: string): Promise<Map<string, number>> {
  const storage = await testStorage(dataDir);
  try {
    const { rows } = await storage.queryEvents('default', { limit: 10_000_000 });
    const ids = new Map<string, number>();
    for (const e of rows) ids.set(e.id, (ids.get(e.id) ?? 0) + 1);
    return ids;
  } finally {
    await storage.close();
  }
}

describe('openua backup and restore', () => {
  const masterKey = newMasterKey();
  const dataDir = tempDir('openua-backup-src-');
  const scratch = tempDir('openua-backup-');
  let server: ServerProcess;
  const env = () => ({ OPENUA_MASTER_KEY: masterKey, OPENUA_DATA_DIR: dataDir });

  before(async () => {
    // Acknowledged events wait in the ingest log (unless a read or a backup loads them), so a backup that did not
    // load the log first would miss them.
    server = await spawnServer(dataDir, masterKey, { OPENUA_LOAD_INTERVAL_MS: '60000' });
  });
  after(async () => {
    await stop(server);
    removeDir(dataDir);
    removeDir(scratch);
  });

  it(
    'a backup taken under load restores to a store with every event acknowledged before it began',
    duckdbOnly('ClickHouse is backed up with its own tools'),
    async () => {
      // A store with some bulk before the load, so the copy takes a while.
      for (let i = 0; i < 10; i++) await postBatch(server.url, masterKey, 500, 'preload');
      const acknowledged: Acknowledged[] = [];
      let sending = true;
      let sends = 0;
      const sender = (async () => {
        while (sending) {
          // Single events and batches, alternately.
          const n = sends++ % 2 === 0 ? 1 : 20;
          const ids = await postBatch(server.url, masterKey, n, 'load');
          const at = Date.now();
          for (const id of ids) acknowledged.push({ id, at });
        }
      })();
      while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 20));
      const dir = path.join(scratch, 'under-load');
      const began = Date.now();
      const run = await openua(['backup', dir, '--server', server.url], env());
      const ended = Date.now();
      // The sender goes on after the backup ended, then stops.
      const afterEnd = acknowledged.length;
      while (acknowledged.length < afterEnd + 50) await new Promise((r) => setTimeout(r, 20));
      sending = false;
      await sender;
      assert.equal(run.code, 0, run.stderr);
      // The progress bar, drawn from the server's progress lines, reached every row.
      assert.match(run.stderr, /100% \| (\d+)\/\1 rows/);
      assert.ok(
        acknowledged.some((a) => a.at > ended),
        'events were acknowledged after the backup ended',
      );

      const manifest = JSON.parse(run.stdout) as BackupManifest;
      assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'backup.json'), 'utf8')), manifest);
      assert.equal(manifest.engine, 'duckdb');
      assert.ok(
        Date.parse(manifest.coveredUntil) >= began,
        'coveredUntil is taken after the backup was asked',
      );
      assert.deepEqual(readdirSync(dir).sort(), ['backup.json', 'openua.duckdb']);
      const before = acknowledged.filter((a) => a.at < began);
      assert.ok(before.length >= 200);

      const restoredDir = path.join(scratch, 'restored');
      const restore = await openua(['restore', dir, '--data-dir', restoredDir], {});
      assert.equal(restore.code, 0, restore.stderr);
      assert.match(restore.stdout, /checked against the manifest/);
      assert.match(restore.stderr, /100% \| (\d+)\/\1 bytes/);

      // The restored directory starts as is, and serves.
      const restoredKey = newMasterKey();
      const restored = await spawnServer(restoredDir, restoredKey);
      try {
        const answer = await call<{ events: unknown[] }>(
          `${restored.url}/api/v1/events?eventType=preload&limit=10000`,
          { token: restoredKey },
        );
        assert.equal(answer.status, 200);
        assert.equal(answer.body.events.length, 5000);
        await postBatch(restored.url, restoredKey, 3, 'after-restore');
        const audit = await call<{ entries: { action: string; actorKind: string }[] }>(
          `${restored.url}/api/v1/audit?action=restore`,
          { token: restoredKey },
        );
        assert.equal(audit.status, 200, JSON.stringify(audit.body));
        assert.equal(audit.body.entries[0]?.actorKind, 'cli');
      } finally {
        await stop(restored);
      }

      const ids = await storedIds(restoredDir);
      const missing = before.filter((a) => !ids.has(a.id));
      assert.deepEqual(missing, [], 'every event acknowledged before the backup began is restored');
      const repeated = [...ids].filter(([, n]) => n > 1);
      assert.deepEqual(repeated, [], 'each event once');
      // The manifest's count is the backup's: the restored store minus the 3 sent after the restore.
      const events = manifest.tables.find((t) => t.table === 'events');
      assert.equal(ids.size - 3, events?.rows);
      assert.ok((events?.rows ?? 0) >= 5000 + before.length);

      // With no server holding the store, the CLI opens it and backs it up itself.
      const local = path.join(scratch, 'local');
      const own = await openua(['backup', local, '--data-dir', restoredDir], {});
      assert.equal(own.code, 0, own.stderr);
      const ownManifest = JSON.parse(own.stdout) as BackupManifest;
      assert.equal(ownManifest.tables.find((t) => t.table === 'events')?.rows, ids.size);
      const auditRows = (m: BackupManifest) => m.tables.find((t) => t.table === 'audit_log')?.rows ?? 0;
      assert.ok(auditRows(ownManifest) > auditRows(manifest), 'the restore is in the audit log');
    },
  );

  it('refuses a directory that holds anything, naming it', duckdbOnly('a DuckDB backup'), async () => {
    const dir = path.join(scratch, 'not-empty');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    const run = await openua(['backup', dir, '--server', server.url], env());
    assert.equal(run.code, 1);
    assert.match(run.stderr, /409/);
    assert.ok(run.stderr.includes(`${dir} is not empty`), run.stderr);
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });

  it('needs the master key: an admin key is refused with 403', async () => {
    const created = await call<{ key: string }>(`${server.url}/api/v1/orgs/default/keys`, {
      token: masterKey,
      body: { name: 'admin', privileges: ['admin'] },
    });
    assert.equal(created.status, 201);
    const dir = path.join(scratch, 'by-admin-key');
    for (const route of ['/api/v1/backups', '/api/v1/backups/flush']) {
      const answer = await call<{ violations: { field: string; rule: string }[] }>(`${server.url}${route}`, {
        token: created.body.key,
        body: route.endsWith('flush') ? {} : { dir },
      });
      assert.equal(answer.status, 403, route);
      assert.deepEqual(
        answer.body.violations.map((v) => [v.field, v.rule]),
        [['credential', 'masterKey']],
      );
    }
    assert.equal(existsSync(dir), false);
  });

  it('--flush-only loads the ingest log and answers up to when the store is covered', async () => {
    const ids = await postBatch(server.url, masterKey, 5, 'flushed');
    const asked = Date.now();
    const run = await openua(['backup', '--flush-only', '--server', server.url], env());
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { coveredUntil: string; servers: { server: string }[] };
    assert.ok(Date.parse(answer.coveredUntil) >= asked - 1000);
    assert.deepEqual(
      answer.servers.map((s) => s.server),
      [server.url],
    );
    if (onDuckDB) return; // The server holds the file; the backup under load proves the load on DuckDB.
    // Read from the store itself, not through the server (whose reads load the log first): the events are there.
    const storage = await testStorage(dataDir);
    try {
      const { rows } = await storage.queryEvents('default', {
        where: { kind: 'compare', op: 'eq', field: 'eventType', value: 'flushed' },
      });
      assert.deepEqual(rows.map((e) => e.id).sort(), [...ids].sort());
    } finally {
      await storage.close();
    }
  });

  it('on ClickHouse, backup and restore say to use its own tools', {
    skip: onDuckDB ? 'a ClickHouse answer' : false,
  }, async () => {
    const backup = await openua(['backup', path.join(scratch, 'ch'), '--server', server.url], env());
    assert.equal(backup.code, 1);
    assert.match(
      backup.stderr,
      /this store is ClickHouse: back it up with ClickHouse's own tools.*--flush-only/,
    );
    assert.equal(backup.stderr.trim().split('\n').length, 1, backup.stderr);
    assert.equal(existsSync(path.join(scratch, 'ch')), false);
    // The route says the same to a client that asks it directly.
    const route = await call<{ message: string }>(`${server.url}/api/v1/backups`, {
      token: masterKey,
      body: { dir: path.join(scratch, 'ch') },
    });
    assert.equal(route.status, 409);
    assert.match(route.body.message, /ClickHouse's own tools/);
    const restore = await openua(['restore', path.join(scratch, 'ch'), '--data-dir', dataDir], env());
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /this store is ClickHouse: restore it with ClickHouse's own tools/);
  });

  describe('restore', duckdbOnly('a DuckDB backup'), () => {
    let backupDir: string;
    before(async () => {
      if (!onDuckDB) return;
      await postBatch(server.url, masterKey, 30, 'small');
      backupDir = path.join(scratch, 'small');
      const run = await openua(['backup', backupDir, '--server', server.url], env());
      assert.equal(run.code, 0, run.stderr);
    });

    it('refuses to replace a store without --force, and with --force sets it aside', async () => {
      const target = path.join(scratch, 'occupied');
      const first = await openua(['restore', backupDir, '--data-dir', target], {});
      assert.equal(first.code, 0, first.stderr);
      const again = await openua(['restore', backupDir, '--data-dir', target], {});
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already holds a store \(openua\.duckdb.*pass --force/);
      assert.deepEqual(
        readdirSync(target).filter((f) => f.startsWith('replaced-')),
        [],
      );

      const forced = await openua(['restore', backupDir, '--data-dir', target, '--force'], {});
      assert.equal(forced.code, 0, forced.stderr);
      const aside = readdirSync(target).filter((f) => f.startsWith('replaced-'));
      assert.equal(aside.length, 1);
      const kept = readdirSync(path.join(target, aside[0] as string));
      assert.ok(kept.includes('openua.duckdb'), kept.join());
      assert.ok(kept.includes('ingest-log'), kept.join());
      assert.ok(forced.stdout.includes(path.join(target, aside[0] as string)), forced.stdout);
      // The old store, set aside, is whole: it opens and holds the events it held.
      const oldIds = await storedIds(path.join(target, aside[0] as string));
      const newIds = await storedIds(target);
      assert.deepEqual([...oldIds.keys()].sort(), [...newIds.keys()].sort());
    });

    it('refuses while a server holds the store', async () => {
      const run = await openua(['restore', backupDir, '--data-dir', dataDir, '--force'], {});
      assert.equal(run.code, 1);
      assert.match(run.stderr, /in use by a running server \(pid \d+\): stop it/);
      assert.deepEqual(
        readdirSync(dataDir).filter((f) => f.startsWith('replaced-')),
        [],
      );
    });

    it('refuses a damaged backup (sha256) and one without its manifest, leaving the target as it was', async () => {
      const damaged = path.join(scratch, 'damaged');
      cpSync(backupDir, damaged, { recursive: true });
      const file = path.join(damaged, 'openua.duckdb');
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.from('corrupt'), 0, 7, 20_000);
      closeSync(fd);
      const target = path.join(scratch, 'untouched');
      const run = await openua(['restore', damaged, '--data-dir', target], {});
      assert.equal(run.code, 1);
      assert.ok(run.stderr.includes(`${file} is damaged: its sha256 is`), run.stderr);
      assert.deepEqual(existsSync(target) ? readdirSync(target) : [], []);

      const unfinished = path.join(scratch, 'unfinished');
      mkdirSync(unfinished);
      cpSync(path.join(backupDir, 'openua.duckdb'), path.join(unfinished, 'openua.duckdb'));
      const half = await openua(['restore', unfinished, '--data-dir', target], {});
      assert.equal(half.code, 1);
      assert.match(half.stderr, /is not an OpenUA backup: it has no backup\.json/);
    });
  });
});
