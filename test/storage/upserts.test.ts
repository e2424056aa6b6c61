import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import type { EntityTable } from '../../src/storage/storage.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

interface Thing {
  org: string;
  id: string;
  n: number | null;
  tags: string[];
}

const THINGS: EntityTable<Thing> = {
  name: 'things',
  key: ['org', 'id'],
  columns: { org: 'text', id: 'text', n: 'integer', tags: 'text[]' },
};

async function withStore(run: (storage: DuckDBStorage) => Promise<void>): Promise<void> {
  const dir = tempDir('upserts-');
  const storage = await DuckDBStorage.open(dir);
  try {
    await storage.migrate([THINGS as EntityTable<object>]);
    await run(storage);
  } finally {
    await storage.close();
    removeDir(dir);
  }
}

/**
 * Record writes in one transaction (the demo's bulk records, a batch of Channel Analytics records): DuckDB spends
 * about 1 MB of memory per statement in a transaction, so they go as few multi-row statements, not one each.
 */
describe('upserting many records in one transaction', () => {
  it('takes 3,000 under the default memory limit (one statement each ran out of memory at a few hundred)', async () => {
    await withStore(async (storage) => {
      const rows = Array.from({ length: 3_000 }, (_, i) => ({
        org: 'o',
        id: `thing-${i}`,
        n: i,
        tags: [`t${i % 7}`, 'all'],
      }));
      await storage.upsertAll(rows.map((row) => ({ table: THINGS, row })));
      const stored = await storage.find(THINGS, { org: 'o' });
      assert.equal(stored.length, rows.length);
      const byId = new Map(stored.map((t) => [t.id, t]));
      for (const row of [rows[0], rows[1_234], rows[2_999]]) assert.deepEqual(byId.get(row?.id ?? ''), row);
    });
  });

  it('leaves what writing them in turn leaves: a key written twice keeps its last write, other keys theirs', async () => {
    await withStore(async (storage) => {
      await storage.upsert(THINGS, { org: 'o', id: 'a', n: 0, tags: ['before'] });
      await storage.upsertAll([
        { table: THINGS, row: { org: 'o', id: 'a', n: 1, tags: ['first'] } },
        { table: THINGS, row: { org: 'o', id: 'b', n: 2, tags: [] } },
        { table: THINGS, row: { org: 'other', id: 'a', n: 3, tags: ['another org'] } },
        { table: THINGS, row: { org: 'o', id: 'a', n: null, tags: ['last'] } },
      ]);
      const stored = (await storage.find(THINGS, {})).sort((x, y) =>
        `${x.org}/${x.id}`.localeCompare(`${y.org}/${y.id}`),
      );
      assert.deepEqual(stored, [
        { org: 'o', id: 'a', n: null, tags: ['last'] },
        { org: 'o', id: 'b', n: 2, tags: [] },
        { org: 'other', id: 'a', n: 3, tags: ['another org'] },
      ]);
    });
  });
});
