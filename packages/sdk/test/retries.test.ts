import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  newMasterKey,
  removeDir,
  type ServerProcess,
  spawnServer,
  tempDir,
} from '../../../test/helpers/server.ts';
import { createClient, type Logged } from '../src/node.ts';
import { countByKey, storedEvents } from './helpers/events.ts';
import { startRelay } from './helpers/proxy.ts';

/**
 * Exactly once through failures, against `openua serve` as its own process: an answer lost after the
 * server stored the batch, and the server killed (SIGKILL) while events are logged, then started again
 * on the same data (on another port, behind the same endpoint): every event arrives once.
 */

const dataDir = tempDir('openua-sdk-retries-');
const masterKey = newMasterKey();
const running: ServerProcess[] = [];
after(async () => {
  for (const server of running) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  removeDir(dataDir);
});

const start = async () => {
  const server = await spawnServer(dataDir, masterKey);
  running.push(server);
  return server;
};

describe('through a lost answer and a server that goes down and comes back', () => {
  it('delivers every event exactly once', async () => {
    const first = await start();
    const relay = await startRelay(first.url);
    after(() => relay.close());
    const sdk = createClient({
      endpoint: relay.url,
      token: masterKey,
      batchSize: 5,
      flushIntervalMs: 50,
      retryBaseMs: 20,
      retryMaxMs: 200,
    });
    const log = (from: number, to: number): Logged[] =>
      Array.from({ length: to - from }, (_, i) =>
        sdk.logCustomEvent({ eventType: 'sdk-retries', eventValue: `e${from + i}`, language: 'en' }),
      );

    const delivered = await Promise.all(log(0, 10));
    assert.ok(delivered.every((result) => result.status === 'accepted'));

    // The server stores the next batch, and its answer is lost: the retry is answered `duplicate`.
    relay.loseAnswers(1);
    const replayed = await Promise.all(log(10, 15));
    assert.equal(relay.lost(), 1);
    assert.deepEqual(
      replayed.map((result) => result.status),
      ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate'],
    );

    // The server dies while events are logged; they wait, retried, until it is back.
    first.child.kill('SIGKILL');
    await first.exited;
    const during = log(15, 25);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = await start();
    relay.to(second.url);
    const afterRestart = await Promise.all(during);
    assert.ok(afterRestart.every((result) => result.status === 'accepted' || result.status === 'duplicate'));
    assert.equal(await sdk.close(), 0);

    const stored = await storedEvents({ url: second.url, masterKey }, 25, 'sdk-retries');
    assert.equal(stored.length, 25);
    assert.deepEqual(
      stored.map((event) => event.eventValue).sort(),
      Array.from({ length: 25 }, (_, i) => `e${i}`).sort(),
    );
    assert.ok([...countByKey(stored).values()].every((count) => count === 1));
  });
});
