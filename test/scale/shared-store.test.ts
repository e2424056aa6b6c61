import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readConfig } from '../../src/core/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { newEventId } from '../../src/model/event-id.ts';
import { createServices, type Services } from '../../src/startup/services.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { VisitTracker } from '../../src/ua/visits.ts';
import { testEngine, testStorage } from '../helpers/engine.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { CUSTOM_PATH, call, newMasterKey, removeDir, tempDir, validCustomEvent } from '../helpers/server.ts';

/**
 * Two OpenUA servers over one store, in one process: each has its own services (caches, ingest log, index of
 * idempotency keys, open visits) and shares nothing but the store, as two servers on one ClickHouse do. What is
 * per process must hold across them within the bound each part states.
 */

/** The cache bound the servers run with (`OPENUA_CACHE_TTL_MS`). */
const CACHE_TTL_MS = 1000;
/** What a refusal may take beyond the bound: a request in flight, a slow store read on a busy machine. */
const SLACK_MS = 1500;

interface Node {
  url: string;
  app: FastifyInstance;
  services: Services;
}

/** The store both servers share, on the run's engine (the engine matrix runs this file on each). */
const openSharedStore = (dir: string): Promise<Storage> => testStorage(dir);

/** The store with a `close` that leaves it open: the other server still uses it. */
function shared(store: Storage): Storage {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'close') return async () => undefined;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function startNode(store: Storage, masterKey: string, dirs: string[]): Promise<Node> {
  const dataDir = tempDir('openua-scale-');
  dirs.push(dataDir);
  const config = readConfig({
    OPENUA_DATA_DIR: dataDir,
    OPENUA_MASTER_KEY: masterKey,
    OPENUA_LOG_LEVEL: 'silent',
    OPENUA_CACHE_TTL_MS: String(CACHE_TTL_MS),
  });
  const services = await createServices(config, shared(store));
  const app = await buildApp(services, { logger: false });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, app, services };
}

/** Polls `refused` until it holds; answers how long that took. */
async function timeUntil(refused: () => Promise<boolean>, limitMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await refused()) return Date.now() - start;
    if (Date.now() - start > limitMs) throw new Error(`${what}: still not after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('two servers over one store', () => {
  const dirs: string[] = [];
  const masterKey = newMasterKey();
  let store: Storage;
  let a: Node;
  let b: Node;

  before(async () => {
    const storeDir = tempDir('openua-scale-store-');
    dirs.push(storeDir);
    store = await openSharedStore(storeDir);
    a = await startNode(store, masterKey, dirs);
    b = await startNode(store, masterKey, dirs);
  });
  after(async () => {
    await a?.app.close();
    await b?.app.close();
    await store?.close();
    for (const dir of dirs) removeDir(dir);
  });

  it('a key revoked through one server is refused by the other within the cache bound', async () => {
    const created = await call<{ id: string; key: string }>(`${a.url}/api/v1/orgs/default/keys`, {
      token: masterKey,
      body: { name: 'revoked elsewhere', privileges: ['analytics:read'] },
    });
    assert.equal(created.status, 201);
    const read = (node: Node) => call(`${node.url}/api/v1/events?limit=1`, { token: created.body.key });
    // Both servers now hold the key in their caches.
    assert.equal((await read(a)).status, 200);
    assert.equal((await read(b)).status, 200);

    const revoked = await call(`${a.url}/api/v1/orgs/default/keys/${created.body.id}`, {
      method: 'DELETE',
      token: masterKey,
    });
    assert.equal(revoked.status, 200);
    assert.equal((await read(a)).status, 401, 'the server that revoked it refuses it at once');
    const took = await timeUntil(
      async () => (await read(b)).status === 401,
      CACHE_TTL_MS + SLACK_MS,
      'the other server refuses the revoked key',
    );
    assert.ok(took <= CACHE_TTL_MS + SLACK_MS, `refused after ${took} ms`);
  });

  it('a key created through one server is accepted by the other at once', async () => {
    const created = await call<{ id: string; key: string }>(`${a.url}/api/v1/orgs/default/keys`, {
      token: masterKey,
      body: { name: 'created elsewhere', privileges: ['analytics:read'] },
    });
    assert.equal(created.status, 201);
    // B has never looked this id up, so nothing it remembers stands in the way of the store's answer.
    const read = await call(`${b.url}/api/v1/events?limit=1`, { token: created.body.key });
    assert.equal(read.status, 200);
  });

  it('an organization setting changed through one server holds on the other within the bound, and neither change is lost', async () => {
    const settings = (node: Node) =>
      call<Record<string, unknown>>(`${node.url}/api/v1/orgs/default`, { token: masterKey });
    // B's copy of the organizations is fresh now: A's change below lands while B still trusts it.
    await settings(b);
    const name = `renamed ${randomUUID()}`;
    const patchA = await call(`${a.url}/api/v1/orgs/default`, {
      method: 'PATCH',
      token: masterKey,
      body: { name },
    });
    assert.equal(patchA.status, 200);
    // A change through B before B has seen A's: it must not write A's change back over.
    const patchB = await call<Record<string, unknown>>(`${b.url}/api/v1/orgs/default`, {
      method: 'PATCH',
      token: masterKey,
      body: { maxEventFutureMinutes: 7 },
    });
    assert.equal(patchB.status, 200);
    assert.equal(patchB.body.name, name, "B's change keeps A's");
    const took = await timeUntil(
      async () => {
        const [onA, onB] = await Promise.all([settings(a), settings(b)]);
        return [onA, onB].every((s) => s.body.name === name && s.body.maxEventFutureMinutes === 7);
      },
      CACHE_TTL_MS + SLACK_MS,
      'both servers answer both settings',
    );
    assert.ok(took <= CACHE_TTL_MS + SLACK_MS);
  });

  it("a visitor's events on both servers stay in one visit", async () => {
    const visitor = randomUUID();
    const send = async (node: Node) => {
      const answer = await call(`${node.url}${CUSTOM_PATH}`, {
        token: masterKey,
        body: validCustomEvent({ clientId: visitor, eventType: 'visit-across' }),
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      // In the store before the next event reaches the other server: the bound is this load.
      await node.services.writer.sync();
    };
    await send(a);
    await send(b);
    await send(a);
    await send(b);
    const events = await call<{ events: { visitId: string; clientId: string }[] }>(
      `${a.url}/api/v1/events?limit=100&eventType=visit-across`,
      { token: masterKey },
    );
    const mine = events.body.events.filter((e) => e.clientId === visitor);
    assert.equal(mine.length, 4);
    assert.equal(new Set(mine.map((e) => e.visitId)).size, 1, JSON.stringify(mine));
  });

  // DuckDB is one process's store, so two servers never share it; and its append, idempotent for a replay (the
  // same id and received time), keeps a copy received at another time. Only a shared engine need collapse these.
  const sharedEngine = testEngine() !== 'duckdb';
  it('the same batch sent to both servers is counted once by every query', {
    skip: sharedEngine
      ? false
      : 'DuckDB is never shared by two servers (OPENUA_TEST_ENGINE=clickhouse runs it)',
  }, async () => {
    const run = `twice-${randomUUID().slice(0, 8)}`;
    const batch = {
      events: Array.from({ length: 20 }, (_, i) => ({
        kind: 'custom',
        eventId: `${run}-${i}`,
        ...validCustomEvent({ eventType: run, eventValue: String(i) }),
      })),
    };
    const send = (node: Node) =>
      call<{ results: { status: string; id: string }[] }>(`${node.url}/api/v1/events/batch`, {
        token: masterKey,
        body: batch,
      });
    const [onA, onB] = await Promise.all([send(a), send(b)]);
    assert.equal(onA.status, 200);
    assert.equal(onB.status, 200);
    // Each server answers for the batch, with the same ids: a keyed event's id comes from its key.
    assert.deepEqual(
      onA.body.results.map((r) => r.id),
      onB.body.results.map((r) => r.id),
    );
    for (const result of [...onA.body.results, ...onB.body.results]) {
      assert.ok(['accepted', 'duplicate'].includes(result.status), JSON.stringify(result));
    }
    // And a retry on the same server is a duplicate, as on one server.
    const again = await send(a);
    assert.deepEqual(
      again.body.results.map((r) => r.status),
      batch.events.map(() => 'duplicate'),
    );
    for (const node of [a, b]) {
      const listed = await call<{ events: unknown[] }>(
        `${node.url}/api/v1/events?limit=1000&eventType=${run}`,
        {
          token: masterKey,
        },
      );
      assert.equal(listed.body.events.length, 20, 'the events list');
      const counted = await call<{ rows: { count: number; ids: number }[] }>(`${node.url}/api/v1/query`, {
        token: masterKey,
        body: {
          measures: ['count', { fn: 'uniq', field: 'id', as: 'ids' }],
          filters: [{ field: 'eventType', op: 'eq', value: run }],
        },
      });
      assert.equal(counted.status, 200, JSON.stringify(counted.body));
      assert.deepEqual(
        counted.body.rows.map((r) => [Number(r.count), Number(r.ids)]),
        [[20, 20]],
      );
    }
  });
});

describe('visits across two servers sharing a store', () => {
  const MINUTE = 60_000;
  let dir: string;
  let store: Storage;
  before(async () => {
    dir = tempDir('openua-scale-visits-');
    store = await openSharedStore(dir);
    await store.migrate([]);
  });
  after(async () => {
    await store?.close();
    removeDir(dir);
  });

  /** Stores an event of `visitor` in `visitId` received at `at`, as the server that took it loads it. */
  const stored = (visitor: string, visitId: string, at: number) =>
    store.appendEvents([
      canonicalEvent({
        id: newEventId(at),
        org: 'scale',
        clientId: visitor,
        visitorId: visitor,
        visitId,
        receivedTime: new Date(at),
        derivedTime: new Date(at),
      }),
    ]);

  it('a server whose own copy of a visit has timed out continues it when the other server saw the visitor since', async () => {
    const visitor = randomUUID();
    const a = new VisitTracker(store, 30 * MINUTE);
    const b = new VisitTracker(store, 30 * MINUTE);
    const t0 = Date.now() - 60 * MINUTE;
    const first = await a.visit('scale', visitor, new Date(t0), false);
    await stored(visitor, first, t0);
    // 20 minutes later the visitor's next event reaches B, which finds the visit in the store.
    assert.equal(await b.visit('scale', visitor, new Date(t0 + 20 * MINUTE), false), first);
    await stored(visitor, first, t0 + 20 * MINUTE);
    // 40 minutes after A last saw the visitor, but 20 after B did: the same visit.
    assert.equal(await a.visit('scale', visitor, new Date(t0 + 40 * MINUTE), false), first);
    // And 31 minutes after anyone saw it: a new visit.
    const later = await b.visit('scale', visitor, new Date(t0 + 71 * MINUTE), false);
    assert.notEqual(later, first);
    a.close();
    b.close();
  });

  it('a visit ended on one server stays ended there even though the store still holds it', async () => {
    const visitor = randomUUID();
    const a = new VisitTracker(store, 30 * MINUTE);
    const t0 = Date.now() - 10 * MINUTE;
    const first = await a.visit('scale', visitor, new Date(t0), false);
    await stored(visitor, first, t0);
    assert.equal(await a.end('scale', visitor, new Date(t0 + MINUTE)), first);
    assert.notEqual(await a.visit('scale', visitor, new Date(t0 + 2 * MINUTE), false), first);
    a.close();
  });
});
