import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newEventId } from '../../src/model/event-id.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { VisitTracker } from '../../src/ua/visits.ts';
import { testStorage } from '../helpers/engine.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/** OPENUA_OPEN_VISITS: the visits a server keeps in memory are bounded, and forgetting one splits no visit. */

const MINUTE = 60_000;
const visitor = (n: number) => `5d1c0a34-8f1e-4b6c-9a2e-${String(n).padStart(12, '0')}`;

describe('open visits, bounded', () => {
  let dir: string;
  let storage: Storage;
  before(async () => {
    dir = tempDir('visit-bounds-');
    storage = await testStorage(dir);
    await storage.migrate([]);
  });
  after(async () => {
    await storage.close();
    removeDir(dir);
  });

  it('keeps at most its bound of visitors, forgetting the one seen longest ago first', async () => {
    const tracker = new VisitTracker(storage, 30 * MINUTE, 2);
    const t0 = new Date();
    const first = await tracker.visit('bounded', visitor(1), t0, false);
    const second = await tracker.visit('bounded', visitor(2), t0, false);
    // Seen again, visitor 1 is now the newest: visitor 2 is the one forgotten when visitor 3 comes.
    assert.equal(await tracker.visit('bounded', visitor(1), new Date(t0.getTime() + MINUTE), false), first);
    await tracker.visit('bounded', visitor(3), t0, false);
    assert.equal(tracker.size, 2);
    assert.equal(
      await tracker.visit('bounded', visitor(1), new Date(t0.getTime() + 2 * MINUTE), false),
      first,
    );
    // Forgotten, with nothing in the store: the store cannot say, so a new visit opens.
    assert.notEqual(
      await tracker.visit('bounded', visitor(2), new Date(t0.getTime() + MINUTE), false),
      second,
    );
    tracker.close();
  });

  it("a forgotten visitor's next event continues the visit the store holds", async () => {
    const tracker = new VisitTracker(storage, 30 * MINUTE, 1);
    const at = new Date();
    const visitId = await tracker.visit('stored', visitor(1), at, false);
    // The server stores the event in that visit (here, directly), then forgets the visitor for another one.
    await storage.appendEvents([
      canonicalEvent({
        id: newEventId(),
        org: 'stored',
        visitorId: visitor(1),
        clientId: visitor(1),
        visitId,
        receivedTime: at,
        derivedTime: at,
      }),
    ]);
    await tracker.visit('stored', visitor(2), at, false);
    assert.equal(tracker.size, 1);
    assert.equal(await tracker.visit('stored', visitor(1), new Date(at.getTime() + MINUTE), false), visitId);
    tracker.close();
  });
});
