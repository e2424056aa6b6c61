import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdempotencyIndex } from '../../src/ingest/idempotency.ts';

/** The index of idempotency keys on its own: windows, claims and their settling. */

const DAY = 86_400_000;
const week = () => 7 * DAY;

describe('IdempotencyIndex', () => {
  it('read back from the store, a key keeps the window of the event that opened it', () => {
    const index = new IdempotencyIndex();
    const now = Date.now();
    index.load(
      [
        // The same key twice: the second was stored because the first one's window had ended.
        { org: 'o', key: 'k', id: 'first', receivedTime: new Date(now - 10 * DAY) },
        { org: 'o', key: 'k', id: 'second', receivedTime: new Date(now - 2 * DAY) },
        { org: 'o', key: 'old', id: 'x', receivedTime: new Date(now - 8 * DAY) },
      ],
      week,
    );
    assert.deepEqual(index.claim('o', 'k', 'new', now, week()), { status: 'duplicate', id: 'second' });
    assert.deepEqual(index.claim('o', 'old', 'new', now, week()), { status: 'claimed' });
    assert.deepEqual(
      index.claim('other', 'k', 'new', now, week()),
      { status: 'claimed' },
      'per organization',
    );
  });

  it('a claim is pending until settled: committed it is a duplicate, failed it is free again', async () => {
    const index = new IdempotencyIndex();
    const now = Date.now();
    assert.equal(index.claim('o', 'a', 'id-a', now, DAY).status, 'claimed');
    const waiting = index.claim('o', 'a', 'id-b', now, DAY);
    assert.equal(waiting.status, 'pending');
    index.settle('o', ['a'], true);
    assert.equal(await (waiting as { settled: Promise<boolean> }).settled, true);
    assert.deepEqual(index.claim('o', 'a', 'id-c', now, DAY), { status: 'duplicate', id: 'id-a' });

    assert.equal(index.claim('o', 'b', 'id-b', now, DAY).status, 'claimed');
    const other = index.claim('o', 'b', 'id-x', now, DAY) as { settled: Promise<boolean> };
    index.settle('o', ['b'], false);
    assert.equal(await other.settled, false);
    assert.deepEqual(index.claim('o', 'b', 'id-y', now, DAY), { status: 'claimed' });
  });

  it('at exactly the window a key is new; a moment before, a duplicate; sweeping forgets ended windows', () => {
    const index = new IdempotencyIndex();
    const start = 1_000_000;
    index.claim('o', 'k', 'first', start, DAY);
    index.settle('o', ['k'], true);
    assert.equal(index.claim('o', 'k', 'x', start + DAY - 1, DAY).status, 'duplicate');
    assert.equal(index.sweep(start + DAY - 1), 0);
    assert.equal(index.sweep(start + DAY), 1);
    assert.equal(index.size, 0);
    index.claim('o', 'k', 'first', start, DAY);
    index.settle('o', ['k'], true);
    assert.equal(index.claim('o', 'k', 'second', start + DAY, DAY).status, 'claimed');
  });

  it('holds at most its bound of keys, forgetting the oldest settled one first', () => {
    const index = new IdempotencyIndex(3);
    const now = Date.now();
    for (const key of ['a', 'b', 'c', 'd', 'e']) {
      assert.equal(index.claim('o', key, `id-${key}`, now, DAY).status, 'claimed');
      index.settle('o', [key], true);
    }
    assert.equal(index.size, 3);
    assert.equal(index.forgotten, 2);
    assert.deepEqual(index.claim('o', 'e', 'x', now, DAY), { status: 'duplicate', id: 'id-e' });
    assert.deepEqual(index.claim('o', 'c', 'x', now, DAY), { status: 'duplicate', id: 'id-c' });
    // The oldest went first: a forgotten key is claimed anew (its event then stores under its keyed id).
    assert.equal(index.claim('o', 'a', 'id-a2', now, DAY).status, 'claimed');
  });

  it('never forgets a key whose first event is being committed, whatever the bound', async () => {
    const index = new IdempotencyIndex(1);
    const now = Date.now();
    for (const key of ['a', 'b', 'c'])
      assert.equal(index.claim('o', key, `id-${key}`, now, DAY).status, 'claimed');
    assert.equal(index.size, 3, 'three claims in flight, all kept over a bound of one');
    const waiting = index.claim('o', 'a', 'again', now, DAY);
    assert.equal(waiting.status, 'pending');
    index.settle('o', ['a', 'b', 'c'], true);
    assert.equal(await (waiting as { settled: Promise<boolean> }).settled, true);
    index.claim('o', 'd', 'id-d', now, DAY);
    assert.equal(index.size, 1, 'once settled, the bound holds again');
    assert.equal(index.claim('o', 'd', 'x', now, DAY).status, 'pending');
  });

  it('read back from the store, keeps the newest keys up to its bound', () => {
    const index = new IdempotencyIndex(2);
    const now = Date.now();
    index.load(
      ['k1', 'k2', 'k3'].map((key, i) => ({
        org: 'o',
        key,
        id: key,
        receivedTime: new Date(now - (3 - i) * 1000),
      })),
      week,
    );
    assert.equal(index.size, 2);
    assert.equal(index.claim('o', 'k1', 'new', now, week()).status, 'claimed');
    assert.deepEqual(index.claim('o', 'k3', 'new', now, week()), { status: 'duplicate', id: 'k3' });
  });
});
