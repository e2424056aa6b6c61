import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CanonicalEvent } from '../../src/ingest/canonical-event.ts';
import { GroupCommit } from '../../src/ingest/group-commit.ts';
import { OpenUAError } from '../../src/server/errors.ts';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/** The writer over a real DuckDB file: batching, atomic batches, back-pressure, drain. */

let dir: string;
let storage: DuckDBStorage;
before(async () => {
  dir = tempDir();
  storage = await DuckDBStorage.open(dir);
  await storage.migrate([]);
});
after(async () => {
  await storage.close();
  removeDir(dir);
});

const event = (eventType: string, extra: Partial<CanonicalEvent> = {}) =>
  canonicalEvent({ org: 'gc', eventType, customData: { k: 'v' }, ...extra });

const count = async (eventType: string) =>
  (await storage.readEvents({ org: 'gc', eventType, limit: 100_000 })).length;

describe('group commit', () => {
  it('groups concurrent submits into few transactions and stores every event once', async () => {
    const writer = new GroupCommit(storage, { capacity: 100_000, batchSize: 5_000, lingerMs: 0 });
    await Promise.all(Array.from({ length: 500 }, () => writer.submit([event('grouped')])));
    const stats = writer.stats();
    assert.equal(await count('grouped'), 500);
    assert.equal(stats.committedEvents, 500);
    assert.ok(stats.commits < 50, `500 concurrent submits took ${stats.commits} commits`);
    assert.equal(stats.queued, 0);
  });

  it('never writes more than batchSize events in one transaction', async () => {
    const writer = new GroupCommit(storage, { capacity: 100_000, batchSize: 10, lingerMs: 0 });
    await Promise.all(Array.from({ length: 100 }, () => writer.submit([event('small-batches')])));
    assert.equal(writer.stats().commits, 10);
    assert.equal(await count('small-batches'), 100);
  });

  it('a submit that storage refuses fails alone; its batch mates are committed', async () => {
    const writer = new GroupCommit(storage, { capacity: 100_000, batchSize: 5_000, lingerMs: 0 });
    const broken = event('isolated', { id: null as unknown as string });
    const results = await Promise.allSettled([
      writer.submit([event('isolated')]),
      writer.submit([broken, event('isolated')]),
      writer.submit([event('isolated')]),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const error = (results[1] as PromiseRejectedResult).reason as OpenUAError;
    assert.ok(error instanceof OpenUAError);
    assert.equal(error.statusCode, 503);
    assert.equal(error.code, 'UNAVAILABLE');
    // The refused submit is atomic: its valid event is not stored either.
    assert.equal(await count('isolated'), 2);
    await writer.submit([event('after-failure')]);
    assert.equal(await count('after-failure'), 1);
    assert.equal(writer.stats().failedCommits, 2, 'the shared transaction and the culprit alone');
  });

  it('refuses with 503 at once when the queue is full, and accepts again once it drains', async () => {
    const writer = new GroupCommit(storage, { capacity: 2, batchSize: 5_000, lingerMs: 0 });
    const first = writer.submit([event('bounded'), event('bounded')]);
    await assert.rejects(writer.submit([event('bounded')]), (error: OpenUAError) => {
      assert.equal(error.code, 'OVERLOADED');
      assert.ok((error.retryAfter ?? 0) >= 1);
      return true;
    });
    await first;
    await writer.submit([event('bounded')]);
    assert.equal(await count('bounded'), 3);
    assert.equal(writer.stats().shed, 1);
  });

  it('a submit larger than the whole queue is still taken when the queue is empty', async () => {
    const writer = new GroupCommit(storage, { capacity: 2, batchSize: 5_000, lingerMs: 0 });
    await writer.submit([event('oversized'), event('oversized'), event('oversized')]);
    assert.equal(await count('oversized'), 3);
  });

  it('drain commits what was accepted, then refuses new events', async () => {
    const writer = new GroupCommit(storage, { capacity: 100_000, batchSize: 5_000, lingerMs: 5 });
    const accepted = Array.from({ length: 50 }, () => writer.submit([event('drained')]));
    await writer.drain();
    await Promise.all(accepted);
    assert.equal(await count('drained'), 50);
    await assert.rejects(writer.submit([event('drained')]), (error: OpenUAError) => error.statusCode === 503);
  });
});
