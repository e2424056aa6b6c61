import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { testEngineEnv } from '../helpers/engine.ts';
import { freePort } from '../helpers/ports.ts';
import {
  CUSTOM_PATH,
  call,
  newMasterKey,
  ROOT,
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

describe('a crash inside a load', () => {
  // OPENUA_TEST_HOLD_AFTER_LOAD (src/ingest/group-commit.ts) stops the first load of a process between the store
  // taking its events and the checkpoint that records it: the very window where a replay meets events the store
  // already holds. On DuckDB the load is a bulk load of a whole log segment by its JSON reader.
  it('SIGKILL after a native load and before its checkpoint, then again in the restart, stores each acknowledged event once', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const masterKey = newMasterKey();
    const hold = path.join(dataDir, 'held');
    const server = await spawnServer(dataDir, masterKey, { OPENUA_TEST_HOLD_AFTER_LOAD: hold });
    const traffic = load(server.url, masterKey, 8);
    try {
      await waitFor(
        () => existsSync(hold) && traffic.acknowledged.length >= 200,
        'a held load and 200 acknowledged events',
      );
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
      await traffic.stop();
    }

    // The restart's recovery loads the log, and is held (and killed) the same way before its checkpoint. It is
    // never ready, so it is started here rather than by spawnServer, which waits for that.
    rmSync(hold);
    const recovering = spawn(process.execPath, [path.join(ROOT, 'bin/openua.js'), 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        OPENUA_DATA_DIR: dataDir,
        OPENUA_MASTER_KEY: masterKey,
        PORT: String(await freePort()),
        HOST: '127.0.0.1',
        ...(await testEngineEnv(dataDir)),
        OPENUA_TEST_HOLD_AFTER_LOAD: hold,
      },
      stdio: 'ignore',
    });
    const recoveryExited = new Promise((resolve) => recovering.on('exit', resolve));
    try {
      await waitFor(
        () => existsSync(hold) || recovering.exitCode !== null,
        'the recovery held after its load',
        60_000,
      );
      assert.ok(existsSync(hold), 'the recovery reached the end of a load');
    } finally {
      recovering.kill('SIGKILL');
      await recoveryExited;
    }

    const checked = await startServer({ dataDir, masterKey });
    try {
      const stored = (await readEvents(checked, masterKey, '&eventType=durability')).map(
        (e) => e.eventValue as string,
      );
      const lost = traffic.acknowledged.filter((m) => !stored.includes(m));
      assert.deepEqual(lost, [], `${lost.length} of ${traffic.acknowledged.length} acknowledged events lost`);
      assert.equal(new Set(stored).size, stored.length, 'no event stored twice');
    } finally {
      await checked.close();
    }
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

/**
 * One operation of the mixed load: what it sends (each event under its own idempotency key), and which keys
 * an answer acknowledged.
 */
interface Operation {
  kind: 'event' | 'batch' | 'kpi';
  keys: string[];
  send: (url: string) => Promise<{ status: number; acknowledged: string[] }>;
}

/** Single UA events (Idempotency-Key header), batches (eventId per item) and KPI events (eventId per event). */
function mixedOperation(
  n: number,
  run: string,
  token: string,
  conversation: Record<string, string>,
): Operation {
  const post = async (url: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const answer = await call<Record<string, unknown>>(`${url}${path}`, { token, body, headers });
    return answer;
  };
  const key = (i: number) => `${run}-${n}-${i}`;
  switch (n % 3) {
    case 0:
      return {
        kind: 'event',
        keys: [key(0)],
        send: async (url) => {
          const answer = await post(
            url,
            CUSTOM_PATH,
            validCustomEvent({ eventType: run, eventValue: key(0) }),
            {
              'idempotency-key': key(0),
            },
          );
          return { status: answer.status, acknowledged: answer.status === 200 ? [key(0)] : [] };
        },
      };
    case 1: {
      const keys = [0, 1, 2, 3].map(key);
      return {
        kind: 'batch',
        keys,
        send: async (url) => {
          const answer = await post(url, '/api/v1/events/batch', {
            events: keys.map((k) => ({
              kind: 'custom',
              eventId: k,
              ...validCustomEvent({ eventType: run, eventValue: k }),
            })),
          });
          const results = (answer.body.results ?? []) as { status: string }[];
          const acknowledged =
            answer.status === 200
              ? keys.filter((_, i) => ['accepted', 'duplicate'].includes(results[i]?.status ?? ''))
              : [];
          return { status: answer.status, acknowledged };
        },
      };
    }
    default: {
      const keys = [key(0), key(1)];
      return {
        kind: 'kpi',
        keys,
        send: async (url) => {
          const answer = await post(url, '/api/v1/channel/logAnalyticsEvent', {
            data: {
              ...conversation,
              events: [
                { kpiEventName: 'TabOpened', tabId: `tab-${n}`, eventId: keys[0] },
                { kpiEventName: 'TabClosed', tabId: `tab-${n}`, eventId: keys[1] },
              ],
            },
            eventName: 'TabOpened',
          });
          return { status: answer.status, acknowledged: answer.status === 200 ? keys : [] };
        },
      };
    }
  }
}

/** How many stored events carry each idempotency key of the run. */
async function storedKeys(url: string, token: string, run: string): Promise<Map<string, number>> {
  const answer = await call<{ events: { idempotencyKey?: string | null }[] }>(
    `${url}/api/v1/events?limit=10000`,
    {
      token,
    },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const counts = new Map<string, number>();
  for (const event of answer.body.events) {
    const key = event.idempotencyKey;
    if (typeof key === 'string' && key.startsWith(`${run}-`)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('kill -9 under mixed load, with idempotency keys', () => {
  it('stores every acknowledged event exactly once, nothing twice, and a retry after the restart adds nothing', async (t) => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const masterKey = newMasterKey();
    // Loads run every 50 ms, so that when the process dies some acknowledged events are in the store already
    // and others only in the ingest log.
    const server = await spawnServer(dataDir, masterKey, { OPENUA_LOAD_INTERVAL_MS: '50' });
    const { startConversation } = await import('../helpers/channel.ts');
    const started = await startConversation({ url: server.url, masterKey });
    const conversation = {
      conversationId: started.conversationId,
      providerSessionId: started.providerSessionId,
      participantId: started.participantId,
    };
    const run = `crash${Date.now().toString(36)}`;
    const operations: Operation[] = [];
    const acknowledged = new Set<string>();
    const statuses = new Map<number | string, number>();
    let running = true;
    const loops = Array.from({ length: 8 }, async () => {
      while (running) {
        const operation = mixedOperation(operations.length, run, masterKey, conversation);
        operations.push(operation);
        try {
          const answer = await operation.send(server.url);
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          for (const key of answer.acknowledged) acknowledged.add(key);
        } catch {
          // The connection died with the server: not acknowledged, so it may or may not be stored.
          statuses.set('connection lost', (statuses.get('connection lost') ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    await waitFor(() => acknowledged.size >= 400, '400 acknowledged events');
    server.child.kill('SIGKILL');
    await server.exited;
    running = false;
    await Promise.all(loops);
    const account = `${operations.length} operations, ${acknowledged.size} events acknowledged; answers: ${JSON.stringify([...statuses])}`;
    t.diagnostic(account);

    const restarted = await startServer({ dataDir, masterKey });
    try {
      const stored = await storedKeys(restarted.url, masterKey, run);
      const lost = [...acknowledged].filter((k) => !stored.has(k));
      const twice = [...stored].filter(([, n]) => n > 1);
      assert.deepEqual(lost, [], `acknowledged and not stored (${account})`);
      assert.deepEqual(twice, [], `stored more than once (${account})`);
      const kinds = new Set(
        operations.filter((o) => o.keys.some((k) => acknowledged.has(k))).map((o) => o.kind),
      );
      assert.deepEqual(
        [...kinds].sort(),
        ['batch', 'event', 'kpi'],
        'every kind of operation was acknowledged',
      );

      // A client retries everything it sent, answered or not: each key ends stored exactly once.
      for (const operation of operations) {
        const answer = await operation.send(restarted.url);
        assert.equal(answer.status, 200, `${operation.kind} ${operation.keys[0]} retried`);
        assert.deepEqual(answer.acknowledged, operation.keys);
      }
      const after = await storedKeys(restarted.url, masterKey, run);
      const keys = operations.flatMap((o) => o.keys);
      const wrong = keys.filter((k) => after.get(k) !== 1).map((k) => `${k}: ${after.get(k) ?? 0}`);
      assert.deepEqual(wrong, [], `after the retries every key is stored exactly once (${account})`);
    } finally {
      await restarted.close();
    }
  });
});
