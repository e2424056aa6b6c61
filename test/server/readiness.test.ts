import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readConfig } from '../../src/core/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { IngestLog } from '../../src/ingest/ingest-log.ts';
import { createServices } from '../../src/startup/services.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { eventually } from '../helpers/alerts.ts';
import { testStorage } from '../helpers/engine.ts';
import { errorOf } from '../helpers/errors.ts';
import { canonicalEvent } from '../helpers/events.ts';
import {
  CUSTOM_PATH,
  call,
  newMasterKey,
  readEvents,
  removeDir,
  serverForSuite,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * `GET /ready`: 200 `{status: "ready"}` when the server should get traffic; 503 while it loads the ingest log
 * its last run left (events are refused meanwhile, health still answers), and while its store does not answer.
 */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) removeDir(dir);
});

describe('GET /ready on a running server', () => {
  let server: TestServer;
  serverForSuite((started) => {
    server = started;
  });

  it('answers 200 {status: "ready"} without a credential', async () => {
    const answer = await call(`${server.url}/ready`);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { status: 'ready' });
  });
});

/** A store whose event appends wait for `release`, and whose reads can be made to fail. */
function controlledStore(storage: Storage) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const state = { unreachable: false };
  const store = new Proxy(storage, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'appendEvents') {
        return async (...args: unknown[]) => {
          await released;
          return value.apply(target, args);
        };
      }
      if (property === 'readCheckpoint') {
        return async (...args: unknown[]) => {
          if (state.unreachable) throw new Error('connection refused');
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { store, release, state };
}

async function serveOn(dataDir: string, storage: Storage, masterKey: string) {
  const config = readConfig({
    OPENUA_DATA_DIR: dataDir,
    OPENUA_MASTER_KEY: masterKey,
    OPENUA_LOG_LEVEL: 'silent',
    OPENUA_ALERT_INTERVAL_SECONDS: '0',
  });
  const services = await createServices(config, storage, undefined, { recoverInBackground: true });
  const app = await buildApp(services, { logger: false });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, services, url };
}

describe('GET /ready while the ingest log is recovered, and when the store does not answer', () => {
  const dataDir = tempDir('openua-ready-');
  dirs.push(dataDir);
  const masterKey = newMasterKey();
  let app: FastifyInstance;
  let url: string;
  let controls: ReturnType<typeof controlledStore>;
  after(async () => {
    controls?.release();
    await app?.close();
  });

  it('answers 503 {status: "recovering"} while the last run’s events load, and refuses events meanwhile', async () => {
    // What a crashed run leaves: acknowledged events in the log, none in the store.
    const log = await IngestLog.open(path.join(dataDir, 'ingest-log'));
    await log.append(
      Array.from({ length: 3 }, (_, i) =>
        canonicalEvent({ org: 'default', eventType: 'left-by-last-run', eventValue: `e${i}` }),
      ),
    );
    await log.close();

    controls = controlledStore(await testStorage(dataDir));
    ({ app, url } = await serveOn(dataDir, controls.store, masterKey));

    const ready = await call(`${url}/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'recovering');
    assert.match(String(ready.body.message), /events are refused until then/);

    const event = await call(`${url}${CUSTOM_PATH}`, { token: masterKey, body: validCustomEvent() });
    const refused = errorOf(event, 503, 'UNAVAILABLE');
    assert.match(refused.message, /starting/);
    assert.ok(Number(event.headers.get('retry-after')) >= 1);

    const health = await call(`${url}/rest/ua/v15/analytics/monitoring/health`);
    assert.equal(health.status, 200, 'liveness stays up');
  });

  it('answers 200 once they are in the store; they are read back and events are taken', async () => {
    controls.release();
    await eventually(
      async () => ((await call(`${url}/ready`)).status === 200 ? true : undefined),
      '/ready 200',
    );
    const server = { url, masterKey } as TestServer;
    const recovered = await readEvents(server, masterKey, '&eventType=left-by-last-run');
    assert.equal(recovered.length, 3);
    const event = await call(`${url}${CUSTOM_PATH}`, { token: masterKey, body: validCustomEvent() });
    assert.equal(event.status, 200, JSON.stringify(event.body));
  });

  it('answers 503 {status: "storeUnreachable"} while the store does not answer, and 200 again after', async () => {
    controls.state.unreachable = true;
    const down = await call(`${url}/ready`);
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'storeUnreachable');
    assert.match(
      String(down.body.message),
      new RegExp(`the store \\(${controls.store.engine}\\) does not answer: connection refused`),
    );
    controls.state.unreachable = false;
    assert.equal((await call(`${url}/ready`)).status, 200);
  });

  it('a read asked while recovering waits for the recovered events', async () => {
    // A fresh start over the same directory, with one more record left in the log.
    await app.close();
    const log = await IngestLog.open(path.join(dataDir, 'ingest-log'));
    await log.append([canonicalEvent({ org: 'default', eventType: 'left-again' })]);
    await log.close();
    controls = controlledStore(await testStorage(dataDir));
    ({ app, url } = await serveOn(dataDir, controls.store, masterKey));
    const reading = readEvents({ url, masterKey } as TestServer, masterKey, '&eventType=left-again');
    setTimeout(() => controls.release(), 200);
    assert.equal((await reading).length, 1);
  });
});
