import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  CUSTOM_PATH,
  call,
  newMasterKey,
  readEvents,
  removeDir,
  spawnServer,
  startServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

/** An acknowledged event is durable: no crash, stop or overload loses it. */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) removeDir(dir);
});

/** Sends events from `connections` parallel loops until `stop()`; answers the markers acknowledged with 200. */
function load(url: string, token: string, connections: number) {
  const acknowledged: string[] = [];
  const statuses = new Map<number | string, number>();
  let running = true;
  let sequence = 0;
  const loops = Array.from({ length: connections }, async () => {
    while (running) {
      const marker = `e${++sequence}`;
      try {
        const answer = await call(`${url}${CUSTOM_PATH}`, {
          token,
          body: validCustomEvent({ eventType: 'durability', eventValue: marker }),
        });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 200) acknowledged.push(marker);
      } catch {
        // The connection died with the server: the event was never acknowledged, so it may be lost.
        statuses.set('connection lost', (statuses.get('connection lost') ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    acknowledged,
    statuses,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function storedMarkers(dataDir: string, masterKey: string): Promise<Set<string>> {
  const server = await startServer({ dataDir, masterKey });
  try {
    const events = await readEvents(server, masterKey, '&eventType=durability');
    return new Set(events.map((e) => e.eventValue as string));
  } finally {
    await server.close();
  }
}

/**
 * Starts `openua serve`, loads it from 16 connections until `acknowledgedAtLeast` events are answered 200,
 * sends `signal`, and answers what was acknowledged, what the store holds after a restart, and how it exited.
 */
async function signalUnderLoad(signal: NodeJS.Signals, acknowledgedAtLeast: number) {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const masterKey = newMasterKey();
  const server = await spawnServer(dataDir, masterKey);
  const traffic = load(server.url, masterKey, 16);
  await waitFor(
    () => traffic.acknowledged.length >= acknowledgedAtLeast,
    `${acknowledgedAtLeast} acknowledged events`,
  );
  server.child.kill(signal);
  const code = await server.exited;
  await traffic.stop();
  const stored = await storedMarkers(dataDir, masterKey);
  const lost = traffic.acknowledged.filter((m) => !stored.has(m));
  return { acknowledged: traffic.acknowledged, stored, lost, code, output: server.output() };
}

describe('durability across process death', () => {
  it('SIGKILL under load loses no acknowledged event', async () => {
    const run = await signalUnderLoad('SIGKILL', 300);
    assert.deepEqual(
      run.lost,
      [],
      `${run.lost.length} of ${run.acknowledged.length} acknowledged events lost`,
    );
    assert.ok(run.acknowledged.length >= 300);
  });

  it('SIGTERM drains every accepted event, exits 0, and the data survives a restart', async () => {
    const run = await signalUnderLoad('SIGTERM', 200);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /stopped cleanly/);
    assert.deepEqual(run.lost, []);
    // Events whose answer died with a connection may be stored too; no acknowledged one may be missing.
    assert.ok(run.stored.size >= run.acknowledged.length);
  });
});

describe('overload', () => {
  it('sheds load with 503 + Retry-After and stores exactly the acknowledged events', async () => {
    const server = await startServer({ env: { OPENUA_QUEUE_CAPACITY: '1' } });
    dirs.push(server.dataDir);
    try {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          call(`${server.url}${CUSTOM_PATH}`, {
            token: server.masterKey,
            body: validCustomEvent({ eventType: 'durability', eventValue: `o${i}` }),
          }),
        ),
      );
      const shed = answers.filter((a) => a.status === 503);
      const ok = answers.filter((a) => a.status === 200);
      assert.equal(shed.length + ok.length, answers.length, 'only 200 and 503 answers');
      assert.ok(shed.length > 0, 'a queue of one must shed some of 100 concurrent events');
      assert.ok(ok.length > 0);
      for (const answer of shed) {
        assert.equal(answer.body.code, 'OVERLOADED');
        assert.ok(Number(answer.headers.get('retry-after')) >= 1);
      }
      const health = await call(`${server.url}/rest/ua/v15/analytics/monitoring/health`);
      assert.equal(health.status, 200);
      const stored = await readEvents(server, server.masterKey, '&eventType=durability');
      assert.equal(stored.length, ok.length);
      assert.equal(server.services.writer.stats().shed, shed.length);
    } finally {
      await server.close();
    }
  });

  it('health says UNAVAILABLE (503) while the server refuses events, as while it drains to stop', async () => {
    const server = await startServer();
    dirs.push(server.dataDir);
    const health = `${server.url}/rest/ua/v15/analytics/monitoring/health`;
    try {
      assert.deepEqual((await call(health)).body, { status: 'UP' });
      await server.services.writer.drain();
      const draining = await call(health);
      assert.equal(draining.status, 503);
      assert.deepEqual(draining.body, { status: 'UNAVAILABLE' });
      const refused = await call(`${server.url}${CUSTOM_PATH}`, {
        token: server.masterKey,
        body: validCustomEvent(),
      });
      assert.equal(refused.status, 503, 'and events are indeed refused');
    } finally {
      await server.close();
    }
  });
});
