import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { skipReason, startClickHouse } from '../helpers/clickhouse.ts';
import { testClickHouse, testEngine } from '../helpers/engine.ts';
import {
  CUSTOM_PATH,
  call,
  newMasterKey,
  removeDir,
  type ServerProcess,
  spawnServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * Two `openua serve` processes, each with its own data directory (its own ingest log), on one ClickHouse: what
 * one server did holds on the other within the bound the documentation states (docs/operations/scale-out.md).
 */

/** The servers' cache bound (`OPENUA_CACHE_TTL_MS`), and what a refusal may take beyond it on a busy machine. */
const CACHE_TTL_MS = 1000;
const SLACK_MS = 2000;

// The run's ClickHouse (one node or the two-shard cluster) when the engine matrix asks for one; else one of its own.
const clickhouse = testEngine() === 'duckdb' ? await startClickHouse() : await testClickHouse();
const masterKey = newMasterKey();
const database = `scale_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const dirs: string[] = [];
const running = new Set<ServerProcess>();

/** Loads run every 50 ms, so that when a server dies some acknowledged events are stored and some only logged. */
const serverEnv = () => ({
  OPENUA_CLICKHOUSE_URL: clickhouse?.url ?? '',
  OPENUA_CLICKHOUSE_DATABASE: database,
  ...(clickhouse?.cluster
    ? {
        OPENUA_CLICKHOUSE_CLUSTER: clickhouse.cluster,
        OPENUA_CLICKHOUSE_SHARDS: clickhouse.shardUrls.join(','),
      }
    : {}),
  OPENUA_CACHE_TTL_MS: String(CACHE_TTL_MS),
  OPENUA_LOAD_INTERVAL_MS: '50',
});

async function serve(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await spawnServer(dataDir, masterKey, { ...serverEnv(), ...env });
  running.add(server);
  server.exited.then(() => running.delete(server));
  return server;
}

after(async () => {
  for (const server of running) server.child.kill('SIGKILL');
  await Promise.all([...running].map((s) => s.exited));
  await clickhouse?.stop();
  for (const dir of dirs) removeDir(dir);
});

/** One request of the load: a single event without a key, or a batch of four keyed events. */
interface Operation {
  markers: string[];
  keyed: boolean;
  send(url: string): Promise<string[]>;
}

function operation(n: number, run: string): Operation {
  if (n % 2 === 0) {
    const marker = `${run}-${n}`;
    return {
      markers: [marker],
      keyed: false,
      send: async (url) => {
        const answer = await call(`${url}${CUSTOM_PATH}`, {
          token: masterKey,
          body: validCustomEvent({ eventType: run, eventValue: marker }),
        });
        return answer.status === 200 ? [marker] : [];
      },
    };
  }
  const markers = [0, 1, 2, 3].map((i) => `${run}-${n}-${i}`);
  return {
    markers,
    keyed: true,
    send: async (url) => {
      const answer = await call<{ results?: { status: string }[] }>(`${url}/api/v1/events/batch`, {
        token: masterKey,
        body: {
          events: markers.map((marker) => ({
            kind: 'custom',
            eventId: marker,
            ...validCustomEvent({ eventType: run, eventValue: marker }),
          })),
        },
      });
      if (answer.status !== 200) return [];
      return markers.filter((_, i) =>
        ['accepted', 'duplicate'].includes(answer.body.results?.[i]?.status ?? ''),
      );
    },
  };
}

/** What a server logged last: the cause of a 500 it answered. */
const logTail = (server: ServerProcess) => server.output().trim().split('\n').slice(-8).join('\n');

/** Every stored event of the run as the events list answers it, counted by marker. */
async function listed(server: ServerProcess, run: string): Promise<Map<string, number>> {
  const answer = await call<{ events: { eventValue: string }[] }>(
    `${server.url}/api/v1/events?limit=10000&eventType=${run}`,
    { token: masterKey },
  );
  assert.equal(answer.status, 200, `${JSON.stringify(answer.body)}\n${logTail(server)}`);
  const perMarker = new Map<string, number>();
  for (const event of answer.body.events) {
    perMarker.set(event.eventValue, (perMarker.get(event.eventValue) ?? 0) + 1);
  }
  return perMarker;
}

/** The run's events as the query API counts them: `count`, and the distinct ids. */
async function counted(server: ServerProcess, run: string): Promise<{ count: number; ids: number }> {
  const answer = await call<{ rows: { count: number; ids: number }[] }>(`${server.url}/api/v1/query`, {
    token: masterKey,
    body: {
      measures: ['count', { fn: 'uniq', field: 'id', as: 'ids' }],
      filters: [{ field: 'eventType', op: 'eq', value: run }],
    },
  });
  assert.equal(answer.status, 200, `${JSON.stringify(answer.body)}\n${logTail(server)}`);
  const row = answer.body.rows[0];
  return { count: Number(row?.count ?? 0), ids: Number(row?.ids ?? 0) };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('two OpenUA servers on one ClickHouse', { skip: clickhouse ? false : skipReason() }, () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let aDir: string;

  it('start one after the other on one database', async () => {
    aDir = tempDir('openua-scale-a-');
    const bDir = tempDir('openua-scale-b-');
    dirs.push(aDir, bDir);
    // One after the other: the first creates the tables and the default organization, the second finds them.
    a = await serve(aDir);
    b = await serve(bDir);
  });

  it('SIGKILL of one under load, and a restart: every acknowledged event is stored exactly once', async (t) => {
    const run = `load${Date.now().toString(36)}`;
    const operations: Operation[] = [];
    const acknowledged = new Set<string>();
    /** Batches whose answer never came: the client sends them again, to the other server. */
    const unanswered: Operation[] = [];
    let loading = true;
    const loops = Array.from({ length: 6 }, async (_, loop) => {
      while (loading) {
        const op = operation(operations.length, run);
        operations.push(op);
        // Half the loops send to each server: a killed server's loops keep failing until it is back.
        const url = loop % 2 === 0 ? a.url : b.url;
        try {
          for (const marker of await op.send(url)) acknowledged.add(marker);
        } catch {
          if (op.keyed) unanswered.push(op);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    try {
      await waitFor(() => acknowledged.size >= 400, '400 acknowledged events');
      a.child.kill('SIGKILL');
      await a.exited;
      // B goes on taking events while A is down.
      const before = acknowledged.size;
      await waitFor(() => acknowledged.size >= before + 100, '100 more events acknowledged by the survivor');
      a = await serve(aDir);
      await waitFor(() => acknowledged.size >= before + 200, '100 more events after the restart');
    } finally {
      // Also when a step fails: loops left running would keep the test process alive.
      loading = false;
      await Promise.all(loops);
    }
    for (const op of unanswered) {
      const answered = await op.send(b.url);
      assert.deepEqual(answered, op.markers, 'a batch retried on the other server is answered whole');
      for (const marker of answered) acknowledged.add(marker);
    }
    t.diagnostic(
      `${operations.length} requests, ${acknowledged.size} events acknowledged, ${unanswered.length} batches retried`,
    );

    // A read through a server waits until its own acknowledged events are in the store; another server's may
    // still be on their way (its load delay). Once both have answered a read, every acknowledged event is stored.
    await Promise.all([listed(a, run), listed(b, run)]);
    for (const server of [a, b]) {
      const perMarker = await listed(server, run);
      const lost = [...acknowledged].filter((m) => !perMarker.has(m));
      const twice = [...perMarker].filter(([, n]) => n > 1);
      assert.deepEqual(lost, [], `acknowledged and not stored (${lost.length} of ${acknowledged.size})`);
      assert.deepEqual(twice, [], 'stored twice');
      const stored = perMarker.size;
      assert.deepEqual(
        await counted(server, run),
        { count: stored, ids: stored },
        'the query counts each once',
      );
    }
  });

  it("a server killed with events only in its log loads them at its restart, whatever the others' loads", async () => {
    const run = `own${Date.now().toString(36)}`;
    // B loads events, and so moves its own position in its own log forward.
    for (let n = 0; n < 40; n += 2)
      assert.deepEqual(await operation(n, `${run}b`).send(b.url), [`${run}b-${n}`]);
    await listed(b, `${run}b`);
    // C keeps what it acknowledges in its log (it would load it a minute later), and dies.
    const cDir = tempDir('openua-scale-c-');
    dirs.push(cDir);
    const c = await serve(cDir, { OPENUA_LOAD_INTERVAL_MS: '60000' });
    const markers: string[] = [];
    for (let n = 0; n < 40; n += 2) markers.push(...(await operation(n, run).send(c.url)));
    assert.equal(markers.length, 20);
    c.child.kill('SIGKILL');
    await c.exited;
    const restarted = await serve(cDir);
    try {
      assert.deepEqual([...(await listed(restarted, run)).keys()].sort(), markers.sort());
    } finally {
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    }
  });

  it('a key revoked on one server is refused by the other within the cache bound', async () => {
    const created = await call<{ id: string; key: string }>(`${a.url}/api/v1/orgs/default/keys`, {
      token: masterKey,
      body: { name: 'revoked on A', privileges: ['analytics:read'] },
    });
    assert.equal(created.status, 201);
    const read = (url: string) => call(`${url}/api/v1/events?limit=1`, { token: created.body.key });
    assert.equal((await read(b.url)).status, 200, 'B knows the key A created');
    const revoked = await call(`${a.url}/api/v1/orgs/default/keys/${created.body.id}`, {
      method: 'DELETE',
      token: masterKey,
    });
    assert.equal(revoked.status, 200);
    const start = Date.now();
    while ((await read(b.url)).status !== 401) {
      assert.ok(Date.now() - start <= CACHE_TTL_MS + SLACK_MS, 'B still takes the revoked key');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it("a visitor's events on both servers stay in one visit", async () => {
    const visitor = randomUUID();
    for (const server of [a, b, a, b]) {
      const sent = await call(`${server.url}${CUSTOM_PATH}`, {
        token: masterKey,
        body: validCustomEvent({ clientId: visitor, eventType: 'scale-visit' }),
      });
      assert.equal(sent.status, 200);
      // A read through the server that took the event waits until its store holds it: past the bound.
      await call(`${server.url}/api/v1/events?limit=1`, { token: masterKey });
    }
    const events = await call<{ events: { clientId: string; visitId: string }[] }>(
      `${b.url}/api/v1/events?limit=100&eventType=scale-visit`,
      { token: masterKey },
    );
    const mine = events.body.events.filter((e) => e.clientId === visitor);
    assert.equal(mine.length, 4);
    assert.equal(new Set(mine.map((e) => e.visitId)).size, 1, JSON.stringify(mine));
  });

  it('the same batch sent to both servers is counted once by every query', async () => {
    const run = `twice${Date.now().toString(36)}`;
    const op = operation(1, run);
    const [onA, onB] = await Promise.all([op.send(a.url), op.send(b.url)]);
    assert.deepEqual(onA, op.markers);
    assert.deepEqual(onB, op.markers);
    for (const server of [a, b]) {
      assert.deepEqual([...(await listed(server, run)).values()], [1, 1, 1, 1], 'the events list');
      assert.deepEqual(await counted(server, run), { count: 4, ids: 4 }, 'the query');
    }
  });
});
