import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { IngestLog } from '../../src/ingest/ingest-log.ts';
import type { CanonicalEvent } from '../../src/model/canonical-event.ts';
import { DuckDBStorage } from '../../src/storage/duckdb/duckdb-storage.ts';
import { COMMIT_KEY } from '../../src/storage/event-rows.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/**
 * The store fills one column chunk for every load, and the ingest log encodes every record into one buffer:
 * nothing of a fill or a record may leak into the next (a value, a null, a list's items, a longer line's tail).
 */

/** The fields a load must keep, as the store answers them. */
const kept = (e: CanonicalEvent) => ({
  id: e.id,
  eventValue: e.eventValue,
  originLevel2: e.originLevel2,
  outcome: e.outcome,
  customData: e.customData,
});

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

async function storedById(storage: DuckDBStorage, org: string) {
  const page = await storage.queryEvents(org, {
    orderBy: [{ field: 'id', descending: false }],
    limit: 10_000,
  });
  return page.rows.map(kept).sort(byId);
}

describe('loads that follow one another through the one reused column chunk', () => {
  it('store each load as given: values, nulls and lists of other lengths do not carry over', async () => {
    const dir = tempDir('reused-chunk-');
    const storage = await DuckDBStorage.open(dir);
    try {
      await storage.migrate([]);
      const org = 'reuse';
      // 1: more rows than one fill takes (512), every column given, long lists.
      const full = Array.from({ length: 700 }, (_, i) =>
        canonicalEvent({
          org,
          eventValue: `full-${i}`,
          originLevel2: `tab-${i}`,
          outcome: i,
          customData: Object.fromEntries(Array.from({ length: 6 }, (_, k) => [`key${k}`, `value-${i}-${k}`])),
        }),
      );
      // 2: the same columns empty, and no custom data at all.
      const empty = Array.from({ length: 3 }, (_, i) =>
        canonicalEvent({ org, eventValue: `empty-${i}`, originLevel2: null, outcome: null, customData: {} }),
      );
      // 3: a mix: a null beside a value in one column, one short list.
      const mixed = [
        canonicalEvent({ org, eventValue: 'mixed-0', originLevel2: 'only-this', customData: { z: 'last' } }),
        canonicalEvent({ org, eventValue: 'mixed-1', originLevel2: null, customData: {} }),
      ];
      for (const load of [full, empty, mixed]) await storage.appendEvents(load);

      const stored = await storedById(storage, org);
      assert.equal(stored.length, full.length + empty.length + mixed.length);
      assert.deepEqual(stored, [...full, ...empty, ...mixed].map(kept).sort(byId));
    } finally {
      await storage.close();
      removeDir(dir);
    }
  });
});

describe('ingest log records encoded through the one reused buffer', () => {
  it('replay exactly, a record longer than the buffer first and shorter ones after it', async () => {
    const dir = tempDir('reused-line-');
    try {
      const log = await IngestLog.open(dir);
      // About 2 MB, past the 1 MB the buffer starts with; then two short records that must not keep its tail.
      const long = Array.from({ length: 400 }, (_, i) =>
        canonicalEvent({ eventValue: `long-${i}`, customData: { note: 'é'.repeat(2500) } }),
      );
      const short = [canonicalEvent({ eventValue: 'short-1' })];
      const shorter = [canonicalEvent({ eventValue: 's2', customData: {} })];
      for (const record of [long, short, shorter]) await log.append(record);
      await log.close();

      // Replay reads segments older than the running log's: open a new one, as a restart does.
      const restarted = await IngestLog.open(dir);
      const replayed: CanonicalEvent[][] = [];
      for await (const record of restarted.replay(undefined, (file, offset, error) => {
        throw new Error(`unreadable record in ${file} at ${offset}: ${String(error)}`);
      })) {
        replayed.push(record.events);
      }
      await restarted.close();
      assert.deepEqual(
        replayed.map((events) => events.map((e) => e.id)),
        [long, short, shorter].map((events) => events.map((e) => e.id)),
      );
      assert.deepEqual(replayed[0]?.at(-1)?.customData, { note: 'é'.repeat(2500) });
      assert.equal(replayed[2]?.[0]?.eventValue, 's2');
      // One line an event and a commit line a record, and nothing else in the file: a shorter record written
      // into the buffer after a longer one must not carry the longer one's tail.
      const [segment] = readdirSync(dir).filter((n) => n.endsWith('.log'));
      const lines = readFileSync(path.join(dir, segment as string), 'utf8').split('\n');
      assert.equal(lines.length, 400 + 1 + (1 + 1) + (1 + 1) + 1);
      assert.equal(lines.at(-1), '');
      const commits = lines.filter((line) => line.startsWith(`{"${COMMIT_KEY}"`));
      assert.deepEqual(
        commits.map((line) => (JSON.parse(line) as Record<string, number>)[COMMIT_KEY]),
        [400, 1, 1],
      );
    } finally {
      removeDir(dir);
    }
  });
});
