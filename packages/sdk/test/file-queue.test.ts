import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { removeDir, serverForSuite, type TestServer, tempDir } from '../../../test/helpers/server.ts';
import { createClient, FileQueue, type QueuedItem } from '../src/node.ts';
import { countByKey, storedEvents } from './helpers/events.ts';
import { type Relay, startRelay } from './helpers/proxy.ts';

/** The file queue: what one run could not send (or sent without hearing back), the next run sends, once. */

const dir = tempDir('openua-sdk-queue-');
after(() => removeDir(dir));

const item = (n: number): QueuedItem => ({
  kind: 'custom',
  eventId: `key-${n}`,
  eventType: 'sdk-file',
  eventValue: `e${n}`,
  language: 'en',
});
const ids = (items: QueuedItem[]) => items.map((queued) => queued.eventId);

describe('FileQueue', () => {
  it('keeps items in order across reopenings, and removes them', async () => {
    const file = path.join(dir, 'order', 'queue.jsonl');
    const queue = new FileQueue(file);
    await queue.add([item(1), item(2)]);
    await queue.add([item(3)]);
    await queue.remove(['key-2']);
    const reopened = new FileQueue(file);
    assert.equal(await reopened.size(), 2);
    assert.deepEqual(ids(await reopened.peek(10)), ['key-1', 'key-3']);
    assert.deepEqual(ids(await reopened.peek(1)), ['key-1']);
    await reopened.remove(['key-1', 'key-3']);
    assert.equal(readFileSync(file, 'utf8'), '', 'an empty queue is an empty file');
  });

  it('ignores a last line cut short by a crash', async () => {
    const file = path.join(dir, 'torn.jsonl');
    writeFileSync(file, `${JSON.stringify({ add: [item(1)] })}\n`);
    appendFileSync(file, '{"add":[{"kind":"cus');
    const queue = new FileQueue(file);
    assert.deepEqual(ids(await queue.peek(10)), ['key-1']);
    await queue.add([item(2)]);
    assert.deepEqual(ids(await new FileQueue(file).peek(10)), ['key-1', 'key-2']);
  });

  it('is rewritten with only what is queued once its log grows long', async () => {
    const file = path.join(dir, 'compact.jsonl');
    const queue = new FileQueue(file);
    await queue.add([item(0)]);
    for (let n = 1; n <= 1100; n++) {
      await queue.add([item(n)]);
      await queue.remove([`key-${n}`]);
    }
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    assert.ok(lines < 1000, `${lines} lines`);
    assert.deepEqual(ids(await new FileQueue(file).peek(10)), ['key-0']);
  });
});

describe('a client restarted on its queue file', () => {
  let server: TestServer;
  let relay: Relay;
  serverForSuite(async (started) => {
    server = started;
    relay = await startRelay(server.url);
  });
  after(() => relay.close());

  it('sends what the last run left, and nothing twice', async () => {
    const queueFile = path.join(dir, 'client', 'queue.jsonl');
    const options = { endpoint: relay.url, token: server.masterKey, queueFile, flushIntervalMs: 50 };
    const log = (client: ReturnType<typeof createClient>, n: number) =>
      client.logCustomEvent({ eventType: 'sdk-restart', eventValue: `e${n}`, language: 'en' });

    const firstRun = createClient(options);
    assert.deepEqual(
      (await Promise.all([log(firstRun, 0), log(firstRun, 1)])).map((result) => result.status),
      ['accepted', 'accepted'],
    );
    // Stored, but the answer is lost, and the server cannot be reached after: still queued.
    const cut = new Promise<void>((resolve) =>
      relay.loseAnswers(1, () => {
        relay.to(undefined);
        resolve();
      }),
    );
    void log(firstRun, 2);
    void log(firstRun, 3);
    await cut;
    // Never sent.
    void log(firstRun, 4);
    assert.equal(await firstRun.close(), 3, 'e2, e3 (answer lost) and e4 (never sent) stay queued');

    relay.to(server.url);
    const rejected: unknown[] = [];
    const secondRun = createClient({ ...options, onRejected: (event) => rejected.push(event) });
    await secondRun.flush();
    assert.equal(await secondRun.close(), 0);
    assert.deepEqual(rejected, []);
    assert.equal(readFileSync(queueFile, 'utf8'), '');

    const stored = await storedEvents(server, 5, 'sdk-restart');
    assert.deepEqual(stored.map((event) => event.eventValue).sort(), ['e0', 'e1', 'e2', 'e3', 'e4']);
    assert.ok([...countByKey(stored).values()].every((count) => count === 1));
  });
});
