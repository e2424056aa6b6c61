import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeDemo } from '../../src/demo/demo-writer.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import { openua } from '../helpers/cli.ts';
import {
  type ClickHouseServers,
  clickhouseQuery,
  skipReason,
  startClickHouse,
} from '../helpers/clickhouse.ts';
import { ROOT, removeDir, tempDir } from '../helpers/server.ts';
import { answersOf, assertSameAnswers, kpiSpecs, openServices } from '../storage/answers.ts';

/**
 * `openua migrate --to <ClickHouse>` (issue 17): the demo from a DuckDB data directory into a real ClickHouse, killed
 * with SIGKILL halfway and run again; then the counts per day, every KPI of the catalogue, and each event once.
 */

const END = new Date('2026-11-30T00:00:00.000Z');
const DAYS = 7;
const DATABASE = 'migrated';

/**
 * Runs `openua migrate` and SIGKILLs it at the first progress line that shows some events copied but not all;
 * answers the copied and total counts that line showed.
 */
function migrateKilledHalfway(args: string[]): Promise<{ copied: number; total: number }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/openua.js'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      output += chunk;
      for (const [, copied, total] of output.matchAll(/migrate \[.*?\] \d+% \| (\d+)\/(\d+) events/g)) {
        if (Number(copied) > 0 && Number(copied) < Number(total) && child.exitCode === null) {
          child.kill('SIGKILL');
          child.once('exit', () => resolve({ copied: Number(copied), total: Number(total) }));
          return;
        }
      }
    });
    child.stdout.on('data', (chunk) => (output += chunk));
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`migrate ended (${code}) before it was killed:\n${output}`));
    });
  });
}

const count = async (url: string, sql: string) => Number((await clickhouseQuery(url, sql)).trim());

const clickhouse: ClickHouseServers | undefined = await startClickHouse();

describe('openua migrate', { skip: !clickhouse && skipReason() }, () => {
  const dataDir = tempDir('openua-migrate-');
  const logDir = tempDir('openua-migrate-log-');
  const url = clickhouse?.url as string;
  const migrate = ['migrate', '--to', url, '--database', DATABASE, '--data-dir', dataDir];
  let sourceEvents = 0;

  before(async () => {
    const demo = await openua(
      [
        'demo',
        '--data-dir',
        dataDir,
        '--events',
        '20000',
        '--days',
        String(DAYS),
        '--end',
        END.toISOString(),
      ],
      {},
    );
    assert.equal(demo.code, 0, demo.stderr);
    sourceEvents = Number(/^Wrote (\d+) events/m.exec(demo.stdout)?.[1]);
    assert.ok(sourceEvents >= 20_000);
    // Records of every kind the demo leaves empty, and a second organization with events of its own.
    const services = await openServices({ OPENUA_DATA_DIR: dataDir });
    try {
      await services.apiKeys.create('default', { name: 'reader ✓', privileges: ['analytics:read'] });
      await services.alertRules.create('default', {
        name: 'busy',
        measure: 'count',
        comparison: 'gt',
        threshold: 10,
        windowMinutes: 5,
        webhookUrl: 'https://hooks.example.com/openua',
      });
      services.rejections.record({
        org: 'default',
        route: '/rest/ua/v15/analytics/custom',
        item: 0,
        receivedAt: new Date('2026-11-29T10:00:00.123Z'),
        credentialId: 'master',
        payload: { eventType: 'ünïcode', customData: { note: '日本語' } },
        violations: [{ field: 'eventValue', rule: 'required', message: 'is required', received: null }],
      });
      await services.rejections.flush();
      await services.organizations.create({ id: 'second', name: 'Second' });
      sourceEvents += await writeDemo(services.storage, services.channelRecords, {
        seed: 2,
        org: 'second',
        events: 1_000,
        days: DAYS,
        end: END,
      });
    } finally {
      await services.close();
    }
  });

  after(async () => {
    await clickhouse?.stop();
    removeDir(dataDir);
    removeDir(logDir);
  });

  it('copies the store with progress, survives a SIGKILL halfway, resumes, and ends comparing equal counts', async () => {
    const killed = await migrateKilledHalfway([...migrate, '--batch-size', '300']);
    assert.equal(killed.total, sourceEvents);
    const partial = await count(url, `SELECT count() FROM ${DATABASE}.events FINAL WHERE _deleted = 0`);
    assert.ok(partial > 0 && partial < sourceEvents, `${partial} of ${sourceEvents} copied before the kill`);

    const resumed = await openua([...migrate, '--batch-size', '2000'], {});
    assert.equal(resumed.code, 0, `${resumed.stderr}\n${resumed.stdout}`);
    const already = Number(/^Resuming: (\d+) of (\d+) events are already in /m.exec(resumed.stderr)?.[1]);
    assert.ok(already >= killed.copied && already < sourceEvents, resumed.stderr);
    assert.match(resumed.stderr, /migrate \[.*\] 100% \| (\d+)\/\1 events \| \d+ events\/s \| ETA/);
    // One row per organization and day, both sides equal, and a row per table.
    const dayRows = [...resumed.stdout.matchAll(/^(default|second) +\d{4}-\d\d-\d\d +(\d+) +(\d+)$/gm)];
    for (const org of ['default', 'second']) {
      const days = dayRows.filter((row) => row[1] === org).length;
      assert.ok(days >= DAYS && days <= DAYS + 1, `${org}: ${days} days\n${resumed.stdout}`);
    }
    assert.equal(
      dayRows.reduce((sum, row) => sum + Number(row[2]), 0),
      sourceEvents,
    );
    for (const row of dayRows) assert.equal(row[3], row[2]);
    for (const table of ['organizations', 'api_keys', 'alert_rules', 'rejections'])
      assert.match(resumed.stdout, new RegExp(`^${table} +([1-9]\\d*) +\\1$`, 'm'));
    assert.match(
      resumed.stdout,
      /^The counts are equal: \d+ days of events in 2 organizations, and every table$/m,
    );
    assert.doesNotMatch(resumed.stdout, /≠/);

    // Each event once, as every read counts (FINAL), whatever the replayed page left before a merge.
    const [stored, distinct] = (
      await clickhouseQuery(
        url,
        `SELECT count(), uniqExact(id) FROM ${DATABASE}.events FINAL WHERE _deleted = 0`,
      )
    )
      .trim()
      .split('\t')
      .map(Number);
    assert.equal(stored, sourceEvents);
    assert.equal(distinct, sourceEvents);
  });

  it('gives every KPI of the catalogue the same figures on both sides', async () => {
    const specs = kpiSpecs(new Date(END.getTime() - DAYS * 86_400_000).toISOString(), END.toISOString());
    const duckdb = await openServices({ OPENUA_DATA_DIR: dataDir });
    const before = await answersOf(duckdb, 'default', specs, END).finally(() => duckdb.close());
    const ch = await openServices({
      OPENUA_DATA_DIR: logDir,
      OPENUA_CLICKHOUSE_URL: url,
      OPENUA_CLICKHOUSE_DATABASE: DATABASE,
    });
    const afterwards = await answersOf(ch, 'default', specs, END).finally(() => ch.close());
    assert.ok([...before.values()].every((a) => a.rows.length > 0));
    assertSameAnswers(before, afterwards, ['DuckDB', 'ClickHouse']);
  });

  it('copies into a two-shard cluster through its Distributed tables', async () => {
    const cluster = await startClickHouse({ shards: 2 });
    assert.ok(cluster?.cluster, 'the two-shard cluster started');
    try {
      const run = await openua(['migrate', '--to', cluster.url, '--data-dir', dataDir], {
        OPENUA_CLICKHOUSE_URL: cluster.url,
        OPENUA_CLICKHOUSE_CLUSTER: cluster.cluster,
        OPENUA_CLICKHOUSE_SHARDS: cluster.shardUrls.join(','),
      });
      assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
      assert.match(
        run.stdout,
        /^The counts are equal: \d+ days of events in 2 organizations, and every table$/m,
      );
      // Both shards hold some of the events, and together each event once.
      const perShard = await Promise.all(
        cluster.shardUrls.map((shard) =>
          count(shard, 'SELECT count() FROM openua.events_local FINAL WHERE _deleted = 0'),
        ),
      );
      assert.ok(
        perShard.every((n) => n > 0),
        JSON.stringify(perShard),
      );
      assert.equal(
        perShard.reduce((a, b) => a + b, 0),
        sourceEvents,
      );
    } finally {
      await cluster?.stop();
    }
  });

  it('run again, copies nothing twice; a difference on the target is shown and exits 1', async () => {
    const again = await openua(migrate, {});
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`^Resuming: ${sourceEvents} of ${sourceEvents} events`, 'm'));
    assert.equal(
      await count(url, `SELECT count() FROM ${DATABASE}.events FINAL WHERE _deleted = 0`),
      sourceEvents,
    );

    // An event the source does not have, stored on the target by hand.
    const target = await openStorage({
      dataDir: logDir,
      clickhouse: { url, database: DATABASE, user: 'default', password: '' },
    });
    try {
      const [event] = (await target.queryEvents('default', { limit: 1 })).rows;
      assert.ok(event);
      await target.appendEvents([{ ...event, id: '0190e6a8-0000-7000-8000-00000000beef' }]);
    } finally {
      await target.close();
    }
    const differs = await openua(migrate, {});
    assert.equal(differs.code, 1, differs.stdout);
    assert.equal(differs.stdout.match(/≠$/gm)?.length, 1, differs.stdout);
    assert.match(
      differs.stderr,
      /^openua: the counts differ on both sides \(marked ≠ above\): default \d{4}-\d\d-\d\d: (\d+) ≠ \d+$/m,
    );
  });

  it('refuses, in one line, a store another process holds', async () => {
    const holder = await openStorage({ dataDir });
    try {
      const refused = await openua(migrate, {});
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, '');
      assert.match(
        refused.stderr.trim(),
        /^openua: the store in .* is in use by another process( \(pid \d+\))?: stop the server, then run openua migrate again$/,
      );
    } finally {
      await holder.close();
    }
  });

  it('says when the data directory holds no store, or ClickHouse does not answer', async () => {
    const empty = tempDir('openua-migrate-empty-');
    try {
      const none = await openua(['migrate', '--to', url, '--data-dir', empty], {});
      assert.equal(none.code, 1);
      assert.match(none.stderr, /^openua: there is no OpenUA store in .* \(no openua\.duckdb\)/);
    } finally {
      removeDir(empty);
    }
    const unreachable = await openua(['migrate', '--to', 'http://127.0.0.1:1', '--data-dir', dataDir], {});
    assert.equal(unreachable.code, 1);
    assert.match(
      unreachable.stderr.trim(),
      /^openua: cannot reach ClickHouse at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/,
    );
  });
});
