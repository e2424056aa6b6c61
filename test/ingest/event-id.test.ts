import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { keyedEventId, newEventId } from '../../src/model/event-id.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newEventId', () => {
  it('is a UUIDv7 carrying the time in its first 48 bits', () => {
    const at = Date.UTC(2026, 10, 24, 12, 0, 0, 123);
    const id = newEventId(at);
    assert.match(id, UUID_V7);
    assert.equal(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
  });

  it('sorts by time, and is unique within one millisecond', () => {
    const ids = [newEventId(1000), newEventId(2000), newEventId(3000)];
    assert.deepEqual([...ids].sort(), ids);
    const same = new Set(Array.from({ length: 10_000 }, () => newEventId(5000)));
    assert.equal(same.size, 10_000);
  });
});

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('keyedEventId', () => {
  it('is a UUID version 8 drawn from SHA-256 of the organization NUL the key', () => {
    const id = keyedEventId('acme', 'key-1');
    assert.match(id, UUID_V8);
    const hex = createHash('sha256').update('acme\u0000key-1').digest('hex');
    // Every bit but the version nibble and the two variant bits is the hash's.
    assert.equal(id.replaceAll('-', '').slice(0, 12), hex.slice(0, 12));
    assert.equal(id.slice(15, 18), hex.slice(13, 16));
    assert.equal(id.replaceAll('-', '').slice(20), hex.slice(20, 32));
  });

  it('is the same on every call (every server), and differs by organization, key and event time', () => {
    const at = new Date('2026-11-30T10:00:00.123Z');
    assert.equal(keyedEventId('acme', 'k', at), keyedEventId('acme', 'k', new Date(at.getTime())));
    const ids = new Set([
      keyedEventId('acme', 'k', at),
      keyedEventId('acme', 'k'),
      keyedEventId('acme', 'k', new Date(at.getTime() + 1)),
      keyedEventId('other', 'k', at),
      keyedEventId('acme', 'k2', at),
    ]);
    assert.equal(ids.size, 5);
    assert.equal(keyedEventId('acme', 'k', null), keyedEventId('acme', 'k'));
  });
});
