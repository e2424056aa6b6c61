import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { LOG_PATH, startConversation } from '../helpers/channel.ts';
import {
  call,
  newMasterKey,
  readEvents,
  removeDir,
  spawnServer,
  startServer,
  tempDir,
} from '../helpers/server.ts';

/** KPI events take the one ingest path: acknowledged means in the ingest log, and a crash loses none. */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) removeDir(dir);
});

describe('KPI event durability', () => {
  it('every acknowledged logAnalyticsEvent survives kill -9 before it reached the store', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const masterKey = newMasterKey();
    // Loading is held back for a minute, so acknowledged events are only in the log when the process dies.
    const server = await spawnServer(dataDir, masterKey, { OPENUA_LOAD_INTERVAL_MS: '60000' });
    const conversation = await startConversation({ url: server.url, masterKey });
    const acknowledged: string[] = [];
    for (let i = 0; i < 20; i++) {
      const answer = await call<{ eventIds: string[] }>(`${server.url}${LOG_PATH}`, {
        token: masterKey,
        body: {
          data: {
            ...conversation,
            events: [
              { kpiEventName: 'TabOpened', tabId: `tab-${i}` },
              { kpiEventName: 'TabClosed', tabId: `tab-${i}` },
            ],
          },
          eventName: 'TabOpened',
        },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      acknowledged.push(...answer.body.eventIds);
    }
    server.child.kill('SIGKILL');
    await server.exited;

    const restarted = await startServer({ dataDir, masterKey });
    try {
      assert.ok(restarted.services.recovered >= acknowledged.length, 'loaded from the log at start');
      const stored = new Set((await readEvents(restarted)).map((e) => e.id));
      const missing = acknowledged.filter((id) => !stored.has(id));
      assert.deepEqual(missing, [], 'no acknowledged KPI event is lost');
    } finally {
      await restarted.close();
    }
  });
});
