import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ChannelRecord, CONVERSATIONS } from '../../src/channel/entity-sets.ts';
import { RecordCache } from '../../src/channel/record-cache.ts';

/** OPENUA_RECORD_CACHE_SIZE: the Channel Analytics records a server keeps read are bounded, the oldest read first out. */

describe('RecordCache, bounded', () => {
  it('keeps at most its bound of records, reading the oldest one again once it is out', async () => {
    const cache = new RecordCache(2);
    const reads: string[] = [];
    const get = (id: string) =>
      cache.get(CONVERSATIONS, 'o', id, async () => {
        reads.push(id);
        return { id } as unknown as ChannelRecord;
      });
    for (const id of ['a', 'b', 'a', 'c', 'b', 'a']) await get(id);
    // a, b read; a from the cache; c pushes a (the oldest read) out; b still kept; a read again.
    assert.deepEqual(reads, ['a', 'b', 'c', 'a']);
  });
});
