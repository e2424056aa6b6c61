import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openua } from '../helpers/cli.ts';
import { duckdbOnly } from '../helpers/engine.ts';
import {
  call,
  newMasterKey,
  removeDir,
  spawnServer,
  startServer,
  type TestServer,
  tempDir,
} from '../helpers/server.ts';

/** `openua demo`: the demo month into a data directory, or to a running server over HTTP. */

const END = '2026-11-30T00:00:00.000Z';
const small = ['--events', '5000', '--days', '7', '--end', END, '--seed', '9'];

interface EventRow {
  id: string;
  eventType: string;
  derivedTime: string;
  customData: Record<string, string>;
}

/** Every event of the default organization, newest first, through the public read-back API. */
async function eventsOf(server: TestServer): Promise<EventRow[]> {
  const answer = await call<{ events: EventRow[] }>(
    `${server.url}/api/v1/events?from=2026-11-01T00:00:00Z&to=${END}&limit=10000`,
    { token: server.masterKey },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.events;
}

async function query(server: TestServer, spec: Record<string, unknown>) {
  const answer = await call<{ rows: Record<string, unknown>[] }>(`${server.url}/api/v1/query`, {
    token: server.masterKey,
    body: spec,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.rows;
}

describe('openua demo into a data directory', () => {
  const dirs = [tempDir('openua-demo-a-'), tempDir('openua-demo-b-')];
  after(() => {
    for (const dir of dirs) removeDir(dir);
  });

  it('fills the store, shows its progress on stderr and a summary on stdout; the same seed gives the same events', async () => {
    const runs = [];
    for (const dir of dirs) {
      const run = await openua(['demo', '--data-dir', dir, ...small], {});
      assert.equal(run.code, 0, run.stderr);
      runs.push(run);
    }
    const [first] = runs;
    assert.match(first?.stderr ?? '', /demo \[.*\] \d+% \| \d+\/5000 events \| \d+ events\/s \| ETA/);
    assert.match(first?.stdout ?? '', /^Wrote 50\d\d events into /m);
    assert.match(
      first?.stdout ?? '',
      /^\d+ conversations \(\d+ transfers, \d+ consults, \d+ abandoned\), 60 agents, \d+ searches$/m,
    );
    assert.match(first?.stdout ?? '', /^Took \d+\.\d s$/m);

    const stores: EventRow[][] = [];
    for (const dir of dirs) {
      const server = await startServer({ dataDir: dir });
      try {
        stores.push(await eventsOf(server));
        if (stores.length > 1) continue;
        // Readable through the query API: conversations by channel, KPIs, the search page, customData.
        const [kpis] = await query(server, {
          from: '2026-11-01T00:00:00Z',
          to: END,
          measures: ['conversations', 'abandonmentRate', 'averageHandleTime', 'notificationAcceptanceRate'],
        });
        assert.ok(Number(kpis?.conversations) > 100, JSON.stringify(kpis));
        assert.ok(
          Number(kpis?.abandonmentRate) > 0 && Number(kpis?.abandonmentRate) < 30,
          JSON.stringify(kpis),
        );
        const byType = await query(server, {
          from: '2026-11-01T00:00:00Z',
          to: END,
          dimensions: ['eventType'],
          measures: ['count'],
          limit: 100,
        });
        const types = new Set(byType.map((r) => r.eventType));
        for (const name of [
          'search',
          'click',
          'view',
          'facet',
          'OrderLookup',
          'ParticipantAdded',
          'NotificationReceived',
          'NotificationAccepted',
          'NotificationTimedOut',
          'NotificationDisplayed',
          'PresenceChanged',
        ]) {
          assert.ok(types.has(name), `${name} in ${[...types].join(', ')}`);
        }
        const providers = await call<{ value: { msdyn_enableanalytics: boolean }[] }>(
          `${server.url}/api/data/v9.1/msdyn_ciproviders?$filter=startswith(msdyn_name,'contoso')`,
          { token: server.masterKey },
        );
        const switches = providers.body.value.map((p) => p.msdyn_enableanalytics);
        assert.ok(switches.includes(true) && switches.includes(false), JSON.stringify(providers.body));
      } finally {
        await server.close();
      }
    }
    const [a, b] = stores as [EventRow[], EventRow[]];
    assert.ok(a.length >= 5000 && a.length < 5100, `${a.length} events`);
    const byId = (x: EventRow, y: EventRow) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
    assert.deepEqual(b.toSorted(byId), a.toSorted(byId));
    const ended = a.filter((e) => e.eventType === 'ConversationEnded' && e.customData.csat !== undefined);
    assert.ok(ended.length > 0 && ended.every((e) => /^[1-5]$/.test(e.customData.csat as string)));
    assert.ok(ended.every((e) => Math.abs(Number(e.customData.sentiment)) <= 1));
  });

  it('refuses a store that already holds events', async () => {
    const run = await openua(['demo', '--data-dir', dirs[0] as string, ...small], {});
    assert.equal(run.code, 1);
    // On ClickHouse the data directory holds no events: another organization is the way out there.
    assert.match(
      run.stderr,
      /already holds \d+ events: load the demo into (an empty data directory|another organization)/,
    );
  });

  it(
    'refuses politely a store a running server holds, and says how to send the demo to it',
    duckdbOnly('the DuckDB file lock: on ClickHouse the demo writes beside a running server'),
    async () => {
      const dataDir = tempDir('openua-demo-busy-');
      const server = await spawnServer(dataDir, newMasterKey());
      try {
        const run = await openua(['demo', '--data-dir', dataDir, ...small], {});
        assert.equal(run.code, 1);
        assert.match(
          run.stderr,
          /^openua: the store in .* is in use by a running server, .*Stop the server and run the command again, or send the demo to the server over HTTP: npm run openua -- demo --url http:\/\/127\.0\.0\.1:\d+ --key /m,
        );
        assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
        removeDir(dataDir);
      }
    },
  );
});

describe('openua demo --url to a running server', () => {
  it('sends the records and events over HTTP, and they are readable there', async () => {
    const server = await startServer();
    try {
      const end = new Date().toISOString();
      const run = await openua(
        [
          'demo',
          '--url',
          server.url,
          '--key',
          server.masterKey,
          '--events',
          '600',
          '--days',
          '3',
          '--seed',
          '4',
          '--end',
          end,
        ],
        {},
      );
      assert.equal(run.code, 0, run.stderr);
      const [, sent, accepted, duplicates, rejected] =
        /^Sent (\d+) events to \S+: (\d+) accepted, (\d+) duplicates, (\d+) rejected$/m.exec(run.stdout) ??
        [];
      assert.equal(Number(rejected), 0, run.stdout);
      assert.equal(Number(duplicates), 0);
      assert.equal(Number(accepted), Number(sent));
      assert.match(run.stdout, /presence changes were not sent/);
      assert.match(run.stderr, /\d+\/600 events/);
      const since = new Date(Date.parse(end) - 4 * 86_400_000).toISOString();
      const [stored] = await query(server, { from: since, to: end, measures: ['count'] });
      assert.equal(stored?.count, Number(sent));
      const [kpis] = await query(server, {
        from: since,
        to: end,
        measures: ['conversations', 'sessions'],
      });
      assert.ok(Number(kpis?.conversations) > 10 && Number(kpis?.sessions) > 10, JSON.stringify(kpis));
    } finally {
      await server.close();
      removeDir(server.dataDir);
    }
  });

  it('says so when no server answers', async () => {
    const run = await openua(
      ['demo', '--url', 'http://127.0.0.1:39999', '--key', 'x', '--events', '100'],
      {},
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^openua: cannot reach http:\/\/127\.0\.0\.1:39999 \(ECONNREFUSED\)/m);
  });
});
