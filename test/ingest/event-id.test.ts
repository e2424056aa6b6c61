import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newEventId } from '../../src/model/event-id.ts';

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
