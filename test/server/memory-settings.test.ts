import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, readConfig } from '../../src/core/config.ts';
import { DEFAULT_MEMORY_LIMIT } from '../../src/storage/duckdb/connection.ts';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/**
 * What bounds the server's memory under load (docs/operations/running.md, Memory): the events in flight, the
 * store's limit, V8 favouring size, and the bounds of what it remembers. `npm run bench:memory` measures the sum; these are the settings behind it.
 */
describe('memory settings', () => {
  it('default to a bounded queue, a bounded store and a heap that favours size', () => {
    const config = readConfig({});
    assert.equal(config.queueCapacity, 20_000);
    assert.equal(config.optimizeForSize, true);
    assert.equal(config.storeMemoryLimit, undefined);
  });

  it('bound what a server remembers: idempotency keys, open visits and channel records, 100,000 each', () => {
    const config = readConfig({});
    assert.equal(config.idempotencyKeys, 100_000);
    assert.equal(config.openVisits, 100_000);
    assert.equal(config.recordCacheSize, 100_000);
    const set = readConfig({
      OPENUA_IDEMPOTENCY_KEYS: '5000',
      OPENUA_OPEN_VISITS: '1',
      OPENUA_RECORD_CACHE_SIZE: '250',
    });
    assert.deepEqual([set.idempotencyKeys, set.openVisits, set.recordCacheSize], [5000, 1, 250]);
    for (const [variable, value, accepts] of [
      ['OPENUA_IDEMPOTENCY_KEYS', '0', 'an integer from 1 to 100000000'],
      ['OPENUA_OPEN_VISITS', 'lots', 'an integer from 1 to 100000000'],
      ['OPENUA_RECORD_CACHE_SIZE', '1.5', 'an integer from 1 to 10000000'],
    ] as const) {
      assert.throws(
        () => readConfig({ [variable]: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message === `${variable} must be ${accepts}; received ${JSON.stringify(value)}`,
      );
    }
  });

  it('OPENUA_OPTIMIZE_FOR_SIZE takes true/false (or 1/0) and refuses anything else, naming what it got', () => {
    assert.equal(readConfig({ OPENUA_OPTIMIZE_FOR_SIZE: 'false' }).optimizeForSize, false);
    assert.equal(readConfig({ OPENUA_OPTIMIZE_FOR_SIZE: '0' }).optimizeForSize, false);
    assert.equal(readConfig({ OPENUA_OPTIMIZE_FOR_SIZE: 'TRUE' }).optimizeForSize, true);
    assert.equal(readConfig({ OPENUA_OPTIMIZE_FOR_SIZE: '' }).optimizeForSize, true);
    assert.throws(
      () => readConfig({ OPENUA_OPTIMIZE_FOR_SIZE: 'maybe' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === 'OPENUA_OPTIMIZE_FOR_SIZE must be true or false; received "maybe"',
    );
  });

  it('the store runs under its default limit, or the one set, and says so', async () => {
    for (const [limit, expected] of [
      [undefined, DEFAULT_MEMORY_LIMIT],
      ['96MB', '96MB'],
    ] as const) {
      const dir = tempDir('memory-limit-');
      const storage = await DuckDBStorage.open(dir, limit ? { memoryLimit: limit } : {});
      try {
        const { limitBytes, usedBytes } = await storage.memory();
        // DuckDB keeps its own units (256MB reads back as 244.1 MiB): within a part in a thousand.
        const [, amount] = /^(\d+)MB$/.exec(expected) ?? [];
        assert.ok(
          Math.abs(limitBytes / (Number(amount) * 1e6) - 1) < 1e-3,
          `${limitBytes} bytes for ${expected}`,
        );
        assert.ok(usedBytes >= 0 && usedBytes < limitBytes, `${usedBytes} bytes used`);
      } finally {
        await storage.close();
        removeDir(dir);
      }
    }
  });
});
